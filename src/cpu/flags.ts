// Lazy arithmetic flags: an ALU op stores its operands, result, size and kind; CF PF AF ZF SF OF
// are computed only when something reads them (Jcc, PUSHF, ADC, ...). The operands live in one
// small buffer seen as 32-bit words (sizes up to 32) and as 64-bit words (size 64), so 64-bit ops
// can store them with BigUint64Array expressions and the flags are read back through halves.
import type { Cpu } from './cpu.js';
import { AF, ARITH_FLAGS, CF, OF, PF, SF, ZF } from './regs.js';

/** Slot indices in Cpu.lf (Int32Array); 64-bit view index = slot >> 1. */
export const LF_DST = 0,
  LF_SRC = 2,
  LF_RES = 4;

export const enum LazyOp {
  /** Arithmetic flags are up to date in Cpu.eflags. */
  NONE = 0,
  ADD = 1,
  /** ADD with carry-in 1 (ADC when CF was set). */
  ADC1 = 2,
  SUB = 3,
  /** SUB with borrow-in 1 (SBB when CF was set). */
  SBB1 = 4,
  LOGIC = 5,
  /** INC/DEC: operands (dst, 1); CF is the old CF, kept in Cpu.lfCarry. */
  INC = 6,
  DEC = 7,
  /** Result-only flags (ZF SF PF from the result); CF, OF and AF come from Cpu.lfCarry's bits. */
  RESULT = 8,
  /**
   * An instruction that sets only some flags (rotates: CF and OF) on top of an earlier lazy op:
   * the earlier op is kept in the saved slots; Cpu.lfCarry holds the new bits, lfPartialMask which ones.
   */
  PARTIAL = 9,
}

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let p = 1;
  for (let b = i; b; b >>= 1) p ^= b & 1;
  PARITY[i] = p ? PF : 0;
}

/** Mask and sign bit of each operand size in bytes (index 1, 2, 4). */
const SIGN = [0, 0x80, 0x8000, 0, 0x80000000 | 0];
const MASK = [0, 0xff, 0xffff, 0, -1];

/** The six arithmetic flags as the last lazy op left them. */
export function arithFlags(cpu: Cpu): number {
  const op = cpu.lfOp;
  if (op === LazyOp.NONE) return cpu.eflags & ARITH_FLAGS;
  if (op === LazyOp.PARTIAL) {
    const saved =
      cpu.lfSavedOp === LazyOp.NONE
        ? cpu.eflags & ARITH_FLAGS
        : flagsOf(cpu.lfSaved, cpu.lfSavedOp, cpu.lfSavedSize, cpu.lfSavedCarry);
    return (saved & ~cpu.lfPartialMask) | cpu.lfCarry;
  }
  return flagsOf(cpu.lf, op, cpu.lfSize, cpu.lfCarry);
}

/** Evaluate a lazy-flag record: operand slots `lf`, kind `op`, size in bytes, carried bits. */
function flagsOf(lf: Int32Array, op: LazyOp, size: number, carry: number): number {
  const res = lf[LF_RES];
  let f = PARITY[res & 0xff];
  let zero: boolean;
  let neg: boolean;
  if (size === 8) {
    const hi = lf[LF_RES + 1];
    zero = (res | hi) === 0;
    neg = hi < 0;
  } else {
    const m = MASK[size];
    zero = (res & m) === 0;
    neg = (res & SIGN[size]) !== 0;
  }
  if (zero) f |= ZF;
  if (neg) f |= SF;
  if (op === LazyOp.LOGIC) return f;
  if (op === LazyOp.RESULT) return f | (carry & (CF | OF | AF));
  const dst = lf[LF_DST];
  const src = lf[LF_SRC];
  f |= (dst ^ src ^ res) & AF;
  // Sign words: the operands' most significant 32-bit halves, shifted so bit 31 is the sign.
  let sd: number, ss: number, sr: number;
  if (size === 8) {
    sd = lf[LF_DST + 1];
    ss = lf[LF_SRC + 1];
    sr = lf[LF_RES + 1];
  } else {
    const sh = 32 - size * 8;
    sd = dst << sh;
    ss = src << sh;
    sr = res << sh;
  }
  switch (op) {
    case LazyOp.ADD:
    case LazyOp.ADC1:
      if (((sd ^ sr) & (ss ^ sr)) < 0) f |= OF;
      if (op === LazyOp.ADD ? below(lf, size, LF_RES, LF_DST) : !below(lf, size, LF_DST, LF_RES)) f |= CF;
      break;
    case LazyOp.SUB:
    case LazyOp.SBB1:
      if (((sd ^ ss) & (sd ^ sr)) < 0) f |= OF;
      if (op === LazyOp.SUB ? below(lf, size, LF_DST, LF_SRC) : !below(lf, size, LF_SRC, LF_DST)) f |= CF;
      break;
    case LazyOp.INC: // operands are (dst, 1): OF as for ADD, CF unchanged
      if (((sd ^ sr) & (ss ^ sr)) < 0) f |= OF;
      f |= carry & CF;
      break;
    case LazyOp.DEC: // operands are (dst, 1): OF as for SUB, CF unchanged
      if (((sd ^ ss) & (sd ^ sr)) < 0) f |= OF;
      f |= carry & CF;
      break;
  }
  return f;
}

/**
 * Record an instruction that changes only the flags in `mask` (to the bits in `bits`), keeping
 * the earlier lazy op for the rest: no flag is computed now.
 */
export function setPartialFlags(cpu: Cpu, mask: number, bits: number): void {
  const op = cpu.lfOp;
  if (op === LazyOp.NONE) {
    cpu.eflags = (cpu.eflags & ~mask) | bits;
    return;
  }
  if (op === LazyOp.PARTIAL) {
    cpu.lfCarry = (cpu.lfCarry & ~mask) | bits;
    cpu.lfPartialMask |= mask;
    return;
  }
  const lf = cpu.lf,
    sv = cpu.lfSaved;
  sv[0] = lf[0];
  sv[1] = lf[1];
  sv[2] = lf[2];
  sv[3] = lf[3];
  sv[4] = lf[4];
  sv[5] = lf[5];
  cpu.lfSavedOp = op;
  cpu.lfSavedSize = cpu.lfSize;
  cpu.lfSavedCarry = cpu.lfCarry;
  cpu.lfOp = LazyOp.PARTIAL;
  cpu.lfCarry = bits;
  cpu.lfPartialMask = mask;
}

/** Unsigned a < b for the operands in slots a and b at the given size. */
function below(lf: Int32Array, size: number, a: number, b: number): boolean {
  if (size === 8) {
    const ha = lf[a + 1] >>> 0,
      hb = lf[b + 1] >>> 0;
    if (ha !== hb) return ha < hb;
    return lf[a] >>> 0 < lf[b] >>> 0;
  }
  const m = MASK[size];
  return (lf[a] & m) >>> 0 < (lf[b] & m) >>> 0;
}

/** CF alone, without evaluating the other flags (ADC/SBB, INC/DEC, RCL/RCR read it often). */
export function getCF(cpu: Cpu): boolean {
  const lf = cpu.lf;
  switch (cpu.lfOp) {
    case LazyOp.NONE:
      return (cpu.eflags & CF) !== 0;
    case LazyOp.LOGIC:
      return false;
    case LazyOp.ADD:
      return below(lf, cpu.lfSize, LF_RES, LF_DST);
    case LazyOp.SUB:
      return below(lf, cpu.lfSize, LF_DST, LF_SRC);
    case LazyOp.INC:
    case LazyOp.DEC:
    case LazyOp.RESULT:
      return (cpu.lfCarry & CF) !== 0;
    case LazyOp.PARTIAL:
      if (cpu.lfPartialMask & CF) return (cpu.lfCarry & CF) !== 0;
      return (arithFlags(cpu) & CF) !== 0;
  }
  return (arithFlags(cpu) & CF) !== 0;
}

export function getZF(cpu: Cpu): boolean {
  const op = cpu.lfOp;
  if (op === LazyOp.NONE) return (cpu.eflags & ZF) !== 0;
  if (op === LazyOp.PARTIAL) return (arithFlags(cpu) & ZF) !== 0;
  const lf = cpu.lf;
  const size = cpu.lfSize;
  if (size === 4) return lf[LF_RES] === 0;
  if (size === 8) return (lf[LF_RES] | lf[LF_RES + 1]) === 0;
  return (lf[LF_RES] & MASK[size]) === 0;
}

/** Full RFLAGS image (arithmetic flags materialised), as PUSHF would store it. */
export function getFlags(cpu: Cpu): number {
  return ((cpu.eflags & ~ARITH_FLAGS) | arithFlags(cpu) | 2) >>> 0;
}

/** Materialise the arithmetic flags into eflags so partial updates can follow. */
export function flushFlags(cpu: Cpu): void {
  if (cpu.lfOp !== LazyOp.NONE) {
    cpu.eflags = (cpu.eflags & ~ARITH_FLAGS) | arithFlags(cpu);
    cpu.lfOp = LazyOp.NONE;
  }
}

/** Set the arithmetic flags from an explicit image (the other bits of eflags are kept). */
export function setArithFlags(cpu: Cpu, f: number): void {
  cpu.eflags = (cpu.eflags & ~ARITH_FLAGS) | (f & ARITH_FLAGS);
  cpu.lfOp = LazyOp.NONE;
}

/**
 * Condition codes 0-15 as Jcc/SETcc/CMOVcc encode them (tttn): O NO B AE E NE BE A S NS P NP L GE LE G.
 * Common cases on a fresh SUB/LOGIC result avoid materialising all flags.
 */
export function testCond(cpu: Cpu, cc: number): boolean {
  switch (cc) {
    case 4:
      return getZF(cpu);
    case 5:
      return !getZF(cpu);
  }
  const f = arithFlags(cpu);
  let r: boolean;
  switch (cc >> 1) {
    case 0:
      r = (f & OF) !== 0;
      break;
    case 1:
      r = (f & CF) !== 0;
      break;
    case 2:
      r = (f & ZF) !== 0;
      break;
    case 3:
      r = (f & (CF | ZF)) !== 0;
      break;
    case 4:
      r = (f & SF) !== 0;
      break;
    case 5:
      r = (f & PF) !== 0;
      break;
    case 6:
      r = ((f & SF) !== 0) !== ((f & OF) !== 0);
      break;
    default:
      r = (f & ZF) !== 0 || ((f & SF) !== 0) !== ((f & OF) !== 0);
      break;
  }
  return (cc & 1) === 0 ? r : !r;
}
