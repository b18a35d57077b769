// SSE/SSE2 moves and packed-integer operations, and the same integer operations on the MMX
// registers (Intel SDM vol 1 ch. 9, vol 2; AMD APM vol 4-5): MOVUPS/MOVAPS/MOVDQA/MOVDQU/MOVSS/
// MOVSD/MOVNT*, MOVD/MOVQ, PAND/PANDN/POR/PXOR (and the PS/PD logic forms), PCMPEQ*/PCMPGT*,
// PMOVMSKB, PADD*/PSUB* (wrapping and saturating), PMULLW/PMULHW/PMADDWD, PACKSS*/PACKUS*,
// PSHUFD, PUNPCKL*/PUNPCKH*, PMINUB/PMAXUB, shifts by an immediate or a register, EMMS.
// Operands: the destination is XMM[insn.reg] or MM[insn.reg & 7] (ModRM.reg); the source the same
// kind of register (ModRM.rm) or memory. An MMX form (sub & MMX) works on 8 bytes instead of 16:
// every element loop runs to `nb`, the width of the current instruction.
// Element-wise operations work on scratch copies of both operands, so there is no aliasing issue
// when source and destination are the same register, and a memory fault leaves no register
// half-written.
import { type Cpu, FAULT } from '../cpu.js';
import { MMX, SSE_ALIGNED } from '../decode-sse.js';
import type { Insn } from '../insn.js';
import { probeWrite, readLin32, readLin64, writeLin32, writeLin64 } from '../mmu.js';
import { Op } from '../ops.js';
import { CR0_EM, CR0_TS, CR4_OSFXSR, GP, NM, UD } from '../regs.js';
import { memAddr } from './operand.js';
import { pendingFpuException } from './x87-arith.js';
import { mmxEnter } from './x87-stack.js';

// ---------------------------------------------------------------- scratch (no per-insn allocation)

/** Destination copy. */
const dBuf = new ArrayBuffer(16);
const d32 = new Int32Array(dBuf);
const d16 = new Uint16Array(dBuf);
const di16 = new Int16Array(dBuf);
const d8 = new Uint8Array(dBuf);
const di8 = new Int8Array(dBuf);
/** Source copy (register or m128/m64). */
const sBuf = new ArrayBuffer(16);
const s32 = new Int32Array(sBuf);
const s16 = new Uint16Array(sBuf);
const si16 = new Int16Array(sBuf);
const s8 = new Uint8Array(sBuf);
const si8 = new Int8Array(sBuf);
/** Result staging for the packs and high unpacks. */
const tBuf = new ArrayBuffer(16);
const t8 = new Uint8Array(tBuf);
const ti8 = new Int8Array(tBuf);
const ti16 = new Int16Array(tBuf);
const t32 = new Int32Array(tBuf);

/** Bytes in the operands of the current instruction: 16 (XMM) or 8 (MMX). */
let nb = 16;
/** The current instruction works on MMX registers. */
let mmx = false;

/** MM[r] (the low 8 bytes of physical x87 register r; TOP is 0 under MMX) into `out`. */
function readMm(cpu: Cpu, r: number, out: Uint8Array): void {
  const st = cpu.st;
  const o = 10 * (r & 7);
  for (let i = 0; i < 8; i++) out[i] = st[o + i];
}

/** MM[r] = from[0..7]; the exponent field of the register becomes all ones (SDM vol 1 9.5.1). */
function writeMm(cpu: Cpu, r: number, from: Uint8Array): void {
  const st = cpu.st;
  const o = 10 * (r & 7);
  for (let i = 0; i < 8; i++) st[o + i] = from[i];
  st[o + 8] = 0xff;
  st[o + 9] = 0xff;
}

// ---------------------------------------------------------------- exceptions

function raise(cpu: Cpu, vector: number, code: number, hasCode: boolean): never {
  cpu.excVector = vector;
  cpu.excError = code;
  cpu.excHasError = hasCode;
  throw FAULT;
}

export function undefinedOpcode(cpu: Cpu): never {
  return raise(cpu, UD, 0, false);
}

/** #UD when SSE is not enabled (CR0.EM set or CR4.OSFXSR clear), #NM when CR0.TS is set. */
export function checkSse(cpu: Cpu, insn: Insn): void {
  if (insn.lock || cpu.cr0 & CR0_EM || !(cpu.cr4 & CR4_OSFXSR)) raise(cpu, UD, 0, false);
  if (cpu.cr0 & CR0_TS) raise(cpu, NM, 0, false);
}

/**
 * MMX: #UD with CR0.EM, #NM with CR0.TS, #MF for a pending x87 exception; then TOP = 0 and all
 * tags valid (SDM vol 1 9.5.1, Table 9-2).
 */
export function checkMmx(cpu: Cpu, insn: Insn): void {
  if (insn.lock || cpu.cr0 & CR0_EM) raise(cpu, UD, 0, false);
  if (cpu.cr0 & CR0_TS) raise(cpu, NM, 0, false);
  pendingFpuException(cpu);
}

/** #GP(0) unless the linear address is 16-byte aligned (low bits survive ToInt32 for any integer). */
export function checkAlign16(cpu: Cpu, lin: number): void {
  if (lin & 15) raise(cpu, GP, 0, true);
}

// ---------------------------------------------------------------- 128-bit memory access

/** Read 16 bytes at `lin` into arr[o..o+3]; both halves are read before anything is stored. */
function read128(cpu: Cpu, lin: number, arr: Int32Array, o: number): void {
  const a = readLin64(cpu, lin);
  const b = cpu.t32[7];
  const c = readLin64(cpu, lin + 8);
  const d = cpu.t32[7];
  arr[o] = a;
  arr[o + 1] = b;
  arr[o + 2] = c;
  arr[o + 3] = d;
}

/** Write arr[o..o+3] to `lin`; a store crossing a page is probed first so it is all-or-nothing. */
function write128(cpu: Cpu, lin: number, arr: Int32Array, o: number): void {
  if ((lin & 0xfff) > 0xff0) probeWrite(cpu, lin, 16);
  writeLin64(cpu, lin, arr[o], arr[o + 1]);
  writeLin64(cpu, lin + 8, arr[o + 2], arr[o + 3]);
}

/** The xmm/m128 source operand (16-byte aligned when in memory), or mm/m64, into s32. */
function loadSrc(cpu: Cpu, insn: Insn): void {
  if (mmx) {
    if (insn.mem) {
      s32[0] = readLin64(cpu, memAddr(cpu, insn, 8, false));
      s32[1] = cpu.t32[7];
    } else readMm(cpu, insn.rm, s8);
    return;
  }
  if (insn.mem) {
    const lin = memAddr(cpu, insn, 16, false);
    checkAlign16(cpu, lin);
    read128(cpu, lin, s32, 0);
  } else {
    const x = cpu.xmm;
    const o = insn.rm << 2;
    s32[0] = x[o];
    s32[1] = x[o + 1];
    s32[2] = x[o + 2];
    s32[3] = x[o + 3];
  }
}

/** Load both operands of a two-operand op: XMM[reg] into d32, xmm/m128 into s32 (or the MMX ones). */
function loadOperands(cpu: Cpu, insn: Insn): void {
  loadSrc(cpu, insn);
  if (mmx) {
    readMm(cpu, insn.reg, d8);
    return;
  }
  const x = cpu.xmm;
  const o = insn.reg << 2;
  d32[0] = x[o];
  d32[1] = x[o + 1];
  d32[2] = x[o + 2];
  d32[3] = x[o + 3];
}

/** Copy d32 back into XMM[r] (or MM[r & 7]). */
function storeDst(cpu: Cpu, r: number): void {
  if (mmx) {
    writeMm(cpu, r, d8);
    return;
  }
  const x = cpu.xmm;
  const o = r << 2;
  x[o] = d32[0];
  x[o + 1] = d32[1];
  x[o + 2] = d32[2];
  x[o + 3] = d32[3];
}

// ---------------------------------------------------------------- moves

/** MOVUPS/MOVUPD/MOVAPS/MOVAPD/MOVDQU/MOVDQA xmm, xmm/m128; MOVSS/MOVSD xmm, xmm/m32/m64; MOVQ mm, mm/m64. */
export function sseLoad(cpu: Cpu, insn: Insn): void {
  if (mmx) {
    loadSrc(cpu, insn);
    writeMm(cpu, insn.reg, s8);
    return;
  }
  const width = insn.sub & ~SSE_ALIGNED;
  const x = cpu.xmm;
  const d = insn.reg << 2;
  if (insn.mem) {
    const lin = memAddr(cpu, insn, width, false);
    if (insn.sub & SSE_ALIGNED) checkAlign16(cpu, lin);
    if (width === 16) {
      read128(cpu, lin, x, d);
    } else if (width === 8) {
      const lo = readLin64(cpu, lin);
      x[d] = lo;
      x[d + 1] = cpu.t32[7];
      x[d + 2] = 0;
      x[d + 3] = 0;
    } else {
      x[d] = readLin32(cpu, lin);
      x[d + 1] = 0;
      x[d + 2] = 0;
      x[d + 3] = 0;
    }
    return;
  }
  const s = insn.rm << 2;
  for (let i = 0; i < width >> 2; i++) x[d + i] = x[s + i];
}

/** MOVUPS/MOVAPS/MOVDQU/MOVDQA/MOVNTPS/MOVNTDQ xmm/m128, xmm; MOVSS/MOVSD xmm/m32/m64, xmm; MOVQ mm/m64, mm. */
export function sseStore(cpu: Cpu, insn: Insn): void {
  if (mmx) {
    readMm(cpu, insn.reg, d8);
    if (insn.mem) writeLin64(cpu, memAddr(cpu, insn, 8, true), d32[0], d32[1]);
    else writeMm(cpu, insn.rm, d8);
    return;
  }
  const width = insn.sub & ~SSE_ALIGNED;
  const x = cpu.xmm;
  const s = insn.reg << 2;
  if (insn.mem) {
    const lin = memAddr(cpu, insn, width, true);
    if (insn.sub & SSE_ALIGNED) checkAlign16(cpu, lin);
    if (width === 16) write128(cpu, lin, x, s);
    else if (width === 8) writeLin64(cpu, lin, x[s], x[s + 1]);
    else writeLin32(cpu, lin, x[s]);
    return;
  }
  const d = insn.rm << 2;
  for (let i = 0; i < width >> 2; i++) x[d + i] = x[s + i];
}

/**
 * MOVD xmm|mm, r/m32 and MOVQ xmm|mm, r/m64 ([66] [REX.W] 0F 6E): zero-extends into the register.
 */
export function movdXRm(cpu: Cpu, insn: Insn): void {
  let lo: number;
  let hi = 0;
  if (insn.mem) {
    const lin = memAddr(cpu, insn, insn.size === 8 ? 8 : 4, false);
    if (insn.size === 8) {
      lo = readLin64(cpu, lin);
      hi = cpu.t32[7];
    } else lo = readLin32(cpu, lin);
  } else {
    lo = cpu.r32[insn.rm << 1];
    if (insn.size === 8) hi = cpu.r32[(insn.rm << 1) + 1];
  }
  d32[0] = lo;
  d32[1] = hi;
  d32[2] = 0;
  d32[3] = 0;
  storeDst(cpu, insn.reg);
}

/**
 * MOVD r/m32, xmm|mm and MOVQ r/m64, xmm|mm ([66] [REX.W] 0F 7E); a 32-bit GPR write clears
 * bits 63:32.
 */
export function movdRmX(cpu: Cpu, insn: Insn): void {
  if (mmx) readMm(cpu, insn.reg, d8);
  else {
    d32[0] = cpu.xmm[insn.reg << 2];
    d32[1] = cpu.xmm[(insn.reg << 2) + 1];
  }
  const q = insn.size === 8;
  if (insn.mem) {
    const lin = memAddr(cpu, insn, q ? 8 : 4, true);
    if (q) writeLin64(cpu, lin, d32[0], d32[1]);
    else writeLin32(cpu, lin, d32[0]);
    return;
  }
  const r = insn.rm << 1;
  cpu.r32[r] = d32[0];
  cpu.r32[r + 1] = q ? d32[1] : 0;
}

/** MOVQ xmm, xmm/m64 (F3 0F 7E): bits 127:64 of the destination are cleared. */
export function movqXXm(cpu: Cpu, insn: Insn): void {
  const x = cpu.xmm;
  const d = insn.reg << 2;
  let lo: number;
  let hi: number;
  if (insn.mem) {
    lo = readLin64(cpu, memAddr(cpu, insn, 8, false));
    hi = cpu.t32[7];
  } else {
    lo = x[insn.rm << 2];
    hi = x[(insn.rm << 2) + 1];
  }
  x[d] = lo;
  x[d + 1] = hi;
  x[d + 2] = 0;
  x[d + 3] = 0;
}

/** MOVQ xmm/m64, xmm (66 0F D6): a register destination gets bits 127:64 cleared. */
export function movqXmX(cpu: Cpu, insn: Insn): void {
  const x = cpu.xmm;
  const s = insn.reg << 2;
  if (insn.mem) {
    writeLin64(cpu, memAddr(cpu, insn, 8, true), x[s], x[s + 1]);
    return;
  }
  const d = insn.rm << 2;
  x[d] = x[s];
  x[d + 1] = x[s + 1];
  x[d + 2] = 0;
  x[d + 3] = 0;
}

/**
 * MOVLPS/MOVHPS (0F 12/13/16/17) and MOVLPD/MOVHPD (66): one quadword between memory and the low
 * (sub bit 1 clear) or high half of an XMM register, the other half kept (SDM vol 2). The register
 * forms exist only for the loads without a prefix: MOVHLPS (the source's high half to the low half)
 * and MOVLHPS (the source's low half to the high half).
 */
export function movHalf(cpu: Cpu, insn: Insn): void {
  const x = cpu.xmm;
  const half = insn.sub & 2;
  const r = (insn.reg << 2) + half;
  if (!insn.mem) {
    if (insn.sub & 0x10) undefinedOpcode(cpu);
    const s = (insn.rm << 2) + (half ^ 2);
    const lo = x[s];
    const hi = x[s + 1];
    x[r] = lo;
    x[r + 1] = hi;
    return;
  }
  if (insn.sub & 1) {
    writeLin64(cpu, memAddr(cpu, insn, 8, true), x[r], x[r + 1]);
    return;
  }
  x[r] = readLin64(cpu, memAddr(cpu, insn, 8, false));
  x[r + 1] = cpu.t32[7];
}

// ---------------------------------------------------------------- logic and compares

export const LOGIC_AND = 0,
  LOGIC_ANDN = 1,
  LOGIC_OR = 2,
  LOGIC_XOR = 3;

/** PAND/PANDN/POR/PXOR and ANDPS/ANDNPS/ORPS/XORPS (and PD): bitwise. */
export function sseLogic(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  const op = insn.sub & 3;
  for (let i = 0; i < nb >> 2; i++) {
    const a = d32[i];
    const b = s32[i];
    d32[i] = op === LOGIC_AND ? a & b : op === LOGIC_ANDN ? ~a & b : op === LOGIC_OR ? a | b : a ^ b;
  }
  storeDst(cpu, insn.reg);
}

/** PCMPEQB/W/D (sub = element size): each element becomes all ones when equal, else zero. */
export function pcmpeq(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  switch (insn.sub & 0xf) {
    case 1:
      for (let i = 0; i < nb; i++) d8[i] = d8[i] === s8[i] ? 0xff : 0;
      break;
    case 2:
      for (let i = 0; i < nb >> 1; i++) d16[i] = d16[i] === s16[i] ? 0xffff : 0;
      break;
    default:
      for (let i = 0; i < nb >> 2; i++) d32[i] = d32[i] === s32[i] ? -1 : 0;
      break;
  }
  storeDst(cpu, insn.reg);
}

/** PCMPGTB/W/D: all ones where the signed destination element is greater. */
export function pcmpgt(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  switch (insn.sub & 0xf) {
    case 1:
      for (let i = 0; i < nb; i++) d8[i] = di8[i] > si8[i] ? 0xff : 0;
      break;
    case 2:
      for (let i = 0; i < nb >> 1; i++) d16[i] = di16[i] > si16[i] ? 0xffff : 0;
      break;
    default:
      for (let i = 0; i < nb >> 2; i++) d32[i] = d32[i] > s32[i] ? -1 : 0;
      break;
  }
  storeDst(cpu, insn.reg);
}

/** PMOVMSKB r32/r64, xmm: the sign bits of the 16 bytes; bits 63:16 of the GPR are cleared. */
export function pmovmskb(cpu: Cpu, insn: Insn): void {
  const b = cpu.xmm8;
  const o = insn.rm << 4;
  let m = 0;
  for (let i = 0; i < 16; i++) m |= (b[o + i] >> 7) << i;
  cpu.r32[insn.reg << 1] = m;
  cpu.r32[(insn.reg << 1) + 1] = 0;
}

// ---------------------------------------------------------------- arithmetic

/** PADDB/PADDW/PADDD/PADDQ (sub = element size): wrapping addition. */
export function padd(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  switch (insn.sub & 0xf) {
    case 1:
      for (let i = 0; i < nb; i++) d8[i] = d8[i] + s8[i];
      break;
    case 2:
      for (let i = 0; i < nb >> 1; i++) d16[i] = d16[i] + s16[i];
      break;
    case 4:
      for (let i = 0; i < nb >> 2; i++) d32[i] = (d32[i] + s32[i]) | 0;
      break;
    default:
      for (let i = 0; i < nb >> 2; i += 2) {
        const lo = (d32[i] >>> 0) + (s32[i] >>> 0);
        d32[i + 1] = (d32[i + 1] + s32[i + 1] + (lo > 0xffffffff ? 1 : 0)) | 0;
        d32[i] = lo | 0;
      }
      break;
  }
  storeDst(cpu, insn.reg);
}

/** PSUBB/PSUBW/PSUBD/PSUBQ (sub = element size): wrapping subtraction. */
export function psub(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  switch (insn.sub & 0xf) {
    case 1:
      for (let i = 0; i < nb; i++) d8[i] = d8[i] - s8[i];
      break;
    case 2:
      for (let i = 0; i < nb >> 1; i++) d16[i] = d16[i] - s16[i];
      break;
    case 4:
      for (let i = 0; i < nb >> 2; i++) d32[i] = (d32[i] - s32[i]) | 0;
      break;
    default:
      for (let i = 0; i < nb >> 2; i += 2) {
        const lo = (d32[i] >>> 0) - (s32[i] >>> 0);
        d32[i + 1] = (d32[i + 1] - s32[i + 1] - (lo < 0 ? 1 : 0)) | 0;
        d32[i] = lo | 0;
      }
      break;
  }
  storeDst(cpu, insn.reg);
}

const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/**
 * PADDSB/W, PADDUSB/W, PSUBSB/W, PSUBUSB/W: sub = element size (1 or 2) | 0x10 for unsigned
 * saturation; `neg` subtracts.
 */
function saturating(cpu: Cpu, insn: Insn, neg: boolean): void {
  loadOperands(cpu, insn);
  const unsigned = (insn.sub & 0x10) !== 0;
  const k = neg ? -1 : 1;
  if ((insn.sub & 0xf) === 1) {
    for (let i = 0; i < nb; i++) {
      if (unsigned) d8[i] = clamp(d8[i] + k * s8[i], 0, 0xff);
      else di8[i] = clamp(di8[i] + k * si8[i], -0x80, 0x7f);
    }
  } else {
    for (let i = 0; i < nb >> 1; i++) {
      if (unsigned) d16[i] = clamp(d16[i] + k * s16[i], 0, 0xffff);
      else di16[i] = clamp(di16[i] + k * si16[i], -0x8000, 0x7fff);
    }
  }
  storeDst(cpu, insn.reg);
}

/** PMULLW (sub 0), PMULHW (1): low/high 16 bits of the signed products; PMADDWD (2): pairwise sums. */
export function pmul(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  switch (insn.sub & 0xf) {
    case 0:
      for (let i = 0; i < nb >> 1; i++) d16[i] = Math.imul(di16[i], si16[i]);
      break;
    case 1:
      for (let i = 0; i < nb >> 1; i++) d16[i] = Math.imul(di16[i], si16[i]) >> 16;
      break;
    default:
      for (let i = 0; i < nb >> 2; i++) {
        const a = Math.imul(di16[2 * i], si16[2 * i]);
        const b = Math.imul(di16[2 * i + 1], si16[2 * i + 1]);
        d32[i] = (a + b) | 0; // only 8000h * 8000h twice wraps, to 80000000h as on hardware
      }
  }
  storeDst(cpu, insn.reg);
}

/** PMINUB (sub 0) / PMAXUB (sub 1): unsigned byte minimum / maximum. */
export function pminmaxub(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  const max = (insn.sub & 0xf) === 1;
  for (let i = 0; i < nb; i++) {
    const a = d8[i];
    const b = s8[i];
    d8[i] = max ? Math.max(a, b) : Math.min(a, b);
  }
  storeDst(cpu, insn.reg);
}

// ---------------------------------------------------------------- packs and shuffles

/**
 * PACKSSWB (sub 0), PACKSSDW (1), PACKUSWB (2): the destination's elements narrowed with
 * saturation fill the low half of the result, the source's the high half.
 */
export function pack(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  const kind = insn.sub & 0xf;
  if (kind === 1) {
    const n = nb >> 2; // dwords per operand
    for (let i = 0; i < n; i++) {
      ti16[i] = clamp(d32[i], -0x8000, 0x7fff);
      ti16[n + i] = clamp(s32[i], -0x8000, 0x7fff);
    }
  } else {
    const n = nb >> 1; // words per operand
    for (let i = 0; i < n; i++) {
      if (kind === 0) {
        ti8[i] = clamp(di16[i], -0x80, 0x7f);
        ti8[n + i] = clamp(si16[i], -0x80, 0x7f);
      } else {
        t8[i] = clamp(di16[i], 0, 0xff);
        t8[n + i] = clamp(si16[i], 0, 0xff);
      }
    }
  }
  for (let i = 0; i < nb >> 2; i++) d32[i] = t32[i];
  storeDst(cpu, insn.reg);
}

/** PSHUFD xmm, xmm/m128, imm8: dword i of the result = source dword (imm >> 2i) & 3. */
export function pshufd(cpu: Cpu, insn: Insn): void {
  loadSrc(cpu, insn);
  const x = cpu.xmm;
  const d = insn.reg << 2;
  const order = insn.imm;
  x[d] = s32[order & 3];
  x[d + 1] = s32[(order >> 2) & 3];
  x[d + 2] = s32[(order >> 4) & 3];
  x[d + 3] = s32[(order >> 6) & 3];
}

/**
 * PUNPCKL* (high = false) and PUNPCKH* (high = true), sub = element size: interleave the low (or
 * high) halves of destination and source, destination element first.
 */
function unpack(cpu: Cpu, insn: Insn, high: boolean): void {
  loadOperands(cpu, insn);
  const size = insn.sub & 0xf;
  const half = nb >> 1; // bytes taken from each operand
  const base = high ? half : 0;
  for (let i = 0; i < half; i += size) {
    for (let j = 0; j < size; j++) {
      t8[2 * i + j] = d8[base + i + j];
      t8[2 * i + size + j] = s8[base + i + j];
    }
  }
  for (let i = 0; i < nb >> 2; i++) d32[i] = t32[i];
  storeDst(cpu, insn.reg);
}

// ---------------------------------------------------------------- shifts

/** PSRLW/PSRAW/PSLLW (kind 2/4/6) on the words of d16 (count already at most 255). */
function shiftWords(kind: number, c: number): void {
  const n = nb >> 1;
  if (kind === 4) {
    const k = Math.min(c, 15);
    for (let i = 0; i < n; i++) di16[i] = di16[i] >> k;
  } else if (c > 15) d32.fill(0);
  else if (kind === 2) for (let i = 0; i < n; i++) d16[i] = d16[i] >>> c;
  else for (let i = 0; i < n; i++) d16[i] = d16[i] << c;
}

/** PSRLD/PSRAD/PSLLD on d32. */
function shiftDwords(kind: number, c: number): void {
  const n = nb >> 2;
  if (kind === 4) {
    const k = Math.min(c, 31);
    for (let i = 0; i < n; i++) d32[i] = d32[i] >> k;
  } else if (c > 31) d32.fill(0);
  else if (kind === 2) for (let i = 0; i < n; i++) d32[i] = d32[i] >>> c;
  else for (let i = 0; i < n; i++) d32[i] = d32[i] << c;
}

/** PSRLQ (kind 2) / PSLLQ (kind 6) on the qwords of d32. */
function shiftQwords(kind: number, c: number): void {
  for (let i = 0; i < nb >> 2; i += 2) {
    const lo = d32[i];
    const hi = d32[i + 1];
    if (c > 63) {
      d32[i] = 0;
      d32[i + 1] = 0;
    } else if (c >= 32) {
      if (kind === 2) {
        d32[i] = hi >>> (c - 32);
        d32[i + 1] = 0;
      } else {
        d32[i] = 0;
        d32[i + 1] = lo << (c - 32);
      }
    } else if (c !== 0) {
      if (kind === 2) {
        d32[i] = (lo >>> c) | (hi << (32 - c));
        d32[i + 1] = hi >>> c;
      } else {
        d32[i] = lo << c;
        d32[i + 1] = (hi << c) | (lo >>> (32 - c));
      }
    }
  }
}

/** PSRLDQ xmm, imm8: byte shift right of the whole register (counts over 15 clear it). */
function psrldq(c: number): void {
  for (let i = 0; i < 16; i++) d8[i] = i + c < 16 ? d8[i + c] : 0;
}

/** PSLLDQ xmm, imm8: byte shift left of the whole register. */
function pslldq(c: number): void {
  for (let i = 15; i >= 0; i--) d8[i] = i - c >= 0 ? d8[i - c] : 0;
}

/** Is ModRM.reg `kind` a defined member of shift group 0x71/0x72/0x73 (the byte shifts are XMM only)? */
function shiftKindValid(group: number, kind: number): boolean {
  if (group === 0x73) return kind === 2 || kind === 6 || (!mmx && (kind === 3 || kind === 7));
  return kind === 2 || kind === 4 || kind === 6;
}

/** Groups 12-14 ([66] 0F 71/72/73 /r ib): shift XMM[rm] or MM[rm] by an immediate count. */
export function pshiftI(cpu: Cpu, insn: Insn): void {
  const group = insn.sub & 0x7f;
  const kind = insn.reg & 7;
  if (insn.mem || !shiftKindValid(group, kind)) undefinedOpcode(cpu);
  if (mmx) {
    checkMmx(cpu, insn);
    mmxEnter(cpu);
  } else checkSse(cpu, insn);
  shiftReg(cpu, insn.rm, group, kind, insn.imm & 0xff);
}

/**
 * PSRLW/D/Q, PSRAW/D, PSLLW/D/Q by a count in xmm/m128 or mm/m64 (its low 64 bits, unsigned):
 * sub = kind << 2 | 1 words, 2 dwords, 3 qwords.
 */
export function pshiftR(cpu: Cpu, insn: Insn): void {
  loadOperands(cpu, insn);
  const c = s32[1] !== 0 || s32[0] >>> 0 > 0xff ? 0xff : s32[0];
  const kind = (insn.sub >> 2) & 7;
  const g = insn.sub & 3;
  if (g === 1) shiftWords(kind, c);
  else if (g === 2) shiftDwords(kind, c);
  else shiftQwords(kind, c);
  storeDst(cpu, insn.reg);
}

/** The shift itself on XMM[r] or MM[r] (also reached through the PSRLDQ_I / PSLLDQ_I ids). */
function shiftReg(cpu: Cpu, r: number, group: number, kind: number, c: number): void {
  if (mmx) readMm(cpu, r, d8);
  else {
    const x = cpu.xmm;
    const o = r << 2;
    d32[0] = x[o];
    d32[1] = x[o + 1];
    d32[2] = x[o + 2];
    d32[3] = x[o + 3];
  }
  if (group === 0x71) shiftWords(kind, c);
  else if (group === 0x72) shiftDwords(kind, c);
  else if (kind === 3) psrldq(Math.min(c, 16));
  else if (kind === 7) pslldq(Math.min(c, 16));
  else shiftQwords(kind, c);
  storeDst(cpu, r);
}

// ---------------------------------------------------------------- entry point

/** EMMS: every x87 tag empty, so x87 code can follow MMX code; TOP is 0 as after any MMX instruction. */
export function emms(cpu: Cpu, insn: Insn): void {
  // "NP 0F 77" (SDM): a 66, F2 or F3 prefix makes it undefined, before any #NM.
  if (insn.pfx !== 0) undefinedOpcode(cpu);
  checkMmx(cpu, insn);
  mmxEnter(cpu);
  cpu.ftw = 0xffff;
}

/** Execute one SSE/SSE2 or MMX instruction (the Op ids from SSE_LOAD to PSHIFT_R). */
export function execSse(cpu: Cpu, insn: Insn): void {
  mmx = (insn.sub & MMX) !== 0;
  nb = mmx ? 8 : 16;
  if (insn.op === Op.PSHIFT_I) {
    pshiftI(cpu, insn); // its #UD for undefined ModRM.reg values comes before #NM
    return;
  }
  if ((insn.op === Op.PMOVMSKB || insn.op === Op.PSRLDQ_I || insn.op === Op.PSLLDQ_I) && insn.mem) {
    undefinedOpcode(cpu);
  }
  if (mmx) {
    checkMmx(cpu, insn);
    mmxEnter(cpu);
  } else checkSse(cpu, insn);
  switch (insn.op) {
    case Op.SSE_LOAD:
      sseLoad(cpu, insn);
      return;
    case Op.SSE_STORE:
      sseStore(cpu, insn);
      return;
    case Op.MOVD_X_RM:
      movdXRm(cpu, insn);
      return;
    case Op.MOVD_RM_X:
      movdRmX(cpu, insn);
      return;
    case Op.MOVQ_X_XM:
      movqXXm(cpu, insn);
      return;
    case Op.MOVQ_XM_X:
      movqXmX(cpu, insn);
      return;
    case Op.MOV_HALF:
      movHalf(cpu, insn);
      return;
    case Op.SSE_LOGIC:
      sseLogic(cpu, insn);
      return;
    case Op.PCMPEQ:
      pcmpeq(cpu, insn);
      return;
    case Op.PCMPGT:
      pcmpgt(cpu, insn);
      return;
    case Op.PMOVMSKB:
      pmovmskb(cpu, insn);
      return;
    case Op.PADD:
      padd(cpu, insn);
      return;
    case Op.PSUB:
      psub(cpu, insn);
      return;
    case Op.PADDSAT:
      saturating(cpu, insn, false);
      return;
    case Op.PSUBSAT:
      saturating(cpu, insn, true);
      return;
    case Op.PMUL:
      pmul(cpu, insn);
      return;
    case Op.PACK:
      pack(cpu, insn);
      return;
    case Op.PSHUFD:
      pshufd(cpu, insn);
      return;
    case Op.PUNPCKL:
      unpack(cpu, insn, false);
      return;
    case Op.PUNPCKH:
      unpack(cpu, insn, true);
      return;
    case Op.PMINMAXUB:
      pminmaxub(cpu, insn);
      return;
    case Op.PSHIFT_R:
      pshiftR(cpu, insn);
      return;
    case Op.PSRLDQ_I:
      shiftReg(cpu, insn.rm, 0x73, 3, insn.imm & 0xff);
      return;
    case Op.PSLLDQ_I:
      shiftReg(cpu, insn.rm, 0x73, 7, insn.imm & 0xff);
      return;
    default:
      undefinedOpcode(cpu);
  }
}
