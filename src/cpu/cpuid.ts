// CPUID from a table that reports only what the core implements (AMD APM vol 3 appendix E;
// Intel SDM vol 2 "CPUID"). Whoever creates the CPU picks the vendor; machine-level features
// (local APIC, x2APIC, SVM, VMX, SEV) are added by the layers that implement them.
import type { Cpu } from './cpu.js';

/** Extra feature bits a machine layer turns on (e.g. APIC when it wires one in). */
export interface CpuidFeatures {
  apic: boolean;
  x2apic: boolean;
  /** The local APIC timer's TSC-deadline mode (leaf 1 ECX bit 24, SDM vol 3 11.5.4.1). */
  tscDeadline: boolean;
  svm: boolean;
  vmx: boolean;
  /** XSAVE family (and CR4.OSXSAVE, XGETBV/XSETBV); off until XSAVE itself is implemented. */
  xsave: boolean;
  /** SEV-ES guest (APM vol 2 15.35): leaf 8000001Fh reports SEV and SEV-ES with the C-bit position. */
  sevEs: boolean;
  /** The C-bit position reported in 8000001Fh EBX[5:0]. */
  cBit: number;
  /** Running under a hypervisor: CPUID.1:ECX bit 31, which tells software to look at 40000000h. */
  hypervisor: boolean;
  /** Highest extended leaf reported (0x8000001F once SEV leaves are added). */
  maxExtLeaf: number;
  /** Number of ASIDs reported in 8000000Ah EBX. */
  asids: number;
  /** Leaves the hypervisor/secure layers add or override: key = leaf << 8 | subleaf (0 unless indexed). */
  extra: Map<number, [number, number, number, number]>;
}

export function defaultFeatures(): CpuidFeatures {
  return {
    apic: false,
    x2apic: false,
    tscDeadline: false,
    svm: false,
    vmx: false,
    xsave: false,
    sevEs: false,
    hypervisor: false,
    cBit: 47,
    maxExtLeaf: 0x80000008,
    asids: 0,
    extra: new Map(),
  };
}

function str4(s: string, i: number): number {
  let v = 0;
  for (let k = 3; k >= 0; k--) v = (v << 8) | (s.charCodeAt(i + k) || 0);
  return v | 0;
}

const BRAND = 'hvemu x86-64 virtual processor\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0';

/** Leaf 1 EDX: FPU PSE TSC MSR PAE CX8 SEP MTRR PGE CMOV PAT CLFSH MMX FXSR SSE SSE2 (and APIC). */
const L1_EDX =
  (1 << 0) |
  (1 << 3) |
  (1 << 4) |
  (1 << 5) |
  (1 << 6) |
  (1 << 8) |
  (1 << 11) |
  (1 << 12) |
  (1 << 13) |
  (1 << 15) |
  (1 << 16) |
  (1 << 19) |
  (1 << 23) |
  (1 << 24) |
  (1 << 25) |
  (1 << 26);
/** Leaf 1 ECX: CX16 MOVBE POPCNT RDRAND. */
const L1_ECX = (1 << 13) | (1 << 22) | (1 << 23) | (1 << 30);
/** 80000001h EDX: SYSCALL NX Page1GB RDTSCP LM. */
const E1_EDX = (1 << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1 << 29);
/** 80000001h ECX: LAHF/SAHF in 64-bit mode, ABM (LZCNT). */
const E1_ECX = (1 << 0) | (1 << 5);

/** Fill out[0..3] = EAX EBX ECX EDX for leaf `eax`, subleaf `ecx`. */
export function cpuid(cpu: Cpu, eax: number, ecx: number, out: Int32Array): void {
  const f = cpu.features;
  const extra = f.extra.get((eax >>> 0) * 256 + (eax === 7 || eax === 0xd ? ecx & 0xff : 0));
  if (extra) {
    out[0] = extra[0];
    out[1] = extra[1];
    out[2] = extra[2];
    out[3] = extra[3];
    return;
  }
  out[0] = out[1] = out[2] = out[3] = 0;
  const v = cpu.vendor;
  const amd = v === 'AuthenticAMD';
  const maxExt = amd ? f.maxExtLeaf : 0x80000008;
  switch (eax >>> 0) {
    case 0:
      out[0] = 0xb;
      out[1] = str4(v, 0);
      out[3] = str4(v, 4);
      out[2] = str4(v, 8);
      return;
    case 1:
      out[0] = amd ? 0x00a00f11 : 0x000906ea;
      out[1] = (cpu.apicId << 24) | (1 << 16) | (8 << 8);
      out[2] =
        L1_ECX |
        (f.x2apic ? 1 << 21 : 0) |
        (f.tscDeadline ? 1 << 24 : 0) |
        (f.vmx && !amd ? 1 << 5 : 0) |
        (f.hypervisor ? 1 << 31 : 0);
      out[3] = L1_EDX | (f.apic ? 1 << 9 : 0);
      return;
    case 7:
      if (ecx === 0) out[2] = 1 << 22; // RDPID
      return;
    case 0xb:
      // Extended topology: one thread per core, one core per package; EDX is the x2APIC ID (32 bits).
      out[2] = ecx & 0xff;
      if (ecx === 0 || ecx === 1) {
        out[1] = 1;
        out[2] |= (ecx + 1) << 8; // level type 1 SMT, 2 core
      }
      out[3] = cpu.apicId;
      return;
    case 0x80000000:
      out[0] = f.sevEs && amd ? Math.max(maxExt, 0x8000001f) : maxExt;
      if (amd) {
        out[1] = str4(v, 0);
        out[3] = str4(v, 4);
        out[2] = str4(v, 8);
      }
      return;
    case 0x80000001:
      out[2] = E1_ECX | (amd && f.svm ? 1 << 2 : 0);
      out[3] = E1_EDX | (amd ? L1_EDX & 0x0183f3ff : 0);
      return;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      const base = (eax - 0x80000002) * 16;
      for (let i = 0; i < 4; i++) out[i] = str4(BRAND, base + i * 4);
      return;
    }
    case 0x80000008:
      out[0] = 0x3030; // 48 physical, 48 linear address bits
      return;
    case 0x8000001f:
      if (amd && f.sevEs) {
        out[0] = (1 << 1) | (1 << 3); // SEV, SEV-ES
        out[1] = f.cBit | (1 << 6); // C-bit position; the physical address space shrinks by 1 bit
      }
      return;
    case 0x8000000a:
      if (amd && f.svm) {
        out[0] = 1; // SVM revision
        out[1] = f.asids;
        out[3] = 1 << 0; // nested paging
      }
      return;
  }
  // Leaves past the maximum: Intel returns the highest basic leaf's data, AMD zeros.
}
