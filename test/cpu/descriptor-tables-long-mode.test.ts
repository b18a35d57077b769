// Descriptor tables at upper-half (kernel) addresses in long mode, and the base checks of LGDT,
// LIDT, LTR and LLDT there. A 64-bit GDTR/IDTR/LDTR/TR base is a full linear address (Intel SDM
// vol 3 2.4.1-2.4.4, AMD APM vol 2 4.6.2): Linux keeps its GDT in the direct map at 0xffff....
import { describe, expect, it } from 'vitest';
import { LDTR, TR } from '../../src/cpu/regs.js';
import { run } from '../../src/cpu/run.js';
import { GDT, makeLong64, STACK_TOP, TSS, UPPER } from '../support/long64.js';

const MAIN = 0x10000;
const GP_HANDLER = 0x12000;

/** A machine whose #GP handler halts at GP_HANDLER + 1 (the error code stays on the stack). */
function machine() {
  const m = makeLong64();
  m.load(GP_HANDLER, [0xf4]);
  m.gate(13, GP_HANDLER);
  return m;
}

describe('descriptor tables at upper-half bases (long mode)', () => {
  it('LRETQ reads its CS descriptor from a GDT at 0xffffffff80001000', () => {
    const m = machine();
    m.tablesAt(UPPER);
    // push 8 / push 0x10100 / lretq ; at 0x10100: hlt
    m.load(MAIN, [0x6a, 0x08, 0x68, 0x00, 0x01, 0x01, 0x00, 0x48, 0xcb]);
    m.load(0x10100, [0xf4]);
    m.cpu.rip = MAIN;
    run(m.cpu, 10);
    expect(m.cpu.rip).toBe(0x10101);
    expect(m.cpu.r32[4 * 2]).toBe(STACK_TOP);
  });

  it('delivers an exception through an IDT at an upper-half base', () => {
    const m = machine();
    m.tablesAt(UPPER);
    m.load(MAIN, [0x0f, 0x0b]); // ud2
    m.load(0x12100, [0xf4]);
    m.gate(6, 0x12100);
    m.cpu.rip = MAIN;
    run(m.cpu, 5);
    expect(m.cpu.rip).toBe(0x12101);
  });

  it('a selector past the GDT limit still takes #GP(selector)', () => {
    const m = machine();
    m.tablesAt(UPPER);
    m.cpu.gdtrLimit = 0x17;
    m.load(MAIN, [0x6a, 0x18, 0x68, 0x00, 0x01, 0x01, 0x00, 0x48, 0xcb]); // far return to 0x18
    m.cpu.rip = MAIN;
    run(m.cpu, 10);
    expect(m.cpu.rip).toBe(GP_HANDLER + 1);
    expect(m.dv.getUint32(STACK_TOP - 16 - 48, true)).toBe(0x18); // the error code (two pushes before)
  });

  it('LGDT takes an upper-half base and refuses a non-canonical one with #GP(0)', () => {
    const m = machine();
    // lgdt [0x20000] ; hlt
    m.load(MAIN, [0x0f, 0x01, 0x14, 0x25, 0x00, 0x00, 0x02, 0x00, 0xf4]);
    m.dv.setUint16(0x20000, 0x7f, true);
    m.dv.setBigUint64(0x20002, 0xffffffff80001000n, true);
    m.cpu.rip = MAIN;
    run(m.cpu, 5);
    expect(m.cpu.rip).toBe(MAIN + 9);
    expect(m.cpu.gdtrBase).toBe(UPPER + GDT);
    expect(m.cpu.gdtrLimit).toBe(0x7f);

    const n = machine();
    n.load(MAIN, [0x0f, 0x01, 0x1c, 0x25, 0x00, 0x00, 0x02, 0x00, 0xf4]); // lidt [0x20000]
    n.dv.setUint16(0x20000, 0x7f, true);
    n.dv.setBigUint64(0x20002, 0x0000800000000000n, true); // bit 47 set, 63:48 clear
    n.cpu.rip = MAIN;
    run(n.cpu, 5);
    expect(n.cpu.rip).toBe(GP_HANDLER + 1);
    expect(n.dv.getUint32(STACK_TOP - 48, true)).toBe(0); // the error code
    expect(n.dv.getUint32(STACK_TOP - 40, true)).toBe(MAIN); // RIP of the LIDT
  });

  it('LTR loads the exact 64-bit upper-half base of a 16-byte TSS descriptor and marks it busy', () => {
    const m = machine();
    m.tablesAt(UPPER);
    // TSS at 0xffffffff80003000 (limit 0x67, type 9), base bits 63:32 in the next 8 bytes.
    const base = 0xffffffff80000000n + BigInt(TSS);
    const lo = 0x67n | ((base & 0xffffffn) << 16n) | (0x89n << 40n) | (((base >> 24n) & 0xffn) << 56n);
    m.setGdt(0x40, lo);
    m.setGdt(0x48, base >> 32n);
    m.load(MAIN, [0x66, 0xb8, 0x40, 0x00, 0x0f, 0x00, 0xd8, 0xf4]); // mov ax, 0x40 / ltr ax / hlt
    m.cpu.rip = MAIN;
    run(m.cpu, 5);
    expect(m.cpu.rip).toBe(MAIN + 8);
    expect(m.cpu.segBase[TR]).toBe(UPPER + TSS); // 0xffffffff80003000 exactly, not rounded
    expect(m.cpu.segAttr[TR] & 0xf).toBe(0xb);
    expect(m.dv.getUint8(GDT + 0x40 + 5)).toBe(0x8b);
  });

  it('LTR and LLDT refuse a non-canonical base with #GP(selector)', () => {
    for (const [type, modrm] of [
      [0x89n, 0xd8], // ltr ax
      [0x82n, 0xd0], // lldt ax
    ] as const) {
      const m = machine();
      m.setGdt(0x40, 0x67n | (BigInt(type) << 40n));
      m.setGdt(0x48, 0x00008000n); // base bits 63:32 = 0x00008000: bit 47 set, 63:48 clear
      m.load(MAIN, [0x66, 0xb8, 0x40, 0x00, 0x0f, 0x00, modrm, 0xf4]);
      m.cpu.rip = MAIN;
      run(m.cpu, 5);
      expect(m.cpu.rip).toBe(GP_HANDLER + 1);
      expect(m.dv.getUint32(STACK_TOP - 48, true)).toBe(0x40);
      expect(m.cpu.segSel[type === 0x89n ? TR : LDTR]).toBe(0);
    }
  });

  it('a far return or IRETQ to a non-canonical RIP takes #GP(0) with nothing changed', () => {
    // mov rax, 0x0000800000000000 / push 8 / push rax / lretq
    const movRax = [0x48, 0xb8, 0, 0, 0, 0, 0, 0x80, 0, 0];
    for (const tail of [
      [0x6a, 0x08, 0x50, 0x48, 0xcb], // push 8 / push rax / lretq
      [0x6a, 0x10, 0x6a, 0x00, 0x6a, 0x02, 0x6a, 0x08, 0x50, 0x48, 0xcf], // ss, rsp, rflags, cs, rip / iretq
    ]) {
      const m = machine();
      m.load(MAIN, [...movRax, ...tail]);
      m.cpu.rip = MAIN;
      run(m.cpu, 10);
      expect(m.cpu.rip).toBe(GP_HANDLER + 1);
      const sp = m.cpu.r32[4 * 2];
      expect(m.dv.getUint32(sp, true)).toBe(0); // #GP(0)
      expect(m.dv.getUint32(sp + 8, true)).toBe(MAIN + movRax.length + tail.length - 2); // at the return
    }
  });

  it('a 64-bit gate whose offset is not canonical takes #GP(EXT)', () => {
    const m = machine();
    m.gate(0x40, 0x10100);
    m.dv.setUint32(0x2000 + 0x40 * 16 + 8, 0x00008000, true); // offset bits 63:32: bit 47 set
    m.load(MAIN, [0xcd, 0x40]); // int 0x40: software, EXT = 0
    m.cpu.rip = MAIN;
    run(m.cpu, 5);
    expect(m.cpu.rip).toBe(GP_HANDLER + 1);
    expect(m.dv.getUint32(STACK_TOP - 48, true)).toBe(0);
    expect(m.dv.getUint32(STACK_TOP - 40, true)).toBe(MAIN); // nothing of the INT happened
  });

  it('SYSEXIT to 64-bit code with a non-canonical RDX or RCX takes #GP(0) (Intel)', () => {
    for (const [rdx, rcx] of [
      [0x0000800000000000n, 0x70000n],
      [0x10000n, 0x0000800000000000n],
    ]) {
      const m = makeLong64('GenuineIntel');
      m.load(GP_HANDLER, [0xf4]);
      m.gate(13, GP_HANDLER);
      m.cpu.sysenterCs = 0x08;
      m.cpu.r64[2] = rdx;
      m.cpu.r64[1] = rcx;
      m.load(MAIN, [0x48, 0x0f, 0x35]); // sysexitq
      m.cpu.rip = MAIN;
      run(m.cpu, 5);
      expect(m.cpu.rip).toBe(GP_HANDLER + 1);
      expect(m.cpu.cpl).toBe(0);
      expect(m.dv.getUint32(STACK_TOP - 40, true)).toBe(MAIN);
    }
  });
});
