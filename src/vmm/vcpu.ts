// A vCPU as KVM's generic x86 code sees it: an MP state, a run structure, and a run loop that
// enters the guest through the backend until something needs userspace (KVM_RUN).
import { EV_INIT, EV_NMI, EV_SIPI, type LocalApic } from '../apic/local-apic.js';
import type { BackendVcpu } from './backend-api.js';
import { AP_RESET_HOLD, type Regs, RunState, TO_USER, YIELD } from './backend-api.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  MP_STATE_NAMES,
} from './kvm-abi.js';

/**
 * What one VM exit costs against a run's instruction budget (the quantum and --max-instructions):
 * an exit takes the host about as long as dozens of guest instructions, and a guest caught in an
 * exit loop that retires nothing (an #NPF on a page-table walk, an MMIO instruction per exit) must
 * still reach the end of its budget.
 */
export const EXIT_COST = 64;

export class Vcpu {
  mpState = KVM_MP_STATE_RUNNABLE;
  readonly run = new RunState();
  /** VM exits handled so far (each backend return from guest entry). */
  exits = 0;

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
  ) {}

  /**
   * The VM's virtual time, for wake-up times and APIC timers: set by whoever runs the VM's clock
   * (the scheduler); until then the vCPU's own instruction count.
   */
  now: () => number = () => this.backend.cpu.icount;
  /** Virtual time of the last event sent to this vCPU, and of the one that last made it runnable. */
  private kickedAt = 0;
  readyAt = 0;

  kick(): void {
    this.kicked = true;
    this.kickedAt = this.now();
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
      this.setMpState(this.id === 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED);
    }
    if (ev & EV_SIPI) {
      if (this.mpState === KVM_MP_STATE_INIT_RECEIVED) {
        const v = this.apic.sipiVector;
        this.trace(
          this.backend.guestStateProtected === true
            ? `vcpu ${this.id}: SIPI vector 0x${v.toString(16)} (guest state protected: the backend decides)`
            : `vcpu ${this.id}: SIPI vector 0x${v.toString(16)}: CS:IP = ${(v << 8).toString(16)}:0000`,
        );
        this.backend.deliverSipiVector(this.apic.sipiVector);
        this.setMpState(KVM_MP_STATE_RUNNABLE);
      } else this.trace(`vcpu ${this.id}: SIPI dropped (mp_state ${MP_STATE_NAMES[this.mpState]})`);
    }
    // A hold is a simulated HLT: any wake-up event ends it (the guest sees "not released" and asks again).
    if (ev & EV_NMI && this.waitsForEvent()) this.setMpState(KVM_MP_STATE_RUNNABLE);
    if (this.waitsForEvent() && this.apic.pendingVector() >= 0 && this.backend.interruptAllowed()) {
      this.setMpState(KVM_MP_STATE_RUNNABLE);
    }
  }

  private waitsForEvent(): boolean {
    return this.mpState === KVM_MP_STATE_HALTED || this.mpState === KVM_MP_STATE_AP_RESET_HOLD;
  }

  /** Budget spent: instructions retired plus EXIT_COST per VM exit. */
  budgetUsed(): number {
    return this.backend.cpu.icount + this.exits * EXIT_COST;
  }

  /** Can the scheduler run this vCPU now? */
  runnable(): boolean {
    this.acceptEvents();
    return this.mpState === KVM_MP_STATE_RUNNABLE;
  }

  /** KVM_GET_REGS / KVM_SET_REGS: refused with GuestStateProtectedError for an SEV-ES vCPU. */
  getRegs(): Regs {
    return this.backend.getRegs();
  }
  setRegs(regs: Regs): void {
    this.backend.setRegs(regs);
  }

  setMpState(state: number): void {
    if (state === KVM_MP_STATE_RUNNABLE && this.mpState !== KVM_MP_STATE_RUNNABLE)
      this.readyAt = this.kickedAt;
    if (state !== this.mpState)
      this.trace(`vcpu ${this.id}: mp_state ${MP_STATE_NAMES[this.mpState]} -> ${MP_STATE_NAMES[state]}`);
    this.mpState = state;
  }

  /**
   * KVM_RUN: run the guest for up to `budget` instructions. Returns the exit reason: an exit that
   * needs userspace, KVM_EXIT_HLT when the vCPU halted with nothing to wake it, or KVM_EXIT_INTR
   * when the budget (the scheduler's quantum) ran out.
   */
  kvmRun(budget: number): number {
    const end = this.budgetUsed() + budget;
    if (this.run.exitReason !== 0) this.backend.completeUserspace(this.run);
    this.run.exitReason = 0;
    for (;;) {
      this.acceptEvents();
      if (this.mpState !== KVM_MP_STATE_RUNNABLE) {
        // HALTED, UNINITIALIZED, INIT_RECEIVED: the vCPU waits (KVM blocks; the scheduler moves on).
        this.run.exitReason = KVM_EXIT_HLT;
        return KVM_EXIT_HLT;
      }
      const left = end - this.budgetUsed();
      if (left <= 0) {
        this.run.exitReason = KVM_EXIT_INTR;
        return KVM_EXIT_INTR;
      }
      const r = this.backend.runOnce(left, this.run);
      this.exits++;
      if (r === TO_USER) return this.run.exitReason;
      if (r === AP_RESET_HOLD) {
        this.setMpState(KVM_MP_STATE_AP_RESET_HOLD);
        if (this.exitOnApResetHold) {
          this.run.exitReason = KVM_EXIT_AP_RESET_HOLD;
          return KVM_EXIT_AP_RESET_HOLD;
        }
        continue;
      }
      if (r === YIELD) {
        this.run.exitReason = KVM_EXIT_INTR;
        return KVM_EXIT_INTR;
      }
    }
  }
}
