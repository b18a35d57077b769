// Unit tests for exec/sse.ts and exec/x87.ts: hand-built Insn objects run against a bare Cpu.
// Vectors marked "host CPU" were produced by a small C program (SSE2 intrinsics and inline asm,
// gcc -O1 -msse2) run on the development machine's processor (AMD EPYC); the others follow the
// definitions in Intel SDM vol 2 / AMD APM vol 4-5.
import { beforeEach, describe, expect, it } from 'vitest';
import { Cpu, FAULT, SEG_L } from '../cpu.js';
import { SSE_ALIGNED } from '../decode-sse.js';
import { Insn, NO_REG } from '../insn.js';
import { Op } from '../ops.js';
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_PE,
  CR0_TS,
  CR4_OSFXSR,
  CS,
  EFER_LMA,
  EFER_LME,
  GP,
  MF,
  NM,
  UD,
} from '../regs.js';
import { execSse } from './sse.js';
import { execX87 } from './x87.js';

const MEM = 0x2000;

function newCpu(): Cpu {
  const cpu = new Cpu({
    ram: new ArrayBuffer(1 << 20),
    io: { portRead: () => 0xff, portWrite() {} },
    mmio: { mmioRead: () => -1, mmioWrite() {} },
  } as unknown as ConstructorParameters<typeof Cpu>[0]);
  // 64-bit mode without paging is enough here: flat segments, linear = physical.
  cpu.cr0 |= CR0_PE;
  cpu.cr4 |= CR4_OSFXSR;
  cpu.efer = EFER_LME | EFER_LMA;
  cpu.segAttr[CS] |= SEG_L;
  cpu.updateMode();
  return cpu;
}

/** 32-bit protected mode (FXSAVE keeps only XMM0-7 there). */
function to32(cpu: Cpu): void {
  cpu.efer = 0;
  cpu.segAttr[CS] &= ~SEG_L;
  cpu.segAttr[CS] |= 1 << 10; // D/B
  for (let s = 0; s < 6; s++) cpu.segLimit[s] = 0xffffffff;
  cpu.updateMode();
}

function insn(op: Op, fields: Partial<Insn> = {}): Insn {
  const i = new Insn();
  i.op = op;
  i.base = NO_REG;
  i.index = NO_REG;
  i.asize = 8;
  i.size = 4;
  Object.assign(i, fields);
  return i;
}
/** Register-register form: reg = destination (ModRM.reg), rm = source. */
const rr = (op: Op, reg: number, rm: number, extra: Partial<Insn> = {}) => insn(op, { reg, rm, ...extra });
/** Memory form at linear address `addr`. */
const rmem = (op: Op, reg: number, addr: number, extra: Partial<Insn> = {}) =>
  insn(op, { reg, mem: true, disp: addr, ...extra });

function setX(cpu: Cpu, r: number, lanes: number[]): void {
  for (let i = 0; i < 4; i++) cpu.xmm[4 * r + i] = lanes[i];
}
function getX(cpu: Cpu, r: number): number[] {
  return [0, 1, 2, 3].map((i) => cpu.xmm[4 * r + i] >>> 0);
}
function poke32(cpu: Cpu, addr: number, lanes: number[]): void {
  for (let i = 0; i < lanes.length; i++) cpu.ram.setInt32(addr + 4 * i, lanes[i], true);
}
function peek32(cpu: Cpu, addr: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => cpu.ram.getUint32(addr + 4 * i, true));
}
/** Run `fn`; the exception vector it raised, or null. */
function faultOf(cpu: Cpu, fn: () => void): number | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e !== FAULT) throw e;
    return cpu.excVector;
  }
}

// Operands of the host-CPU vectors, lanes 0..3 (dword 0 = bytes 0-3).
const A = [0x00ff00ff, 0xdeadbeef, 0x12345678, 0x80ff7f01];
const B = [0x00ff0000, 0xffffffff, 0x12005678, 0x80ff7f02];

let cpu: Cpu;
beforeEach(() => {
  cpu = newCpu();
});

describe('SSE integer ops: host CPU vectors (dst = A in xmm1, src = B)', () => {
  // [name, op, sub, expected lanes] — values from the host CPU.
  const cases: [string, Op, number, number[]][] = [
    ['PXOR', Op.SSE_LOGIC, 3, [0x000000ff, 0x21524110, 0x00340000, 0x00000003]],
    ['PANDN', Op.SSE_LOGIC, 1, [0x00000000, 0x21524110, 0x00000000, 0x00000002]],
    ['PCMPEQB', Op.PCMPEQ, 1, [0xffffff00, 0x00000000, 0xff00ffff, 0xffffff00]],
    ['PCMPEQW', Op.PCMPEQ, 2, [0xffff0000, 0x00000000, 0x0000ffff, 0xffff0000]],
    ['PCMPEQD', Op.PCMPEQ, 4, [0, 0, 0, 0]],
    ['PUNPCKLBW', Op.PUNPCKL, 1, [0x000000ff, 0x0000ffff, 0xffbeffef, 0xffdeffad]],
    ['PUNPCKLWD', Op.PUNPCKL, 2, [0x000000ff, 0x00ff00ff, 0xffffbeef, 0xffffdead]],
    ['PUNPCKLDQ', Op.PUNPCKL, 4, [0x00ff00ff, 0x00ff0000, 0xdeadbeef, 0xffffffff]],
    ['PUNPCKLQDQ', Op.PUNPCKL, 8, [0x00ff00ff, 0xdeadbeef, 0x00ff0000, 0xffffffff]],
    ['PADDB', Op.PADD, 1, [0x00fe00ff, 0xddacbdee, 0x2434acf0, 0x00fefe03]],
    ['PADDW', Op.PADD, 2, [0x01fe00ff, 0xdeacbeee, 0x2434acf0, 0x01fefe03]],
    ['PADDQ', Op.PADD, 8, [0x01fe00ff, 0xdeadbeee, 0x2434acf0, 0x01fefe03]],
    ['PSUBB', Op.PSUB, 1, [0x000000ff, 0xdfaebff0, 0x00340000, 0x000000ff]],
    ['PSUBQ', Op.PSUB, 8, [0x000000ff, 0xdeadbef0, 0x00340000, 0xffffffff]],
    ['PMINUB', Op.PMINMAXUB, 0, [0x00ff0000, 0xdeadbeef, 0x12005678, 0x80ff7f01]],
    ['PMAXUB', Op.PMINMAXUB, 1, [0x00ff00ff, 0xffffffff, 0x12345678, 0x80ff7f02]],
  ];
  for (const [name, op, sub, want] of cases) {
    it(`${name} xmm1, xmm2`, () => {
      setX(cpu, 1, A);
      setX(cpu, 2, B);
      execSse(cpu, rr(op, 1, 2, { sub }));
      expect(getX(cpu, 1)).toEqual(want);
      expect(getX(cpu, 2)).toEqual(B);
    });
    it(`${name} xmm1, m128`, () => {
      setX(cpu, 1, A);
      poke32(cpu, MEM, B);
      execSse(cpu, rmem(op, 1, MEM, { sub }));
      expect(getX(cpu, 1)).toEqual(want);
    });
  }

  it('PSUBQ B - A (borrow across the dword halves, host CPU)', () => {
    setX(cpu, 3, B);
    setX(cpu, 4, A);
    execSse(cpu, rr(Op.PSUB, 3, 4, { sub: 8 }));
    expect(getX(cpu, 3)).toEqual([0xffffff01, 0x2152410f, 0xffcc0000, 0x00000000]);
  });

  it('PMOVMSKB (host CPU: A -> 0xc0f5, B -> 0xc0f4) clears the upper GPR half', () => {
    setX(cpu, 5, A);
    cpu.r32[2 * 3] = -1;
    cpu.r32[2 * 3 + 1] = -1;
    execSse(cpu, rr(Op.PMOVMSKB, 3, 5));
    expect(cpu.r64[3]).toBe(0xc0f5n);
    setX(cpu, 12, B);
    execSse(cpu, rr(Op.PMOVMSKB, 9, 12));
    expect(cpu.r64[9]).toBe(0xc0f4n);
  });

  it('PSHUFD (host CPU)', () => {
    setX(cpu, 2, A);
    execSse(cpu, rr(Op.PSHUFD, 1, 2, { imm: 0x1b }));
    expect(getX(cpu, 1)).toEqual([0x80ff7f01, 0x12345678, 0xdeadbeef, 0x00ff00ff]);
    execSse(cpu, rr(Op.PSHUFD, 2, 2, { imm: 0xd8 })); // in place
    expect(getX(cpu, 2)).toEqual([0x00ff00ff, 0x12345678, 0xdeadbeef, 0x80ff7f01]);
  });

  // [name, group, ModRM.reg, count, expected] on A — values from the host CPU.
  const shifts: [string, number, number, number, number[]][] = [
    ['PSRAW 4', 0x71, 4, 4, [0x000f000f, 0xfdeafbee, 0x01230567, 0xf80f07f0]],
    ['PSRAW 20', 0x71, 4, 20, [0x00000000, 0xffffffff, 0x00000000, 0xffff0000]],
    ['PSRLW 4', 0x71, 2, 4, [0x000f000f, 0x0dea0bee, 0x01230567, 0x080f07f0]],
    ['PSLLW 15', 0x71, 6, 15, [0x80008000, 0x80008000, 0x00000000, 0x80008000]],
    ['PSRAD 7', 0x72, 4, 7, [0x0001fe01, 0xffbd5b7d, 0x002468ac, 0xff01fefe]],
    ['PSLLD 33', 0x72, 6, 33, [0, 0, 0, 0]],
    ['PSRLQ 4', 0x73, 2, 4, [0xf00ff00f, 0x0deadbee, 0x11234567, 0x080ff7f0]],
    ['PSRLQ 36', 0x73, 2, 36, [0x0deadbee, 0x00000000, 0x080ff7f0, 0x00000000]],
    ['PSLLQ 12', 0x73, 6, 12, [0xf00ff000, 0xdbeef00f, 0x45678000, 0xf7f01123]],
    ['PSLLQ 40', 0x73, 6, 40, [0x00000000, 0xff00ff00, 0x00000000, 0x34567800]],
    ['PSRLDQ 3', 0x73, 3, 3, [0xadbeef00, 0x345678de, 0xff7f0112, 0x00000080]],
    ['PSLLDQ 5', 0x73, 7, 5, [0x00000000, 0xff00ff00, 0xadbeef00, 0x345678de]],
  ];
  for (const [name, group, kind, count, want] of shifts) {
    it(name, () => {
      setX(cpu, 7, A);
      execSse(cpu, insn(Op.PSHIFT_I, { sub: group, reg: kind, rm: 7, imm: count }));
      expect(getX(cpu, 7)).toEqual(want);
    });
  }
});

describe('SSE integer ops: edge cases from the manuals', () => {
  it('counts past the element width: logical shifts clear, arithmetic ones fill with sign', () => {
    const run = (group: number, kind: number, count: number) => {
      setX(cpu, 0, A);
      execSse(cpu, insn(Op.PSHIFT_I, { sub: group, reg: kind, rm: 0, imm: count }));
      return getX(cpu, 0);
    };
    expect(run(0x71, 2, 16)).toEqual([0, 0, 0, 0]);
    expect(run(0x71, 6, 255)).toEqual([0, 0, 0, 0]);
    expect(run(0x72, 2, 32)).toEqual([0, 0, 0, 0]);
    expect(run(0x72, 4, 200)).toEqual([0, 0xffffffff, 0, 0xffffffff]);
    expect(run(0x73, 2, 64)).toEqual([0, 0, 0, 0]);
    expect(run(0x73, 6, 64)).toEqual([0, 0, 0, 0]);
    expect(run(0x73, 3, 16)).toEqual([0, 0, 0, 0]);
    expect(run(0x73, 7, 200)).toEqual([0, 0, 0, 0]);
    expect(run(0x73, 2, 0)).toEqual(A.map((v) => v >>> 0));
    expect(run(0x73, 6, 32)).toEqual([0, 0x00ff00ff, 0, 0x12345678]);
  });

  it('undefined shift-group members and memory forms are #UD', () => {
    for (const [group, kind] of [
      [0x71, 0],
      [0x71, 3],
      [0x72, 7],
      [0x73, 4],
      [0x73, 1],
    ]) {
      expect(
        faultOf(cpu, () => execSse(cpu, insn(Op.PSHIFT_I, { sub: group, reg: kind, rm: 0, imm: 1 }))),
      ).toBe(UD);
    }
    expect(faultOf(cpu, () => execSse(cpu, rmem(Op.PSHIFT_I, 2, MEM, { sub: 0x71, imm: 1 })))).toBe(UD);
    expect(faultOf(cpu, () => execSse(cpu, rmem(Op.PMOVMSKB, 0, MEM)))).toBe(UD);
  });

  it('PADDD/PSUBD/PADDQ wrap', () => {
    setX(cpu, 1, [0x7fffffff, -1, -1, -1]);
    setX(cpu, 2, [1, 1, 1, 0]);
    execSse(cpu, rr(Op.PADD, 1, 2, { sub: 4 }));
    expect(getX(cpu, 1)).toEqual([0x80000000, 0, 0, 0xffffffff]);
    setX(cpu, 1, [-1, -1, -1, 0]);
    setX(cpu, 2, [1, 0, 1, 0]);
    execSse(cpu, rr(Op.PADD, 1, 2, { sub: 8 })); // 2^64-1 + 1 = 0; 2^32-1 + 1 = 2^32
    expect(getX(cpu, 1)).toEqual([0, 0, 0, 1]);
    setX(cpu, 1, [0, 0, 5, 0]);
    setX(cpu, 2, [1, 0, 6, 0]);
    execSse(cpu, rr(Op.PSUB, 1, 2, { sub: 4 }));
    expect(getX(cpu, 1)).toEqual([0xffffffff, 0, 0xffffffff, 0]);
  });

  it('same register as both operands: PXOR clears, PCMPEQB sets, PUNPCKLBW duplicates', () => {
    setX(cpu, 6, A);
    execSse(cpu, rr(Op.SSE_LOGIC, 6, 6, { sub: 3 }));
    expect(getX(cpu, 6)).toEqual([0, 0, 0, 0]);
    execSse(cpu, rr(Op.PCMPEQ, 6, 6, { sub: 1 }));
    expect(getX(cpu, 6)).toEqual([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
    setX(cpu, 6, [0x04030201, 0x08070605, 0, 0]);
    execSse(cpu, rr(Op.PUNPCKL, 6, 6, { sub: 1 }));
    expect(getX(cpu, 6)).toEqual([0x02020101, 0x04040303, 0x06060505, 0x08080707]);
  });

  it('AND and OR', () => {
    setX(cpu, 1, A);
    setX(cpu, 2, B);
    execSse(cpu, rr(Op.SSE_LOGIC, 1, 2, { sub: 0 }));
    expect(getX(cpu, 1)).toEqual(A.map((v, i) => (v & B[i]) >>> 0));
    setX(cpu, 1, A);
    execSse(cpu, rr(Op.SSE_LOGIC, 1, 2, { sub: 2 }));
    expect(getX(cpu, 1)).toEqual(A.map((v, i) => (v | B[i]) >>> 0));
  });

  it('xmm/m128 operands of the integer ops must be 16-byte aligned (#GP(0))', () => {
    setX(cpu, 1, A);
    expect(faultOf(cpu, () => execSse(cpu, rmem(Op.SSE_LOGIC, 1, MEM + 8, { sub: 3 })))).toBe(GP);
    expect(cpu.excHasError).toBe(true);
    expect(cpu.excError).toBe(0);
    expect(getX(cpu, 1)).toEqual(A.map((v) => v >>> 0));
  });
});

describe('SSE moves', () => {
  it('MOVDQU/MOVUPS load and store 16 bytes at any alignment', () => {
    poke32(cpu, MEM + 4, A);
    execSse(cpu, rmem(Op.SSE_LOAD, 3, MEM + 4, { sub: 16 }));
    expect(getX(cpu, 3)).toEqual(A.map((v) => v >>> 0));
    execSse(cpu, rmem(Op.SSE_STORE, 3, MEM + 0x101, { sub: 16 }));
    expect(Array.from(cpu.ram8.subarray(MEM + 0x101, MEM + 0x111))).toEqual(
      Array.from(cpu.xmm8.subarray(48, 64)),
    );
  });

  it('MOVDQA/MOVAPS/MOVNTDQ fault on misalignment, work when aligned', () => {
    const a = SSE_ALIGNED | 16;
    expect(faultOf(cpu, () => execSse(cpu, rmem(Op.SSE_LOAD, 0, MEM + 4, { sub: a })))).toBe(GP);
    expect(faultOf(cpu, () => execSse(cpu, rmem(Op.SSE_STORE, 0, MEM + 1, { sub: a })))).toBe(GP);
    poke32(cpu, MEM, B);
    execSse(cpu, rmem(Op.SSE_LOAD, 15, MEM, { sub: a }));
    expect(getX(cpu, 15)).toEqual(B.map((v) => v >>> 0));
    execSse(cpu, rmem(Op.SSE_STORE, 15, MEM + 0x40, { sub: a }));
    expect(peek32(cpu, MEM + 0x40, 4)).toEqual(B.map((v) => v >>> 0));
  });

  it('MOVSS/MOVSD from memory zero the rest of the register', () => {
    poke32(cpu, MEM, [0x11111111, 0x22222222]);
    setX(cpu, 1, A);
    execSse(cpu, rmem(Op.SSE_LOAD, 1, MEM, { sub: 4 }));
    expect(getX(cpu, 1)).toEqual([0x11111111, 0, 0, 0]);
    setX(cpu, 1, A);
    execSse(cpu, rmem(Op.SSE_LOAD, 1, MEM, { sub: 8 }));
    expect(getX(cpu, 1)).toEqual([0x11111111, 0x22222222, 0, 0]);
  });

  it('MOVSS/MOVSD register to register merge the low element only', () => {
    setX(cpu, 1, A);
    setX(cpu, 2, B);
    execSse(cpu, rr(Op.SSE_LOAD, 1, 2, { sub: 4 }));
    expect(getX(cpu, 1)).toEqual([B[0], A[1], A[2], A[3]].map((v) => v >>> 0));
    setX(cpu, 1, A);
    execSse(cpu, rr(Op.SSE_LOAD, 1, 2, { sub: 8 }));
    expect(getX(cpu, 1)).toEqual([B[0], B[1], A[2], A[3]].map((v) => v >>> 0));
    // store form 0F 11 reg-reg: xmm/rm is the destination
    setX(cpu, 1, A);
    execSse(cpu, rr(Op.SSE_STORE, 2, 1, { sub: 4 }));
    expect(getX(cpu, 1)).toEqual([B[0], A[1], A[2], A[3]].map((v) => v >>> 0));
  });

  it('MOVSS/MOVSD stores write only 4/8 bytes', () => {
    poke32(cpu, MEM, [-1, -1, -1, -1]);
    setX(cpu, 4, A);
    execSse(cpu, rmem(Op.SSE_STORE, 4, MEM, { sub: 4 }));
    expect(peek32(cpu, MEM, 4)).toEqual([A[0], 0xffffffff, 0xffffffff, 0xffffffff]);
    execSse(cpu, rmem(Op.SSE_STORE, 4, MEM + 3, { sub: 8 }));
    expect(cpu.ram.getUint32(MEM + 3, true)).toBe(A[0]);
    expect(cpu.ram.getUint32(MEM + 7, true)).toBe(A[1]);
    expect(cpu.ram.getUint8(MEM + 11)).toBe(0xff);
  });

  it('MOVD/MOVQ xmm, r/m zero-extend', () => {
    setX(cpu, 2, A);
    cpu.r32[2 * 5] = 0x12345678;
    cpu.r32[2 * 5 + 1] = 0x9abcdef0 | 0;
    execSse(cpu, rr(Op.MOVD_X_RM, 2, 5, { size: 4 }));
    expect(getX(cpu, 2)).toEqual([0x12345678, 0, 0, 0]);
    setX(cpu, 2, A);
    execSse(cpu, rr(Op.MOVD_X_RM, 2, 5, { size: 8 }));
    expect(getX(cpu, 2)).toEqual([0x12345678, 0x9abcdef0, 0, 0]);
    poke32(cpu, MEM, [0xcafef00d, 0x0badf00d]);
    setX(cpu, 2, A);
    execSse(cpu, rmem(Op.MOVD_X_RM, 2, MEM, { size: 4 }));
    expect(getX(cpu, 2)).toEqual([0xcafef00d, 0, 0, 0]);
    execSse(cpu, rmem(Op.MOVD_X_RM, 2, MEM, { size: 8 }));
    expect(getX(cpu, 2)).toEqual([0xcafef00d, 0x0badf00d, 0, 0]);
  });

  it('MOVD r32, xmm clears the upper GPR half; MOVQ r64 / m32 / m64 forms', () => {
    setX(cpu, 9, A);
    cpu.r32[2 * 8] = -1;
    cpu.r32[2 * 8 + 1] = -1;
    execSse(cpu, rr(Op.MOVD_RM_X, 9, 8, { size: 4 }));
    expect(cpu.r64[8]).toBe(0x00ff00ffn);
    execSse(cpu, rr(Op.MOVD_RM_X, 9, 8, { size: 8 }));
    expect(cpu.r64[8]).toBe(0xdeadbeef00ff00ffn);
    poke32(cpu, MEM, [-1, -1, -1]);
    execSse(cpu, rmem(Op.MOVD_RM_X, 9, MEM, { size: 4 }));
    expect(peek32(cpu, MEM, 3)).toEqual([0x00ff00ff, 0xffffffff, 0xffffffff]);
    execSse(cpu, rmem(Op.MOVD_RM_X, 9, MEM + 4, { size: 8 }));
    expect(peek32(cpu, MEM, 3)).toEqual([0x00ff00ff, 0x00ff00ff, 0xdeadbeef]);
  });

  it('MOVQ xmm, xmm/m64 (F3 0F 7E) and MOVQ xmm/m64, xmm (66 0F D6) clear bits 127:64', () => {
    setX(cpu, 1, A);
    setX(cpu, 2, B);
    execSse(cpu, rr(Op.MOVQ_X_XM, 1, 2));
    expect(getX(cpu, 1)).toEqual([B[0], B[1], 0, 0].map((v) => v >>> 0));
    poke32(cpu, MEM, [7, 8, 9, 10]);
    setX(cpu, 1, A);
    execSse(cpu, rmem(Op.MOVQ_X_XM, 1, MEM));
    expect(getX(cpu, 1)).toEqual([7, 8, 0, 0]);
    setX(cpu, 1, A);
    execSse(cpu, rr(Op.MOVQ_XM_X, 2, 1)); // reg = source, rm = destination
    expect(getX(cpu, 1)).toEqual([B[0], B[1], 0, 0].map((v) => v >>> 0));
    execSse(cpu, rmem(Op.MOVQ_XM_X, 2, MEM));
    expect(peek32(cpu, MEM, 4)).toEqual([B[0], B[1], 9, 10].map((v) => v >>> 0));
  });
});

describe('SSE availability', () => {
  it('#UD without CR4.OSFXSR or with CR0.EM, #NM with CR0.TS; state untouched', () => {
    setX(cpu, 1, A);
    const pxor = rr(Op.SSE_LOGIC, 1, 1, { sub: 3 });
    cpu.cr4 &= ~CR4_OSFXSR;
    expect(faultOf(cpu, () => execSse(cpu, pxor))).toBe(UD);
    cpu.cr4 |= CR4_OSFXSR;
    cpu.cr0 |= CR0_EM;
    expect(faultOf(cpu, () => execSse(cpu, pxor))).toBe(UD);
    cpu.cr0 |= CR0_TS;
    expect(faultOf(cpu, () => execSse(cpu, pxor))).toBe(UD); // #UD outranks #NM
    cpu.cr0 &= ~CR0_EM;
    expect(faultOf(cpu, () => execSse(cpu, pxor))).toBe(NM);
    expect(cpu.excHasError).toBe(false);
    expect(faultOf(cpu, () => execSse(cpu, rr(Op.MOVD_X_RM, 1, 0)))).toBe(NM);
    expect(getX(cpu, 1)).toEqual(A.map((v) => v >>> 0));
    cpu.cr0 &= ~CR0_TS;
    expect(faultOf(cpu, () => execSse(cpu, pxor))).toBe(null);
  });
});

describe('x87 control', () => {
  it('FNINIT', () => {
    cpu.fcw = 0;
    cpu.fsw = 0x38ff;
    cpu.ftw = 0;
    execX87(cpu, insn(Op.FNINIT));
    expect([cpu.fcw, cpu.fsw, cpu.ftw]).toEqual([0x37f, 0, 0xffff]);
  });

  it('FNSTSW AX / m16, FNSTCW m16', () => {
    cpu.fsw = 0x3801;
    cpu.r32[0] = 0x12345678;
    execX87(cpu, insn(Op.FNSTSW));
    expect(cpu.r32[0]).toBe(0x12343801);
    poke32(cpu, MEM, [-1]);
    execX87(cpu, rmem(Op.FNSTSW, 0, MEM));
    execX87(cpu, rmem(Op.FNSTCW, 0, MEM + 2));
    expect(peek32(cpu, MEM, 1)).toEqual([0x037f3801]);
  });

  it('FLDCW keeps the defined bits and sets bit 6 (host CPU: 0 -> 0x0040, 0xffff -> 0x1f7f)', () => {
    cpu.ram.setUint16(MEM, 0, true);
    execX87(cpu, rmem(Op.FLDCW, 0, MEM));
    expect(cpu.fcw).toBe(0x0040);
    cpu.ram.setUint16(MEM, 0xffff, true);
    execX87(cpu, rmem(Op.FLDCW, 0, MEM));
    expect(cpu.fcw).toBe(0x1f7f);
  });

  it('FLDCW unmasking a pending exception sets ES and B; FWAIT then raises #MF (CR0.NE)', () => {
    cpu.cr0 |= CR0_NE;
    cpu.fsw = 0x0001; // IE pending, masked by the default FCW
    cpu.ram.setUint16(MEM, 0x037e, true);
    execX87(cpu, rmem(Op.FLDCW, 0, MEM));
    expect(cpu.fsw).toBe(0x8081);
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FWAIT)))).toBe(MF);
    execX87(cpu, insn(Op.FNCLEX));
    expect(cpu.fsw).toBe(0);
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FWAIT)))).toBe(null);
  });

  it('FNCLEX clears bits 0-7 and 15 only', () => {
    cpu.fsw = 0xffff;
    execX87(cpu, insn(Op.FNCLEX));
    expect(cpu.fsw).toBe(0x7f00);
  });

  it('#NM on CR0.EM or CR0.TS; FWAIT only on TS with MP', () => {
    cpu.cr0 |= CR0_TS;
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FNINIT)))).toBe(NM);
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FNSTSW)))).toBe(NM);
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FWAIT)))).toBe(null);
    cpu.cr0 |= CR0_MP;
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FWAIT)))).toBe(NM);
    cpu.cr0 &= ~(CR0_TS | CR0_MP);
    cpu.cr0 |= CR0_EM;
    expect(faultOf(cpu, () => execX87(cpu, rmem(Op.FXSAVE, 0, MEM)))).toBe(NM);
    expect(faultOf(cpu, () => execX87(cpu, insn(Op.FWAIT)))).toBe(null);
  });
});

describe('MXCSR', () => {
  it('LDMXCSR/STMXCSR; reserved bits are #GP(0)', () => {
    poke32(cpu, MEM, [0x9fc0]);
    execX87(cpu, rmem(Op.LDMXCSR, 0, MEM));
    expect(cpu.mxcsr).toBe(0x9fc0);
    execX87(cpu, rmem(Op.STMXCSR, 0, MEM + 4));
    expect(peek32(cpu, MEM + 4, 1)).toEqual([0x9fc0]);
    poke32(cpu, MEM, [0x11f80]);
    expect(faultOf(cpu, () => execX87(cpu, rmem(Op.LDMXCSR, 0, MEM)))).toBe(GP);
    expect(cpu.mxcsr).toBe(0x9fc0);
    cpu.cr4 &= ~CR4_OSFXSR;
    expect(faultOf(cpu, () => execX87(cpu, rmem(Op.STMXCSR, 0, MEM)))).toBe(UD);
  });
});

describe('FXSAVE / FXRSTOR', () => {
  function fillState(c: Cpu): void {
    c.fcw = 0x027f;
    c.fsw = 0x3000; // TOP = 6
    c.ftw = 0xffff & ~(3 << 12) & ~(3 << 14); // physical 6 and 7 in use (ST0, ST1)
    for (let i = 0; i < 80; i++) c.st[i] = (i * 7 + 1) & 0xff;
    c.mxcsr = 0x1f80 | 0x20;
    for (let i = 0; i < 256; i++) c.xmm8[i] = (i * 13 + 5) & 0xff;
  }

  it('64-bit layout: header, ST slots, XMM0-15, bytes 416-511 untouched (host CPU: written up to 416)', () => {
    fillState(cpu);
    cpu.ram8.fill(0xaa, MEM, MEM + 512);
    execX87(cpu, rmem(Op.FXSAVE, 0, MEM));
    const m = cpu.ram8.subarray(MEM, MEM + 512);
    expect(cpu.ram.getUint16(MEM, true)).toBe(0x027f);
    expect(cpu.ram.getUint16(MEM + 2, true)).toBe(0x3000);
    expect(m[4]).toBe(0xc0); // abridged: bits 6 and 7
    expect(m[5]).toBe(0);
    expect(peek32(cpu, MEM + 8, 4)).toEqual([0, 0, 0, 0]); // FIP/FDP (not tracked)
    expect(peek32(cpu, MEM + 24, 2)).toEqual([0x1fa0, 0xffff]);
    for (let i = 0; i < 8; i++) {
      expect(Array.from(m.subarray(32 + 16 * i, 42 + 16 * i))).toEqual(
        Array.from(cpu.st.subarray(10 * i, 10 * i + 10)),
      );
      expect(Array.from(m.subarray(42 + 16 * i, 48 + 16 * i))).toEqual([0, 0, 0, 0, 0, 0]);
    }
    expect(Array.from(m.subarray(160, 416))).toEqual(Array.from(cpu.xmm8));
    expect(m.subarray(416).every((b) => b === 0xaa)).toBe(true);
  });

  it('legacy layout keeps XMM0-7 only', () => {
    to32(cpu);
    fillState(cpu);
    cpu.ram8.fill(0xaa, MEM, MEM + 512);
    execX87(cpu, rmem(Op.FXSAVE, 0, MEM, { asize: 4 }));
    const m = cpu.ram8.subarray(MEM, MEM + 512);
    expect(Array.from(m.subarray(160, 288))).toEqual(Array.from(cpu.xmm8.subarray(0, 128)));
    expect(m.subarray(288).every((b) => b === 0xaa)).toBe(true);
  });

  it('round trip through FXRSTOR, with the full tag word rebuilt from the registers', () => {
    fillState(cpu);
    // ST0 (physical 6) = +0.0 -> tag 01; ST1 (physical 7) = 1.0 (exp 0x3fff, J=1) -> tag 00.
    cpu.st.fill(0, 0, 10);
    cpu.st.fill(0, 10, 20);
    cpu.st[17] = 0x80;
    cpu.st[18] = 0xff;
    cpu.st[19] = 0x3f;
    execX87(cpu, rmem(Op.FXSAVE, 0, MEM));
    const saved = { st: Array.from(cpu.st), xmm: Array.from(cpu.xmm8), mxcsr: cpu.mxcsr };
    const other = newCpu();
    execX87(other, rmem(Op.FNINIT, 0, 0));
    other.ram8.set(cpu.ram8.subarray(MEM, MEM + 512), MEM);
    execX87(other, rmem(Op.FXRSTOR, 0, MEM));
    expect(other.fcw).toBe(0x027f);
    expect(other.fsw).toBe(0x3000);
    expect(other.ftw).toBe(0x0fff | (1 << 12)); // physical 6: zero (01), physical 7: valid (00)
    expect(other.mxcsr).toBe(saved.mxcsr);
    expect(Array.from(other.st)).toEqual(saved.st);
    expect(Array.from(other.xmm8)).toEqual(saved.xmm);
  });

  it('#GP(0) when misaligned or when the MXCSR image has reserved bits; nothing changes', () => {
    expect(faultOf(cpu, () => execX87(cpu, rmem(Op.FXSAVE, 0, MEM + 8)))).toBe(GP);
    expect(faultOf(cpu, () => execX87(cpu, rmem(Op.FXRSTOR, 0, MEM + 4)))).toBe(GP);
    cpu.ram8.fill(0, MEM, MEM + 512);
    cpu.ram.setUint32(MEM + 24, 0x10000, true);
    setX(cpu, 0, A);
    expect(faultOf(cpu, () => execX87(cpu, rmem(Op.FXRSTOR, 0, MEM)))).toBe(GP);
    expect(cpu.excError).toBe(0);
    expect(getX(cpu, 0)).toEqual(A.map((v) => v >>> 0));
    expect(cpu.fcw).toBe(0x37f);
  });
});
