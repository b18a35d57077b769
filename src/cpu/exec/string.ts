// MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE in every address size. A REP runs in
// chunks: after REP_CHUNK iterations it re-executes itself, so interrupts are taken between chunks
// and a fault leaves rSI/rDI/rCX at the element that faulted, as on hardware.
import type { Cpu } from '../cpu.js';
import { getZF, LF_DST, LF_SRC } from '../flags.js';
import type { Insn } from '../insn.js';
import { readLin64, writeLin64 } from '../mmu.js';
import { DF, ES } from '../regs.js';
import { linearAddr } from '../segment-check.js';
import { tlbIndex } from '../tlb.js';
import { ALU_CMP, alu, alu64 } from './alu.js';
import { checkIo, ioIn, ioOut } from './io.js';
import { getReg, readMem, setReg, writeMem } from './operand.js';

const REP_CHUNK = 4096;
const TWO32 = 4294967296;
const RSI = 6,
  RDI = 7,
  RCX = 1;

function getIdx(cpu: Cpu, r: number, asize: number): number {
  if (asize === 2) return cpu.r16[r << 2];
  if (asize === 4) return cpu.r32[r << 1] >>> 0;
  return cpu.r32[(r << 1) + 1] * TWO32 + (cpu.r32[r << 1] >>> 0);
}
function setIdx(cpu: Cpu, r: number, asize: number, v: number): void {
  if (asize === 2) cpu.r16[r << 2] = v;
  else if (asize === 4) {
    cpu.r32[r << 1] = v;
    if (cpu.codeSize === 64) cpu.r32[(r << 1) + 1] = 0;
  } else {
    cpu.r32[r << 1] = v % TWO32;
    cpu.r32[(r << 1) + 1] = Math.floor(v / TWO32);
  }
}
function wrap(v: number, asize: number): number {
  return asize === 2 ? v & 0xffff : asize === 4 ? v >>> 0 : v;
}

/** Read an element of `size` bytes (8: low half returned, high in t32[7]). */
function readElem(cpu: Cpu, lin: number, size: number): number {
  return size === 8 ? readLin64(cpu, lin) : readMem(cpu, lin, size);
}
function writeElem(cpu: Cpu, lin: number, size: number, v: number, hi: number): void {
  if (size === 8) writeLin64(cpu, lin, v, hi);
  else writeMem(cpu, lin, size, v);
}

export function stringOp(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const asize = insn.asize;
  const step = cpu.eflags & DF ? -size : size;
  const rep = insn.rep;
  let count = rep ? getIdx(cpu, RCX, asize) : 1;
  if (count === 0) return;
  const op = insn.op;
  const isCmp = op === Op.CMPS || op === Op.SCAS;
  let n = 0;
  const bulk = rep !== 0 && asize === 8 && step > 0 && (op === Op.MOVS || op === Op.STOS);
  while (n < REP_CHUNK) {
    if (bulk) {
      // Whole runs of elements within a page at a time, when the TLB already maps the pages.
      const k =
        op === Op.STOS
          ? stosRun(cpu, size, count, REP_CHUNK - n)
          : movsRun(cpu, insn, size, count, REP_CHUNK - n);
      if (k > 0) {
        n += k;
        count -= k;
        setIdx(cpu, RCX, asize, count);
        if (count === 0) return;
        if (cpu.attention !== 0) break;
        continue;
      }
    }
    const si = getIdx(cpu, RSI, asize);
    const di = getIdx(cpu, RDI, asize);
    switch (op) {
      case Op.MOVS: {
        const v = readElem(cpu, linearAddr(cpu, insn.seg, si, size, false), size);
        const hi = cpu.t32[7];
        writeElem(cpu, linearAddr(cpu, ES, di, size, true), size, v, hi);
        setIdx(cpu, RSI, asize, wrap(si + step, asize));
        setIdx(cpu, RDI, asize, wrap(di + step, asize));
        break;
      }
      case Op.STOS: {
        const v = size === 8 ? cpu.r32[0] : getReg(cpu, 0, size);
        writeElem(cpu, linearAddr(cpu, ES, di, size, true), size, v, cpu.r32[1]);
        setIdx(cpu, RDI, asize, wrap(di + step, asize));
        break;
      }
      case Op.LODS: {
        const v = readElem(cpu, linearAddr(cpu, insn.seg, si, size, false), size);
        if (size === 8) {
          cpu.r32[0] = v;
          cpu.r32[1] = cpu.t32[7];
        } else setReg(cpu, 0, size, v);
        setIdx(cpu, RSI, asize, wrap(si + step, asize));
        break;
      }
      case Op.CMPS: {
        const a = readElem(cpu, linearAddr(cpu, insn.seg, si, size, false), size);
        const ahi = cpu.t32[7];
        const b = readElem(cpu, linearAddr(cpu, ES, di, size, false), size);
        compare(cpu, size, a, ahi, b, cpu.t32[7]);
        setIdx(cpu, RSI, asize, wrap(si + step, asize));
        setIdx(cpu, RDI, asize, wrap(di + step, asize));
        break;
      }
      case Op.SCAS: {
        const b = readElem(cpu, linearAddr(cpu, ES, di, size, false), size);
        compare(cpu, size, size === 8 ? cpu.r32[0] : getReg(cpu, 0, size), cpu.r32[1], b, cpu.t32[7]);
        setIdx(cpu, RDI, asize, wrap(di + step, asize));
        break;
      }
      case Op.INS: {
        const port = cpu.r16[8];
        checkIo(cpu, port, size);
        const lin = linearAddr(cpu, ES, di, size, true);
        writeMem(cpu, lin, size, ioIn(cpu, insn, port, size));
        setIdx(cpu, RDI, asize, wrap(di + step, asize));
        break;
      }
      default: {
        // OUTS
        const port = cpu.r16[8];
        checkIo(cpu, port, size);
        const v = readMem(cpu, linearAddr(cpu, insn.seg, si, size, false), size);
        ioOut(cpu, insn, port, size, v);
        setIdx(cpu, RSI, asize, wrap(si + step, asize));
        break;
      }
    }
    n++;
    if (!rep) return;
    count = wrap(count - 1, asize);
    setIdx(cpu, RCX, asize, count);
    if (count === 0) return;
    if (isCmp && (rep === 1 ? !getZF(cpu) : getZF(cpu))) return;
    if (cpu.attention !== 0) break;
  }
  // More to do: run this instruction again (interrupts and events get a look in between).
  cpu.rip -= insn.len;
}

// ---- REP STOS and REP MOVS in bulk (64-bit addressing, DF clear): a run of elements that stays in
// one page of the destination (and of the source) whose translation the TLB holds is done as one
// typed-array fill or copy. The TLB's write banks never map a page with decoded code, MMIO or a data
// breakpoint, and SEV page forms were settled when the entries were filled, so the run needs no
// per-element check. Anything else (a TLB miss, a page-crossing element, overlapping MOVS) takes
// one element through the ordinary path, which fills the TLB or faults as hardware would.

/** The RAM offset of `lin` if the TLB bank at `bank` maps its page, else -1. */
function mapped(cpu: Cpu, bank: number, lin: number): number {
  const lpn = Math.floor(lin / 4096);
  const i = bank + tlbIndex(lpn);
  return cpu.tlbTag[i] === lpn ? cpu.tlbPhys[i] + (lin & 0xfff) : -1;
}

/** Elements of `size` bytes from `lin` to the end of its page. */
function inPage(lin: number, size: number): number {
  return Math.floor((4096 - (lin & 0xfff)) / size);
}

function stosRun(cpu: Cpu, size: number, count: number, most: number): number {
  const di = getIdx(cpu, RDI, 8);
  const lin = linearAddr(cpu, ES, di, size, true);
  const k = Math.min(count, most, inPage(lin, size));
  const pa = k > 0 ? mapped(cpu, cpu.tlbWrite, lin) : -1;
  if (pa < 0) return 0;
  const ram = cpu.ram;
  const end = pa + k * size;
  if (size === 1) cpu.ram8.fill(cpu.r8[0], pa, end);
  else if (size === 2) for (let p = pa, v = cpu.r16[0]; p < end; p += 2) ram.setUint16(p, v, true);
  else if (size === 4) for (let p = pa, v = cpu.r32[0]; p < end; p += 4) ram.setInt32(p, v, true);
  else
    for (let p = pa, lo = cpu.r32[0], hi = cpu.r32[1]; p < end; p += 8) {
      ram.setInt32(p, lo, true);
      ram.setInt32(p + 4, hi, true);
    }
  setIdx(cpu, RDI, 8, di + k * size);
  return k;
}

function movsRun(cpu: Cpu, insn: Insn, size: number, count: number, most: number): number {
  const si = getIdx(cpu, RSI, 8);
  const di = getIdx(cpu, RDI, 8);
  const src = linearAddr(cpu, insn.seg, si, size, false);
  const dst = linearAddr(cpu, ES, di, size, true);
  const k = Math.min(count, most, inPage(src, size), inPage(dst, size));
  if (k <= 0) return 0;
  const sp = mapped(cpu, cpu.tlbRead, src);
  const dp = mapped(cpu, cpu.tlbWrite, dst);
  const bytes = k * size;
  // Overlap with the destination ahead of the source repeats data element by element: not a copy.
  if (sp < 0 || dp < 0 || (dp > sp && dp < sp + bytes)) return 0;
  cpu.ram8.copyWithin(dp, sp, sp + bytes);
  setIdx(cpu, RSI, 8, si + bytes);
  setIdx(cpu, RDI, 8, di + bytes);
  return k;
}

function compare(cpu: Cpu, size: number, a: number, ahi: number, b: number, bhi: number): void {
  if (size === 8) {
    const lf = cpu.lf;
    lf[LF_DST] = a;
    lf[LF_DST + 1] = ahi;
    lf[LF_SRC] = b;
    lf[LF_SRC + 1] = bhi;
    alu64(cpu, ALU_CMP, false);
  } else alu(cpu, ALU_CMP, a, b, size);
}

import { Op } from '../ops.js';
