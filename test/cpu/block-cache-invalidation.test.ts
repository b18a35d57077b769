// The decoded-block cache (and tier-2 compiled blocks) must never run stale code: a guest store
// into code drops the blocks on that page (also when the code is hot and when the store patches
// the second page of an instruction that straddles two pages); a write the core did not see
// (a device, a loader) is made visible with flushBlocks() or invalidateCodePage().
import { describe, expect, it } from 'vitest';
import { flushBlocks, invalidateCodePage } from '../../src/cpu/block.js';
import { run, Stop } from '../../src/cpu/run.js';
import { makePm32 } from '../support/pm32.js';

const MAIN = 0x10000;
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/**
 * At MAIN (32-bit code):  mov ecx,100 / L: call T / loop L / mov [0x5000],eax /
 * mov byte [patch],value / call T / mov [0x5004],eax / hlt.   (Same bytes nasm gives.)
 * 100 calls make T hot enough for the tier-2 compiler before it is patched.
 */
function driver(target: number, patch: number, value: number): number[] {
  // biome-ignore format: one instruction per line
  return [
    0xb9, ...le32(100), //                              mov ecx, 100
    0xe8, ...le32(target - (MAIN + 10)), //             L: call T
    0xe2, 0xf9, //                                      loop L
    0xa3, ...le32(0x5000), //                           mov [0x5000], eax
    0xc6, 0x05, ...le32(patch), value, //               mov byte [patch], value
    0xe8, ...le32(target - (MAIN + 0x1d)), //           call T
    0xa3, ...le32(0x5004), //                           mov [0x5004], eax
    0xf4, //                                            hlt
  ];
}
const MOV_EAX_1_RET = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3]; // mov eax,1 / ret
const STRADDLE = 0x10ffe; // mov eax,0x44332211 / ret: B8 at 0x10FFE, imm bytes at 0x10FFF-0x11002
const STRADDLE_CODE = [0xb8, 0x11, 0x22, 0x33, 0x44, 0xc3];

function start(main: number[], routine: number, body: number[]) {
  const pm = makePm32();
  pm.load(MAIN, main);
  pm.load(routine, body);
  pm.cpu.rip = MAIN;
  return pm;
}
function rerun(cpu: import('../../src/cpu/cpu.js').Cpu) {
  cpu.rip = MAIN;
  cpu.halted = false;
  cpu.r32[4 * 2] = 0x80000;
  return run(cpu, 10_000);
}

describe('guest stores into code', () => {
  it('patching a hot routine on the same page as the store', () => {
    const f = MAIN + 0x100;
    const { cpu, dv } = start(driver(f, f + 1, 2), f, MOV_EAX_1_RET);
    expect(run(cpu, 10_000)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(1);
    expect(dv.getUint32(0x5004, true)).toBe(2);
  });

  it('patching a hot routine on another page', () => {
    const f = 0x23000;
    const { cpu, dv } = start(driver(f, f + 1, 2), f, MOV_EAX_1_RET);
    expect(run(cpu, 10_000)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(1);
    expect(dv.getUint32(0x5004, true)).toBe(2);
  });

  it('patching the second page of an instruction that straddles two pages', () => {
    const { cpu, dv } = start(driver(STRADDLE, 0x11001, 0x99), STRADDLE, STRADDLE_CODE);
    expect(run(cpu, 10_000)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(0x44332211);
    expect(dv.getUint32(0x5004, true)).toBe(0x44992211);
  });
});

describe('writes the core did not see', () => {
  const HARMLESS = 0x6000; // the driver's store goes to data here

  it('flushBlocks() after replacing a hot routine', () => {
    const f = 0x23000;
    const { cpu, dv, ram } = start(driver(f, HARMLESS, 0), f, MOV_EAX_1_RET);
    expect(run(cpu, 10_000)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5004, true)).toBe(1);
    ram[f + 1] = 3; // behind the core's back
    flushBlocks(cpu);
    expect(rerun(cpu)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(3);
  });

  it('invalidateCodePage() of the written page', () => {
    const f = 0x23000;
    const { cpu, dv, ram } = start(driver(f, HARMLESS, 0), f, MOV_EAX_1_RET);
    expect(run(cpu, 10_000)).toBe(Stop.HALT);
    ram[f + 1] = 4;
    invalidateCodePage(cpu, f >>> 12);
    expect(rerun(cpu)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(4);
  });

  it('invalidateCodePage() of only the second page of a straddling instruction', () => {
    const { cpu, dv, ram } = start(driver(STRADDLE, HARMLESS, 0), STRADDLE, STRADDLE_CODE);
    expect(run(cpu, 10_000)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5004, true)).toBe(0x44332211);
    ram[0x11002] = 0x55;
    invalidateCodePage(cpu, 0x11);
    expect(rerun(cpu)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(0x55332211);
  });
});
