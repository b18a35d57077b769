// STI's interrupt shadow (Intel SDM vol 3 6.8.3, AMD APM vol 3 STI): when STI sets IF, an
// interrupt already pending is recognised only after the instruction that follows STI.
import { describe, expect, it } from 'vitest';
import { ATT_EVENT } from '../../src/cpu/events.js';
import { IF } from '../../src/cpu/regs.js';
import { run, Stop } from '../../src/cpu/run.js';
import { FakeIntc, makePm32 } from '../support/pm32.js';

const MAIN = 0x10000;
// sti / inc ebx / inc ebx / hlt
const MAIN_CODE = [0xfb, 0x43, 0x43, 0xf4];
const HANDLER = 0x11000;
// mov [0x5000],ebx / mov eax,[esp] / mov [0x5004],eax / inc dword [0x5014] / iretd
const HANDLER_CODE = [
  0x89, 0x1d, 0x00, 0x50, 0x00, 0x00, 0x8b, 0x04, 0x24, 0xa3, 0x04, 0x50, 0x00, 0x00, 0xff, 0x05, 0x14, 0x50,
  0x00, 0x00, 0xcf,
];

function setup(startEip: number, eflags: number) {
  const pm = makePm32();
  pm.load(MAIN, MAIN_CODE);
  pm.load(HANDLER, HANDLER_CODE);
  pm.gate(0x20, HANDLER);
  const intc = new FakeIntc();
  intc.pending = 0x20;
  pm.cpu.intc = intc;
  pm.cpu.rip = startEip;
  pm.cpu.eflags = eflags;
  pm.cpu.attention |= ATT_EVENT; // what a controller does when it raises a line
  return { ...pm, intc };
}

describe('STI interrupt shadow', () => {
  it('takes an interrupt pending at STI only after the next instruction', () => {
    const { cpu, dv, intc } = setup(MAIN, 2); // IF = 0
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5014, true)).toBe(1); // delivered once
    expect(dv.getUint32(0x5000, true)).toBe(1); // one INC EBX ran first
    expect(dv.getUint32(0x5004, true)).toBe(MAIN + 2); // return address: the second INC
    expect(cpu.r32[3 * 2]).toBe(2);
    expect(intc.acked).toEqual([0x20]);
    expect(cpu.rip).toBe(MAIN + 4); // halted after HLT
  });

  it('without STI (IF already 1) the same interrupt is taken before the first instruction', () => {
    const { cpu, dv } = setup(MAIN + 1, 2 | IF);
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(0);
    expect(dv.getUint32(0x5004, true)).toBe(MAIN + 1);
    expect(cpu.r32[3 * 2]).toBe(2);
  });

  it('with IF = 0 and no STI the interrupt is never taken', () => {
    const { cpu, dv, intc } = setup(MAIN + 1, 2);
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5014, true)).toBe(0);
    expect(intc.acked).toEqual([]);
    expect(intc.asked).toBe(0); // the controller is asked only while IF = 1
  });
});
