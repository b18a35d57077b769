// The interface a virtualization backend implements for the VMM: the mirror of KVM's kvm_x86_ops
// (arch/x86/include/asm/kvm-x86-ops.h). src/vmm never names SVM or VMX; the composition root
// hands a backend in, as a vendor module registers its ops.
import type { LocalApic } from '../apic/local-apic.js';
import type { IoBus, MmioBus } from '../cpu/ports.js';
import type { HostMemory } from '../host/host-memory.js';
import type { PhysicalCpu } from '../host/physical-cpu.js';
import {
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
} from './kvm-abi.js';
import type { TraceTopic } from './trace.js';
import type { UserspaceMmio } from './userspace-mmio.js';
import type { InstructionCounter } from './vm-clock.js';

/** A handler's answer, as KVM's exit handlers return it. */
export const RESUME = 1;
export const TO_USER = 0;
/** Resume later: the vCPU gives up the rest of its quantum (a spinning PAUSE loop, KVM's kvm_vcpu_on_spin). */
export const YIELD = 2;

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
 * EAX after an IN that userspace completed (complete_userspace_io): 8- and 16-bit ones merge into
 * the low bytes; a 32-bit IN replaces EAX, and the caller clears RAX's upper half (zero-extension).
 */
export function eaxAfterIn(eax: number, size: number, data: number): number {
  const mask = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
  return (eax & ~mask) | (data & mask);
}

/** Services the VMM gives a backend's exit handlers (KVM's generic x86 code). */
export interface VmmServices {
  /** The VM's port bus (the in-kernel devices), for I/O the hypervisor performs for a guest (GHCB IOIO). */
  readonly ports: IoBus;
  /** The vCPU's guest-physical MMIO (addresses MMIO_ASSIST_BASE + gpa), for GHCB MMIO requests. */
  mmio(vcpu: number): MmioBus;
  /** In-kernel port devices: true if the port is emulated by the VMM (else the exit goes to userspace). */
  portInKernel(port: number): boolean;
  /** In-kernel MMIO: true if the guest-physical address belongs to a VMM device (APIC, I/O APIC). */
  mmioInKernel(vcpu: number, gpa: number): boolean;
  /** Where the emulator's MMIO accesses that no VMM device claims are collected for KVM_EXIT_MMIO. */
  userMmio(vcpu: number): UserspaceMmio;
  /**
   * Host memory through the memory controller, without a key (guest RAM at host-physical 0, control
   * pages above it): the hypervisor's own pages in the clear, an SEV guest's private pages as ciphertext.
   */
  readonly memory: HostMemory;
  readonly guestRamBytes: number;
  /** Allocate zeroed, page-aligned host pages for control structures (VMCB, maps, nested tables). */
  allocHostPages(count: number): number;
  /** The vCPU's local APIC (emulated by the VMM, as KVM's in-kernel irqchip). */
  apic(vcpu: number): LocalApic;
  /** CPUID as the VM reports it (KVM_SET_CPUID2's table). */
  cpuid(vcpu: number, leaf: number, subleaf: number, out: Int32Array): void;
  /**
   * __kvm_emulate_halt: the vCPU stops in `mpState` (KVM_MP_STATE_HALTED for HLT,
   * KVM_MP_STATE_AP_RESET_HOLD for an SEV-ES AP Reset Hold) until an event wakes it. Returns RESUME,
   * or TO_USER with `run` filled when userspace asked to see this kind of stop.
   */
  halt(vcpu: number, mpState: number, run: RunState): number;
  /** One line of a trace topic (trace.ts); dropped unless the topic is on. */
  trace(topic: TraceTopic, line: string): void;
  /** Whether any topic is on. */
  readonly tracing: boolean;
  /** Which topics are on: hot paths build a topic's lines only then. */
  readonly traceOn: Readonly<Record<TraceTopic, boolean>>;
  /** The instruction at the vCPU's CS:RIP, disassembled, for trace lines (a note for an SEV-ES vCPU). */
  guestInstruction(vcpu: number): string;
}

/** One vCPU of a backend (svm/vmx), protected or not. Method names follow kvm_x86_ops where one exists. */
interface BackendVcpuOps {
  readonly id: number;
  /** The processor's instruction count and TSC offset (the scheduler's budget, the VM clock). */
  readonly clock: InstructionCounter;
  /** vcpu_reset: the architectural RESET (initEvent false) or INIT (true) state. */
  vcpuReset(initEvent: boolean): void;
  /**
   * vcpu_run + handle_exit: enter the guest for at most `budget` instructions, handle exits the
   * VMM owns, and return RESUME (quantum over or nothing for userspace), YIELD, or TO_USER with `run` filled.
   */
  runOnce(budget: number, run: RunState): number;
  /** The last runOnce ended on its budget (the host timer), not on an exit of the guest's making. */
  readonly preempted: boolean;
  /** Complete a userspace I/O or MMIO read (complete_userspace_io): the data is in `run`. */
  completeUserspace(run: RunState): void;
  /** interrupt_allowed: RFLAGS.IF set and no interrupt shadow. */
  interruptAllowed(): boolean;
  /** kvm_inject_nmi: the local APIC accepted an NMI (ICR or LVT); inject it when the guest can take it. */
  queueNmi(): void;
  /** vcpu_deliver_sipi_vector: how a SIPI starts this vCPU (sipi.ts has the generic one). */
  deliverSipiVector(vector: number): void;
}

/** A vCPU whose registers the hypervisor may read and write (KVM_GET_REGS, KVM_SET_SREGS, ...). */
export interface UnprotectedBackendVcpu extends BackendVcpuOps {
  readonly guestStateProtected: false;
  /** The processor it runs on, as a hypervisor sees one after an exit. */
  readonly cpu: PhysicalCpu;
  getRegs(): Regs;
  setRegs(regs: Regs): void;
  /** KVM_GET_SREGS subset: segment selectors and bases, control registers, EFER. */
  getSregs(): Sregs;
  /** KVM_SET_SREGS subset: one segment register (real-mode style: base, limit, attributes). */
  setSegment(seg: SegmentName, selector: number, base: number, limit: number, attrib: number): void;
  /** kvm_rip_write. */
  setRip(rip: bigint): void;
  /** KVM_GET_SREGS, the part that locates the next instruction: CS and the paging controls. */
  getCodeRegs(): CodeRegs;
}

/** CS (base, L, D/B) and CR0, CR3, CR4, EFER, as KVM_GET_SREGS reports them. */
export interface CodeRegs {
  csBase: bigint;
  csL: boolean;
  csDb: boolean;
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

/**
 * An SEV-ES vCPU (KVM's guest_state_protected): its registers are an encrypted VMSA. The type has
 * no processor and no register accessor, so hypervisor code that tries does not compile.
 */
export interface ProtectedBackendVcpu extends BackendVcpuOps {
  readonly guestStateProtected: true;
  readonly vmsa: ProtectedVmsa;
}

export type BackendVcpu = UnprotectedBackendVcpu | ProtectedBackendVcpu;

/** An SEV-ES vCPU's VMSA as the hypervisor holds it: where it is, nothing of what it says. */
export interface ProtectedVmsa {
  /** Host-physical address (VMCB VMSA_PA): the page reads as ciphertext through HostMemory. */
  readonly hpa: number;
  readonly asid: number;
}

export type SegmentName = 'es' | 'cs' | 'ss' | 'ds' | 'fs' | 'gs';

/** struct kvm_regs: the 16 general registers in encoding order, RIP and RFLAGS. */
export interface Regs {
  gpr: bigint[];
  rip: bigint;
  rflags: bigint;
}

/** struct kvm_sregs, the part a debugger needs: the six segments, CR0, CR3, CR4, EFER. */
export interface Sregs {
  /** Selector and base of ES, CS, SS, DS, FS, GS in that (encoding) order. */
  selectors: number[];
  bases: bigint[];
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

export interface Backend {
  readonly name: 'svm' | 'vmx';
  /**
   * KVM_SET_USER_MEMORY_REGION for memory outside guest RAM (a firmware image): guest-physical
   * [gpa, gpa + bytes) to host pages at hpa; before the first vCPU is created.
   */
  mapRegion(gpa: number, hpa: number, bytes: number): void;
  /** KVM_CREATE_VCPU's vendor part: a vCPU on processor `cpu` of the host machine. */
  createVcpu(id: number, cpu: PhysicalCpu, services: VmmServices): BackendVcpu;
}
