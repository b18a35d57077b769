// The x87 80-bit extended format and its arithmetic (Intel SDM vol 1 ch. 4.2, 4.8, 8.1.5, 8.5;
// AMD APM vol 1 6.4). A register is its raw 80-bit image; arithmetic unpacks it into a sign, a
// biased exponent and the 64-bit significand (explicit integer bit J) as a BigInt, computes the
// exact result as m * 2^e (plus a sticky bit for the quotient and root tails), and rounds it once
// to the precision and exponent range of the destination. So every result is correctly rounded,
// bit for bit as the hardware gives it, in every precision (PC) and rounding (RC) mode. BigInt
// locals allocate: x87 arithmetic is not on the interpreter's hot path (compiled code uses SSE).

/** FSW exception flags. */
export const IE = 0x01,
  DE = 0x02,
  ZE = 0x04,
  OE = 0x08,
  UE = 0x10,
  PE = 0x20;

/** Classes of an 80-bit image (FXAM's classes, plus the split of NaNs). */
export const enum Cls {
  ZERO,
  NORMAL,
  /** Denormal or pseudo-denormal (exponent 0, nonzero significand). */
  DENORMAL,
  INF,
  QNAN,
  SNAN,
  /** Unnormal, pseudo-NaN, pseudo-infinity: invalid operands since the 80387. */
  UNSUPPORTED,
}

/** An unpacked extended value. */
export class F80 {
  sign = 0;
  /** Biased exponent, 15 bits. */
  exp = 0;
  /** Significand, 64 bits with the explicit integer bit 63. */
  sig = 0n;
}

const J = 1n << 63n;
const QUIET = 1n << 62n;
const MASK64 = (1n << 64n) - 1n;
const BIAS = 16383;
/** Exponent of bit 0 of the significand of a value with biased exponent 1 (and of a denormal). */
const LSB0 = 1 - BIAS - 63;

/** Exceptions raised by the last operation (FSW bits) and C1 (the result was rounded up). */
export const status = {
  exc: 0,
  c1: 0,
  /** The last operation had a NaN or unsupported operand. */
  nan: false,
  /** Set by the caller: an operand was a single/double denormal before its exact conversion. */
  loadDenormal: false,
};

export function clear(): void {
  status.exc = 0;
  status.c1 = 0;
  status.nan = false;
  status.loadDenormal = false;
}

export function read80(b: Uint8Array, o: number, out: F80): void {
  const lo = (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  const hi = (b[o + 4] | (b[o + 5] << 8) | (b[o + 6] << 16) | (b[o + 7] << 24)) >>> 0;
  const se = b[o + 8] | (b[o + 9] << 8);
  out.sig = (BigInt(hi) << 32n) | BigInt(lo);
  out.exp = se & 0x7fff;
  out.sign = se >> 15;
}

export function write80(b: Uint8Array, o: number, v: F80): void {
  const lo = Number(v.sig & 0xffffffffn);
  const hi = Number(v.sig >> 32n);
  for (let i = 0; i < 4; i++) {
    b[o + i] = lo >>> (8 * i);
    b[o + 4 + i] = hi >>> (8 * i);
  }
  const se = (v.sign << 15) | v.exp;
  b[o + 8] = se & 0xff;
  b[o + 9] = se >> 8;
}

export function set(out: F80, sign: number, exp: number, sig: bigint): F80 {
  out.sign = sign;
  out.exp = exp;
  out.sig = sig;
  return out;
}

export function copy(out: F80, v: F80): F80 {
  return set(out, v.sign, v.exp, v.sig);
}

export function classify(v: F80): Cls {
  const j = (v.sig & J) !== 0n;
  if (v.exp === 0x7fff) {
    if (!j) return Cls.UNSUPPORTED;
    if ((v.sig & ~J) === 0n) return Cls.INF;
    return v.sig & QUIET ? Cls.QNAN : Cls.SNAN;
  }
  if (v.exp === 0) return v.sig === 0n ? Cls.ZERO : Cls.DENORMAL;
  return j ? Cls.NORMAL : Cls.UNSUPPORTED;
}

export function isNaN80(c: Cls): boolean {
  return c === Cls.QNAN || c === Cls.SNAN;
}

/** The real indefinite: the QNaN every masked invalid operation returns. */
export function indefinite(out: F80): F80 {
  return set(out, 1, 0x7fff, J | QUIET);
}

export function infinity(out: F80, sign: number): F80 {
  return set(out, sign, 0x7fff, J);
}

export function zero(out: F80, sign: number): F80 {
  return set(out, sign, 0, 0n);
}

/** Exponent of the significand's bit 0 for a finite value. */
function scale(v: F80): number {
  return (v.exp === 0 ? 1 : v.exp) - BIAS - 63;
}

export function bitLen(m: bigint): number {
  let n = 0;
  while (m >= 0x100000000n) {
    m >>= 32n;
    n += 32;
  }
  return n + 32 - Math.clz32(Number(m));
}

/**
 * NaN operands (x87 rule, SDM vol 1 Table 4-7): an SNaN and a QNaN give the QNaN; two of a kind
 * the one with the larger significand; a NaN and a number the NaN; always quieted.
 */
export function propagateNaN(out: F80, a: F80, ca: Cls, b: F80, cb: Cls): F80 {
  let r = a;
  if (isNaN80(ca) && isNaN80(cb)) {
    if (ca !== cb) r = ca === Cls.QNAN ? a : b;
    else r = b.sig > a.sig ? b : a;
  } else if (!isNaN80(ca)) r = b;
  return set(out, r.sign, r.exp, r.sig | QUIET);
}

// ---------------------------------------------------------------- rounding

/** A destination format: significand bits, minimum normal exponent, maximum exponent. */
export interface Format {
  p: number;
  emin: number;
  emax: number;
}
export const EXT64: Format = { p: 64, emin: -16382, emax: 16383 };
export const EXT53: Format = { p: 53, emin: -16382, emax: 16383 };
export const EXT24: Format = { p: 24, emin: -16382, emax: 16383 };
export const DOUBLE: Format = { p: 53, emin: -1022, emax: 1023 };
export const SINGLE: Format = { p: 24, emin: -126, emax: 127 };

/** Register precision from FCW.PC (00 single, 10 double, 11 extended; 01 is reserved: extended). */
export function regFormat(fcw: number): Format {
  const pc = (fcw >> 8) & 3;
  return pc === 0 ? EXT24 : pc === 2 ? EXT53 : EXT64;
}

/** Result of round(): kind 0 zero, 1 finite (q * 2^lsb), 2 infinity, 3 largest finite. */
export const rounded = { kind: 0, sign: 0, q: 0n, lsb: 0 };

/** x87 detects tininess before rounding (SDM vol 1 4.9.1.5: the result is tiny when below the normal range). */
function roundUp(rc: number, sign: number, odd: boolean, above: boolean, tie: boolean): boolean {
  switch (rc) {
    case 0:
      return above || (tie && odd);
    case 1:
      return sign === 1;
    case 2:
      return sign === 0;
  }
  return false;
}

/**
 * Rounds sign * (m + sticky) * 2^e to format f under rounding control rc (sticky: nonzero bits
 * below m's last bit; callers keep at least p + 2 bits in m when they pass it). Sets `rounded`
 * and the PE/UE/OE/C1 status; `trapO`/`trapU` (unmasked OE/UE with a register destination)
 * rescale the exponent by 24576 instead of saturating or denormalising (SDM vol 1 8.5.4-8.5.5).
 */
export function round(
  sign: number,
  m: bigint,
  e: number,
  sticky: boolean,
  f: Format,
  rc: number,
  trapO = false,
  trapU = false,
): void {
  rounded.sign = sign;
  if (m === 0n) {
    rounded.kind = 0;
    return;
  }
  const n = bitLen(m);
  let E = e + n - 1;
  const tiny = E < f.emin;
  // An unmasked underflow delivers the result scaled up by 2^24576; one still too small for the
  // range gives a signed zero, and an unmasked overflow still too big once scaled down gives
  // infinity, whatever the rounding (both host-checked with FSCALE).
  if (tiny && trapU) {
    e += 24576;
    E += 24576;
    if (E < f.emin) {
      status.exc |= UE | PE;
      status.c1 = 0;
      rounded.kind = 0;
      return;
    }
  }
  if (trapO && E - 24576 > f.emax) {
    status.exc |= OE | PE;
    status.c1 = 1;
    rounded.kind = 2;
    return;
  }
  const emin = f.emin;
  let lsb = Math.max(E, emin) - (f.p - 1);
  const sh = lsb - e;
  let q = m;
  let inexact = sticky;
  let up = false;
  if (sh > 0) {
    const bsh = BigInt(sh);
    q = m >> bsh;
    const rem = m - (q << bsh);
    const half = 1n << (bsh - 1n);
    if (rem !== 0n) inexact = true;
    if (inexact)
      up = roundUp(
        rc,
        sign,
        (q & 1n) === 1n,
        rem > half || (rem === half && sticky),
        rem === half && !sticky,
      );
  } else {
    q = m << BigInt(-sh);
    if (inexact) up = roundUp(rc, sign, false, false, false);
  }
  if (up) {
    q += 1n;
    if (bitLen(q) > f.p) {
      q >>= 1n;
      lsb++;
    }
  }
  if (tiny && (inexact || trapU)) status.exc |= UE;
  if (inexact) status.exc |= PE;
  status.c1 = up ? 1 : 0;
  if (q === 0n) {
    rounded.kind = 0;
    return;
  }
  const top = lsb + bitLen(q) - 1;
  if (top > f.emax) {
    status.exc |= OE;
    if (trapO) {
      lsb -= 24576; // exact results stay exact (no PE)
    } else {
      status.exc |= PE;
      const toInf = rc === 0 || (rc === 1 && sign === 1) || (rc === 2 && sign === 0);
      rounded.kind = toInf ? 2 : 3;
      status.c1 = toInf ? 1 : 0;
      return;
    }
  }
  rounded.kind = 1;
  rounded.q = q;
  rounded.lsb = lsb;
}

/** `rounded` (from an extended-range format of precision p) as an 80-bit value. */
export function pack80(out: F80, p: number): F80 {
  const r = rounded;
  switch (r.kind) {
    case 0:
      return zero(out, r.sign);
    case 2:
      return infinity(out, r.sign);
    case 3:
      return set(out, r.sign, 0x7ffe, (MASK64 >> BigInt(64 - p)) << BigInt(64 - p));
  }
  const k = bitLen(r.q);
  const top = r.lsb + k - 1;
  if (top >= -16382) return set(out, r.sign, top + BIAS, r.q << BigInt(64 - k));
  return set(out, r.sign, 0, r.q << BigInt(r.lsb - LSB0));
}

/** `rounded` as the bits of an IEEE binary32/binary64 (frac bits 23 or 52), as a BigInt. */
export function packIeee(fracBits: number, bias: number): bigint {
  const r = rounded;
  const expAll = (1 << (64 - fracBits === 12 ? 11 : 8)) - 1;
  const signBit = BigInt(r.sign) << BigInt(fracBits === 52 ? 63 : 31);
  const fb = BigInt(fracBits);
  switch (r.kind) {
    case 0:
      return signBit;
    case 2:
      return signBit | (BigInt(expAll) << fb);
    case 3:
      return signBit | (BigInt(expAll - 1) << fb) | ((1n << fb) - 1n);
  }
  const k = bitLen(r.q);
  const top = r.lsb + k - 1;
  const emin = 1 - bias;
  if (top >= emin) {
    const frac = (r.q << BigInt(fracBits + 1 - k)) & ((1n << fb) - 1n);
    return signBit | (BigInt(top + bias) << fb) | frac;
  }
  return signBit | (r.q << BigInt(r.lsb - (emin - fracBits)));
}

// ---------------------------------------------------------------- conversions in

/**
 * Loads an IEEE binary32/64 image (`bits` as BigInt) exactly. A denormal sets
 * status.loadDenormal; an SNaN is quieted with IE (FLD) or, for an arithmetic operand (`keepSNaN`),
 * left signalling for the operation to judge (two SNaNs compare by significand).
 */
export function fromIeee(out: F80, bits: bigint, fracBits: number, keepSNaN = false): F80 {
  const expBits = fracBits === 52 ? 11 : 8;
  const bias = (1 << (expBits - 1)) - 1;
  const fb = BigInt(fracBits);
  const sign = Number(bits >> BigInt(fracBits + expBits)) & 1;
  const exp = Number((bits >> fb) & BigInt((1 << expBits) - 1));
  const frac = bits & ((1n << fb) - 1n);
  if (exp === (1 << expBits) - 1) {
    if (frac === 0n) return infinity(out, sign);
    const sig = J | (frac << BigInt(63 - fracBits));
    if (keepSNaN) return set(out, sign, 0x7fff, sig);
    if (!(sig & QUIET)) status.exc |= IE;
    return set(out, sign, 0x7fff, sig | QUIET);
  }
  if (exp === 0) {
    if (frac === 0n) return zero(out, sign);
    status.loadDenormal = true;
    const k = bitLen(frac);
    const top = 1 - bias - fracBits + k - 1;
    return set(out, sign, top + BIAS, frac << BigInt(64 - k));
  }
  return set(out, sign, exp - bias + BIAS, J | (frac << BigInt(63 - fracBits)));
}

/** A signed integer, exactly. */
export function fromInt(out: F80, v: bigint): F80 {
  if (v === 0n) return zero(out, 0);
  const sign = v < 0n ? 1 : 0;
  const m = sign ? -v : v;
  const k = bitLen(m);
  return set(out, sign, k - 1 + BIAS, m << BigInt(64 - k));
}

// ---------------------------------------------------------------- conversions out

/**
 * FST/FSTP m32/m64: the IEEE image of v rounded to binary32/64, or null when an unmasked
 * exception forbids the store (the status holds the exceptions either way).
 */
export function toIeee(v: F80, fracBits: number, rc: number, masks: number): bigint | null {
  const f = fracBits === 52 ? DOUBLE : SINGLE;
  const bias = f.emax;
  const expAll = fracBits === 52 ? 0x7ffn : 0xffn;
  const fb = BigInt(fracBits);
  const signBit = BigInt(v.sign) << BigInt(fracBits === 52 ? 63 : 31);
  const c = classify(v);
  switch (c) {
    case Cls.ZERO:
      return signBit;
    case Cls.INF:
      return signBit | (expAll << fb);
    case Cls.QNAN:
    case Cls.SNAN:
      if (c === Cls.SNAN) {
        status.exc |= IE;
        if (!(masks & IE)) return null;
      }
      return signBit | (expAll << fb) | (((v.sig | QUIET) & ~J) >> BigInt(63 - fracBits));
    case Cls.UNSUPPORTED:
      status.exc |= IE;
      if (!(masks & IE)) return null;
      return (1n << BigInt(fracBits === 52 ? 63 : 31)) | (expAll << fb) | (1n << (fb - 1n));
  }
  round(v.sign, v.sig, scale(v), false, f, rc);
  if (status.exc & ~masks & (OE | UE)) {
    // An unmasked overflow or underflow stores nothing and reports neither PE nor C1.
    status.exc &= ~PE;
    status.c1 = 0;
    return null;
  }
  return packIeee(fracBits, bias);
}

/**
 * FIST/FISTP (rc from FCW) and FISTTP (rc 3): v as a `bits`-wide signed integer, or the integer
 * indefinite (most negative value) for NaN, infinity, unsupported or out-of-range operands (IE).
 * Returns null when IE is unmasked (no store).
 */
export function toInt(v: F80, bits: number, rc: number, masks: number): bigint | null {
  const c = classify(v);
  const indefiniteInt = -(1n << BigInt(bits - 1));
  if (c === Cls.ZERO) return 0n;
  if (c === Cls.NORMAL || c === Cls.DENORMAL) {
    const q = roundToInteger(v.sign, v.sig, scale(v), rc);
    const s = v.sign ? -q : q;
    if (s >= indefiniteInt && s < -indefiniteInt) {
      if (rounding.inexact) status.exc |= PE;
      status.c1 = rounding.up ? 1 : 0;
      return s;
    }
  }
  status.exc |= IE;
  status.c1 = 0;
  return masks & IE ? indefiniteInt : null;
}

const rounding = { inexact: false, up: false };

/** |m * 2^e| rounded to an integer under rc, for a value of the given sign. */
function roundToInteger(sign: number, m: bigint, e: number, rc: number): bigint {
  rounding.inexact = false;
  rounding.up = false;
  if (e >= 0) return m << BigInt(e);
  if (e < -66) {
    // Below one half: only the direction of rounding matters.
    rounding.inexact = true;
    rounding.up = roundUp(rc, sign, false, false, false);
    return rounding.up ? 1n : 0n;
  }
  const sh = BigInt(-e);
  const q = m >> sh;
  const rem = m - (q << sh);
  if (rem === 0n) return q;
  const half = 1n << (sh - 1n);
  rounding.inexact = true;
  rounding.up = roundUp(rc, sign, (q & 1n) === 1n, rem > half, rem === half);
  return rounding.up ? q + 1n : q;
}

// ---------------------------------------------------------------- operations

export const ADD = 0,
  SUB = 1,
  MUL = 2,
  DIV = 3;

/**
 * The common operand screening of two-operand arithmetic: invalid operands (SNaN, unsupported),
 * NaN propagation, then denormal operands. Returns true when `out` already holds the answer (or
 * no result may be written: check status against the masks).
 */
function screen(out: F80, a: F80, ca: Cls, b: F80, cb: Cls): boolean {
  status.nan = ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED || isNaN80(ca) || isNaN80(cb);
  if (ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED) {
    status.exc |= IE;
    indefinite(out);
    return true;
  }
  if (isNaN80(ca) || isNaN80(cb)) {
    if (ca === Cls.SNAN || cb === Cls.SNAN) status.exc |= IE;
    propagateNaN(out, a, ca, b, cb);
    return true;
  }
  return false;
}

/** a op b into out under the rounding and precision of fcw. */
export function arith(op: number, a: F80, b: F80, fcw: number, out: F80): void {
  const ca = classify(a);
  const cb = classify(b);
  if (screen(out, a, ca, b, cb)) return;
  const rc = (fcw >> 10) & 3;
  const masks = fcw & 0x3f;
  const f = regFormat(fcw);
  const trapO = !(masks & OE);
  const trapU = !(masks & UE);
  const sb = op === SUB ? b.sign ^ 1 : b.sign;
  const infA = ca === Cls.INF;
  const infB = cb === Cls.INF;
  const zA = ca === Cls.ZERO;
  const zB = cb === Cls.ZERO;
  // Invalid combinations come before the denormal check.
  if (
    ((op === ADD || op === SUB) && infA && infB && a.sign !== sb) ||
    (op === MUL && ((infA && zB) || (zA && infB))) ||
    (op === DIV && ((infA && infB) || (zA && zB)))
  ) {
    status.exc |= IE;
    indefinite(out);
    return;
  }
  const xs = a.sign ^ b.sign;
  if (op === DIV && cb === Cls.ZERO && !zA && !infA) {
    status.exc |= ZE; // checked before the denormal operand
    return void infinity(out, xs);
  }
  if (ca === Cls.DENORMAL || cb === Cls.DENORMAL || status.loadDenormal) {
    status.exc |= DE;
    if (!(masks & DE)) return;
  }
  if (op === ADD || op === SUB) {
    if (infA) return void infinity(out, a.sign);
    if (infB) return void infinity(out, sb);
    if (zA && zB) return void zero(out, a.sign === sb ? a.sign : rc === 1 ? 1 : 0);
    let ea = scale(a);
    let eb = scale(b);
    let ma = a.sig;
    let mb = b.sig;
    let sa = a.sign;
    let sB = sb;
    if (zA) ea = eb;
    if (zB) eb = ea;
    if (ea < eb) {
      const m = ma;
      ma = mb;
      mb = m;
      const e = ea;
      ea = eb;
      eb = e;
      const s = sa;
      sa = sB;
      sB = s;
    }
    let d = ea - eb;
    let m: bigint;
    let e: number;
    if (d > 140 && mb !== 0n) {
      // b lies far below a's last bit: it only steers the rounding.
      d = 130;
      ma <<= BigInt(d);
      mb = 1n;
      e = ea - d;
    } else {
      ma <<= BigInt(d);
      e = eb;
    }
    let sign = sa;
    if (sa === sB) m = ma + mb;
    else {
      m = ma - mb;
      if (m < 0n) {
        m = -m;
        sign = sB;
      }
    }
    if (m === 0n) return void zero(out, rc === 1 ? 1 : 0);
    round(sign, m, e, false, f, rc, trapO, trapU);
    pack80(out, f.p);
    return;
  }
  if (op === MUL) {
    if (infA || infB) return void infinity(out, xs);
    if (zA || zB) return void zero(out, xs);
    round(xs, a.sig * b.sig, scale(a) + scale(b), false, f, rc, trapO, trapU);
    pack80(out, f.p);
    return;
  }
  // DIV
  if (infA) return void infinity(out, xs);
  if (infB || zA) return void zero(out, xs);
  if (zB) {
    status.exc |= ZE;
    return void infinity(out, xs);
  }
  const k = Math.max(0, f.p + 3 + bitLen(b.sig) - bitLen(a.sig));
  const num = a.sig << BigInt(k);
  const q = num / b.sig;
  const sticky = q * b.sig !== num;
  round(xs, q, scale(a) - k - scale(b), sticky, f, rc, trapO, trapU);
  pack80(out, f.p);
}

/** Integer square root (floor). */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLen(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** FSQRT. */
export function sqrt(a: F80, fcw: number, out: F80): void {
  const c = classify(a);
  if (c === Cls.UNSUPPORTED || (a.sign === 1 && c !== Cls.ZERO && !isNaN80(c))) {
    status.exc |= IE;
    indefinite(out);
    return;
  }
  if (isNaN80(c)) {
    if (c === Cls.SNAN) status.exc |= IE;
    set(out, a.sign, a.exp, a.sig | QUIET);
    return;
  }
  if (c === Cls.ZERO || c === Cls.INF) return void copy(out, a);
  if (c === Cls.DENORMAL) {
    status.exc |= DE;
    if (!(fcw & DE)) return;
  }
  const f = regFormat(fcw);
  let m = a.sig;
  let e = scale(a);
  if (e & 1) {
    m <<= 1n;
    e -= 1;
  }
  const want = 2 * (f.p + 3);
  const k = Math.max(0, Math.ceil((want - bitLen(m)) / 2));
  m <<= BigInt(2 * k);
  const r = isqrt(m);
  round(0, r, (e - 2 * k) / 2, r * r !== m, f, (fcw >> 10) & 3);
  pack80(out, f.p);
}

/** FRNDINT: to an integer under FCW.RC, in extended precision. */
export function roundInt(a: F80, fcw: number, out: F80): void {
  const c = classify(a);
  if (c === Cls.UNSUPPORTED || isNaN80(c)) {
    if (c !== Cls.QNAN) status.exc |= IE;
    if (c === Cls.UNSUPPORTED) indefinite(out);
    else set(out, a.sign, a.exp, a.sig | QUIET);
    return;
  }
  if (c === Cls.ZERO || c === Cls.INF) return void copy(out, a);
  if (c === Cls.DENORMAL) {
    status.exc |= DE;
    if (!(fcw & DE)) return;
  }
  const q = roundToInteger(a.sign, a.sig, scale(a), (fcw >> 10) & 3);
  if (rounding.inexact) status.exc |= PE;
  status.c1 = rounding.up ? 1 : 0;
  if (q === 0n) return void zero(out, a.sign);
  const k = bitLen(q);
  set(out, a.sign, k - 1 + BIAS, q << BigInt(64 - k));
}

/** FSCALE: ST(0) * 2^trunc(ST(1)), rounded to extended precision. */
export function fscale(a: F80, b: F80, fcw: number, out: F80): void {
  const ca = classify(a);
  const cb = classify(b);
  if (screen(out, a, ca, b, cb)) return;
  if (ca === Cls.DENORMAL || cb === Cls.DENORMAL) {
    status.exc |= DE;
    if (!(fcw & DE)) return;
  }
  if (cb === Cls.INF) {
    if ((ca === Cls.ZERO && b.sign === 0) || (ca === Cls.INF && b.sign === 1)) {
      status.exc |= IE;
      indefinite(out);
      return;
    }
    if (ca === Cls.ZERO || ca === Cls.INF) return void copy(out, a);
    return void (b.sign ? zero(out, a.sign) : infinity(out, a.sign));
  }
  if (ca === Cls.ZERO || ca === Cls.INF) return void copy(out, a);
  let n = 0;
  if (cb !== Cls.ZERO) {
    const eb = scale(b);
    let t: bigint;
    if (eb >= 0) t = eb > 40 ? 1n << 40n : b.sig << BigInt(eb);
    else t = eb < -64 ? 0n : b.sig >> BigInt(-eb);
    n = Number(t > 1n << 20n ? 1n << 20n : t);
    if (b.sign) n = -n;
  }
  round(a.sign, a.sig, scale(a) + n, false, EXT64, (fcw >> 10) & 3, !(fcw & OE), !(fcw & UE));
  pack80(out, 64);
}

/**
 * FPREM: the partial remainder of a / b with a truncated quotient (FPREM1, `nearest`: with the
 * quotient rounded to nearest). Returns the low three quotient bits, or -1 when the reduction is
 * incomplete (exponent difference 64 or more; C2 set).
 */
export function fprem(a: F80, b: F80, fcw: number, out: F80, nearest = false): number {
  const ca = classify(a);
  const cb = classify(b);
  if (screen(out, a, ca, b, cb)) return 0;
  if (ca === Cls.INF || cb === Cls.ZERO) {
    status.exc |= IE;
    indefinite(out);
    return 0;
  }
  if (ca === Cls.DENORMAL || cb === Cls.DENORMAL) {
    status.exc |= DE;
    if (!(fcw & DE)) return 0;
  }
  if (ca === Cls.ZERO || cb === Cls.INF) {
    copy(out, a);
    if (out.exp === 0 && out.sig & J) out.exp = 1; // a pseudo-denormal comes back normalised
    return 0;
  }
  const ea = scale(a) + bitLen(a.sig);
  const eb = scale(b) + bitLen(b.sig);
  const d = ea - eb;
  const e = Math.min(scale(a), scale(b));
  const ma = a.sig << BigInt(scale(a) - e);
  let mb = b.sig << BigInt(scale(b) - e);
  let partial = false;
  if (d >= 64) {
    // Partial reduction by 2^(D - N) (SDM vol 2 FPREM: N between 32 and 63, implementation-
    // specific). The host reduces by a multiple of 32 bits: N = 32 + (D - 32) mod 32.
    mb <<= BigInt(d - (32 + ((d - 32) % 32)));
    partial = true;
  }
  let q = ma / mb;
  let r = ma - q * mb;
  let sign = a.sign;
  // FPREM1 (IEEE remainder): the quotient rounded to nearest, ties to even, once complete.
  if (nearest && !partial && (2n * r > mb || (2n * r === mb && (q & 1n) === 1n))) {
    q += 1n;
    r = mb - r;
    sign ^= 1;
  }
  if (r === 0n) zero(out, a.sign);
  else {
    round(sign, r, e, false, EXT64, 0, false, !(fcw & UE)); // exact: only a tiny remainder signals
    pack80(out, 64);
  }
  return partial ? -1 : Number(q & 7n);
}

/**
 * FXTRACT: x as exponent (into `expOut`, a number) and significand (into `sigOut`, exponent
 * 0, same sign). Zero: ZE, exponent -infinity; infinity: +infinity; NaN and unsupported as usual.
 */
export function extract(a: F80, fcw: number, expOut: F80, sigOut: F80): void {
  const c = classify(a);
  switch (c) {
    case Cls.UNSUPPORTED:
      status.exc |= IE;
      indefinite(expOut);
      indefinite(sigOut);
      return;
    case Cls.QNAN:
    case Cls.SNAN:
      if (c === Cls.SNAN) status.exc |= IE;
      set(expOut, a.sign, a.exp, a.sig | QUIET);
      copy(sigOut, expOut);
      return;
    case Cls.ZERO:
      status.exc |= ZE;
      infinity(expOut, 1);
      copy(sigOut, a);
      return;
    case Cls.INF:
      infinity(expOut, 0);
      copy(sigOut, a);
      return;
    case Cls.DENORMAL:
      status.exc |= DE;
      if (!(fcw & DE)) return;
  }
  const k = bitLen(a.sig);
  fromInt(expOut, BigInt(scale(a) + k - 1));
  set(sigOut, a.sign, BIAS, a.sig << BigInt(64 - k));
}

/**
 * Compares a and b: 0 equal, 1 a < b, 2 a > b, 3 unordered. `quiet` (FUCOM*) raises IE only for
 * SNaN; the others for any NaN. Unsupported operands always raise IE.
 */
export function compare(a: F80, b: F80, quiet: boolean): number {
  const ca = classify(a);
  const cb = classify(b);
  status.nan = ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED || isNaN80(ca) || isNaN80(cb);
  if (ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED) {
    status.exc |= IE;
    return 3;
  }
  if (isNaN80(ca) || isNaN80(cb)) {
    if (!quiet || ca === Cls.SNAN || cb === Cls.SNAN) status.exc |= IE;
    return 3;
  }
  if (ca === Cls.DENORMAL || cb === Cls.DENORMAL || status.loadDenormal) status.exc |= DE;
  const za = ca === Cls.ZERO;
  const zb = cb === Cls.ZERO;
  if (za && zb) return 0;
  if (za) return b.sign ? 2 : 1;
  if (zb) return a.sign ? 1 : 2;
  if (a.sign !== b.sign) return a.sign ? 1 : 2;
  const mag = compareMagnitude(a, ca, b, cb);
  if (mag === 0) return 0;
  return mag < 0 !== (a.sign === 1) ? 1 : 2;
}

function compareMagnitude(a: F80, ca: Cls, b: F80, cb: Cls): number {
  if (ca === Cls.INF || cb === Cls.INF) return ca === cb ? 0 : ca === Cls.INF ? 1 : -1;
  const ta = scale(a) + bitLen(a.sig);
  const tb = scale(b) + bitLen(b.sig);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const e = Math.min(scale(a), scale(b));
  const ma = a.sig << BigInt(scale(a) - e);
  const mb = b.sig << BigInt(scale(b) - e);
  return ma === mb ? 0 : ma < mb ? -1 : 1;
}

// ---------------------------------------------------------------- constants

/** 128-bit significands of the FLDxx constants (value = sig * 2^(exp - 127)). */
const CONSTANTS: readonly [bigint, number][] = [
  [0xd49a784bcd1b8afe492bf6ff4dafdb4cn, 1], // log2(10)
  [0xb8aa3b295c17f0bbbe87fed0691d3e89n, 0], // log2(e)
  [0xc90fdaa22168c234c4c6628b80dc1cd1n, 1], // pi
  [0x9a209a84fbcff7988f8959ac0b7c9178n, -2], // log10(2)
  [0xb17217f7d1cf79abc9e3b39803f2f6afn, -1], // ln(2)
];

/** FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 (index 0-4), rounded to 64 bits under rc. */
export function constant(index: number, rc: number, out: F80): void {
  const [sig, exp] = CONSTANTS[index];
  round(0, sig, exp - 127, true, EXT64, rc);
  status.exc = 0; // the constants never signal
  status.c1 = 0;
  pack80(out, 64);
}
