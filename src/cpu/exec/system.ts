// System instructions: CPUID, RDTSC(P), RDMSR/WRMSR, MOV CRn/DRn, LGDT/LIDT/SGDT/SIDT, LLDT/SLDT,
// LTR/STR, LMSW/SMSW, CLTS, INVLPG, LAR/LSL/VERR/VERW, SWAPGS, HLT, cache and XCR instructions.
// Each asks the hypervisor's intercept port first where the manuals allow an intercept.
import { type Cpu, FAULT, SEG_UNUSABLE, VMEXIT } from '../cpu.js';
import { cpuid } from '../cpuid.js';
import { debugRegsChanged } from '../debug.js';
import { flushFlags } from '../flags.js';
import type { Insn } from '../insn.js';
import {
  readLin16,
  readLin32,
  readLin64,
  readSys,
  translate,
  writeLin16,
  writeLin32,
  writeLin64,
  writeSys,
} from '../mmu.js';
import { rdmsr, readTsc, wrmsr } from '../msr.js';
import { InterceptKind } from '../ports.js';
import {
  CR0_CD,
  CR0_ET,
  CR0_NW,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR4_DE,
  CR4_OSXSAVE,
  CR4_PAE,
  CR4_PGE,
  CR4_PSE,
  CR4_TSD,
  EFER_LMA,
  EFER_LME,
  GP,
  GS,
  LDTR,
  TR,
  UD,
  ZF,
} from '../regs.js';
import { linearAddr, updateSegCheck } from '../segment-check.js';
import { desc, descAttr, descBase, descLimit, descriptorAddr, fault, readDescriptor } from '../segments.js';
import { tlbFlushAll, tlbFlushNonGlobal, tlbFlushPage } from '../tlb.js';
import { effAddr, memAddr, readRM, regSigned, setReg, writeRM } from './operand.js';

const TWO32 = 4294967296;
const CANON = 140737488355328; // 2^47
const cpuidOut = new Int32Array(4);

/** Ask the intercept port; a hit leaves the instruction unexecuted (fault-like VMEXIT). */
export function intercepted(cpu: Cpu, kind: InterceptKind, info1: number, info2: number): void {
  if (
    cpu.interceptMask & (1 << kind) &&
    cpu.intercept !== null &&
    cpu.intercept.intercept(kind, info1, info2)
  )
    throw VMEXIT;
}

export function ud(cpu: Cpu): never {
  cpu.excVector = UD;
  cpu.excHasError = false;
  throw FAULT;
}

function requireCpl0(cpu: Cpu): void {
  if (cpu.protectedMode && cpu.cpl !== 0) fault(cpu, GP, 0);
}

export function cpuidInsn(cpu: Cpu): void {
  intercepted(cpu, InterceptKind.CPUID, cpu.r32[0], cpu.r32[2]);
  cpuid(cpu, cpu.r32[0], cpu.r32[2], cpuidOut);
  const r = cpu.r32;
  r[0] = cpuidOut[0];
  r[1] = 0;
  r[6] = cpuidOut[1];
  r[7] = 0;
  r[2] = cpuidOut[2];
  r[3] = 0;
  r[4] = cpuidOut[3];
  r[5] = 0;
}

function setEdxEax(cpu: Cpu, v: number): void {
  cpu.r32[0] = v % TWO32;
  cpu.r32[1] = 0;
  cpu.r32[4] = Math.floor(v / TWO32);
  cpu.r32[5] = 0;
}

export function rdtsc(cpu: Cpu, withAux: boolean): void {
  if (cpu.cr4 & CR4_TSD && cpu.protectedMode && cpu.cpl !== 0) fault(cpu, GP, 0);
  intercepted(cpu, withAux ? InterceptKind.RDTSCP : InterceptKind.RDTSC, 0, 0);
  setEdxEax(cpu, readTsc(cpu));
  if (withAux) {
    cpu.r32[2] = cpu.tscAux;
    cpu.r32[3] = 0;
  }
}

export function rdmsrInsn(cpu: Cpu): void {
  requireCpl0(cpu);
  const msr = cpu.r32[2] >>> 0;
  intercepted(cpu, InterceptKind.MSR_READ, msr, 0);
  const v = rdmsr(cpu, msr);
  cpu.r32[0] = Number(v & 0xffffffffn);
  cpu.r32[1] = 0;
  cpu.r32[4] = Number(v >> 32n);
  cpu.r32[5] = 0;
}

export function wrmsrInsn(cpu: Cpu): void {
  requireCpl0(cpu);
  const msr = cpu.r32[2] >>> 0;
  intercepted(cpu, InterceptKind.MSR_WRITE, msr, 0);
  wrmsr(cpu, msr, (BigInt(cpu.r32[4] >>> 0) << 32n) | BigInt(cpu.r32[0] >>> 0));
}

// ---------------------------------------------------------------- control registers

/** Value of CR `n` as a number (CR3 may exceed 32 bits). */
export function readCr(cpu: Cpu, n: number): number {
  switch (n) {
    case 0:
      return cpu.cr0 >>> 0;
    case 2:
      return cpu.cr2;
    case 3:
      return cpu.cr3;
    case 4:
      return cpu.cr4 >>> 0;
    case 8:
      return cpu.cr8;
  }
  return ud(cpu);
}

const CR4_KNOWN = 0x7ff | (1 << 16) | (1 << 18); // VME..OSXMMEXCPT, FSGSBASE, OSXSAVE (if offered)

/** MOV to CR0/CR2/CR3/CR4/CR8 with the architectural checks (#GP(0) on reserved or illegal combinations). */
export function writeCr(cpu: Cpu, n: number, v: number): void {
  switch (n) {
    case 0: {
      if (v >= TWO32) fault(cpu, GP, 0);
      v = (v | CR0_ET) >>> 0;
      if (v & CR0_PG && !(v & CR0_PE)) fault(cpu, GP, 0);
      if (v & CR0_NW && !(v & CR0_CD)) fault(cpu, GP, 0);
      const enablePg = (v & CR0_PG) !== 0 && !cpu.paging;
      const disablePg = !(v & CR0_PG) && cpu.paging;
      if (enablePg && cpu.efer & EFER_LME) {
        if (!(cpu.cr4 & CR4_PAE)) fault(cpu, GP, 0);
        cpu.efer |= EFER_LMA;
      }
      if (disablePg && cpu.longMode) {
        if (cpu.codeSize === 64) fault(cpu, GP, 0);
        cpu.efer &= ~EFER_LMA;
      }
      const changed = (cpu.cr0 ^ v) & (CR0_PG | CR0_PE | (1 << 16));
      cpu.cr0 = v | 0;
      if (changed) tlbFlushAll(cpu);
      cpu.updateMode();
      for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
      return;
    }
    case 2:
      cpu.cr2 = v;
      return;
    case 3:
      if (v >= 2 ** 52) fault(cpu, GP, 0); // bits 63:52 are reserved
      cpu.cr3 = cpu.longMode ? v : v % TWO32;
      if (cpu.cr4 & CR4_PGE) tlbFlushNonGlobal(cpu);
      else tlbFlushAll(cpu);
      return;
    case 4: {
      const offered = CR4_KNOWN & ~(cpu.features.xsave ? 0 : CR4_OSXSAVE) & ~(1 << 16);
      if (v >= TWO32 || v & ~offered) fault(cpu, GP, 0);
      if (cpu.longMode && !(v & CR4_PAE)) fault(cpu, GP, 0);
      const changed = (cpu.cr4 ^ v) & (CR4_PAE | CR4_PGE | CR4_PSE);
      cpu.cr4 = v | 0;
      if (changed) tlbFlushAll(cpu);
      return;
    }
    case 8:
      if (v > 15) fault(cpu, GP, 0);
      cpu.cr8 = v;
      return;
  }
  ud(cpu);
}

/** MOV r, CRn / MOV CRn, r (the register is always 64-bit in 64-bit mode, 32-bit otherwise). */
export function movCr(cpu: Cpu, insn: Insn, toCr: boolean): void {
  const n = insn.reg;
  if (n !== 0 && n !== 2 && n !== 3 && n !== 4 && n !== 8) ud(cpu);
  if (n === 8 && cpu.codeSize !== 64 && cpu.vendor === 'GenuineIntel') ud(cpu);
  requireCpl0(cpu);
  if (toCr) {
    intercepted(cpu, InterceptKind.CR_WRITE, n, 0);
    const v = insn.size === 8 ? regSigned(cpu, insn.rm) : cpu.r32[insn.rm << 1] >>> 0;
    // Bit 63 set is reserved in CR0/CR3/CR4/CR8; CR2 takes any address.
    if (v < 0 && n !== 2) fault(cpu, GP, 0);
    writeCr(cpu, n, v);
  } else {
    intercepted(cpu, InterceptKind.CR_READ, n, 0);
    const v = readCr(cpu, n);
    cpu.r32[insn.rm << 1] = v % TWO32;
    cpu.r32[(insn.rm << 1) + 1] = insn.size === 8 ? Math.floor(v / TWO32) : 0;
  }
}

/** MOV DRn: DR4/DR5 alias DR6/DR7 unless CR4.DE (then #UD). */
export function movDr(cpu: Cpu, insn: Insn, toDr: boolean): void {
  let n = insn.reg;
  if (n > 7) ud(cpu);
  if (n === 4 || n === 5) {
    if (cpu.cr4 & CR4_DE) ud(cpu);
    n += 2;
  }
  requireCpl0(cpu);
  intercepted(cpu, toDr ? InterceptKind.DR_WRITE : InterceptKind.DR_READ, n, 0);
  if (toDr) {
    let v = insn.size === 8 ? regSigned(cpu, insn.rm) : cpu.r32[insn.rm << 1] >>> 0;
    // DR6/DR7 bits 63:32 are reserved (#GP(0) in 64-bit mode, APM vol 3 "MOV DRn").
    if ((n === 6 || n === 7) && (v < 0 || v >= TWO32)) fault(cpu, GP, 0);
    if (n === 6) v = (v | 0xffff0ff0) >>> 0;
    else if (n === 7) v = ((v & ~0xd800) | 0x400) >>> 0; // bits 11, 12, 14, 15 read as 0, bit 10 as 1
    cpu.dr[n] = v;
    if (n !== 6) debugRegsChanged(cpu);
  } else {
    const v = cpu.dr[n];
    cpu.r32[insn.rm << 1] = v % TWO32;
    cpu.r32[(insn.rm << 1) + 1] = insn.size === 8 ? Math.floor(v / TWO32) : 0;
  }
}

// ---------------------------------------------------------------- descriptor tables

/** LGDT/LIDT: limit (16 bits) then base (24 bits with a 16-bit operand, 32, or 64 in 64-bit mode). */
export function loadDtr(cpu: Cpu, insn: Insn, idt: boolean): void {
  requireCpl0(cpu);
  const lin = memAddr(cpu, insn, cpu.codeSize === 64 ? 10 : 6, false);
  const limit = readLin16(cpu, lin);
  let base: number;
  if (cpu.codeSize === 64) {
    const lo = readLin64(cpu, lin + 2);
    base = cpu.t32[7] * TWO32 + (lo >>> 0);
    // A non-canonical table base is refused with #GP(0), as KVM's emulator and VM entry's
    // GDTR/IDTR checks (SDM vol 3 26.3.1.3) hold it.
    if (base < -CANON || base >= CANON) fault(cpu, GP, 0);
  } else {
    base = readLin32(cpu, lin + 2) >>> 0;
    if (insn.size === 2) base &= 0xffffff;
  }
  if (idt) {
    cpu.idtrBase = base;
    cpu.idtrLimit = limit;
  } else {
    cpu.gdtrBase = base;
    cpu.gdtrLimit = limit;
  }
}

export function storeDtr(cpu: Cpu, insn: Insn, idt: boolean): void {
  const lin = memAddr(cpu, insn, cpu.codeSize === 64 ? 10 : 6, true);
  const base = idt ? cpu.idtrBase : cpu.gdtrBase;
  writeLin16(cpu, lin, idt ? cpu.idtrLimit : cpu.gdtrLimit);
  if (cpu.codeSize === 64) writeLin64(cpu, lin + 2, base % TWO32, Math.floor(base / TWO32));
  else writeLin32(cpu, lin + 2, base);
}

/** LLDT/LTR: a GDT system descriptor (16 bytes in long mode). LTR marks the TSS busy. */
export function loadSystemSegment(cpu: Cpu, insn: Insn, tr: boolean): void {
  if (!cpu.protectedMode) ud(cpu);
  requireCpl0(cpu);
  const sel = readRM(cpu, insn, 2) & 0xffff;
  const seg = tr ? TR : LDTR;
  if ((sel & 0xfffc) === 0) {
    if (tr) fault(cpu, GP, 0);
    cpu.segSel[LDTR] = sel;
    cpu.segAttr[LDTR] = SEG_UNUSABLE;
    return;
  }
  if (sel & 4) fault(cpu, GP, sel & 0xfffc);
  readDescriptor(cpu, sel);
  const lo = desc[0],
    hi = desc[1];
  const type = (hi >>> 8) & 0x1f;
  // Long mode knows only the 64-bit TSS (type 9) and the LDT, both 16 bytes long.
  const ok = tr ? type === 0x09 || (type === 0x01 && !cpu.longMode) : type === 0x02;
  if (!ok) fault(cpu, GP, sel & 0xfffc);
  if (!(hi & 0x8000)) fault(cpu, 11, sel & 0xfffc);
  let base = descBase(lo, hi);
  const a = descriptorAddr(cpu, sel, cpu.longMode ? 16 : 8);
  if (Number.isNaN(a)) fault(cpu, GP, sel & 0xfffc);
  if (cpu.longMode) {
    // Bits 63:32 of the base; the upper half's type field must be 0; the base must be canonical
    // (AMD APM vol 3 LLDT/LTR; Intel SDM vol 3 Figure 8-4 and 3.5.2).
    const upper = readSys(cpu, a + 8, 4);
    if ((readSys(cpu, a + 12, 4) >>> 8) & 0x1f) fault(cpu, GP, sel & 0xfffc);
    base += upper * TWO32;
    if (base < -CANON || base >= CANON) fault(cpu, GP, sel & 0xfffc);
  }
  if (tr) writeSys(cpu, a + 5, 1, ((hi >>> 8) & 0xff) | 2); // busy
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = base;
  cpu.segLimit[seg] = descLimit(lo, hi);
  cpu.segAttr[seg] = descAttr(hi) | (tr ? 2 : 0);
}

export function storeSystemSelector(cpu: Cpu, insn: Insn, tr: boolean): void {
  if (!cpu.protectedMode) ud(cpu);
  const sel = cpu.segSel[tr ? TR : LDTR];
  if (insn.mem) writeRM(cpu, insn, 2, sel);
  else setReg(cpu, insn.rm, insn.size === 8 ? 4 : insn.size, sel);
}

export function smsw(cpu: Cpu, insn: Insn): void {
  intercepted(cpu, InterceptKind.CR_READ, 0, 0);
  if (insn.mem) writeRM(cpu, insn, 2, cpu.cr0 & 0xffff);
  else setReg(cpu, insn.rm, insn.size === 8 ? 4 : insn.size, insn.size === 2 ? cpu.cr0 & 0xffff : cpu.cr0);
}

/** LMSW: loads PE MP EM TS; it can set PE but never clear it. */
export function lmsw(cpu: Cpu, insn: Insn): void {
  requireCpl0(cpu);
  intercepted(cpu, InterceptKind.CR_WRITE, 0, 0);
  const v = readRM(cpu, insn, 2);
  const newCr0 = ((cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & CR0_PE)) >>> 0;
  writeCr(cpu, 0, newCr0);
}

export function clts(cpu: Cpu): void {
  requireCpl0(cpu);
  intercepted(cpu, InterceptKind.CR_WRITE, 0, 0);
  cpu.cr0 &= ~CR0_TS;
}

export function invlpg(cpu: Cpu, insn: Insn): void {
  requireCpl0(cpu);
  const ea = effAddr(cpu, insn);
  const lin = linearAddr(cpu, insn.seg, ea, 1, false);
  intercepted(cpu, InterceptKind.INVLPG, lin, 0);
  tlbFlushPage(cpu, lin);
}

/** LAR/LSL/VERR/VERW: ZF reports whether the selector is visible and of the right kind. */
export function descriptorQuery(cpu: Cpu, insn: Insn, kind: 'lar' | 'lsl' | 'verr' | 'verw'): void {
  if (!cpu.protectedMode) ud(cpu);
  const sel = readRM(cpu, insn, 2) & 0xffff;
  flushFlags(cpu);
  const ok = queryDescriptor(cpu, sel, kind);
  if (!ok) {
    cpu.eflags &= ~ZF;
    return;
  }
  cpu.eflags |= ZF;
  const hi = desc[1];
  if (kind === 'lar') setReg(cpu, insn.reg, insn.size === 8 ? 4 : insn.size, hi & 0x00f0ff00);
  else if (kind === 'lsl') {
    const lim = descLimit(desc[0], hi);
    setReg(cpu, insn.reg, insn.size === 8 ? 4 : insn.size, lim);
  }
}

function queryDescriptor(cpu: Cpu, sel: number, kind: string): boolean {
  if ((sel & 0xfffc) === 0) return false;
  try {
    readDescriptor(cpu, sel);
  } catch (e) {
    if (e === FAULT) return false;
    throw e;
  }
  const hi = desc[1];
  const s = (hi >>> 12) & 1;
  const type = (hi >>> 8) & 0xf;
  const dpl = (hi >>> 13) & 3;
  const conformingCode = s && (type & 0xc) === 0xc;
  if (!conformingCode && (dpl < cpu.cpl || dpl < (sel & 3))) return false;
  if (kind === 'verr') return s === 1 && (!(type & 8) || (type & 2) !== 0);
  if (kind === 'verw') return s === 1 && !(type & 8) && (type & 2) !== 0;
  if (s) return true;
  // System descriptors visible to LAR (LSL: those with a limit).
  const larTypes = cpu.longMode ? [2, 9, 0xb, 0xc] : [1, 2, 3, 4, 5, 9, 0xb, 0xc];
  const lslTypes = cpu.longMode ? [2, 9, 0xb] : [1, 2, 3, 9, 0xb];
  return (kind === 'lar' ? larTypes : lslTypes).includes(type);
}

export function swapgs(cpu: Cpu): void {
  if (cpu.codeSize !== 64) ud(cpu);
  requireCpl0(cpu);
  const t = cpu.segBase[GS];
  cpu.segBase[GS] = cpu.kernelGsBase;
  cpu.kernelGsBase = t;
}

export function hlt(cpu: Cpu): void {
  requireCpl0(cpu);
  intercepted(cpu, InterceptKind.HLT, 0, 0);
  cpu.halted = true;
  cpu.attention |= 1;
}

export function cacheOp(cpu: Cpu, kind: InterceptKind): void {
  requireCpl0(cpu);
  intercepted(cpu, kind, 0, 0);
}

/** CLFLUSH m8: no cache to flush, but the address must translate (it may fault). */
export function clflush(cpu: Cpu, insn: Insn): void {
  if (!insn.mem) return; // SFENCE
  const lin = memAddr(cpu, insn, 1, false);
  translate(cpu, lin, cpu.cpl === 3 ? 2 : 0);
}

export function xgetbv(cpu: Cpu): void {
  if (!(cpu.cr4 & CR4_OSXSAVE)) ud(cpu);
  if (cpu.r32[2] !== 0) fault(cpu, GP, 0);
  setEdxEax(cpu, cpu.xcr0);
}

export function xsetbv(cpu: Cpu): void {
  if (!(cpu.cr4 & CR4_OSXSAVE)) ud(cpu);
  requireCpl0(cpu);
  intercepted(cpu, InterceptKind.XSETBV, cpu.r32[2], 0);
  const v = cpu.r32[0] >>> 0;
  // XCR0: x87 must stay set; SSE (bit 1) is the only other state offered.
  if (cpu.r32[2] !== 0 || cpu.r32[4] !== 0 || !(v & 1) || v & ~3) fault(cpu, GP, 0);
  cpu.xcr0 = v;
}

/** RDRAND: a deterministic generator (the scheduler promises replayable runs); CF = 1. */
export function rdrand(cpu: Cpu, insn: Insn): void {
  let x = cpu.rngState;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  cpu.rngState = x | 0;
  let y = x ^ 0x5bd1e995;
  y ^= y << 13;
  y ^= y >>> 17;
  y ^= y << 5;
  if (insn.size === 8) {
    cpu.r32[insn.rm << 1] = x;
    cpu.r32[(insn.rm << 1) + 1] = y;
  } else setReg(cpu, insn.rm, insn.size, x);
  cpu.eflags = (cpu.eflags & ~0x8d5) | 1;
  cpu.lfOp = 0;
}

export function rdpid(cpu: Cpu, insn: Insn): void {
  cpu.r32[insn.rm << 1] = cpu.tscAux;
  cpu.r32[(insn.rm << 1) + 1] = 0;
}
