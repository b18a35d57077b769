// MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE in every address size. A REP runs in
// chunks: after REP_CHUNK iterations it re-executes itself, so interrupts are taken between chunks
// and a fault leaves rSI/rDI/rCX at the element that faulted, as on hardware.
import type { Cpu } from '../cpu.js';
import { getZF, LF_DST, LF_SRC } from '../flags.js';
import type { Insn } from '../insn.js';
import { readLin64, writeLin64 } from '../mmu.js';
import { DF, ES } from '../regs.js';
import { linearAddr } from '../segment-check.js';
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
  while (n < REP_CHUNK) {
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
