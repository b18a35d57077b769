// Model-specific registers (AMD APM vol 2 appendix A; Intel SDM vol 4). Unknown MSRs and
// invalid values raise #GP(0), as RDMSR/WRMSR do on hardware.
import { type Cpu, FAULT } from './cpu.js';
import { EFER_FFXSR, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, EFER_SVME, FS, GP, GS } from './regs.js';
import { tlbFlushAll } from './tlb.js';

export const MSR_TSC = 0x10,
  MSR_APIC_BASE = 0x1b,
  MSR_MTRRCAP = 0xfe,
  MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175,
  MSR_SYSENTER_EIP = 0x176,
  MSR_PAT = 0x277;
export const MSR_MTRR_DEF_TYPE = 0x2ff,
  MSR_EFER = 0xc0000080,
  MSR_STAR = 0xc0000081;
export const MSR_LSTAR = 0xc0000082,
  MSR_CSTAR = 0xc0000083,
  MSR_SFMASK = 0xc0000084;
export const MSR_FS_BASE = 0xc0000100,
  MSR_GS_BASE = 0xc0000101,
  MSR_KERNEL_GS_BASE = 0xc0000102;
export const MSR_TSC_AUX = 0xc0000103,
  MSR_VM_CR = 0xc0010114,
  MSR_VM_HSAVE_PA = 0xc0010117;

const CANON = 140737488355328;

function gp(cpu: Cpu): never {
  cpu.excVector = GP;
  cpu.excError = 0;
  cpu.excHasError = true;
  throw FAULT;
}

/** MTRR MSRs: variable ranges 200h-20Fh, fixed ranges, default type. They hold what was written. */
function isMtrr(msr: number): boolean {
  return (
    (msr >= 0x200 && msr <= 0x20f) ||
    msr === 0x250 ||
    msr === 0x258 ||
    msr === 0x259 ||
    (msr >= 0x268 && msr <= 0x26f) ||
    msr === MSR_MTRR_DEF_TYPE
  );
}

/** A signed canonical number as the unsigned 64-bit MSR value. */
function u64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}
function canonicalNumber(v: bigint): number {
  const s = BigInt.asIntN(64, v);
  const n = Number(s);
  if (n < -CANON || n >= CANON) return Number.NaN;
  return n;
}

/** Virtual TSC: the instruction count plus the guest's offset (deterministic, replayable). */
export function readTsc(cpu: Cpu): number {
  return cpu.icount + cpu.tscOffset;
}

/** Hooks for MSRs another layer owns (the local APIC's x2APIC range, SVM, SEV-ES). */
export interface MsrHandler {
  /** Return the value, or null if this handler does not own the MSR. */
  read(msr: number): bigint | null;
  /** Return true if handled; throw FAULT (with the vector set) to reject. */
  write(msr: number, value: bigint): boolean;
}

export function rdmsr(cpu: Cpu, msr: number): bigint {
  for (const h of cpu.msrHandlers) {
    const v = h.read(msr);
    if (v !== null) return v;
  }
  switch (msr) {
    case MSR_TSC:
      return u64(readTsc(cpu));
    case MSR_APIC_BASE:
      return BigInt(cpu.apicBase >>> 0);
    case MSR_MTRRCAP:
      return 0x508n; // WC, fixed ranges, 8 variable ranges
    case MSR_SYSENTER_CS:
      return BigInt(cpu.sysenterCs);
    case MSR_SYSENTER_ESP:
      return u64(cpu.sysenterEsp);
    case MSR_SYSENTER_EIP:
      return u64(cpu.sysenterEip);
    case MSR_PAT:
      return cpu.pat;
    case MSR_EFER:
      return BigInt(cpu.efer);
    case MSR_STAR:
      return cpu.star;
    case MSR_LSTAR:
      return u64(cpu.lstar);
    case MSR_CSTAR:
      return u64(cpu.cstar);
    case MSR_SFMASK:
      return BigInt(cpu.sfmask >>> 0);
    case MSR_FS_BASE:
      return u64(cpu.segBase[FS]);
    case MSR_GS_BASE:
      return u64(cpu.segBase[GS]);
    case MSR_KERNEL_GS_BASE:
      return u64(cpu.kernelGsBase);
    case MSR_TSC_AUX:
      return BigInt(cpu.tscAux >>> 0);
  }
  if (isMtrr(msr)) return cpu.msr.get(msr) ?? 0n;
  return gp(cpu);
}

export function wrmsr(cpu: Cpu, msr: number, v: bigint): void {
  for (const h of cpu.msrHandlers) if (h.write(msr, v)) return;
  const lo = Number(v & 0xffffffffn);
  switch (msr) {
    case MSR_TSC:
      cpu.tscOffset = Number(BigInt.asIntN(64, v)) - cpu.icount;
      return;
    case MSR_APIC_BASE:
      // Base must be page aligned and below 2^32 here (no physical-address bits above 32 used).
      if (v >> 32n !== 0n || lo & 0x2ff) gp(cpu);
      cpu.apicBase = lo;
      return;
    case MSR_SYSENTER_CS:
      cpu.sysenterCs = lo & 0xffff;
      return;
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP:
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE: {
      const n = canonicalNumber(v);
      if (Number.isNaN(n)) gp(cpu);
      if (msr === MSR_SYSENTER_ESP) cpu.sysenterEsp = n;
      else if (msr === MSR_SYSENTER_EIP) cpu.sysenterEip = n;
      else if (msr === MSR_LSTAR) cpu.lstar = n;
      else if (msr === MSR_CSTAR) cpu.cstar = n;
      else if (msr === MSR_FS_BASE) cpu.segBase[FS] = n;
      else if (msr === MSR_GS_BASE) cpu.segBase[GS] = n;
      else cpu.kernelGsBase = n;
      return;
    }
    case MSR_PAT:
      for (let i = 0n; i < 64n; i += 8n) {
        const t = Number((v >> i) & 0xffn);
        if (t === 2 || t === 3 || t > 7) gp(cpu);
      }
      cpu.pat = v;
      return;
    case MSR_EFER: {
      const allowed =
        EFER_SCE |
        EFER_LME |
        EFER_LMA |
        EFER_NXE |
        EFER_FFXSR |
        (cpu.features.svm || cpu.features.sevEs ? EFER_SVME : 0);
      if (v >> 32n !== 0n || lo & ~allowed) gp(cpu);
      // LME may not change while paging is on; LMA is read-only.
      if (cpu.paging && (lo & EFER_LME) !== (cpu.efer & EFER_LME)) gp(cpu);
      const nxChanged = (lo ^ cpu.efer) & EFER_NXE;
      cpu.efer = (lo & ~EFER_LMA) | (cpu.efer & EFER_LMA);
      if (nxChanged) tlbFlushAll(cpu);
      cpu.updateMode();
      return;
    }
    case MSR_STAR:
      cpu.star = v;
      return;
    case MSR_SFMASK:
      cpu.sfmask = lo;
      return;
    case MSR_TSC_AUX:
      cpu.tscAux = lo;
      return;
  }
  if (isMtrr(msr)) {
    cpu.msr.set(msr, v);
    return;
  }
  gp(cpu);
}
