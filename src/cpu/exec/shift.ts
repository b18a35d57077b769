// ROL ROR RCL RCR SHL SHR SAL SAR, SHLD, SHRD (AMD APM vol 3; Intel SDM vol 2 "SAL/SAR/SHL/SHR",
// "RCL/RCR/ROL/ROR"). A masked count of 0 changes nothing, flags included. Rotates change only CF and OF.
import type { Cpu } from '../cpu.js';
import { getCF, LazyOp, LF_RES, setPartialFlags } from '../flags.js';
import type { Insn } from '../insn.js';
import { CF, OF } from '../regs.js';
import { getReg, loadRM64, memAddr, readMem, setReg, storeRM64, writeMem } from './operand.js';

export const ROL = 0,
  ROR = 1,
  RCL = 2,
  RCR = 3,
  SHL = 4,
  SHR = 5,
  SAL = 6,
  SAR = 7;
const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];

function setResultFlags(cpu: Cpu, lo: number, hi: number, size: number, cf: number, of: number): void {
  cpu.lf[LF_RES] = lo;
  cpu.lf[LF_RES + 1] = hi;
  cpu.lfOp = LazyOp.RESULT;
  cpu.lfSize = size;
  cpu.lfCarry = (cf ? CF : 0) | (of ? OF : 0);
}

/** Rotates change only CF and OF: recorded on top of the earlier lazy op, nothing computed now. */
function setCfOf(cpu: Cpu, cf: number, of: number): void {
  setPartialFlags(cpu, CF | OF, (cf ? CF : 0) | (of ? OF : 0));
}

/** Shift/rotate `v` (unsigned, `size` 1, 2 or 4 bytes) by `count` (already masked to 5 bits). */
export function shift32(cpu: Cpu, kind: number, v: number, count: number, size: number): number {
  const bits = size * 8;
  const mask = MASK[size];
  v = (v & mask) >>> 0;
  let r: number;
  let cf: number;
  switch (kind) {
    case ROL: {
      const c = count % bits;
      r = c === 0 ? v : ((v << c) | (v >>> (bits - c))) & mask;
      cf = r & 1;
      setCfOf(cpu, cf, ((r >>> (bits - 1)) & 1) ^ cf);
      return r;
    }
    case ROR: {
      const c = count % bits;
      r = c === 0 ? v : ((v >>> c) | (v << (bits - c))) & mask;
      cf = (r >>> (bits - 1)) & 1;
      setCfOf(cpu, cf, cf ^ ((r >>> (bits - 2)) & 1));
      return r;
    }
    case RCL: {
      const c = count % (bits + 1);
      let carry = getCF(cpu) ? 1 : 0;
      r = v;
      for (let i = 0; i < c; i++) {
        const out = (r >>> (bits - 1)) & 1;
        r = ((r << 1) | carry) & mask;
        carry = out;
      }
      r >>>= 0;
      setCfOf(cpu, carry, ((r >>> (bits - 1)) & 1) ^ carry);
      return r;
    }
    case RCR: {
      const c = count % (bits + 1);
      let carry = getCF(cpu) ? 1 : 0;
      r = v;
      for (let i = 0; i < c; i++) {
        const out = r & 1;
        r = ((r >>> 1) | (carry << (bits - 1))) & mask;
        carry = out;
      }
      r >>>= 0;
      setCfOf(cpu, carry, ((r >>> (bits - 1)) & 1) ^ ((r >>> (bits - 2)) & 1));
      return r;
    }
    case SHL:
    case SAL:
      r = count < 32 ? (v << count) & mask : 0;
      cf = count <= bits ? (v >>> (bits - count)) & 1 : 0;
      setResultFlags(cpu, r, 0, size, cf, ((r >>> (bits - 1)) & 1) ^ cf);
      return r;
    case SHR:
      r = count < 32 ? v >>> count : 0;
      cf = count <= bits ? (v >>> (count - 1)) & 1 : 0;
      setResultFlags(cpu, r, 0, size, cf, (v >>> (bits - 1)) & 1);
      return r;
    default: {
      // SAR
      const sv = (v << (32 - bits)) >> (32 - bits);
      r = (sv >> Math.min(count, 31)) & mask;
      cf = (sv >> Math.min(count - 1, 31)) & 1;
      setResultFlags(cpu, r, 0, size, cf, 0);
      return r;
    }
  }
}

/** 64-bit shift/rotate of t64[0] by `count` (1-63), result in t64[0]: on 32-bit halves, no BigInt. */
function shift64(cpu: Cpu, kind: number, count: number): void {
  const t32 = cpu.t32;
  const lo = t32[0] | 0;
  const hi = t32[1] | 0;
  let cf: number;
  switch (kind) {
    case ROL:
    case ROR: {
      // ROR by c is ROL by 64 - c; a rotate by 32 or more swaps the halves first.
      let c = kind === ROL ? count : 64 - count;
      let a = lo;
      let b = hi;
      if (c >= 32) {
        a = hi;
        b = lo;
        c -= 32;
      }
      t32[0] = c === 0 ? a : (a << c) | (b >>> (32 - c));
      t32[1] = c === 0 ? b : (b << c) | (a >>> (32 - c));
      const msb = (t32[1] >>> 31) & 1;
      if (kind === ROL) {
        cf = t32[0] & 1;
        setCfOf(cpu, cf, msb ^ cf);
      } else setCfOf(cpu, msb, msb ^ ((t32[1] >>> 30) & 1));
      return;
    }
    case RCL:
    case RCR:
      rotateThroughCarry64(cpu, kind, count);
      return;
    case SHL:
    case SAL: {
      // CF is the last bit shifted out: bit 64 - count of the source.
      cf = count <= 32 ? (hi >>> (32 - count)) & 1 : (lo >>> (64 - count)) & 1;
      if (count < 32) {
        t32[1] = (hi << count) | (lo >>> (32 - count));
        t32[0] = lo << count;
      } else {
        t32[1] = lo << (count - 32);
        t32[0] = 0;
      }
      setResultFlags(cpu, t32[0], t32[1], 8, cf, ((t32[1] >>> 31) & 1) ^ cf);
      return;
    }
    default: {
      // SHR and SAR: CF is bit count - 1 of the source; OF is the source's sign for SHR, 0 for SAR.
      cf = count <= 32 ? (lo >>> (count - 1)) & 1 : (hi >>> (count - 33)) & 1;
      const sar = kind !== SHR;
      const fill = sar ? hi >> 31 : 0;
      if (count < 32) {
        t32[0] = (lo >>> count) | (hi << (32 - count));
        t32[1] = sar ? hi >> count : hi >>> count;
      } else {
        t32[0] = count === 32 ? hi : sar ? hi >> (count - 32) : hi >>> (count - 32);
        t32[1] = fill;
      }
      setResultFlags(cpu, t32[0], t32[1], 8, cf, sar ? 0 : (hi >>> 31) & 1);
    }
  }
}

/** RCL/RCR of t64[0] by `count`: the 65-bit rotate through CF, one bit at a time (rare in code). */
function rotateThroughCarry64(cpu: Cpu, kind: number, count: number): void {
  const t = cpu.t64;
  const t32 = cpu.t32;
  let carry = getCF(cpu) ? 1n : 0n;
  for (let i = 0; i < count; i++) {
    if (kind === RCL) {
      const out = t[0] >> 63n;
      t[0] = (t[0] << 1n) | carry;
      carry = out;
    } else {
      const out = t[0] & 1n;
      t[0] = (t[0] >> 1n) | (carry << 63n);
      carry = out;
    }
  }
  const cf = Number(carry);
  const msb = (t32[1] >>> 31) & 1;
  setCfOf(cpu, cf, kind === RCL ? msb ^ cf : msb ^ ((t32[1] >>> 30) & 1));
}

/** Group 2 with the count from `count` (imm8, 1, or CL). */
export function shiftForm(cpu: Cpu, insn: Insn, rawCount: number): void {
  const size = insn.size;
  const count = rawCount & (size === 8 ? 63 : 31);
  const lin = insn.mem ? memAddr(cpu, insn, size, true) : 0;
  if (count === 0) {
    // Changes nothing, but a 32-bit register destination is still written (zero-extended).
    if (insn.mem) readMem(cpu, lin, size === 8 ? 4 : size);
    else if (size === 4) cpu.r32[(insn.rm << 1) + 1] = 0;
    return;
  }
  if (size === 8) {
    loadRM64(cpu, insn, lin, cpu.t32, 0);
    shift64(cpu, insn.sub, count);
    storeRM64(cpu, insn, lin, cpu.t32[0], cpu.t32[1]);
    return;
  }
  const v = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
  const r = shift32(cpu, insn.sub, v, count, size);
  if (insn.mem) writeMem(cpu, lin, size, r);
  else setReg(cpu, insn.rm, size, r);
}

/** SHLD (left = true) / SHRD r/m, reg, imm8|CL. */
export function shiftDouble(cpu: Cpu, insn: Insn, left: boolean): void {
  const size = insn.size;
  const count = (insn.sub === 1 ? cpu.r8[8] : insn.imm) & (size === 8 ? 63 : 31);
  const lin = insn.mem ? memAddr(cpu, insn, size, true) : 0;
  if (count === 0) {
    if (insn.mem) readMem(cpu, lin, size === 8 ? 4 : size);
    else if (size === 4) cpu.r32[(insn.rm << 1) + 1] = 0;
    return;
  }
  const bits = size * 8;
  const t = cpu.t64;
  const t32 = cpu.t32;
  // Build the value in t64[0] (dst) and t64[1] (src) and shift the 128-bit concatenation.
  if (size === 8) {
    loadRM64(cpu, insn, lin, t32, 0);
    t[1] = cpu.r64[insn.reg];
  } else {
    t[0] =
      BigInt((insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size)) >>> 0) & BigInt(MASK[size]);
    t[1] = BigInt(getReg(cpu, insn.reg, size) >>> 0) & BigInt(MASK[size]);
  }
  const B = BigInt(bits);
  const M = (1n << B) - 1n;
  const c = BigInt(count);
  const dst = t[0] & M;
  const src = t[1] & M;
  let res: bigint;
  let cf: bigint;
  if (left) {
    // For 16-bit counts above 16 the manuals leave the result undefined; this follows the
    // dst:src:dst pattern real processors show.
    const wide = (dst << (2n * B)) | (src << B) | dst;
    res = ((wide << c) >> (2n * B)) & M;
    cf = (wide >> (3n * B - c)) & 1n;
  } else {
    const wide = (dst << (2n * B)) | (src << B) | dst;
    res = (wide >> c) & M;
    cf = (wide >> (c - 1n)) & 1n;
  }
  const msbRes = Number((res >> (B - 1n)) & 1n);
  const msbDst = Number((dst >> (B - 1n)) & 1n);
  t[2] = res;
  setResultFlags(cpu, t32[4], t32[5], size, Number(cf), msbRes ^ msbDst);
  if (size === 8) storeRM64(cpu, insn, lin, t32[4], t32[5]);
  else if (insn.mem) writeMem(cpu, lin, size, t32[4]);
  else setReg(cpu, insn.rm, size, t32[4]);
}
