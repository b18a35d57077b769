// The 15-byte instruction limit (Intel SDM vol 2 2.3.11, AMD APM vol 3 1.1): an instruction longer
// than 15 bytes, however it got there (redundant prefixes, or prefixes + a long immediate), raises
// #GP(0) with the faulting instruction's address saved; exactly 15 bytes is fine.
import { describe, expect, it } from 'vitest';
import { Cpu, FAULT, SEG_DB, SEG_L } from '../../src/cpu/cpu.js';
import { decode } from '../../src/cpu/decode.js';
import { Insn } from '../../src/cpu/insn.js';
import { Op } from '../../src/cpu/ops.js';
import { CR0_PE, CS, EFER_LMA, EFER_LME, GP } from '../../src/cpu/regs.js';
import { run, Stop } from '../../src/cpu/run.js';
import { exec64 } from '../support/exec64.js';
import { makePm32 } from '../support/pm32.js';

function decodeAt(bits: 16 | 32 | 64, bytes: number[]) {
  const buf = new ArrayBuffer(0x4000);
  new Uint8Array(buf).set(bytes, 0x1000);
  const cpu = new Cpu({
    ram: buf,
    io: { portRead: () => 0, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  if (bits !== 16) {
    cpu.cr0 |= CR0_PE;
    cpu.segAttr[CS] |= SEG_DB;
  }
  if (bits === 64) {
    cpu.efer = EFER_LME | EFER_LMA;
    cpu.segAttr[CS] = (cpu.segAttr[CS] & ~SEG_DB) | SEG_L;
  }
  cpu.updateMode();
  const insn = new Insn();
  try {
    decode(cpu, 0x1000, insn);
    return { len: insn.len, op: insn.op, fault: null };
  } catch (e) {
    if (e !== FAULT) throw e;
    return {
      len: 0,
      op: -1,
      fault: { vector: cpu.excVector, error: cpu.excError, hasError: cpu.excHasError },
    };
  }
}

const rep = (b: number, n: number) => new Array(n).fill(b);

describe.each([16, 32, 64] as const)('%i-bit code', (bits) => {
  it('14 prefixes + NOP (15 bytes) decodes', () => {
    expect(decodeAt(bits, [...rep(0x66, 14), 0x90])).toMatchObject({ len: 15, fault: null });
  });
  it('15 prefixes + NOP (16 bytes) raises #GP(0)', () => {
    expect(decodeAt(bits, [...rep(0x66, 15), 0x90]).fault).toEqual({ vector: GP, error: 0, hasError: true });
  });
  it('15 segment prefixes + opcode raise #GP(0) too', () => {
    expect(decodeAt(bits, [...rep(0x2e, 15), 0x90]).fault).toEqual({ vector: GP, error: 0, hasError: true });
  });
});

describe('64-bit: a long immediate pushes a prefixed instruction over the limit', () => {
  const movabs = [0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8]; // mov rax, imm64: 10 bytes
  it('5 prefixes + MOV RAX, imm64 = 15 bytes decodes', () => {
    expect(decodeAt(64, [...rep(0x2e, 5), ...movabs])).toMatchObject({ len: 15, op: Op.MOV_R_I });
  });
  it('6 prefixes + MOV RAX, imm64 = 16 bytes faults', () => {
    expect(decodeAt(64, [...rep(0x2e, 6), ...movabs]).fault?.vector).toBe(GP);
  });
  it('executed: the fault reaches the guest as vector 13', () => {
    const gpr = new Array(16).fill(0n);
    expect(exec64({ code: Uint8Array.from([...rep(0x66, 15), 0x90]), gpr, rflags: 2n }).fault).toBe(GP);
    expect(exec64({ code: Uint8Array.from([...rep(0x66, 14), 0x90]), gpr, rflags: 2n }).fault).toBeNull();
  });
});

describe('32-bit protected mode, delivered through the IDT', () => {
  it('#GP pushes error code 0 and the address of the over-long instruction', () => {
    const { cpu, dv, load, gate } = makePm32();
    const MAIN = 0x10000;
    load(MAIN, [0x90, ...rep(0x66, 15), 0x90, 0xf4]);
    // pop eax / mov [0x5000],eax / mov eax,[esp] / mov [0x5004],eax / hlt
    load(0x11000, [0x58, 0xa3, 0x00, 0x50, 0x00, 0x00, 0x8b, 0x04, 0x24, 0xa3, 0x04, 0x50, 0x00, 0x00, 0xf4]);
    gate(GP, 0x11000);
    dv.setUint32(0x5000, 0xffffffff, true);
    cpu.rip = MAIN;
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(0); // error code
    expect(dv.getUint32(0x5004, true)).toBe(MAIN + 1); // the prefixed NOP, not the first NOP
  });
});
