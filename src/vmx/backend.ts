// The VMX backend: the hypervisor half of Intel VMX, as KVM's vmx.c. It owns each vCPU's VMCS, the
// MSR bitmap and the VM's EPT paging structures in host memory, enters the guest with
// VMLAUNCH/VMRESUME and handles VM exits through a table keyed by basic exit reason
// (kvm_vmx_exit_handlers). Section numbers are the 2016 SDM's (vol 3C), as in vmcs-fields.ts.

import { ApicGpError } from '../apic/x2apic.js';
import type { PhysicalCpu } from '../host/physical-cpu.js';
import type {
  Backend,
  BackendVcpu,
  CodeRegs,
  Regs,
  RunState,
  SegmentName,
  Sregs,
  UnprotectedBackendVcpu,
  VmmServices,
} from '../vmm/backend-api.js';
import { eaxAfterIn, RESUME, TO_USER, YIELD } from '../vmm/backend-api.js';
import { KVM_EXIT_FAIL_ENTRY, KVM_EXIT_SHUTDOWN, KVM_MP_STATE_HALTED } from '../vmm/kvm-abi.js';
import { MmioEmulation } from '../vmm/mmio-emulation.js';
import { kvmVcpuDeliverSipiVector } from '../vmm/sipi.js';
import { VmmMsrs } from '../vmm/vmm-msrs.js';
import { VMX_FAIL_VALID, VmxHardware } from './hw/vm-entry.js';
import {
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  X86_CR4_VMXE,
} from './hw/vmx-controls.js';
import type { Vmcs } from './vmcs.js';
import {
  EXIT_REASON_CPUID,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_EPT_MISCONFIG,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_HLT,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE,
  EXIT_REASON_NMI_WINDOW,
  EXIT_REASON_PAUSE_INSTRUCTION,
  EXIT_REASON_PENDING_INTERRUPT,
  EXIT_REASON_TRIPLE_FAULT,
  EXIT_REASON_VMCALL,
  VMCS_FIELD as F,
  GUEST_ACTIVITY_ACTIVE,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_NMI,
  GUEST_INTR_STATE_STI,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_VALID_MASK,
  INTR_TYPE_EXT_INTR,
  INTR_TYPE_HARD_EXCEPTION,
  INTR_TYPE_NMI_INTR,
  VMX_EXIT_REASONS_FAILED_VMENTRY,
  vmxExitReasonName,
} from './vmcs-fields.js';
import {
  buildEptTables,
  buildMsrBitmap,
  CR0_NE,
  initVmcs,
  mapEptPages,
  resetGuestState,
} from './vmcs-setup.js';

const KVM_ENOSYS = 1000;
const X86_EFLAGS_IF_BIT = 0x200;

type ExitHandler = (v: VmxVcpu, run: RunState) => number;

/** kvm_vmx_exit_handlers: basic exit reason -> handler. */
const EXIT_HANDLERS: Record<number, ExitHandler> = {
  [EXIT_REASON_EXCEPTION_NMI]: () => RESUME, // NMI exiting: the host's NMI (no exceptions are intercepted)
  [EXIT_REASON_EXTERNAL_INTERRUPT]: () => RESUME, // the host timer: the quantum is over
  [EXIT_REASON_TRIPLE_FAULT]: (v, run) => v.handleTripleFault(run),
  [EXIT_REASON_PENDING_INTERRUPT]: (v) => v.handleInterruptWindow(),
  [EXIT_REASON_NMI_WINDOW]: (v) => v.handleNmiWindow(),
  [EXIT_REASON_CPUID]: (v) => v.handleCpuid(),
  [EXIT_REASON_HLT]: (v, run) => v.handleHalt(run),
  [EXIT_REASON_VMCALL]: (v) => v.handleVmcall(),
  [EXIT_REASON_CR_ACCESS]: (v, run) => v.handleCr(run),
  [EXIT_REASON_IO_INSTRUCTION]: (v, run) => v.handleIo(run),
  [EXIT_REASON_MSR_READ]: (v) => v.handleMsr(false),
  [EXIT_REASON_MSR_WRITE]: (v) => v.handleMsr(true),
  [EXIT_REASON_PAUSE_INSTRUCTION]: (v) => v.handlePause(),
  [EXIT_REASON_EPT_VIOLATION]: (v, run) => v.handleEptViolation(run),
  [EXIT_REASON_EPT_MISCONFIG]: (v, run) => v.handleEptMisconfig(run),
};

/** Segment attributes in the SVM/KVM 12-bit packing -> VMX access rights (SDM 24.4.1). */
function attribToAr(attrib: number): number {
  return (attrib & 0xff) | ((attrib & 0xf00) << 4);
}

class VmxVcpu implements UnprotectedBackendVcpu {
  readonly guestStateProtected = false;
  readonly clock: PhysicalCpu;
  private readonly hw: VmxHardware;
  private readonly vmcs: Vmcs;
  private readonly out = new Int32Array(4);
  private readonly mmio: MmioEmulation;
  private readonly msrs = new VmmMsrs();
  /** An IN that went to userspace: its size, until completeUserspace puts the data into RAX. */
  private pendingIn = 0;
  /** An NMI the local APIC accepted that the guest has not taken yet (KVM's nmi_pending). */
  private nmiPending = false;

  constructor(
    readonly id: number,
    readonly cpu: PhysicalCpu,
    private readonly svc: VmmServices,
    eptRoot: number,
    msrBitmap: number,
  ) {
    this.clock = cpu;
    this.hw = new VmxHardware(cpu);
    this.vmcs = initVmcs(svc, eptRoot, msrBitmap, (id % 0xffff) + 1);
    this.mmio = new MmioEmulation(svc.userMmio(id), cpu, svc.memory, this.vmcs.offset, (run) =>
      this.emulateInstruction(run),
    );
    this.vcpuReset(false);
  }

  /** vmx_vcpu_reset: RESET/INIT state (SDM 9.1.1); EDX holds the processor signature. */
  vcpuReset(_initEvent: boolean): void {
    resetGuestState(this.vmcs);
    this.setWindowExiting(false);
    this.setNmiWindowExiting(false);
    this.nmiPending = false;
    this.pendingIn = 0;
    this.cpu.r32.fill(0);
    this.cpu.r32[4] = 0x600;
  }

  getRegs(): Regs {
    const gpr: bigint[] = [];
    for (let i = 0; i < 16; i++) gpr.push(this.cpu.r64[i]);
    gpr[4] = this.vmcs.read(F.GUEST_RSP);
    return { gpr, rip: this.vmcs.read(F.GUEST_RIP), rflags: this.vmcs.read(F.GUEST_RFLAGS) };
  }

  setRegs(regs: Regs): void {
    for (let i = 0; i < 16; i++) this.cpu.r64[i] = regs.gpr[i];
    this.vmcs.write(F.GUEST_RSP, regs.gpr[4]);
    this.vmcs.write(F.GUEST_RIP, regs.rip);
    this.vmcs.write(F.GUEST_RFLAGS, regs.rflags | 2n);
  }

  getSregs(): Sregs {
    const names = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
    const field = (n: string, part: string) => F[`GUEST_${n}_${part}` as keyof typeof F];
    return {
      selectors: names.map((n) => this.vmcs.read32(field(n, 'SELECTOR'))),
      bases: names.map((n) => this.vmcs.read(field(n, 'BASE'))),
      cr0: this.vmcs.read(F.GUEST_CR0),
      cr3: this.vmcs.read(F.GUEST_CR3),
      cr4: this.vmcs.read(F.GUEST_CR4),
      efer: this.vmcs.read(F.GUEST_IA32_EFER),
    };
  }

  setSegment(seg: SegmentName, selector: number, base: number, limit: number, attrib: number): void {
    const name = seg.toUpperCase();
    this.vmcs.write32(F[`GUEST_${name}_SELECTOR` as keyof typeof F], selector);
    this.vmcs.write(F[`GUEST_${name}_BASE` as keyof typeof F], BigInt(base));
    this.vmcs.write32(F[`GUEST_${name}_LIMIT` as keyof typeof F], limit >>> 0);
    this.vmcs.write32(F[`GUEST_${name}_AR_BYTES` as keyof typeof F], attribToAr(attrib));
  }

  setRip(rip: bigint): void {
    this.vmcs.write(F.GUEST_RIP, rip);
  }

  /** CS from the guest-state area (access rights bit 13 is L, bit 14 D/B: SDM 24.4.1). */
  getCodeRegs(): CodeRegs {
    const v = this.vmcs;
    const ar = v.read32(F.GUEST_CS_AR_BYTES);
    return {
      csBase: v.read(F.GUEST_CS_BASE),
      csL: (ar & 0x2000) !== 0,
      csDb: (ar & 0x4000) !== 0,
      cr0: v.read(F.GUEST_CR0),
      cr3: v.read(F.GUEST_CR3),
      cr4: v.read(F.GUEST_CR4),
      efer: v.read(F.GUEST_IA32_EFER),
    };
  }

  /** The generic SIPI delivery, and the guest leaves the wait-for-SIPI activity state (SDM 8.4.4.1). */
  deliverSipiVector(vector: number): void {
    kvmVcpuDeliverSipiVector(this, vector);
    this.vmcs.write32(F.GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
  }

  completeUserspace(run: RunState): void {
    this.mmio.complete(run);
    if (this.pendingIn === 0) return;
    const r = this.cpu.r32;
    r[0] = eaxAfterIn(r[0], this.pendingIn, run.ioData);
    if (this.pendingIn === 4) r[1] = 0;
    this.pendingIn = 0;
    this.skipEmulatedInstruction();
  }

  /** vmx_interrupt_allowed: RFLAGS.IF and no blocking by STI or MOV SS (SDM 24.4.2). */
  interruptAllowed(): boolean {
    const blocked = GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS;
    return (
      (this.vmcs.lo(F.GUEST_RFLAGS) & X86_EFLAGS_IF_BIT) !== 0 &&
      !(this.vmcs.read32(F.GUEST_INTERRUPTIBILITY_INFO) & blocked)
    );
  }

  preempted = false;

  runOnce(budget: number, run: RunState): number {
    const waiting = this.mmio.resume(run);
    if (waiting >= 0) return waiting;
    this.injectPendingNmi();
    this.injectPendingInterrupt();
    const reason = this.enter(budget, false);
    this.preempted = reason >= 0 && (reason & 0xffff) === EXIT_REASON_EXTERNAL_INTERRUPT;
    this.completeInterrupts();
    if (reason === VMX_FAIL_VALID) {
      const error = this.vmcs.read32(F.VM_INSTRUCTION_ERROR);
      return this.failEntry(run, error, `VMfailValid(${error}): ${this.hw.failReason}`);
    }
    if (reason < 0) return this.failEntry(run, 0, 'VMfailInvalid: no usable VMCS');
    if (reason & VMX_EXIT_REASONS_FAILED_VMENTRY)
      return this.failEntry(
        run,
        reason,
        `VM-entry failure (${vmxExitReasonName(reason)}): ${this.hw.failReason}`,
      );
    const basic = reason & 0xffff;
    // I/O and EPT violations trace their decoded information themselves.
    if (this.svc.traceOn.exits && basic !== EXIT_REASON_IO_INSTRUCTION && basic !== EXIT_REASON_EPT_VIOLATION)
      this.svc.trace(
        'exits',
        `vcpu ${this.id}: VM exit ${vmxExitReasonName(reason)} qualification=0x${this.vmcs.read(F.EXIT_QUALIFICATION).toString(16)}; guest ${this.svc.guestInstruction(this.id)}`,
      );
    const handler = EXIT_HANDLERS[basic];
    if (handler) return handler(this, run);
    return this.internalError(run, reason, `unexpected VM exit ${vmxExitReasonName(reason)}`);
  }

  // ---------------------------------------------------------------- exit handlers

  handleCpuid(): number {
    const out = this.out;
    const r = this.cpu.r32;
    this.svc.cpuid(this.id, r[0], r[2], out);
    r[0] = out[0]; // RAX
    r[1] = 0;
    r[6] = out[1]; // RBX
    r[7] = 0;
    r[2] = out[2]; // RCX
    r[3] = 0;
    r[4] = out[3]; // RDX
    r[5] = 0;
    this.skipEmulatedInstruction();
    return RESUME;
  }

  handleHalt(run: RunState): number {
    this.skipEmulatedInstruction();
    return this.svc.halt(this.id, KVM_MP_STATE_HALTED, run);
  }

  handleVmcall(): number {
    this.cpu.r32[0] = -KVM_ENOSYS; // no hypercalls are offered: -ENOSYS in all 64 bits
    this.cpu.r32[1] = -1;
    this.skipEmulatedInstruction();
    return RESUME;
  }

  handlePause(): number {
    this.skipEmulatedInstruction();
    return YIELD; // kvm_vcpu_on_spin: let the other vCPUs run
  }

  /** Interrupt-window exiting (SDM 25.3): the window is open; the next entry injects. */
  /** handle_nmi_window: the guest can take the NMI now; the next entry injects it. */
  handleNmiWindow(): number {
    this.setNmiWindowExiting(false);
    return RESUME;
  }

  handleInterruptWindow(): number {
    this.setWindowExiting(false);
    return RESUME;
  }

  handleTripleFault(run: RunState): number {
    run.exitReason = KVM_EXIT_SHUTDOWN;
    run.explanation = `triple fault (shutdown); last exceptions: ${this.cpu.recentExceptions(4).join(' -> ')}`;
    return TO_USER;
  }

  /**
   * handle_cr: MOV to CR0/CR4 that changes a host-owned bit (Table 27-3). NE is fixed to 1: the
   * shadow takes the guest's value and the instruction runs again (now without an exit). VMXE is
   * not offered: #GP(0).
   */
  handleCr(run: RunState): number {
    const q = Number(this.vmcs.read(F.EXIT_QUALIFICATION));
    const cr = q & 15;
    const type = (q >>> 4) & 3;
    const gpr = (q >>> 8) & 15;
    if (type === 0 && (cr === 0 || cr === 4)) {
      const value = Number((gpr === 4 ? this.vmcs.read(F.GUEST_RSP) : this.cpu.r64[gpr]) & 0xffffffffn);
      if (cr === 4) {
        if (value & X86_CR4_VMXE) {
          this.queueException(13, 0);
          return RESUME;
        }
      } else {
        const shadow = Number(this.vmcs.read(F.CR0_READ_SHADOW));
        this.vmcs.write(F.CR0_READ_SHADOW, BigInt(((shadow & ~CR0_NE) | (value & CR0_NE)) >>> 0));
        return RESUME;
      }
    }
    return this.internalError(run, EXIT_REASON_CR_ACCESS, `unexpected CR access exit 0x${q.toString(16)}`);
  }

  /** handle_io (Table 27-5): VMM devices and string I/O are emulated; other ports go to userspace. */
  handleIo(run: RunState): number {
    const q = this.vmcs.lo(F.EXIT_QUALIFICATION);
    const size = (q & 7) + 1;
    const isIn = (q & 8) !== 0;
    const string = (q & 16) !== 0;
    const port = q >>> 16;
    if (this.svc.traceOn.exits)
      this.svc.trace(
        'exits',
        `vcpu ${this.id}: VM exit IO_INSTRUCTION port=0x${port.toString(16)} ${isIn ? 'in' : 'out'} size=${size}${string ? ' string' : ''}; guest ${this.svc.guestInstruction(this.id)}`,
      );
    if (string || this.svc.portInKernel(port)) {
      const stopped = this.emulateInstruction(run);
      return stopped >= 0 ? stopped : RESUME;
    }
    const data = this.cpu.r32[0];
    if (isIn) this.pendingIn = size;
    else this.skipEmulatedInstruction();
    return run.exitIo(isIn, port, size, data);
  }

  /**
   * handle_rdmsr/handle_wrmsr: the local APIC's MSRs, the VMM's own (vmm-msrs.ts), and every MSR
   * outside the bitmap's ranges (those always exit, SDM vol 3 25.1.3): #GP(0) for unknown ones.
   */
  handleMsr(write: boolean): number {
    const r = this.cpu.r32;
    const msr = r[2] >>> 0;
    const apic = this.svc.apic(this.id);
    const out = this.out;
    // EDX:EAX as 32-bit halves: no BigInt per exit (issue 12).
    if (!apic.owns(msr)) {
      if (write ? this.msrs.writeWords(msr, r[0], r[4]) : this.msrs.readWords(msr, out)) {
        if (!write) this.setEdxEax(out[0], out[1]);
        this.skipEmulatedInstruction();
      } else {
        if (this.svc.traceOn.exits)
          this.svc.trace('exits', `vcpu ${this.id}: ${write ? 'wrmsr' : 'rdmsr'} 0x${msr.toString(16)}: #GP`);
        this.queueException(13, 0);
      }
      return RESUME;
    }
    try {
      if (write) apic.msrWriteWords(msr, r[0], r[4]);
      else {
        apic.msrReadWords(msr, out);
        this.setEdxEax(out[0], out[1]);
      }
    } catch (e) {
      if (!(e instanceof ApicGpError)) throw e;
      this.queueException(13, 0); // the processor's #GP(0) for an illegal APIC MSR access
      return RESUME;
    }
    this.skipEmulatedInstruction();
    return RESUME;
  }

  /** RDMSR's result into EDX:EAX, upper halves cleared. */
  private setEdxEax(eax: number, edx: number): void {
    const r = this.cpu.r32;
    r[0] = eax;
    r[1] = 0;
    r[4] = edx;
    r[5] = 0;
  }

  /** handle_ept_violation (Table 27-7): an unmapped GPA is MMIO (a device, or open bus). */
  handleEptViolation(run: RunState): number {
    const q = this.vmcs.lo(F.EXIT_QUALIFICATION);
    const gpa = this.vmcs.readNum(F.GUEST_PHYSICAL_ADDRESS);
    if (this.svc.traceOn.exits)
      this.svc.trace(
        'exits',
        `vcpu ${this.id}: VM exit EPT_VIOLATION gpa=0x${gpa.toString(16)} qualification=0x${q.toString(16)}; guest ${this.svc.guestInstruction(this.id)}`,
      );
    if (q & 0x38)
      return this.internalError(
        run,
        EXIT_REASON_EPT_VIOLATION,
        `EPT protection violation at 0x${gpa.toString(16)}`,
      );
    // MMIO: a VMM device, or userspace (KVM_EXIT_MMIO) for what no device claims.
    return this.mmio.run(run);
  }

  handleEptMisconfig(run: RunState): number {
    const gpa = Number(this.vmcs.read(F.GUEST_PHYSICAL_ADDRESS));
    return this.internalError(
      run,
      EXIT_REASON_EPT_MISCONFIG,
      `EPT misconfiguration at 0x${gpa.toString(16)}`,
    );
  }

  // ---------------------------------------------------------------- helpers

  /** VMLAUNCH the first time, VMRESUME after (SDM 26.1). */
  private enter(budget: number, emulate: boolean): number {
    const pa = this.vmcs.offset;
    return this.vmcs.launchState === 'launched'
      ? this.hw.vmresume(pa, budget, emulate)
      : this.hw.vmlaunch(pa, budget, emulate);
  }

  /**
   * Let the processor run the exiting instruction with its I/O and MMIO reaching the devices: -1
   * when it completed, or TO_USER when it ended in a triple fault (which must not be lost).
   */
  private emulateInstruction(run: RunState): number {
    const window = this.windowExiting();
    this.setWindowExiting(false); // the instruction, not an interrupt window, runs
    const reason = this.enter(1, true);
    this.completeInterrupts();
    this.setWindowExiting(window);
    return reason >= 0 && (reason & 0xffff) === EXIT_REASON_TRIPLE_FAULT ? this.handleTripleFault(run) : -1;
  }

  /** skip_emulated_instruction: RIP past the instruction; its STI/MOV SS blocking ends. */
  private skipEmulatedInstruction(): void {
    const c = this.vmcs;
    // RIP is canonical (or below 2^32): exact as a number.
    c.writeNum(F.GUEST_RIP, c.readNum(F.GUEST_RIP) + c.read32(F.VM_EXIT_INSTRUCTION_LEN));
    const blocked = GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS;
    c.write32(F.GUEST_INTERRUPTIBILITY_INFO, c.read32(F.GUEST_INTERRUPTIBILITY_INFO) & ~blocked);
  }

  private windowExiting(): boolean {
    return (this.vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_INTR_WINDOW_EXITING) !== 0;
  }

  private setWindowExiting(on: boolean): void {
    const proc = this.vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL);
    const v = on ? proc | CPU_BASED_INTR_WINDOW_EXITING : proc & ~CPU_BASED_INTR_WINDOW_EXITING;
    this.vmcs.write32(F.CPU_BASED_VM_EXEC_CONTROL, v >>> 0);
  }

  private setNmiWindowExiting(on: boolean): void {
    const proc = this.vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL);
    const v = on ? proc | CPU_BASED_NMI_WINDOW_EXITING : proc & ~CPU_BASED_NMI_WINDOW_EXITING;
    this.vmcs.write32(F.CPU_BASED_VM_EXEC_CONTROL, v >>> 0);
  }

  /** kvm_inject_nmi: an NMI from the local APIC (ICR or LVT) waits here for the guest to take it. */
  queueNmi(): void {
    this.nmiPending = true;
  }

  /**
   * vmx_inject_nmi: a pending NMI goes in through VM-entry event injection once the guest has no
   * virtual-NMI, STI or MOV SS blocking (vmx_nmi_allowed), else NMI-window exiting waits for that
   * (SDM 25.2, 26.5). It comes before external interrupts (SDM vol 3 6.9 priorities).
   */
  private injectPendingNmi(): void {
    if (!this.nmiPending || this.entryEventPending()) return;
    const blocked = GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS | GUEST_INTR_STATE_NMI;
    if (this.vmcs.read32(F.GUEST_INTERRUPTIBILITY_INFO) & blocked) {
      this.setNmiWindowExiting(true);
      return;
    }
    this.nmiPending = false;
    this.vmcs.write32(F.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2) >>> 0);
    if (this.svc.traceOn.irq)
      this.svc.trace(
        'irq',
        `vcpu ${this.id}: inject NMI through the VM-entry interruption-information field`,
      );
  }

  private entryEventPending(): boolean {
    return (this.vmcs.read32(F.VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK) !== 0;
  }

  /**
   * vmx_inject_irq: the APIC's highest deliverable interrupt through VM-entry event injection
   * (SDM 26.5) when the guest can take it, else interrupt-window exiting (enable_irq_window).
   */
  private injectPendingInterrupt(): void {
    if (this.entryEventPending()) return;
    const apic = this.svc.apic(this.id);
    const v = apic.pendingVector();
    if (v < 0) return;
    if (!this.interruptAllowed()) {
      this.setWindowExiting(true);
      return;
    }
    this.vmcs.write32(F.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | v) >>> 0);
    if (this.svc.traceOn.irq)
      this.svc.trace(
        'irq',
        `vcpu ${this.id}: inject vector 0x${v.toString(16)} through the VM-entry interruption-information field`,
      );
    apic.acknowledge(v);
  }

  /**
   * vmx_complete_interrupts: an event whose delivery a VM exit interrupted (IDT-vectoring information,
   * SDM 27.2.3) is injected again at the next entry.
   */
  private completeInterrupts(): void {
    const c = this.vmcs;
    const idt = c.read32(F.IDT_VECTORING_INFO_FIELD);
    if (!(idt & INTR_INFO_VALID_MASK) || this.entryEventPending()) return;
    c.write32(F.VM_ENTRY_INTR_INFO_FIELD, (idt & ~0x1000) >>> 0);
    c.write32(F.VM_ENTRY_EXCEPTION_ERROR_CODE, c.read32(F.IDT_VECTORING_ERROR_CODE));
    c.write32(F.VM_ENTRY_INSTRUCTION_LEN, c.read32(F.VM_EXIT_INSTRUCTION_LEN));
    c.write32(F.IDT_VECTORING_INFO_FIELD, 0);
  }

  /**
   * A hardware exception at the next VM entry (SDM 26.5.1). Real mode has no error codes, and
   * injecting one there fails the entry (26.2.1.3): KVM's kvm_inject_exception drops it too.
   */
  private queueException(vector: number, errorCode: number): void {
    const protectedMode = (this.vmcs.lo(F.GUEST_CR0) & 1) !== 0;
    const code = protectedMode ? INTR_INFO_DELIVER_CODE_MASK : 0;
    this.vmcs.write32(
      F.VM_ENTRY_INTR_INFO_FIELD,
      (INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | code | vector) >>> 0,
    );
    this.vmcs.write32(F.VM_ENTRY_EXCEPTION_ERROR_CODE, protectedMode ? errorCode : 0);
  }

  /**
   * KVM_EXIT_FAIL_ENTRY; `reason` is KVM's hardware_entry_failure_reason: the exit reason of a
   * VM-entry failure (bit 31 set), or the VM-instruction error of a VMfailValid.
   */
  private failEntry(run: RunState, reason: number, why: string): number {
    run.exitReason = KVM_EXIT_FAIL_ENTRY;
    run.internalData = [reason >>> 0];
    run.explanation = why;
    return TO_USER;
  }

  private internalError(run: RunState, reason: number, why: string): number {
    return run.exitInternalError(reason >>> 0, why);
  }
}

export class VmxBackend implements Backend {
  readonly name = 'vmx' as const;
  private eptRoot = -1;
  private msrBitmap = -1;

  private readonly regions: { gpa: number; hpa: number; bytes: number }[] = [];

  /**
   * Map guest-physical [gpa, gpa + bytes) to host pages at hpa (a firmware image below 4 GiB);
   * call before the first vCPU is created.
   */
  mapRegion(gpa: number, hpa: number, bytes: number): void {
    if (this.eptRoot >= 0) throw new Error('mapRegion after the EPT tables were built');
    this.regions.push({ gpa, hpa, bytes });
  }

  createVcpu(id: number, cpu: PhysicalCpu, services: VmmServices): BackendVcpu {
    if (this.eptRoot < 0) {
      this.eptRoot = buildEptTables(services);
      for (const r of this.regions) mapEptPages(services, this.eptRoot, r.gpa, r.hpa, r.bytes);
      this.msrBitmap = buildMsrBitmap(services);
    }
    return new VmxVcpu(id, cpu, services, this.eptRoot, this.msrBitmap);
  }
}
