// Operand access for the instruction handlers: effective addresses, register and r/m operands of
// every size. 64-bit values move through typed-array slots, never through BigInt locals.
import type { Cpu } from '../cpu.js';
import { BASE_RIP, type Insn } from '../insn.js';
import {
  readLin8,
  readLin16,
  readLin32,
  readLin64,
  writeLin8,
  writeLin16,
  writeLin32,
  writeLin64,
} from '../mmu.js';
import { linearAddr } from '../segment-check.js';

const TWO32 = 4294967296;

/** Effective address (offset within the segment) of the memory operand, wrapped to the address size. */
export function effAddr(cpu: Cpu, insn: Insn): number {
  const r32 = cpu.r32;
  const base = insn.base;
  const index = insn.index;
  if (insn.asize === 4) {
    let a = insn.disp;
    if (base >= 0) a += base === BASE_RIP ? cpu.rip : r32[base << 1];
    if (index >= 0) a += r32[index << 1] << insn.scale;
    return a >>> 0;
  }
  if (insn.asize === 2) {
    const r16 = cpu.r16;
    let a = insn.disp;
    if (base >= 0) a += r16[base << 2];
    if (index >= 0) a += r16[index << 2];
    return a & 0xffff;
  }
  if (base === BASE_RIP) {
    const v = cpu.rip + insn.disp;
    ea64.lo = v - Math.floor(v / TWO32) * TWO32;
    ea64.hi = Math.floor(v / TWO32) | 0;
    return v;
  }
  // lo may go negative (a negative displacement); the carry step below turns that into a borrow.
  let lo = insn.disp;
  let hi = 0;
  if (base >= 0) {
    lo += r32[base << 1] >>> 0;
    hi += r32[(base << 1) + 1];
  }
  if (index >= 0) {
    const m = 1 << insn.scale;
    lo += (r32[index << 1] >>> 0) * m;
    hi += r32[(index << 1) + 1] * m;
  }
  if (hi === 0 && lo >= 0 && lo < TWO32) {
    ea64.lo = lo;
    ea64.hi = 0;
    return lo;
  }
  const carry = Math.floor(lo / TWO32);
  lo -= carry * TWO32;
  hi = (hi + carry) | 0;
  ea64.lo = lo;
  ea64.hi = hi;
  // Exact while |value| < 2^53; anything that large is non-canonical and faults either way.
  return hi * TWO32 + lo;
}

/** The exact halves of the last 64-bit effective address (LEA needs all 64 bits). */
export const ea64 = { lo: 0, hi: 0 };

/** Linear address of the memory operand for an access of `size` bytes. */
export function memAddr(cpu: Cpu, insn: Insn, size: number, write: boolean): number {
  return linearAddr(cpu, insn.seg, effAddr(cpu, insn), size, write);
}

// ---------------------------------------------------------------- registers (size 1, 2, 4)

/** Register operand: `r` is a register number, or an r8 index for size 1. */
export function getReg(cpu: Cpu, r: number, size: number): number {
  switch (size) {
    case 1:
      return cpu.r8[r];
    case 2:
      return cpu.r16[r << 2];
    default:
      return cpu.r32[r << 1];
  }
}

/** Write a register; a 32-bit write zero-extends into the upper half (64-bit mode rule). */
export function setReg(cpu: Cpu, r: number, size: number, v: number): void {
  switch (size) {
    case 1:
      cpu.r8[r] = v;
      return;
    case 2:
      cpu.r16[r << 2] = v;
      return;
    case 4:
      cpu.r32[r << 1] = v;
      cpu.r32[(r << 1) + 1] = 0;
      return;
  }
}

// ---------------------------------------------------------------- memory at a linear address

export function readMem(cpu: Cpu, lin: number, size: number): number {
  switch (size) {
    case 1:
      return readLin8(cpu, lin);
    case 2:
      return readLin16(cpu, lin);
    default:
      return readLin32(cpu, lin);
  }
}

export function writeMem(cpu: Cpu, lin: number, size: number, v: number): void {
  switch (size) {
    case 1:
      writeLin8(cpu, lin, v);
      return;
    case 2:
      writeLin16(cpu, lin, v);
      return;
    default:
      writeLin32(cpu, lin, v);
      return;
  }
}

// ---------------------------------------------------------------- r/m operand (size 1, 2, 4)

export function readRM(cpu: Cpu, insn: Insn, size: number): number {
  if (!insn.mem) return getReg(cpu, insn.rm, size);
  return readMem(cpu, memAddr(cpu, insn, size, false), size);
}

export function writeRM(cpu: Cpu, insn: Insn, size: number, v: number): void {
  if (!insn.mem) setReg(cpu, insn.rm, size, v);
  else writeMem(cpu, memAddr(cpu, insn, size, true), size, v);
}

// ---------------------------------------------------------------- 64-bit operands via slots
// A "slot" is an Int32Array index pair in cpu.t32/cpu.lf: [slot] low, [slot+1] high.

/** Load the 64-bit r/m operand into arr[slot], arr[slot+1]. `lin` is used for memory operands. */
export function loadRM64(cpu: Cpu, insn: Insn, lin: number, arr: Int32Array, slot: number): void {
  if (!insn.mem) {
    arr[slot] = cpu.r32[insn.rm << 1];
    arr[slot + 1] = cpu.r32[(insn.rm << 1) + 1];
  } else {
    arr[slot] = readLin64(cpu, lin);
    arr[slot + 1] = cpu.t32[7];
  }
}

export function storeRM64(cpu: Cpu, insn: Insn, lin: number, lo: number, hi: number): void {
  if (!insn.mem) {
    cpu.r32[insn.rm << 1] = lo;
    cpu.r32[(insn.rm << 1) + 1] = hi;
  } else writeLin64(cpu, lin, lo, hi);
}

/** Read any size r/m (1-8) as a JS number; 64-bit values must fit (counts, addresses). */
export function readRMNum(cpu: Cpu, insn: Insn, size: number): number {
  if (size !== 8) {
    const v = readRM(cpu, insn, size);
    return size === 4 ? v >>> 0 : v;
  }
  const lin = insn.mem ? memAddr(cpu, insn, 8, false) : 0;
  loadRM64(cpu, insn, lin, cpu.t32, 0);
  return cpu.t32[1] * TWO32 + (cpu.t32[0] >>> 0);
}

/** Sign-extended 64-bit register value as a number (addresses: exact within the canonical range). */
export function regSigned(cpu: Cpu, r: number): number {
  return cpu.r32[(r << 1) + 1] * TWO32 + (cpu.r32[r << 1] >>> 0);
}

/** Write a register of any size from a number (for size 8: low 64 bits of a signed/unsigned value). */
export function setRegNum(cpu: Cpu, r: number, size: number, v: number): void {
  if (size !== 8) {
    setReg(cpu, r, size, v);
    return;
  }
  const lo = v >>> 0 === v ? v : v - Math.floor(v / TWO32) * TWO32;
  cpu.r32[r << 1] = lo;
  cpu.r32[(r << 1) + 1] = Math.floor(v / TWO32);
}
