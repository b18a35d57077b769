// The interface a virtualization backend implements for the VMM: the mirror of KVM's kvm_x86_ops
// (arch/x86/include/asm/kvm-x86-ops.h). src/vmm never names SVM or VMX; the composition root
// hands a backend in, as a vendor module registers its ops.
import type { LocalApic } from '../apic/local-apic.js';
import type { Cpu } from '../cpu/cpu.js';
import {
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
} from './kvm-abi.js';
import type { UserspaceMmio } from './userspace-mmio.js';

/** A handler's answer, as KVM's exit handlers return it. */
export const RESUME = 1;
export const TO_USER = 0;
/** Resume later: the vCPU gives up the rest of its quantum (a spinning PAUSE loop, KVM's kvm_vcpu_on_spin). */
export const YIELD = 2;
/** SEV-ES: the vCPU asked for AP Reset Hold; it waits in KVM_MP_STATE_AP_RESET_HOLD for INIT-SIPI-SIPI. */
export const AP_RESET_HOLD = 3;

/** kvm_run: what userspace sees after KVM_RUN returns (only the parts hvemu fills). */
export class RunState {
  exitReason = 0;
  // KVM_EXIT_IO
  ioDirection = 0;
  ioSize = 0;
  ioPort = 0;
  ioCount = 0;
  /** OUT: the value written; IN: userspace puts the value here before the next run. */
  ioData = 0;
  // KVM_EXIT_MMIO
  mmioPhysAddr = 0;
  mmioLen = 0;
  mmioIsWrite = false;
  mmioData = 0;
  // KVM_EXIT_SYSTEM_EVENT
  systemEventType = 0;
  // KVM_EXIT_INTERNAL_ERROR / KVM_EXIT_FAIL_ENTRY: a readable explanation and the raw codes
  internalSuberror = 0;
  internalData: number[] = [];
  explanation = '';

  /** KVM_EXIT_IO for one port access; for OUT, `data` is the value written. */
  exitIo(isIn: boolean, port: number, size: number, data: number): number {
    this.exitReason = KVM_EXIT_IO;
    this.ioDirection = isIn ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
    this.ioSize = size;
    this.ioPort = port;
    this.ioCount = 1;
    if (!isIn) this.ioData = data & (size === 1 ? 0xff : size === 2 ? 0xffff : -1);
    return TO_USER;
  }

  /** KVM_EXIT_MMIO for one access no VMM device claims; for a read, userspace puts the value in mmioData. */
  exitMmio(gpa: number, size: number, isWrite: boolean, data: number): number {
    this.exitReason = KVM_EXIT_MMIO;
    this.mmioPhysAddr = gpa;
    this.mmioLen = size;
    this.mmioIsWrite = isWrite;
    this.mmioData = isWrite ? data : 0;
    return TO_USER;
  }

  /** KVM_EXIT_INTERNAL_ERROR for an exit the backend has no handler for (KVM's unexpected_vmexit). */
  exitInternalError(code: number, why: string): number {
    this.exitReason = KVM_EXIT_INTERNAL_ERROR;
    this.internalSuberror = KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON;
    this.internalData = [code];
    this.explanation = why;
    return TO_USER;
  }
}

/**
 * RAX after an IN that userspace completed (complete_userspace_io): a 32-bit IN zero-extends,
 * 8- and 16-bit ones merge into the low bytes.
 */
export function raxAfterIn(rax: bigint, size: number, data: number): bigint {
  if (size === 4) return BigInt(data >>> 0);
  const mask = size === 1 ? 0xffn : 0xffffn;
  return (rax & ~mask) | (BigInt(data) & mask);
}

/** Services the VMM gives a backend's exit handlers (KVM's generic x86 code). */
export interface VmmServices {
  /** In-kernel port devices: true if the port is emulated by the VMM (else the exit goes to userspace). */
  portInKernel(port: number): boolean;
  /** In-kernel MMIO: true if the guest-physical address belongs to a VMM device (APIC, I/O APIC). */
  mmioInKernel(vcpu: number, gpa: number): boolean;
  /** Where the emulator's MMIO accesses that no VMM device claims are collected for KVM_EXIT_MMIO. */
  userMmio(vcpu: number): UserspaceMmio;
  /** Host-physical memory (guest RAM at host-physical 0, control pages above it). */
  readonly hostView: DataView;
  readonly guestRamBytes: number;
  /** Allocate zeroed, page-aligned host pages for control structures (VMCB, maps, nested tables). */
  allocHostPages(count: number): number;
  /** The vCPU's local APIC (emulated by the VMM, as KVM's in-kernel irqchip). */
  apic(vcpu: number): LocalApic;
  /** CPUID as the VM reports it (KVM_SET_CPUID2's table). */
  cpuid(vcpu: number, leaf: number, subleaf: number, out: Int32Array): void;
  /** The vCPU executed HLT: it is now halted until an event (KVM: kvm_emulate_halt). */
  halt(vcpu: number): void;
  trace(category: 'exits' | 'apic' | 'mp', line: string): void;
  /** Whether anyone listens: hot paths build trace lines only then. */
  readonly tracing: boolean;
}

/** One vCPU of a backend (svm/vmx). Method names follow kvm_x86_ops where one exists. */
export interface BackendVcpu {
  readonly cpu: Cpu;
  /** SEV-ES: the registers are the guest's (KVM's guest_state_protected); no register access. */
  readonly guestStateProtected?: boolean;
  /** vcpu_reset: the architectural RESET (initEvent false) or INIT (true) state. */
  vcpuReset(initEvent: boolean): void;
  /**
   * vcpu_run + handle_exit: enter the guest for at most `budget` instructions, handle exits the
   * VMM owns, and return RESUME (quantum over or nothing for userspace) or TO_USER with `run` filled.
   */
  runOnce(budget: number, run: RunState): number;
  /** Complete a userspace I/O or MMIO read (complete_userspace_io): the data is in `run`. */
  completeUserspace(run: RunState): void;
  /** interrupt_allowed: RFLAGS.IF set and no interrupt shadow. */
  interruptAllowed(): boolean;
  /** kvm_inject_nmi: the local APIC accepted an NMI (ICR or LVT); inject it when the guest can take it. */
  queueNmi(): void;
  /** vcpu_deliver_sipi_vector: how a SIPI starts this vCPU (legacy: CS = V << 8, RIP 0). */
  deliverSipiVector(vector: number): void;
  /** KVM_GET_REGS / KVM_SET_REGS for unprotected guests. */
  getRegs(): Regs;
  setRegs(regs: Regs): void;
  /** KVM_SET_SREGS subset: one segment register (real-mode style: base, limit, attributes). */
  setSegment(seg: SegmentName, selector: number, base: number, limit: number, attrib: number): void;
}

export type SegmentName = 'es' | 'cs' | 'ss' | 'ds' | 'fs' | 'gs';

/** struct kvm_regs: the 16 general registers in encoding order, RIP and RFLAGS. */
export interface Regs {
  gpr: bigint[];
  rip: bigint;
  rflags: bigint;
}

export interface Backend {
  readonly name: 'svm' | 'vmx';
  createVcpu(id: number, cpu: Cpu, services: VmmServices): BackendVcpu;
}
