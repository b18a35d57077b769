// What IDT-gate delivery leaves behind besides the jump: the accessed bit of every descriptor it
// loads (Intel SDM vol 3 3.4.5.1 "the processor sets this bit whenever it loads a segment selector
// for the segment into a segment register"; AMD APM vol 2 4.7.2), and RF in the pushed RFLAGS of
// fault-class exceptions only (SDM vol 3 17.3.1.1).
import { describe, expect, it } from 'vitest';
import { SEG_DB, SEG_G } from '../../src/cpu/cpu.js';
import { CS, DS, ES, FS, GS, SS, TR } from '../../src/cpu/regs.js';
import { run } from '../../src/cpu/run.js';
import { updateSegCheck } from '../../src/cpu/segment-check.js';
import { GDT as GDT64, makeLong64, STACK_TOP as TOP64 } from '../support/long64.js';
import { GDT as GDT32, makePm32 } from '../support/pm32.js';

const RF = 1 << 16;

describe('IDT delivery sets the accessed bit of the descriptors it loads', () => {
  it('64-bit gate: the target code descriptor, in memory and in the descriptor cache', () => {
    const m = makeLong64();
    m.setGdt(0x18, 0x00af9a000000ffffn); // 64-bit code, type 0xA: execute/read, not accessed
    m.load(0x10000, [0x0f, 0x0b]); // ud2
    m.load(0x12000, [0xf4]);
    m.gate(6, 0x12000, { cs: 0x18 });
    m.cpu.rip = 0x10000;
    run(m.cpu, 5);
    expect(m.cpu.rip).toBe(0x12001);
    expect(m.cpu.segSel[CS]).toBe(0x18);
    expect(m.dv.getUint8(GDT64 + 0x18 + 5)).toBe(0x9b);
    expect(m.cpu.segAttr[CS] & 0xf).toBe(0xb); // what a VM exit stores: an accessed code segment
  });

  it('32-bit gate from CPL 3: the inner CS and the SS taken from the TSS', () => {
    const m = makePm32();
    const { cpu, dv } = m;
    dv.setBigUint64(GDT32 + 0x18, 0x00cf9a000000ffffn, true); // ring-0 code, not accessed
    dv.setBigUint64(GDT32 + 0x20, 0x00cf92000000ffffn, true); // ring-0 data, not accessed
    dv.setBigUint64(GDT32 + 0x28, 0x00cffb000000ffffn, true); // ring-3 code
    dv.setBigUint64(GDT32 + 0x30, 0x00cff3000000ffffn, true); // ring-3 data
    cpu.gdtrLimit = 0x3f;
    const tss = 0x3000;
    dv.setUint32(tss + 4, 0x70000, true); // ESP0
    dv.setUint32(tss + 8, 0x20, true); // SS0
    cpu.segSel[TR] = 0x38;
    cpu.segBase[TR] = tss;
    cpu.segLimit[TR] = 0x67;
    cpu.segAttr[TR] = 0x8b;
    for (const s of [ES, SS, DS, FS, GS]) {
      cpu.segSel[s] = 0x33;
      cpu.segAttr[s] = 0xf3 | SEG_DB | SEG_G;
    }
    cpu.segSel[CS] = 0x2b;
    cpu.segAttr[CS] = 0xfb | SEG_DB | SEG_G;
    cpu.cpl = 3;
    cpu.updateMode();
    for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
    m.load(0x10000, [0xcd, 0x80]); // int 0x80
    m.load(0x12000, [0x90, 0x90]);
    dv.setUint32(0x2000 + 0x80 * 8, (0x18 << 16) | 0x2000, true);
    dv.setUint32(0x2000 + 0x80 * 8 + 4, 0x0001ee00, true); // 32-bit interrupt gate, DPL 3, offset 0x12000
    cpu.rip = 0x10000;
    run(cpu, 2);
    expect(cpu.rip).toBe(0x12001);
    expect(cpu.cpl).toBe(0);
    expect(cpu.segSel[SS]).toBe(0x20);
    expect(cpu.r32[4 * 2]).toBe(0x70000 - 20);
    expect(dv.getUint8(GDT32 + 0x18 + 5)).toBe(0x9b);
    expect(dv.getUint8(GDT32 + 0x20 + 5)).toBe(0x93);
    expect(cpu.segAttr[CS] & 1).toBe(1);
    expect(cpu.segAttr[SS] & 1).toBe(1);
  });
});

describe('RF in the RFLAGS image pushed by delivery', () => {
  function pushedFlags(code: number[], vector: number): number {
    const m = makeLong64();
    m.load(0x10000, code);
    m.load(0x12000, [0xf4]);
    m.gate(vector, 0x12000);
    m.cpu.rip = 0x10000;
    run(m.cpu, 5);
    expect(m.cpu.rip).toBe(0x12001);
    expect(m.cpu.eflags & RF).toBe(0); // delivery clears RF itself
    return m.dv.getUint32(TOP64 - 24, true); // SS, RSP, then RFLAGS (an error code goes below)
  }

  it('is set for faults (#UD, #DE, #GP)', () => {
    expect(pushedFlags([0x0f, 0x0b], 6) & RF).toBe(RF); // ud2
    expect(pushedFlags([0x31, 0xc9, 0xf7, 0xf1], 0) & RF).toBe(RF); // xor ecx,ecx / div ecx
    // mov rax, [0x8000_0000_0000] through a non-canonical address: #GP(0)
    expect(pushedFlags([0x48, 0xa1, 0, 0, 0, 0, 0, 0x80, 0, 0], 13) & RF).toBe(RF);
  });

  it('is clear for traps and software interrupts (INT3, INT n)', () => {
    expect(pushedFlags([0xcc], 3) & RF).toBe(0);
    expect(pushedFlags([0xcd, 0x40], 0x40) & RF).toBe(0);
  });
});
