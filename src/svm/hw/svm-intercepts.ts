// The processor side of SVM intercepts (AMD APM vol 2 15.9-15.13): the core asks at every
// interceptable point; this port answers from the VMCB's intercept vectors and the I/O and MSR
// permission maps, and records the #VMEXIT information the world switch writes back.

import { type Cpu, FAULT } from '../../cpu/cpu.js';
import { InterceptKind, type InterceptPort } from '../../cpu/ports.js';
import {
  INTERCEPT_CPUID,
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_DR0_READ,
  INTERCEPT_DR0_WRITE,
  INTERCEPT_EXCEPTION_OFFSET,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_INVD,
  INTERCEPT_INVLPG,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_IRET,
  INTERCEPT_MONITOR,
  INTERCEPT_MSR_PROT,
  INTERCEPT_MWAIT,
  INTERCEPT_NMI,
  INTERCEPT_PAUSE,
  INTERCEPT_RDTSC,
  INTERCEPT_RDTSCP,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VMMCALL,
  INTERCEPT_VMRUN,
  INTERCEPT_WBINVD,
  INTERCEPT_XSETBV,
  ioIntercepted,
  msrIntercepted,
  SVM_EXIT_CPUID,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_EFER_WRITE_TRAP,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_INIT,
  SVM_EXIT_INTR,
  SVM_EXIT_INVD,
  SVM_EXIT_INVLPG,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NMI,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_CR0,
  SVM_EXIT_READ_DR0,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_SMI,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_VMRUN,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_CR0,
  SVM_EXIT_WRITE_DR0,
  SVM_EXIT_XSETBV,
  type Vmcb,
} from '../vmcb-layout.js';

/** Simple instruction intercepts: core kind -> [intercept bit, exit code]. */
const SIMPLE: [InterceptKind, number, number][] = [
  [InterceptKind.CPUID, INTERCEPT_CPUID, SVM_EXIT_CPUID],
  [InterceptKind.HLT, INTERCEPT_HLT, SVM_EXIT_HLT],
  [InterceptKind.RDTSC, INTERCEPT_RDTSC, SVM_EXIT_RDTSC],
  [InterceptKind.RDTSCP, INTERCEPT_RDTSCP, SVM_EXIT_RDTSCP],
  [InterceptKind.PAUSE, INTERCEPT_PAUSE, SVM_EXIT_PAUSE],
  [InterceptKind.WBINVD, INTERCEPT_WBINVD, SVM_EXIT_WBINVD],
  [InterceptKind.INVD, INTERCEPT_INVD, SVM_EXIT_INVD],
  [InterceptKind.MONITOR, INTERCEPT_MONITOR, SVM_EXIT_MONITOR],
  [InterceptKind.MWAIT, INTERCEPT_MWAIT, SVM_EXIT_MWAIT],
  [InterceptKind.XSETBV, INTERCEPT_XSETBV, SVM_EXIT_XSETBV],
  [InterceptKind.VMMCALL, INTERCEPT_VMMCALL, SVM_EXIT_VMMCALL],
  [InterceptKind.IRET, INTERCEPT_IRET, SVM_EXIT_IRET],
  [InterceptKind.INTR, INTERCEPT_INTR, SVM_EXIT_INTR],
  [InterceptKind.NMI, INTERCEPT_NMI, SVM_EXIT_NMI],
  [InterceptKind.SHUTDOWN, INTERCEPT_SHUTDOWN, SVM_EXIT_SHUTDOWN],
  [InterceptKind.VMRUN, INTERCEPT_VMRUN, SVM_EXIT_VMRUN],
];

/** The intercept vectors at the start of the control area (Table B-1 000h-017h): six words. */
const INTERCEPT_VECTOR_WORDS = 6;

/** SIMPLE indexed by core kind (-1: not a simple intercept), for the exit path's lookup. */
const SIMPLE_BIT = new Int32Array(64).fill(-1);
const SIMPLE_CODE = new Int32Array(64);
for (const [kind, bit, code] of SIMPLE) {
  SIMPLE_BIT[kind] = bit;
  SIMPLE_CODE[kind] = code;
}

/**
 * SEV-ES automatic exits (APM vol 2 15.35.2, Table 15-37 "AE"): these still #VMEXIT, since the
 * hypervisor needs no guest register to handle them. Every other intercept becomes #VC inside the
 * guest. A nested page fault is automatic unless its reserved bit is set (the MMIO pattern).
 */
function isAutomaticExit(code: number, info1: number): boolean {
  switch (code) {
    case SVM_EXIT_INTR:
    case SVM_EXIT_NMI:
    case SVM_EXIT_SMI:
    case SVM_EXIT_INIT:
    case SVM_EXIT_VINTR:
    case SVM_EXIT_PAUSE:
    case SVM_EXIT_HLT:
    case SVM_EXIT_SHUTDOWN:
    case SVM_EXIT_VMGEXIT:
    case SVM_EXIT_EXCP_BASE + 18: // #MC
      return true;
    case SVM_EXIT_NPF:
      return (info1 & 8) === 0;
  }
  return code >= SVM_EXIT_EFER_WRITE_TRAP && code <= SVM_EXIT_CR0_WRITE_TRAP + 15;
}

/** #VC, the VMM Communication exception (vector 29): its error code is the exit code. */
const VC_VECTOR = 29;

export class SvmInterceptPort implements InterceptPort {
  vmcb: Vmcb | null = null;
  iopm: Uint8Array = new Uint8Array(0);
  msrpm: Uint8Array = new Uint8Array(0);
  /** SEV-ES: VMGEXIT is an automatic exit. */
  sevEs = false;
  /** While the hypervisor emulates an instruction, its port I/O goes to the devices (no IOIO exit). */
  ioPassthrough = false;
  /** PAUSEs since the last PAUSE exit (the pause filter, APM vol 2 15.14.4). */
  private pauses = 0;
  // The recorded #VMEXIT: -2 while none is pending.
  exitCode = -2;
  exitInfo1 = 0;
  exitInfo2 = 0;
  nextRip = 0;
  constructor(private readonly cpu: Cpu) {}

  /** PAUSE_FILTER_COUNT as VMRUN read it: a PAUSE does not go back to the VMCB. */
  private pauseFilterCount = 0;

  /** VMRUN: the pause filter counter is loaded afresh from PAUSE_FILTER_COUNT (APM vol 2 15.14.4). */
  reloadPauseFilter(count: number): void {
    this.pauses = 0;
    this.pauseFilterCount = count;
  }

  /** The intercept vectors and nested flag maskFor last saw, and its answer. */
  private readonly lastVectors = new Int32Array(INTERCEPT_VECTOR_WORDS).fill(-1);
  private lastNested = false;
  private lastMask = 0;

  /** Which core kinds are worth asking about for this VMCB (Cpu.interceptMask); cached per vectors. */
  maskFor(vmcb: Vmcb, nested: boolean): number {
    const v = vmcb.view;
    let same = nested === this.lastNested;
    for (let i = 0; i < INTERCEPT_VECTOR_WORDS; i++) {
      const w = v.getUint32(vmcb.offset + 4 * i, true) | 0;
      if (w !== this.lastVectors[i]) {
        this.lastVectors[i] = w;
        same = false;
      }
    }
    if (same) return this.lastMask;
    this.lastNested = nested;
    this.lastMask = this.computeMask(vmcb, nested);
    return this.lastMask;
  }

  private computeMask(vmcb: Vmcb, nested: boolean): number {
    let m = 0;
    for (const [kind, bit] of SIMPLE) if (vmcb.isIntercepted(bit)) m |= 1 << kind;
    // No physical interrupt reaches a running guest in this model (the end of the quantum plays
    // the host timer's #VMEXIT INTR), and virtual interrupts (V_IRQ) are not subject to INTR.
    m &= ~(1 << InterceptKind.INTR);
    if (vmcb.isIntercepted(INTERCEPT_IOIO_PROT)) m |= 1 << InterceptKind.IO;
    if (vmcb.isIntercepted(INTERCEPT_MSR_PROT))
      m |= (1 << InterceptKind.MSR_READ) | (1 << InterceptKind.MSR_WRITE);
    if (vmcb.isIntercepted(INTERCEPT_INVLPG)) m |= 1 << InterceptKind.INVLPG;
    m |=
      (1 << InterceptKind.CR_READ) |
      (1 << InterceptKind.CR_WRITE) |
      (1 << InterceptKind.DR_READ) |
      (1 << InterceptKind.DR_WRITE);
    m |= 1 << InterceptKind.EXCEPTION;
    m |= 1 << InterceptKind.VMGEXIT;
    if (nested) m |= 1 << InterceptKind.NPF;
    return m;
  }

  private hit(code: number, info1: number, info2: number): boolean {
    if (this.sevEs && !isAutomaticExit(code, info1)) this.raiseVc(code);
    this.exitCode = code;
    this.exitInfo1 = info1;
    this.exitInfo2 = info2;
    this.nextRip = this.cpu.rip; // instruction intercepts are asked with RIP at the next instruction
    return true;
  }

  /** A non-automatic intercept in an SEV-ES guest: the guest's #VC handler takes it (a fault). */
  private raiseVc(code: number): never {
    const cpu = this.cpu;
    cpu.excVector = VC_VECTOR;
    cpu.excError = code;
    cpu.excHasError = true;
    throw FAULT;
  }

  intercept(kind: InterceptKind, info1: number, info2: number): boolean {
    const vmcb = this.vmcb;
    if (vmcb === null) return false;
    switch (kind) {
      case InterceptKind.IO: {
        if (this.ioPassthrough) return false;
        const port = info1 >>> 16;
        const size = (info1 & 0x70) >>> 4;
        return (
          ioIntercepted(this.iopm, port, size === 1 ? 1 : size === 2 ? 2 : 4) &&
          this.hit(SVM_EXIT_IOIO, info1, info2)
        );
      }
      case InterceptKind.MSR_READ:
      case InterceptKind.MSR_WRITE: {
        const write = kind === InterceptKind.MSR_WRITE;
        return msrIntercepted(this.msrpm, info1, write) && this.hit(SVM_EXIT_MSR, write ? 1 : 0, 0);
      }
      case InterceptKind.CR_READ:
        return vmcb.isIntercepted(INTERCEPT_CR0_READ + info1) && this.hit(SVM_EXIT_READ_CR0 + info1, 0, 0);
      case InterceptKind.CR_WRITE:
        return vmcb.isIntercepted(INTERCEPT_CR0_WRITE + info1) && this.hit(SVM_EXIT_WRITE_CR0 + info1, 0, 0);
      case InterceptKind.DR_READ:
        return vmcb.isIntercepted(INTERCEPT_DR0_READ + info1) && this.hit(SVM_EXIT_READ_DR0 + info1, 0, 0);
      case InterceptKind.DR_WRITE:
        return vmcb.isIntercepted(INTERCEPT_DR0_WRITE + info1) && this.hit(SVM_EXIT_WRITE_DR0 + info1, 0, 0);
      case InterceptKind.EXCEPTION:
        // #PF: EXITINFO2 = the faulting address (CR2 is not written when intercepted).
        return (
          vmcb.isIntercepted(INTERCEPT_EXCEPTION_OFFSET + info1) &&
          this.hit(SVM_EXIT_EXCP_BASE + info1, info2, info1 === 14 ? this.cpu.cr2 : 0)
        );
      case InterceptKind.INVLPG:
        return vmcb.isIntercepted(INTERCEPT_INVLPG) && this.hit(SVM_EXIT_INVLPG, info1, 0);
      case InterceptKind.NPF:
        return this.hit(SVM_EXIT_NPF, info1, info2);
      case InterceptKind.VMGEXIT:
        // Outside an SEV-ES guest VMGEXIT executes as VMMCALL.
        if (this.sevEs) return this.hit(SVM_EXIT_VMGEXIT, 0, 0);
        return vmcb.isIntercepted(INTERCEPT_VMMCALL) && this.hit(SVM_EXIT_VMMCALL, 0, 0);
    }
    if (kind === InterceptKind.PAUSE) {
      // The pause filter: exit only after PAUSE_FILTER_COUNT PAUSEs, i.e. in a real spin loop. The
      // core asks only when Cpu.interceptMask says PAUSE is intercepted (maskFor, from the vectors
      // VMRUN read): nothing here goes back to the VMCB.
      if (++this.pauses < this.pauseFilterCount) return false;
      this.pauses = 0;
      return this.hit(SVM_EXIT_PAUSE, 0, 0);
    }
    const bit = SIMPLE_BIT[kind];
    return bit >= 0 && vmcb.isIntercepted(bit) && this.hit(SIMPLE_CODE[kind], info1, 0);
  }
}
