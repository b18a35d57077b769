// The SVM backend: the hypervisor half of AMD SVM, as KVM's svm.c. It owns each vCPU's VMCB, the
// I/O and MSR permission maps and the VM's nested page tables in host memory, enters the guest
// with VMRUN and handles #VMEXITs by exit code (a switch, as svm_invoke_exit_handler's fast path).
// SvmVcpuBase is what every SVM vCPU shares, protected or not; SvmVcpu adds what needs the guest's
// registers (CPUID, port I/O, MSRs, MMIO emulation); SEV-ES vCPUs (sev-es/vcpu.ts) add VMGEXIT.

import { ApicGpError } from '../apic/x2apic.js';
import { CR0_ET } from '../cpu/regs.js';
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
import { RESUME, TO_USER, YIELD } from '../vmm/backend-api.js';
import { KVM_EXIT_FAIL_ENTRY, KVM_EXIT_SHUTDOWN, KVM_MP_STATE_HALTED } from '../vmm/kvm-abi.js';
import { MmioEmulation } from '../vmm/mmio-emulation.js';
import { kvmVcpuDeliverSipiVector } from '../vmm/sipi.js';
import type { InstructionCounter } from '../vmm/vm-clock.js';
import { VMM_MSRS, VmmMsrs } from '../vmm/vmm-msrs.js';
import { SvmHardware } from './hw/world-switch.js';
import {
  INTERCEPT_CPUID,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_IRET,
  INTERCEPT_MSR_PROT,
  INTERCEPT_NMI,
  INTERCEPT_PAUSE,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VMMCALL,
  INTERCEPT_VMRUN,
  IOPM_SIZE,
  MSRPM_SIZE,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EXIT_CPUID,
  SVM_EXIT_ERR,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MSR,
  SVM_EXIT_NMI,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
  SVM_NESTED_CTL_NP_ENABLE,
  setMsrIntercept,
  svmExitName,
  V_IRQ_MASK,
  VMCB_CONTROL,
  VMCB_SAVE,
  Vmcb,
} from './vmcb-layout.js';

const PAGE = 4096;
// Page offsets of the fields the common exits touch (the by-offset accessors: no name look-up).
const RIP = VMCB_SAVE.rip.offset;
const RAX = VMCB_SAVE.rax.offset;
const NEXT_RIP = VMCB_CONTROL.next_rip.offset;
const INT_STATE = VMCB_CONTROL.int_state.offset;
const INT_CTL = VMCB_CONTROL.int_ctl.offset;
const EVENT_INJ = VMCB_CONTROL.event_inj.offset;
const EXIT_INFO_1 = VMCB_CONTROL.exit_info_1.offset;
const EXIT_INFO_2 = VMCB_CONTROL.exit_info_2.offset;
const EFER_SVME = 1 << 12;
const EFER = VMCB_SAVE.efer.offset;
const CR0 = VMCB_SAVE.cr0.offset;
const KVM_ENOSYS = 1000;
const MSR_EFER = 0xc0000080;

/**
 * Nested tables for the VM: guest RAM identity-mapped (gpa X -> hpa X) in 2 MiB pages, a tail
 * that is not a whole 2 MiB page in 4 KiB pages (a part of a page stays unmapped: the host pages
 * after RAM hold control structures); the rest absent.
 */
export function buildNestedTables(services: VmmServices): number {
  const v = services.memory;
  const pml4 = services.allocHostPages(1);
  const ram = services.guestRamBytes;
  const gib = Math.ceil(ram / 2 ** 30);
  const pdpt = services.allocHostPages(1);
  v.setUint32(pml4, pdpt + 7, true); // P RW U: nested accesses are user accesses
  for (let g = 0; g < gib; g++) {
    const pd = services.allocHostPages(1);
    v.setUint32(pdpt + g * 8, pd + 7, true);
    for (let i = 0; i < 512; i++) {
      const gpa = g * 2 ** 30 + i * 2 ** 21;
      if (gpa + 2 ** 21 > ram) break;
      v.setUint32(pd + i * 8, (gpa % 2 ** 32) + 0x87, true); // P RW U PS
      v.setUint32(pd + i * 8 + 4, Math.floor(gpa / 2 ** 32), true);
    }
  }
  const tail = ram - (ram % 2 ** 21);
  const tailBytes = ram - tail - (ram % PAGE);
  if (tailBytes > 0) mapNestedPages(services, pml4, tail, tail, tailBytes);
  return pml4;
}

/**
 * What every SVM vCPU has, protected or not: its VMCB, VMRUN on its processor, virtual interrupts,
 * and the exits the processor takes without the hypervisor needing the guest's registers.
 */
export abstract class SvmVcpuBase {
  protected readonly hw: SvmHardware;
  protected readonly vmcbPa: number;
  /** The hypervisor's control block for this vCPU (its own page: read in the clear). */
  readonly vmcb: Vmcb;
  readonly clock: InstructionCounter;
  protected readonly out = new Int32Array(4);
  /** The MSRs this vCPU's hypervisor holds (vmm-msrs.ts). */
  readonly msrs = new VmmMsrs();

  constructor(
    readonly id: number,
    cpu: PhysicalCpu,
    protected readonly svc: VmmServices,
    nptRoot: number,
    iopmPa: number,
    msrpmPa: number,
  ) {
    this.hw = new SvmHardware(cpu);
    this.clock = cpu;
    this.vmcbPa = svc.allocHostPages(1);
    this.vmcb = new Vmcb(svc.memory, this.vmcbPa);
    const c = this.vmcb;
    // What KVM's init_vmcb intercepts; MSRs pass through to the processor model.
    for (const bit of [
      INTERCEPT_VMRUN,
      INTERCEPT_CPUID,
      INTERCEPT_HLT,
      INTERCEPT_IOIO_PROT,
      INTERCEPT_INTR,
      INTERCEPT_NMI,
      INTERCEPT_SHUTDOWN,
      INTERCEPT_VMMCALL,
      INTERCEPT_MSR_PROT,
    ])
      c.setIntercept(bit, true);
    c.set64('iopm_base_pa', BigInt(iopmPa));
    c.set64('msrpm_base_pa', BigInt(msrpmPa));
    c.set('asid', 1);
    // Pause-loop exiting as KVM sets it up: a vCPU spinning on a lock gives way to the others.
    c.setIntercept(INTERCEPT_PAUSE, true);
    c.set('pause_filter_count', 3000);
    c.set64('nested_ctl', BigInt(SVM_NESTED_CTL_NP_ENABLE));
    c.set64('nested_cr3', BigInt(nptRoot));
  }

  abstract vcpuReset(initEvent: boolean): void;
  abstract deliverSipiVector(vector: number): void;
  abstract completeUserspace(run: RunState): void;
  abstract interruptAllowed(): boolean;

  /** skip_emulated_instruction after an intercepted instruction the hypervisor completed. */
  protected abstract advance(): void;
  /** What the hypervisor may say about a triple fault. */
  protected abstract shutdownReport(): string;
  /** #NPF, VMGEXIT and the exits that need the guest's registers. */
  protected abstract npf(run: RunState): number;
  protected abstract vmgexit(run: RunState): number;
  protected abstract registerExit(code: number, run: RunState): number;

  /** The APIC vector offered to the guest through V_IRQ, or -1. */
  private offered = -1;

  /** Forget a virtual interrupt offered but not taken (INIT): it stays pending in the APIC's IRR. */
  protected dropOfferedInterrupt(): void {
    this.offered = -1;
    this.vmcb.set('int_ctl', this.vmcb.get('int_ctl') & ~V_IRQ_MASK);
  }

  /**
   * Offer the APIC's highest deliverable interrupt as a virtual interrupt (V_IRQ). An offer the
   * guest has not taken yet is replaced when a higher vector has arrived since: it stays in the
   * IRR, and the higher one goes first (SDM vol 3 11.8.3), as with KVM's injection at each entry.
   */
  private syncInterruptsIn(): void {
    const c = this.vmcb;
    const v = this.svc.apic(this.id).pendingVector();
    if (v < 0 || v === this.offered) return;
    c.set('int_vector', v);
    c.set('int_ctl', c.get('int_ctl') | V_IRQ_MASK);
    this.offered = v;
    if (this.svc.traceOn.irq)
      this.svc.trace(
        'irq',
        `vcpu ${this.id}: inject vector 0x${v.toString(16)} as a virtual interrupt (VMCB V_IRQ, V_INTR_VECTOR)`,
      );
  }

  /** The guest took the virtual interrupt: it moves from the APIC's IRR to its ISR. */
  private syncInterruptsOut(): void {
    if (this.offered >= 0 && !(this.vmcb.word(INT_CTL) & V_IRQ_MASK)) {
      this.svc.apic(this.id).acknowledge(this.offered);
      this.offered = -1;
    }
  }

  /** An NMI from the local APIC the guest has not taken yet (KVM's nmi_pending). */
  private nmiPending = false;
  /** The guest is inside its NMI handler (KVM's nmi_masked): the processor keeps no such flag in the VMCB. */
  private nmiMasked = false;

  queueNmi(): void {
    this.nmiPending = true;
  }

  /** RESET and INIT forget NMIs (kvm_vcpu_reset). */
  protected resetNmiState(): void {
    this.nmiPending = false;
    this.nmiMasked = false;
    this.vmcb.setIntercept(INTERCEPT_IRET, false);
  }

  /**
   * svm_inject_nmi: EVENTINJ type NMI (APM vol 2 15.20) unless the guest is still in its NMI handler
   * or another event is being injected. In an STI or MOV SS shadow one instruction runs first (KVM
   * single-steps out of it). Returns this entry's budget.
   */
  private injectPendingNmi(budget: number): number {
    const c = this.vmcb;
    if (!this.nmiPending || this.nmiMasked || c.get('event_inj') & SVM_EVTINJ_VALID) return budget;
    if (c.get('int_state') & 1) return 1;
    c.set('event_inj', (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2) >>> 0);
    if (this.svc.traceOn.irq) this.svc.trace('irq', `vcpu ${this.id}: inject NMI through EVENTINJ`);
    this.nmiPending = false;
    this.nmiMasked = true;
    this.watchNmiHandlerEnd();
    return budget;
  }

  /** How the end of the guest's NMI handler is learnt: the IRET intercept, as KVM sets it. */
  protected watchNmiHandlerEnd(): void {
    this.vmcb.setIntercept(INTERCEPT_IRET, true);
  }

  /** The guest's NMI handler has ended: the next NMI may be injected. */
  nmiComplete(): void {
    this.nmiMasked = false;
  }

  preempted = false;

  runOnce(budget: number, run: RunState): number {
    const steps = this.injectPendingNmi(budget);
    this.syncInterruptsIn();
    const code = this.hw.vmrun(this.vmcbPa, steps);
    this.preempted = code === SVM_EXIT_INTR;
    const c = this.vmcb;
    // The processor holds what it just ran: only what the handlers write below must be loaded again.
    c.markAllClean();
    // IOIO, NPF and VMGEXIT trace their decoded information themselves.
    if (
      this.svc.traceOn.exits &&
      code !== SVM_EXIT_IOIO &&
      code !== SVM_EXIT_NPF &&
      code !== SVM_EXIT_VMGEXIT
    )
      this.svc.trace(
        'exits',
        `vcpu ${this.id}: #VMEXIT ${svmExitName(code)} exit_info_1=0x${c.get64('exit_info_1').toString(16)} exit_info_2=0x${c.get64('exit_info_2').toString(16)}; guest ${this.svc.guestInstruction(this.id)}`,
      );
    this.syncInterruptsOut();
    c.setWord(EVENT_INJ, 0); // delivered (KVM: svm_complete_interrupts)
    switch (code) {
      case SVM_EXIT_INTR:
      case SVM_EXIT_NMI:
        return RESUME;
      case SVM_EXIT_VMGEXIT:
        return this.vmgexit(run);
      case SVM_EXIT_NPF:
        return this.npf(run);
      case SVM_EXIT_PAUSE:
        this.advance();
        return YIELD;
      case SVM_EXIT_HLT:
        this.advance();
        return this.svc.halt(this.id, KVM_MP_STATE_HALTED, run);
      case SVM_EXIT_SHUTDOWN:
        return this.shutdown(run);
      case SVM_EXIT_ERR:
        run.exitReason = KVM_EXIT_FAIL_ENTRY;
        run.explanation = `VMRUN failed its consistency checks (VMEXIT_INVALID): ${this.hw.invalidReason}`;
        return TO_USER;
    }
    return this.registerExit(code, run);
  }

  protected shutdown(run: RunState): number {
    run.exitReason = KVM_EXIT_SHUTDOWN;
    run.explanation = `triple fault (shutdown); ${this.shutdownReport()}`;
    return TO_USER;
  }

  /** Inject an exception at the next VMRUN (EVENTINJ, APM 15.20). */
  protected queueException(vector: number, errorCode: number | undefined): void {
    const ev = errorCode === undefined ? 0 : SVM_EVTINJ_VALID_ERR;
    this.vmcb.set('event_inj', (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | ev | vector) >>> 0);
    this.vmcb.set('event_inj_err', errorCode ?? 0);
  }

  protected internalError(run: RunState, code: number, why: string): number {
    return run.exitInternalError(code, why);
  }
}

/** A vCPU of an ordinary (unprotected) guest: the hypervisor reads and writes its registers. */
export class SvmVcpu extends SvmVcpuBase implements UnprotectedBackendVcpu {
  readonly guestStateProtected = false;
  private readonly mmio: MmioEmulation;

  constructor(
    id: number,
    readonly cpu: PhysicalCpu,
    svc: VmmServices,
    nptRoot: number,
    iopmPa: number,
    msrpmPa: number,
  ) {
    super(id, cpu, svc, nptRoot, iopmPa, msrpmPa);
    this.mmio = new MmioEmulation(svc.userMmio(id), cpu, svc.memory, this.vmcbPa, (run) =>
      this.emulateInstruction(run),
    );
    this.vcpuReset(false);
  }

  /** RESET/INIT state (APM vol 2 14.1.3) in the VMCB save area. */
  vcpuReset(initEvent: boolean): void {
    const c = this.vmcb;
    this.resetNmiState();
    for (const s of ['es', 'ss', 'ds', 'fs', 'gs'] as const)
      c.setSegment(s, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
    c.setSegment('cs', { selector: 0xf000, attrib: 0x9b, limit: 0xffff, base: 0xffff0000n });
    c.setSegment('ldtr', { selector: 0, attrib: 0x82, limit: 0xffff, base: 0n });
    c.setSegment('tr', { selector: 0, attrib: 0x8b, limit: 0xffff, base: 0n });
    c.setSegment('gdtr', { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
    c.setSegment('idtr', { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
    c.set64('efer', BigInt(EFER_SVME));
    c.set64('cr0', BigInt(CR0_ET) | (1n << 29n) | (1n << 30n)); // ET, NW, CD
    c.set64('cr3', 0n);
    c.set64('cr4', 0n);
    c.set64('rflags', 2n);
    c.set64('rip', 0xfff0n);
    c.set64('rsp', 0n);
    c.set64('rax', 0n);
    c.set64('dr6', 0xffff0ff0n);
    c.set64('dr7', 0x400n);
    c.set64('g_pat', 0x0007040600070406n);
    this.cpu.r32.fill(0);
    this.cpu.r32[4] = 0x600; // EDX: processor signature
    if (initEvent) this.dropOfferedInterrupt(); // INIT clears the APIC's IRR; V_IRQ must not outlive it
  }

  getRegs(): Regs {
    const gpr: bigint[] = [];
    for (let i = 0; i < 16; i++) gpr.push(this.cpu.r64[i]);
    gpr[0] = this.vmcb.get64('rax');
    gpr[4] = this.vmcb.get64('rsp');
    return { gpr, rip: this.vmcb.get64('rip'), rflags: this.vmcb.get64('rflags') };
  }

  setRegs(regs: Regs): void {
    for (let i = 0; i < 16; i++) this.cpu.r64[i] = regs.gpr[i];
    this.vmcb.set64('rax', regs.gpr[0]);
    this.vmcb.set64('rsp', regs.gpr[4]);
    this.vmcb.set64('rip', regs.rip);
    this.vmcb.set64('rflags', regs.rflags | 2n);
  }

  getSregs(): Sregs {
    const c = this.vmcb;
    const segs = (['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const).map((s) => c.getSegment(s));
    return {
      selectors: segs.map((s) => s.selector),
      bases: segs.map((s) => s.base),
      cr0: c.get64('cr0'),
      cr3: c.get64('cr3'),
      cr4: c.get64('cr4'),
      efer: c.get64('efer'),
    };
  }

  setSegment(seg: SegmentName, selector: number, base: number, limit: number, attrib: number): void {
    this.vmcb.setSegment(seg, { selector, attrib, limit, base: BigInt(base) });
  }

  setRip(rip: bigint): void {
    this.vmcb.set64('rip', rip);
  }

  /** CS from the VMCB save area (attrib bit 9 is L, bit 10 D/B: the descriptor's bits 21, 22). */
  getCodeRegs(): CodeRegs {
    const c = this.vmcb;
    const cs = c.getSegment('cs');
    return {
      csBase: cs.base,
      csL: (cs.attrib & 0x200) !== 0,
      csDb: (cs.attrib & 0x400) !== 0,
      cr0: c.get64('cr0'),
      cr3: c.get64('cr3'),
      cr4: c.get64('cr4'),
      efer: c.get64('efer'),
    };
  }

  deliverSipiVector(vector: number): void {
    kvmVcpuDeliverSipiVector(this, vector);
  }

  interruptAllowed(): boolean {
    return (this.vmcb.get64('rflags') & 0x200n) !== 0n && !(this.vmcb.get('int_state') & 1);
  }

  /** An IN that went to userspace: its data goes to the accumulator, then RIP moves on. */
  private pendingIn = 0;

  completeUserspace(run: RunState): void {
    this.mmio.complete(run);
    if (this.pendingIn === 0) return;
    const size = this.pendingIn;
    // IN writes AL, AX or EAX: a 32-bit write zero-extends into RAX, the narrower ones merge.
    const mask = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
    this.vmcb.setWord(RAX, (this.vmcb.word(RAX) & ~mask) | (run.ioData & mask));
    if (size === 4) this.vmcb.setWord(RAX + 4, 0);
    this.pendingIn = 0;
    this.advance();
  }

  /** skip_emulated_instruction: RIP to nRIP, and the interrupt shadow of the skipped instruction ends. */
  protected advance(): void {
    const c = this.vmcb;
    c.setWord(RIP, c.word(NEXT_RIP));
    c.setWord(RIP + 4, c.word(NEXT_RIP + 4));
    c.setWord(INT_STATE, c.word(INT_STATE) & ~1);
  }

  protected shutdownReport(): string {
    return `last exceptions: ${this.cpu.recentExceptions(4).join(' -> ')}`;
  }

  /**
   * Let the interpreter run the intercepted instruction with its I/O and MMIO reaching the devices:
   * -1 when it completed, or TO_USER when it ended in shutdown (a triple fault while emulating
   * is the guest's end as any other: losing it would re-run the instruction forever).
   */
  private emulateInstruction(run: RunState): number {
    const code = this.hw.vmrun(this.vmcbPa, 1, true);
    return code === SVM_EXIT_SHUTDOWN ? this.shutdown(run) : -1;
  }

  override runOnce(budget: number, run: RunState): number {
    const waiting = this.mmio.resume(run);
    if (waiting >= 0) return waiting;
    return super.runOnce(budget, run);
  }

  protected registerExit(code: number, run: RunState): number {
    const c = this.vmcb;
    switch (code) {
      case SVM_EXIT_CPUID: {
        const out = this.out;
        const r = this.cpu.r32;
        this.svc.cpuid(this.id, r[0], r[2], out);
        c.setWord(RAX, out[0]);
        c.setWord(RAX + 4, 0);
        r[6] = out[1]; // RBX
        r[7] = 0;
        r[2] = out[2]; // RCX
        r[3] = 0;
        r[4] = out[3]; // RDX
        r[5] = 0;
        this.advance();
        return RESUME;
      }
      case SVM_EXIT_IOIO:
        return this.ioInterception(run);
      case SVM_EXIT_MSR:
        return this.msrInterception();
      case SVM_EXIT_IRET:
        return this.iretInterception(run);
      case SVM_EXIT_VMMCALL:
        c.setWord(RAX, -KVM_ENOSYS); // no hypercalls are offered: -ENOSYS in all 64 bits
        c.setWord(RAX + 4, -1);
        this.advance();
        return RESUME;
    }
    return this.internalError(run, code, `unexpected #VMEXIT ${svmExitName(code)}`);
  }

  /** #NPF: MMIO (the local APIC page, or open bus), emulated here; a protection fault is a bug. */
  protected npf(run: RunState): number {
    const c = this.vmcb;
    const err = c.word(EXIT_INFO_1);
    const gpa = c.word(EXIT_INFO_2 + 4) * 2 ** 32 + c.word(EXIT_INFO_2);
    if (this.svc.traceOn.exits)
      this.svc.trace(
        'exits',
        `vcpu ${this.id}: #VMEXIT NPF gpa=0x${gpa.toString(16)} error=0x${err.toString(16)}; guest ${this.svc.guestInstruction(this.id)}`,
      );
    if (err & 1 && !(err & 8))
      return this.internalError(run, SVM_EXIT_NPF, `protection #NPF at guest-physical 0x${gpa.toString(16)}`);
    // MMIO: a VMM device, or userspace (KVM_EXIT_MMIO) for what no device claims.
    return this.mmio.run(run);
  }

  /** The NMI handler's IRET: let it run, then NMIs may be injected again. */
  private iretInterception(run: RunState): number {
    this.vmcb.setIntercept(INTERCEPT_IRET, false);
    const stopped = this.emulateInstruction(run);
    this.nmiComplete();
    return stopped >= 0 ? stopped : RESUME;
  }

  /** VMGEXIT outside an SEV-ES guest executes as VMMCALL; an exit code 0x403 here is a bug. */
  protected vmgexit(run: RunState): number {
    return this.internalError(run, SVM_EXIT_VMGEXIT, 'VMGEXIT exit from a guest that is not SEV-ES');
  }

  /**
   * MSR exits: the APIC's MSRs, the VMM's own (vmm-msrs.ts), and EFER, which the guest sees and sets
   * without SVME. EDX:EAX move as 32-bit halves (issue 12: no BigInt per exit).
   */
  protected msrInterception(): number {
    const c = this.vmcb;
    const r = this.cpu.r32;
    const msr = r[2] >>> 0;
    const write = c.word(EXIT_INFO_1) === 1 && c.word(EXIT_INFO_1 + 4) === 0;
    const apic = this.svc.apic(this.id);
    const out = this.out;
    if (msr !== MSR_EFER && apic.owns(msr)) {
      try {
        if (write) apic.msrWriteWords(msr, c.word(RAX), r[4]);
        else {
          apic.msrReadWords(msr, out);
          this.setEdxEax(out[0], out[1]);
        }
      } catch (e) {
        if (!(e instanceof ApicGpError)) throw e;
        this.queueException(13, 0); // the processor's #GP(0) for an illegal APIC MSR access
        return RESUME;
      }
      this.advance();
      return RESUME;
    }
    if (msr !== MSR_EFER) {
      // The VMM's own MSRs, and MSRs outside the permission map's ranges (always intercepted,
      // APM vol 2 15.11): #GP(0) for unknown ones, as KVM answers.
      if (write ? this.msrs.writeWords(msr, c.word(RAX), r[4]) : this.msrs.readWords(msr, out)) {
        if (!write) this.setEdxEax(out[0], out[1]);
        this.advance();
      } else {
        if (this.svc.traceOn.exits)
          this.svc.trace('exits', `vcpu ${this.id}: ${write ? 'wrmsr' : 'rdmsr'} 0x${msr.toString(16)}: #GP`);
        this.queueException(13, 0);
      }
      return RESUME;
    }
    // EFER's defined bits are all in bits 31:0.
    const efer = c.word(EFER);
    if (!write) {
      this.setEdxEax(efer & ~EFER_SVME, c.word(EFER + 4));
      this.advance();
      return RESUME;
    }
    const lo = c.word(RAX);
    const allowed = 0x4d01 | 0x400; // SCE LME LMA NXE FFXSR (no SVME: nested virtualization is not offered)
    const lmeChanges = ((lo ^ efer) & 0x100) !== 0;
    if (r[4] !== 0 || lo & ~allowed || (lmeChanges && c.word(CR0) & 0x80000000)) {
      this.queueException(13, 0); // #GP(0), as WRMSR does on hardware
      return RESUME;
    }
    c.setWord(EFER, (lo & ~0x400) | (efer & 0x400) | EFER_SVME);
    c.setWord(EFER + 4, 0);
    this.advance();
    return RESUME;
  }

  /** RDMSR's result: EAX into the VMCB's RAX, EDX into the processor's RDX, upper halves cleared. */
  private setEdxEax(eax: number, edx: number): void {
    this.vmcb.setWord(RAX, eax);
    this.vmcb.setWord(RAX + 4, 0);
    this.cpu.r32[4] = edx;
    this.cpu.r32[5] = 0;
  }

  /** IOIO (APM 15.10.2): VMM devices are emulated here; other ports go to userspace as KVM_EXIT_IO. */
  protected ioInterception(run: RunState): number {
    const info = this.vmcb.word(EXIT_INFO_1);
    const port = info >>> 16;
    const isIn = (info & 1) !== 0;
    const size = (info >>> 4) & 7;
    if (this.svc.traceOn.exits)
      this.svc.trace(
        'exits',
        `vcpu ${this.id}: #VMEXIT IOIO port=0x${port.toString(16)} ${isIn ? 'in' : 'out'} size=${size}${info & 4 ? ' string' : ''}; guest ${this.svc.guestInstruction(this.id)}`,
      );
    if (info & 4 || this.svc.portInKernel(port)) {
      const stopped = this.emulateInstruction(run);
      return stopped >= 0 ? stopped : RESUME;
    }
    if (isIn) this.pendingIn = size;
    else this.advance();
    return run.exitIo(isIn, port, size, this.vmcb.word(RAX));
  }
}

export class SvmBackend implements Backend {
  readonly name = 'svm' as const;
  private nptRoot = -1;
  private iopm = -1;
  private msrpm = -1;
  private readonly regions: { gpa: number; hpa: number; bytes: number }[] = [];

  /**
   * Map guest-physical [gpa, gpa + bytes) to host pages at hpa (e.g. a firmware ROM below 4 GiB);
   * call before the first vCPU is created.
   */
  mapRegion(gpa: number, hpa: number, bytes: number): void {
    if (this.nptRoot >= 0) throw new Error('mapRegion after the nested tables were built');
    this.regions.push({ gpa, hpa, bytes });
  }

  /** A subclass's chance to add nested mappings before the first vCPU runs. */
  protected nestedTablesBuilt(_services: VmmServices, _pml4: number): void {}

  /** The MSRs VmmMsrs answers, which the permission map sends to the hypervisor. */
  protected vmmMsrs(): readonly number[] {
    return VMM_MSRS;
  }

  /** EFER is intercepted (as in KVM) so the guest never sees SVME; SEV-ES guests own their EFER. */
  protected interceptEfer(): boolean {
    return true;
  }

  protected makeVcpu(
    id: number,
    cpu: PhysicalCpu,
    services: VmmServices,
    npt: number,
    iopm: number,
    msrpm: number,
  ): BackendVcpu {
    return new SvmVcpu(id, cpu, services, npt, iopm, msrpm);
  }

  createVcpu(id: number, cpu: PhysicalCpu, services: VmmServices): BackendVcpu {
    if (this.nptRoot < 0) {
      this.nptRoot = buildNestedTables(services);
      for (const r of this.regions) mapNestedPages(services, this.nptRoot, r.gpa, r.hpa, r.bytes);
      this.nestedTablesBuilt(services, this.nptRoot);
      // Every port exits (the VMM decides who emulates it); MSRs pass through.
      this.iopm = services.allocHostPages(IOPM_SIZE / PAGE);
      services.memory.fill(this.iopm, IOPM_SIZE, 0xff);
      this.msrpm = services.allocHostPages(MSRPM_SIZE / PAGE);
      const msrpm = new Uint8Array(MSRPM_SIZE);
      if (this.interceptEfer()) setMsrIntercept(msrpm, MSR_EFER, true, true);
      // The local APIC is the VMM's: APIC_BASE, TSC_DEADLINE and the x2APIC range exit.
      for (const msr of [0x1b, 0x6e0, ...this.vmmMsrs()]) setMsrIntercept(msrpm, msr, true, true);
      for (let msr = 0x800; msr <= 0x8ff; msr++) setMsrIntercept(msrpm, msr, true, true);
      services.memory.write(this.msrpm, msrpm);
    }
    return this.makeVcpu(id, cpu, services, this.nptRoot, this.iopm, this.msrpm);
  }
}

/** A nested PTE bit that is reserved (bit 51, above MAXPHYADDR): KVM's mark for MMIO pages. */
export const NPT_MMIO_RESERVED_HI = 1 << 19;

/**
 * Add 4 KiB nested mappings gpa -> hpa (the upper levels are made as needed). With `mmio`, the
 * entries are present with a reserved bit set, so an access faults with #NPF(RSVD) (APM vol 2
 * 15.25.6): for an SEV-ES guest that is #VC(400h), its way to MMIO through the GHCB.
 */
export function mapNestedPages(
  services: VmmServices,
  pml4: number,
  gpa: number,
  hpa: number,
  bytes: number,
  mmio = false,
): void {
  const v = services.memory;
  for (let off = 0; off < bytes; off += PAGE) {
    const g = gpa + off;
    let table = pml4;
    for (let level = 4; level > 1; level--) {
      const ent = table + (Math.floor(g / 2 ** (3 + 9 * level)) % 512) * 8;
      let lo = v.getUint32(ent, true);
      if (lo & 0x80) throw new Error(`0x${g.toString(16)} is already mapped by a large nested page`);
      if (!(lo & 1)) {
        lo = services.allocHostPages(1) + 7;
        v.setUint32(ent, lo, true);
        v.setUint32(ent + 4, 0, true);
      }
      table = (v.getUint32(ent + 4, true) * 2 ** 32 + (lo & ~0xfff)) >>> 0;
    }
    const pte = table + (Math.floor(g / PAGE) % 512) * 8;
    v.setUint32(pte, ((hpa + off) % 2 ** 32) + 7, true);
    v.setUint32(pte + 4, Math.floor((hpa + off) / 2 ** 32) | (mmio ? NPT_MMIO_RESERVED_HI : 0), true);
  }
}
