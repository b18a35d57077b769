// A vCPU as KVM's generic x86 code sees it: an MP state, a run structure, and a run loop that
// enters the guest through the backend until something needs userspace (KVM_RUN).
import { EV_INIT, EV_NMI, EV_SIPI, type LocalApic } from '../apic/local-apic.js';
import type { BackendVcpu } from './backend-api.js';
import { RESUME, type Regs, RunState, type SegmentName, type Sregs, TO_USER, YIELD } from './backend-api.js';
import { GuestStateProtectedError } from './errors.js';
import { type ExitCosts, NO_EXIT_COSTS } from './exit-cost.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
  MP_STATE_NAMES,
} from './kvm-abi.js';
import { checkSetMpState } from './mp-state.js';
import type { WakeList } from './wake-list.js';

/**
 * What one VM exit costs against a run's instruction budget (the quantum and --max-instructions):
 * an exit takes the host about as long as dozens of guest instructions, and a guest caught in an
 * exit loop that retires nothing (an #NPF on a page-table walk, an MMIO instruction per exit) must
 * still reach the end of its budget.
 */
export const EXIT_COST = 64;

export class Vcpu {
  /** kvm_arch_vcpu_create: the BSP starts runnable, an AP waits for INIT. */
  #mpState: number;
  readonly run = new RunState();
  /** VM exits handled so far (each backend return from guest entry). */
  exits = 0;

  /** `--trace insn`: called before each guest instruction, which then runs alone (single-step). */
  stepTrace: (() => void) | null = null;
  /** Told when KVM_RUN begins (the VM's traces name the vCPU a shared device serves); null: nobody. */
  onEnter: ((id: number) => void) | null = null;

  /** Something became pending for this vCPU (an IPI, an interrupt): the scheduler should look. */
  kicked = false;
  /**
   * Report an AP Reset Hold to userspace as KVM_EXIT_AP_RESET_HOLD (opt-in, as with a userspace
   * local APIC in KVM); by default the VMM just parks the vCPU until INIT-SIPI-SIPI.
   */
  exitOnApResetHold = false;

  constructor(
    readonly id: number,
    readonly backend: BackendVcpu,
    readonly apic: LocalApic,
    private readonly trace: (line: string) => void,
    /** Called before the first KVM_RUN (the VM writes what its loaders staged). */
    private beforeFirstRun: (() => void) | null = null,
  ) {
    this.#mpState = id === 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
  }

  /**
   * The VM's virtual time, for wake-up times and APIC timers: set by whoever runs the VM's clock
   * (the scheduler); until then the vCPU's own instruction count.
   */
  now: () => number = () => this.backend.clock.icount;
  /** Charge `ns` of virtual time to this vCPU's turn (the scheduler's clock); none until set. */
  charge: (ns: number) => void = () => {};
  /** What exits cost in virtual time (exit-cost.ts). */
  exitCosts: Readonly<ExitCosts> = NO_EXIT_COSTS;
  /** Virtual time of the last event sent to this vCPU, and of the one that last made it runnable. */
  private kickedAt = 0;
  readyAt = 0;

  /** The scheduler's list of waiting vCPUs an event reached (wake-list.ts); null: no early ends. */
  wakeList: WakeList | null = null;

  kick(): void {
    this.kicked = true;
    this.kickedAt = this.now();
    if (this.#mpState !== KVM_MP_STATE_RUNNABLE) this.wakeList?.add(this.id);
  }

  /**
   * kvm_apic_accept_events: INIT resets the vCPU (the BSP stays runnable, an AP waits for SIPI);
   * a SIPI counts only while waiting for one; halted vCPUs wake on a deliverable interrupt or NMI.
   */
  acceptEvents(): void {
    const ev = this.apic.takeEvents();
    if (ev & EV_INIT) {
      this.backend.vcpuReset(true);
      this.apic.reset(true);
      this.enterMpState(this.id === 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED);
    }
    if (ev & EV_SIPI) {
      if (this.#mpState === KVM_MP_STATE_INIT_RECEIVED) {
        const v = this.apic.sipiVector;
        if (!this.backend.guestStateProtected)
          this.trace(
            `vcpu ${this.id}: SIPI vector 0x${v.toString(16)}: CS:IP = ${(v << 8).toString(16)}:0000`,
          );
        this.backend.deliverSipiVector(v); // an SEV-ES backend traces its own (the vector is ignored)
        this.enterMpState(KVM_MP_STATE_RUNNABLE);
      } else this.trace(`vcpu ${this.id}: SIPI dropped (mp_state ${MP_STATE_NAMES[this.#mpState]})`);
    }
    // A hold is a simulated HLT: any wake-up event ends it (the guest sees "not released" and asks again).
    if (ev & EV_NMI) {
      this.backend.queueNmi();
      if (this.waitsForEvent()) this.enterMpState(KVM_MP_STATE_RUNNABLE);
    }
    if (this.waitsForEvent() && this.apic.pendingVector() >= 0 && this.backend.interruptAllowed()) {
      this.enterMpState(KVM_MP_STATE_RUNNABLE);
    }
  }

  private waitsForEvent(): boolean {
    return this.#mpState === KVM_MP_STATE_HALTED || this.#mpState === KVM_MP_STATE_AP_RESET_HOLD;
  }

  /** Budget spent: instructions retired plus EXIT_COST per VM exit. */
  budgetUsed(): number {
    return this.backend.clock.icount + this.exits * EXIT_COST;
  }

  /** Can the scheduler run this vCPU now? */
  runnable(): boolean {
    this.acceptEvents();
    return this.#mpState === KVM_MP_STATE_RUNNABLE;
  }

  /** KVM_GET_REGS / KVM_SET_REGS: refused with GuestStateProtectedError for an SEV-ES vCPU, as KVM does. */
  getRegs(): Regs {
    const b = this.backend;
    if (b.guestStateProtected) throw new GuestStateProtectedError(`KVM_GET_REGS on vcpu ${this.id}`);
    return b.getRegs();
  }
  setRegs(regs: Regs): void {
    const b = this.backend;
    if (b.guestStateProtected) throw new GuestStateProtectedError(`KVM_SET_REGS on vcpu ${this.id}`);
    b.setRegs(regs);
  }

  /** KVM_GET_SREGS subset (refused for an SEV-ES vCPU). */
  getSregs(): Sregs {
    const b = this.backend;
    if (b.guestStateProtected) throw new GuestStateProtectedError(`KVM_GET_SREGS on vcpu ${this.id}`);
    return b.getSregs();
  }

  /** KVM_SET_SREGS subset: one segment register (refused for an SEV-ES vCPU). */
  setSegment(seg: SegmentName, selector: number, base: number, limit: number, attrib: number): void {
    const b = this.backend;
    if (b.guestStateProtected)
      throw new GuestStateProtectedError(`KVM_SET_SREGS (${seg}) on vcpu ${this.id}`);
    b.setSegment(seg, selector, base, limit, attrib);
  }

  /** KVM_GET_MP_STATE. */
  get mpState(): number {
    return this.#mpState;
  }

  /**
   * KVM_SET_MP_STATE, with KVM's rules (mp-state.ts): SIPI_RECEIVED is stored as INIT_RECEIVED with
   * a latched SIPI. A protected vCPU takes the same states: none of them writes its registers
   * (a SIPI reaches an SEV-ES vCPU through its backend, which never touches the VMSA).
   */
  kvmSetMpState(requested: number): void {
    const { state, latchSipi } = checkSetMpState({ lapicInKernel: true, initSipiAllowed: true }, requested);
    this.trace(`vcpu ${this.id}: KVM_SET_MP_STATE ${MP_STATE_NAMES[requested]}`);
    if (latchSipi) this.apic.pendingEvents |= EV_SIPI;
    this.enterMpState(state);
  }

  /**
   * __kvm_emulate_halt: the backend saw HLT (HALTED) or an AP Reset Hold request (AP_RESET_HOLD).
   * The vCPU waits for an event; userspace sees an AP Reset Hold only when it asked to.
   */
  emulateHalt(state: number, run: RunState): number {
    this.enterMpState(state);
    if (state === KVM_MP_STATE_AP_RESET_HOLD && this.exitOnApResetHold) {
      run.exitReason = KVM_EXIT_AP_RESET_HOLD;
      return TO_USER;
    }
    return RESUME;
  }

  /** The VMM's own MP-state transitions (INIT, SIPI, halt, wake-up). */
  private enterMpState(state: number): void {
    if (state === KVM_MP_STATE_RUNNABLE && this.#mpState !== KVM_MP_STATE_RUNNABLE)
      this.readyAt = this.kickedAt;
    if (state !== this.#mpState)
      this.trace(`vcpu ${this.id}: mp_state ${MP_STATE_NAMES[this.#mpState]} -> ${MP_STATE_NAMES[state]}`);
    this.#mpState = state;
  }

  /** Write what the loaders staged for this vCPU, once, before it first runs (or a debugger looks). */
  applyStaged(): void {
    if (this.beforeFirstRun !== null) {
      const f = this.beforeFirstRun;
      this.beforeFirstRun = null;
      f();
    }
  }

  /**
   * KVM_RUN: run the guest for up to `budget` instructions. Returns the exit reason: an exit that
   * needs userspace, KVM_EXIT_HLT when the vCPU halted with nothing to wake it, or KVM_EXIT_INTR
   * when the budget (the scheduler's quantum) ran out.
   */
  kvmRun(budget: number): number {
    if (this.onEnter !== null) this.onEnter(this.id);
    this.applyStaged();
    const end = this.budgetUsed() + budget;
    if (this.run.exitReason !== 0) this.backend.completeUserspace(this.run);
    this.run.exitReason = 0;
    for (;;) {
      this.acceptEvents();
      if (this.#mpState !== KVM_MP_STATE_RUNNABLE) {
        // HALTED, UNINITIALIZED, INIT_RECEIVED: the vCPU waits (KVM blocks; the scheduler moves on).
        this.run.exitReason = KVM_EXIT_HLT;
        return KVM_EXIT_HLT;
      }
      const left = end - this.budgetUsed();
      if (left <= 0) {
        this.run.exitReason = KVM_EXIT_INTR;
        return KVM_EXIT_INTR;
      }
      const acks = this.apic.acknowledged;
      const cpu = this.backend.clock;
      const step = this.stepTrace;
      const stopAt = cpu.icount + (step === null ? left : 1);
      if (step !== null) step();
      const r = this.backend.runOnce(step === null ? left : 1, this.run);
      // A single step that retired its instruction ended on the budget, not on an exit: it does not
      // count, so a traced run takes the same path as an untraced one.
      if (step === null || !this.backend.preempted) this.exits++;
      if (this.apic.acknowledged !== acks)
        this.charge((this.apic.acknowledged - acks) * this.exitCosts.interrupt);
      // Every return is a #VMEXIT; the one that ends the quantum (the host timer) is the scheduler's.
      if (r === TO_USER) this.charge(this.exitCosts.exit + this.exitCosts.userspace);
      else if (step === null ? r !== RESUME || cpu.icount < stopAt : !this.backend.preempted)
        this.charge(this.exitCosts.exit);
      if (r === TO_USER) return this.run.exitReason;
      // An event reached a waiting vCPU in this exit: the scheduling point (wake-list.ts).
      if (r === YIELD || (this.wakeList !== null && this.wakeList.ids.length !== 0)) {
        this.run.exitReason = KVM_EXIT_INTR;
        return KVM_EXIT_INTR;
      }
    }
  }
}
