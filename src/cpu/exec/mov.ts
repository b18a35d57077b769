// MOV forms, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMPXCHG, CMPXCHG8B/16B, XADD, LAHF/SAHF, CBW/CWD
// families, XLAT. The locked forms and XCHG with memory run in locked.ts; these are their
// single-threaded halves (register operands, and the bus-locked path).
import { type Cpu, FAULT } from '../cpu.js';
import { arithFlags, getZF, LF_DST, LF_RES, LF_SRC, setArithFlags } from '../flags.js';
import type { Insn } from '../insn.js';
import { readLin64, writeLin64 } from '../mmu.js';
import { ZF } from '../regs.js';
import { linearAddr } from '../segment-check.js';
import { ALU_ADD, ALU_CMP, alu, alu64 } from './alu.js';
import {
  ea64,
  effAddr,
  getReg,
  loadRM64,
  memAddr,
  readMem,
  readRM,
  setReg,
  storeRM64,
  writeMem,
  writeRM,
} from './operand.js';

export function movRmR(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  if (size === 8) {
    const r = insn.reg << 1;
    storeRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, true) : 0, cpu.r32[r], cpu.r32[r + 1]);
  } else writeRM(cpu, insn, size, getReg(cpu, insn.reg, size));
}

export function movRRm(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  if (size === 8) loadRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, false) : 0, cpu.r32, insn.reg << 1);
  else setReg(cpu, insn.reg, size, readRM(cpu, insn, size));
}

export function movRmI(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  if (size === 8) storeRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, true) : 0, insn.imm, insn.imm >> 31);
  else writeRM(cpu, insn, size, insn.imm);
}

/** B0-BF: MOV r, imm (imm64 with REX.W). */
export function movRI(cpu: Cpu, insn: Insn): void {
  if (insn.size === 8) {
    cpu.r32[insn.rm << 1] = insn.imm;
    cpu.r32[(insn.rm << 1) + 1] = insn.imm2;
  } else setReg(cpu, insn.rm, insn.size, insn.imm);
}

/** A0-A3: the offset is an absolute address of the address size (64 bits with two dwords). */
function moffsLinear(cpu: Cpu, insn: Insn, write: boolean): number {
  const off =
    insn.asize === 8
      ? insn.imm2 * 4294967296 + (insn.disp >>> 0)
      : insn.asize === 4
        ? insn.disp >>> 0
        : insn.disp & 0xffff;
  return linearAddr(cpu, insn.seg, off, insn.size, write);
}
export function movAMoffs(cpu: Cpu, insn: Insn, toAcc: boolean): void {
  const size = insn.size;
  const lin = moffsLinear(cpu, insn, !toAcc);
  if (size === 8) {
    if (toAcc) {
      cpu.r32[0] = readLin64(cpu, lin);
      cpu.r32[1] = cpu.t32[7];
    } else writeLin64(cpu, lin, cpu.r32[0], cpu.r32[1]);
  } else if (toAcc) setReg(cpu, 0, size, readMem(cpu, lin, size));
  else writeMem(cpu, lin, size, getReg(cpu, 0, size));
}

/** MOVZX/MOVSX (sub = source size 1 or 2) and MOVSXD (sub = 4). */
export function movExtend(cpu: Cpu, insn: Insn, signed: boolean): void {
  const ss = insn.sub;
  let v = readRM(cpu, insn, ss);
  if (signed) v = ss === 1 ? (v << 24) >> 24 : ss === 2 ? (v << 16) >> 16 : v;
  const r = insn.reg << 1;
  if (insn.size === 8) {
    cpu.r32[r] = v;
    cpu.r32[r + 1] = signed ? v >> 31 : 0;
  } else setReg(cpu, insn.reg, insn.size, v);
}

export function lea(cpu: Cpu, insn: Insn): void {
  const ea = effAddr(cpu, insn);
  const r = insn.reg << 1;
  if (insn.asize === 8) {
    // All 64 bits, from the exact halves (the double form rounds past 2^53).
    if (insn.size === 2) cpu.r16[insn.reg << 2] = ea64.lo;
    else {
      cpu.r32[r] = ea64.lo;
      cpu.r32[r + 1] = insn.size === 8 ? ea64.hi : 0;
    }
  } else if (insn.size === 8) {
    cpu.r32[r] = ea;
    cpu.r32[r + 1] = 0;
  } else setReg(cpu, insn.reg, insn.size, ea);
}

/** XCHG r/m, reg (also 90+r with rm = the register and reg = rAX). */
export function xchg(cpu: Cpu, insn: Insn, accForm: boolean): void {
  const size = insn.size;
  const reg = accForm ? 0 : insn.reg;
  if (size === 8) {
    const lin = insn.mem ? memAddr(cpu, insn, 8, true) : 0;
    loadRM64(cpu, insn, lin, cpu.t32, 0);
    storeRM64(cpu, insn, lin, cpu.r32[reg << 1], cpu.r32[(reg << 1) + 1]);
    cpu.r64[reg] = cpu.t64[0];
    return;
  }
  if (insn.mem) {
    const lin = memAddr(cpu, insn, size, true);
    const v = readMem(cpu, lin, size);
    writeMem(cpu, lin, size, getReg(cpu, reg, size));
    setReg(cpu, reg, size, v);
  } else {
    const v = getReg(cpu, insn.rm, size);
    setReg(cpu, insn.rm, size, getReg(cpu, reg, size));
    setReg(cpu, reg, size, v);
  }
}

/** CMPXCHG r/m, reg: compare with the accumulator; the destination is always written (locked RMW). */
export function cmpxchg(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lin = insn.mem ? memAddr(cpu, insn, size, true) : 0;
  if (size === 8) {
    const lf = cpu.lf;
    lf[LF_DST] = cpu.r32[0];
    lf[LF_DST + 1] = cpu.r32[1];
    loadRM64(cpu, insn, lin, lf, LF_SRC);
    alu64(cpu, ALU_CMP, false);
    if (getZF(cpu)) storeRM64(cpu, insn, lin, cpu.r32[insn.reg << 1], cpu.r32[(insn.reg << 1) + 1]);
    else {
      storeRM64(cpu, insn, lin, lf[LF_SRC], lf[LF_SRC + 1]);
      cpu.r32[0] = lf[LF_SRC];
      cpu.r32[1] = lf[LF_SRC + 1];
    }
    return;
  }
  const cur = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
  alu(cpu, ALU_CMP, getReg(cpu, 0, size), cur, size);
  if (getZF(cpu)) {
    if (insn.mem) writeMem(cpu, lin, size, getReg(cpu, insn.reg, size));
    else setReg(cpu, insn.rm, size, getReg(cpu, insn.reg, size));
  } else {
    if (insn.mem) writeMem(cpu, lin, size, cur);
    setReg(cpu, 0, size, cur);
  }
}

/** XADD r/m, reg: reg gets the old destination, the destination gets the sum. */
export function xadd(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lin = insn.mem ? memAddr(cpu, insn, size, true) : 0;
  if (size === 8) {
    const lf = cpu.lf;
    loadRM64(cpu, insn, lin, lf, LF_DST);
    lf[LF_SRC] = cpu.r32[insn.reg << 1];
    lf[LF_SRC + 1] = cpu.r32[(insn.reg << 1) + 1];
    alu64(cpu, ALU_ADD, false);
    cpu.r32[insn.reg << 1] = lf[LF_DST];
    cpu.r32[(insn.reg << 1) + 1] = lf[LF_DST + 1];
    storeRM64(cpu, insn, lin, lf[LF_RES], lf[LF_RES + 1]);
    return;
  }
  const d = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
  const r = alu(cpu, ALU_ADD, d, getReg(cpu, insn.reg, size), size);
  setReg(cpu, insn.reg, size, d);
  if (insn.mem) writeMem(cpu, lin, size, r);
  else setReg(cpu, insn.rm, size, r);
}

/** CMPXCHG8B m64 / CMPXCHG16B m128 (size 16: #GP unless 16-byte aligned). */
export function cmpxchg8b(cpu: Cpu, insn: Insn): void {
  const r32 = cpu.r32;
  if (insn.size === 16) {
    const lin = memAddr(cpu, insn, 16, true);
    if (lin % 16 !== 0) {
      cpu.excVector = 13;
      cpu.excError = 0;
      cpu.excHasError = true;
      throw FAULT;
    }
    const lo0 = readLin64(cpu, lin),
      lo1 = cpu.t32[7];
    const hi0 = readLin64(cpu, lin + 8),
      hi1 = cpu.t32[7];
    const eq = lo0 === r32[0] && lo1 === r32[1] && hi0 === r32[4] && hi1 === r32[5];
    if (eq) {
      writeLin64(cpu, lin, r32[6], r32[7]); // RBX
      writeLin64(cpu, lin + 8, r32[2], r32[3]); // RCX
    } else {
      writeLin64(cpu, lin, lo0, lo1);
      writeLin64(cpu, lin + 8, hi0, hi1);
      r32[0] = lo0;
      r32[1] = lo1;
      r32[4] = hi0;
      r32[5] = hi1;
    }
    setZF(cpu, eq);
    return;
  }
  const lin = memAddr(cpu, insn, 8, true);
  const lo = readLin64(cpu, lin),
    hi = cpu.t32[7];
  const eq = lo === r32[0] && hi === r32[4];
  if (eq)
    writeLin64(cpu, lin, r32[6], r32[2]); // ECX:EBX
  else {
    writeLin64(cpu, lin, lo, hi);
    r32[0] = lo;
    r32[1] = 0;
    r32[4] = hi;
    r32[5] = 0;
  }
  setZF(cpu, eq);
}

export function setZF(cpu: Cpu, on: boolean): void {
  const f = arithFlags(cpu);
  setArithFlags(cpu, on ? f | ZF : f & ~ZF);
}

/** LAHF: AH = SF:ZF:0:AF:0:PF:1:CF. SAHF loads those five flags from AH. */
export function lahf(cpu: Cpu): void {
  cpu.r8[1] = (arithFlags(cpu) & 0xd5) | 2;
}
export function sahf(cpu: Cpu): void {
  const f = arithFlags(cpu);
  setArithFlags(cpu, (f & ~0xd5) | (cpu.r8[1] & 0xd5));
}

/** CBW/CWDE/CDQE: sign-extend the low half of the accumulator into the whole. */
export function cbw(cpu: Cpu, insn: Insn): void {
  const r32 = cpu.r32;
  if (insn.size === 2) cpu.r16[0] = (cpu.r8[0] << 24) >> 24;
  else if (insn.size === 4) {
    r32[0] = (cpu.r16[0] << 16) >> 16;
    r32[1] = 0;
  } else r32[1] = r32[0] >> 31;
}

/** CWD/CDQ/CQO: sign of the accumulator into rDX. */
export function cwd(cpu: Cpu, insn: Insn): void {
  const r32 = cpu.r32;
  if (insn.size === 2) cpu.r16[8] = (cpu.r16[0] << 16) >> 31;
  else if (insn.size === 4) {
    r32[4] = r32[0] >> 31;
    r32[5] = 0;
  } else {
    r32[4] = r32[5] = r32[1] >> 31;
  }
}

/** XLAT: AL = [seg:rBX + zero-extended AL]. */
export function xlat(cpu: Cpu, insn: Insn): void {
  let ea: number;
  if (insn.asize === 8) ea = cpu.r32[7] * 4294967296 + (cpu.r32[6] >>> 0) + cpu.r8[0];
  else if (insn.asize === 4) ea = (cpu.r32[6] + cpu.r8[0]) >>> 0;
  else ea = (cpu.r16[12] + cpu.r8[0]) & 0xffff;
  cpu.r8[0] = readMem(cpu, linearAddr(cpu, insn.seg, ea, 1, false), 1);
}

/** SALC (undocumented, D6): AL = CF ? FF : 00. */
export function salc(cpu: Cpu): void {
  cpu.r8[0] = arithFlags(cpu) & 1 ? 0xff : 0;
}
