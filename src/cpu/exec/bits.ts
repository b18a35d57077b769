// BT BTS BTR BTC, BSF BSR TZCNT LZCNT POPCNT, SETcc, CMOVcc, BSWAP.
import type { Cpu } from '../cpu.js';
import { flushFlags, LazyOp, LF_RES, testCond } from '../flags.js';
import type { Insn } from '../insn.js';
import { CF, ZF } from '../regs.js';
import { linearAddr } from '../segment-check.js';
import { effAddr, getReg, loadRM64, memAddr, readMem, setReg, storeRM64, writeMem } from './operand.js';

const TWO32 = 4294967296;

/**
 * BT family. Register offsets address a bit string in memory (signed offset, the address moves by
 * whole operands); immediate offsets are taken modulo the operand width.
 */
export function btForm(cpu: Cpu, insn: Insn, immForm: boolean): void {
  const size = insn.size === 8 ? 8 : insn.size;
  const kind = insn.sub; // 0 BT, 1 BTS, 2 BTR, 3 BTC
  const lin = btOperand(cpu, insn, immForm);
  const bit = btBit;
  flushFlags(cpu);
  let cf: number;
  if (size === 8) {
    loadRM64(cpu, insn, lin, cpu.t32, 0);
    const w = bit >= 32 ? 1 : 0;
    const m = 1 << (bit & 31);
    cf = cpu.t32[w] & m;
    if (kind === 0) {
      setCF(cpu, cf);
      return;
    }
    if (kind === 1) cpu.t32[w] |= m;
    else if (kind === 2) cpu.t32[w] &= ~m;
    else cpu.t32[w] ^= m;
    storeRM64(cpu, insn, lin, cpu.t32[0], cpu.t32[1]);
    setCF(cpu, cf);
    return;
  }
  const v = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
  const m = 1 << bit;
  cf = v & m;
  if (kind !== 0) {
    const r = kind === 1 ? v | m : kind === 2 ? v & ~m : v ^ m;
    if (insn.mem) writeMem(cpu, lin, size, r);
    else setReg(cpu, insn.rm, size, r);
  }
  setCF(cpu, cf);
}

export function setCF(cpu: Cpu, cf: number): void {
  cpu.eflags = cf ? cpu.eflags | CF : cpu.eflags & ~CF;
}

/** Read the r/m source of a bit-scan as hi:lo (lo only below 64 bits). */
function scanSource(cpu: Cpu, insn: Insn): number {
  const size = insn.size;
  if (size === 8) {
    loadRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, false) : 0, cpu.t32, 0);
    return cpu.t32[0];
  }
  cpu.t32[1] = 0;
  const v = insn.mem ? readMem(cpu, memAddr(cpu, insn, size, false), size) : getReg(cpu, insn.rm, size);
  return size === 4 ? v : v & (size === 2 ? 0xffff : 0xff);
}

function writeCount(cpu: Cpu, insn: Insn, n: number): void {
  if (insn.size === 8) {
    cpu.r32[insn.reg << 1] = n;
    cpu.r32[(insn.reg << 1) + 1] = 0;
  } else setReg(cpu, insn.reg, insn.size, n);
}

/** Index of the lowest set bit of hi:lo, or -1. */
function lowestBit(lo: number, hi: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  if (hi !== 0) return 63 - Math.clz32(hi & -hi);
  return -1;
}
function highestBit(lo: number, hi: number): number {
  if (hi !== 0) return 63 - Math.clz32(hi);
  if (lo !== 0) return 31 - Math.clz32(lo);
  return -1;
}

/** BSF/BSR: ZF = source is zero; the destination is left unchanged then (AMD APM). */
export function bitScan(cpu: Cpu, insn: Insn, reverse: boolean): void {
  const lo = scanSource(cpu, insn);
  const hi = cpu.t32[1];
  flushFlags(cpu);
  if ((lo | hi) === 0) {
    cpu.eflags |= ZF;
    return;
  }
  cpu.eflags &= ~ZF;
  writeCount(cpu, insn, reverse ? highestBit(lo, hi) : lowestBit(lo, hi));
}

/** TZCNT/LZCNT: CF = source is zero, ZF = result is zero. */
export function bitCount(cpu: Cpu, insn: Insn, leading: boolean): void {
  const lo = scanSource(cpu, insn);
  const hi = cpu.t32[1];
  const bits = insn.size * 8;
  let n: number;
  if ((lo | hi) === 0) n = bits;
  else if (leading) n = bits - 1 - highestBit(lo, hi);
  else n = lowestBit(lo, hi);
  writeCount(cpu, insn, n);
  flushFlags(cpu);
  cpu.eflags = (cpu.eflags & ~(CF | ZF)) | (n === bits ? CF : 0) | (n === 0 ? ZF : 0);
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** POPCNT: ZF = source is zero, the other arithmetic flags cleared. */
export function popcnt(cpu: Cpu, insn: Insn): void {
  const lo = scanSource(cpu, insn);
  const hi = cpu.t32[1];
  const n = popcount32(lo) + popcount32(hi);
  writeCount(cpu, insn, n);
  cpu.lf[LF_RES] = n;
  cpu.lfOp = LazyOp.RESULT;
  cpu.lfSize = 4;
  cpu.lfCarry = 0;
  flushFlags(cpu);
  cpu.eflags = (cpu.eflags & ~0x8d5) | ((lo | hi) === 0 ? ZF : 0);
}

export function setcc(cpu: Cpu, insn: Insn): void {
  const v = testCond(cpu, insn.sub) ? 1 : 0;
  if (insn.mem) writeMem(cpu, memAddr(cpu, insn, 1, true), 1, v);
  else cpu.r8[insn.rm] = v;
}

/** CMOVcc: the source is read (and may fault) whatever the condition; a 32-bit destination is zero-extended even when not moved. */
export function cmovcc(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  if (size === 8) {
    loadRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, false) : 0, cpu.t32, 0);
    if (testCond(cpu, insn.sub)) cpu.r64[insn.reg] = cpu.t64[0];
    return;
  }
  const v = insn.mem ? readMem(cpu, memAddr(cpu, insn, size, false), size) : getReg(cpu, insn.rm, size);
  if (testCond(cpu, insn.sub)) setReg(cpu, insn.reg, size, v);
  else if (size === 4) cpu.r32[(insn.reg << 1) + 1] = 0;
}

function bswap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

export function bswap(cpu: Cpu, insn: Insn): void {
  const r = insn.rm << 1;
  if (insn.size === 8) {
    const lo = cpu.r32[r];
    cpu.r32[r] = bswap32(cpu.r32[r + 1]);
    cpu.r32[r + 1] = bswap32(lo);
  } else if (insn.size === 4) {
    cpu.r32[r] = bswap32(cpu.r32[r]);
    cpu.r32[r + 1] = 0;
  } else {
    cpu.r16[insn.rm << 2] = 0; // BSWAP r16 is undefined; processors give 0
  }
}

/** MOVBE: a load (toReg) or store with the bytes reversed. */
export function movbe(cpu: Cpu, insn: Insn, toReg: boolean): void {
  const size = insn.size;
  const lin = memAddr(cpu, insn, size, !toReg);
  if (size === 8) {
    if (toReg) {
      loadRM64(cpu, insn, lin, cpu.t32, 0);
      cpu.r32[insn.reg << 1] = bswap32(cpu.t32[1]);
      cpu.r32[(insn.reg << 1) + 1] = bswap32(cpu.t32[0]);
    } else {
      storeRM64(cpu, insn, lin, bswap32(cpu.r32[(insn.reg << 1) + 1]), bswap32(cpu.r32[insn.reg << 1]));
    }
    return;
  }
  if (toReg) {
    const v = readMem(cpu, lin, size);
    setReg(cpu, insn.reg, size, size === 4 ? bswap32(v) : ((v & 0xff) << 8) | ((v >> 8) & 0xff));
  } else {
    const v = getReg(cpu, insn.reg, size);
    writeMem(cpu, lin, size, size === 4 ? bswap32(v) : ((v & 0xff) << 8) | ((v >> 8) & 0xff));
  }
}

/** The bit number within the operand that the last btOperand() found. */
export let btBit = 0;

/**
 * The linear address of a BT-family operand (0 for a register) and, in btBit, the bit in it. A
 * memory bit string with a register offset moves the address by whole operands (signed offset).
 */
export function btOperand(cpu: Cpu, insn: Insn, immForm: boolean): number {
  const size = insn.size;
  const bits = size * 8;
  const write = insn.sub !== 0;
  if (immForm) {
    btBit = insn.imm & (bits - 1);
    return insn.mem ? memAddr(cpu, insn, size, write) : 0;
  }
  if (!insn.mem) {
    // A register bit string: the offset is taken modulo the width.
    btBit = cpu.r32[insn.reg << 1] & (bits - 1);
    return 0;
  }
  let off: number;
  if (size === 8) off = cpu.r32[(insn.reg << 1) + 1] * TWO32 + (cpu.r32[insn.reg << 1] >>> 0);
  else if (size === 4) off = cpu.r32[insn.reg << 1];
  else off = (cpu.r16[insn.reg << 2] << 16) >> 16;
  btBit = (size === 8 ? cpu.r32[insn.reg << 1] : off) & (bits - 1);
  let ea = effAddr(cpu, insn) + Math.floor(off / bits) * size;
  if (insn.asize === 4) ea = ea >>> 0;
  else if (insn.asize === 2) ea &= 0xffff;
  return linearAddr(cpu, insn.seg, ea, size, write);
}
