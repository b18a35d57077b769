// MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV with #DE.
import { type Cpu, FAULT } from '../cpu.js';
import { LazyOp, LF_RES } from '../flags.js';
import type { Insn } from '../insn.js';
import { CF, DE, OF } from '../regs.js';
import { getReg, loadRM64, memAddr, readMem, setReg } from './operand.js';

/** Flags after a multiply: CF = OF = `overflow`; SF ZF PF follow the low result (undefined by the manuals). */
function mulFlags(cpu: Cpu, lo: number, hiWord: number, size: number, overflow: boolean): void {
  cpu.lf[LF_RES] = lo;
  cpu.lf[LF_RES + 1] = hiWord;
  cpu.lfOp = LazyOp.RESULT;
  cpu.lfSize = size;
  cpu.lfCarry = overflow ? CF | OF : 0;
}

function divideError(cpu: Cpu): never {
  cpu.excVector = DE;
  cpu.excHasError = false;
  throw FAULT;
}

function srcOperand(cpu: Cpu, insn: Insn, size: number): number {
  return insn.mem ? readMem(cpu, memAddr(cpu, insn, size, false), size) : getReg(cpu, insn.rm, size);
}

/** Load a 64-bit r/m source into t64[2] (t32[4], t32[5]). */
function src64(cpu: Cpu, insn: Insn): void {
  loadRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, false) : 0, cpu.t32, 4);
}

/** MUL (signed = false) and one-operand IMUL. */
export function mulAcc(cpu: Cpu, insn: Insn, signed: boolean): void {
  const size = insn.size;
  const r32 = cpu.r32;
  if (size === 8) {
    src64(cpu, insn);
    const t = cpu.t64;
    const ti = cpu.ti64;
    if (signed) {
      ti[0] = ti[2] * cpu.ri64[0]; // low half, wrapped
      ti[1] = (ti[2] * cpu.ri64[0]) >> 64n;
    } else {
      t[0] = t[2] * cpu.r64[0];
      t[1] = (t[2] * cpu.r64[0]) >> 64n;
    }
    cpu.r64[0] = t[0];
    cpu.r64[2] = t[1];
    const ovf = signed ? ti[1] !== ti[0] >> 63n : t[1] !== 0n;
    mulFlags(cpu, r32[0], r32[1], 8, ovf);
    return;
  }
  const s = srcOperand(cpu, insn, size);
  if (size === 1) {
    const a = cpu.r8[0];
    const p = signed ? ((a << 24) >> 24) * ((s << 24) >> 24) : a * s;
    cpu.r16[0] = p;
    const ovf = signed ? p !== (p << 24) >> 24 : p > 0xff;
    mulFlags(cpu, p & 0xff, 0, 1, ovf);
  } else if (size === 2) {
    const a = cpu.r16[0];
    const p = signed ? ((a << 16) >> 16) * ((s << 16) >> 16) : a * s;
    cpu.r16[0] = p;
    cpu.r16[8] = p >> 16; // DX
    const ovf = signed ? p !== (p << 16) >> 16 : p > 0xffff;
    mulFlags(cpu, p & 0xffff, 0, 2, ovf);
  } else {
    const a = r32[0];
    let lo: number, hi: number;
    if (signed) {
      lo = Math.imul(a, s);
      hi = mulHighSigned(a, s);
    } else {
      lo = Math.imul(a, s);
      hi = mulHighUnsigned(a >>> 0, s >>> 0);
    }
    r32[0] = lo;
    r32[1] = 0;
    r32[4] = hi;
    r32[5] = 0;
    mulFlags(cpu, lo, 0, 4, signed ? hi !== lo >> 31 : hi !== 0);
  }
}

/** High 32 bits of an unsigned 32x32 product (exact, via 16-bit limbs). */
export function mulHighUnsigned(a: number, b: number): number {
  const aL = a & 0xffff,
    aH = a >>> 16,
    bL = b & 0xffff,
    bH = b >>> 16;
  const mid = aH * bL + ((aL * bL) >>> 16);
  const mid2 = aL * bH + (mid & 0xffff);
  return (aH * bH + Math.floor(mid / 65536) + Math.floor(mid2 / 65536)) | 0;
}
export function mulHighSigned(a: number, b: number): number {
  let hi = mulHighUnsigned(a >>> 0, b >>> 0);
  if (a < 0) hi = (hi - b) | 0;
  if (b < 0) hi = (hi - a) | 0;
  return hi;
}

/** Two- and three-operand IMUL: reg = (three ? r/m * imm : reg * r/m), truncated. */
export function imulForm(cpu: Cpu, insn: Insn, three: boolean): void {
  const size = insn.size;
  if (size === 8) {
    src64(cpu, insn);
    const ti = cpu.ti64;
    if (three) ti[3] = BigInt(insn.imm);
    else ti[3] = cpu.ri64[insn.reg];
    ti[0] = ti[2] * ti[3];
    const ovf = ti[2] * ti[3] !== ti[0];
    cpu.r64[insn.reg] = cpu.t64[0];
    mulFlags(cpu, cpu.t32[0], cpu.t32[1], 8, ovf);
    return;
  }
  const s = srcOperand(cpu, insn, size);
  const a = three ? insn.imm : getReg(cpu, insn.reg, size);
  if (size === 2) {
    const p = ((a << 16) >> 16) * ((s << 16) >> 16);
    setReg(cpu, insn.reg, 2, p);
    mulFlags(cpu, p & 0xffff, 0, 2, p !== (p << 16) >> 16);
  } else {
    const lo = Math.imul(a, s);
    const hi = mulHighSigned(a | 0, s | 0);
    setReg(cpu, insn.reg, 4, lo);
    mulFlags(cpu, lo, 0, 4, hi !== lo >> 31);
  }
}

/** DIV and IDIV: quotient and remainder into AL/AH, AX/DX, EAX/EDX or RAX/RDX; #DE on /0 or overflow. */
export function divAcc(cpu: Cpu, insn: Insn, signed: boolean): void {
  const size = insn.size;
  const r32 = cpu.r32;
  if (size === 8) {
    src64(cpu, insn);
    if (cpu.t64[2] === 0n) divideError(cpu);
    divide128(cpu, signed);
    return;
  }
  const s = srcOperand(cpu, insn, size);
  if (size === 1) {
    const d = signed ? (s << 24) >> 24 : s;
    if (d === 0) divideError(cpu);
    const n = signed ? (cpu.r16[0] << 16) >> 16 : cpu.r16[0];
    const q = Math.trunc(n / d);
    if (signed ? q > 127 || q < -128 : q > 0xff) divideError(cpu);
    cpu.r8[0] = q;
    cpu.r8[1] = n - q * d;
  } else if (size === 2) {
    const d = signed ? (s << 16) >> 16 : s;
    if (d === 0) divideError(cpu);
    const raw = (cpu.r16[8] << 16) | cpu.r16[0];
    const n = signed ? raw : raw >>> 0;
    const q = Math.trunc(n / d);
    if (signed ? q > 32767 || q < -32768 : q > 0xffff) divideError(cpu);
    cpu.r16[0] = q;
    cpu.r16[8] = n - q * d;
  } else {
    const d = signed ? s | 0 : s >>> 0;
    if (d === 0) divideError(cpu);
    const hi = r32[4];
    const lo = r32[0] >>> 0;
    if (!signed && hi === 0) {
      const q = Math.floor(lo / d);
      r32[0] = q;
      r32[1] = 0;
      r32[4] = lo - q * d;
      r32[5] = 0;
      return;
    }
    if (signed && hi === r32[0] >> 31) {
      // The dividend fits in 32 bits: exact in doubles.
      const n = r32[0];
      const q = Math.trunc(n / d);
      if (q > 2147483647 || q < -2147483648) divideError(cpu);
      r32[0] = q;
      r32[1] = 0;
      r32[4] = n - q * d;
      r32[5] = 0;
      return;
    }
    // 64-by-32 division through BigInt (rare: kernels' do_div and the like).
    const ti = cpu.ti64;
    const t = cpu.t64;
    if (signed) {
      ti[0] = (BigInt(hi) << 32n) | BigInt(lo);
      ti[1] = BigInt(d);
      ti[2] = ti[0] / ti[1];
      ti[3] = ti[0] % ti[1];
      if (ti[2] > 2147483647n || ti[2] < -2147483648n) divideError(cpu);
    } else {
      t[0] = (BigInt(hi >>> 0) << 32n) | BigInt(lo);
      t[1] = BigInt(d);
      t[2] = t[0] / t[1];
      t[3] = t[0] % t[1];
      if (t[2] > 0xffffffffn) divideError(cpu);
    }
    r32[0] = cpu.t32[4];
    r32[1] = 0;
    r32[4] = cpu.t32[6];
    r32[5] = 0;
  }
}

/** RDX:RAX / t64[2] with 128-bit BigInt arithmetic. */
function divide128(cpu: Cpu, signed: boolean): void {
  const n = (cpu.r64[2] << 64n) | cpu.r64[0];
  if (signed) {
    const nn = BigInt.asIntN(128, n);
    const d = cpu.ti64[2];
    const q = nn / d;
    if (q > 0x7fffffffffffffffn || q < -0x8000000000000000n) divideError(cpu);
    cpu.r64[0] = BigInt.asUintN(64, q);
    cpu.r64[2] = BigInt.asUintN(64, nn % d);
  } else {
    const d = cpu.t64[2];
    const q = n / d;
    if (q > 0xffffffffffffffffn) divideError(cpu);
    cpu.r64[0] = q;
    cpu.r64[2] = n % d;
  }
}
