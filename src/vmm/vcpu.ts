// A vCPU as KVM's generic x86 code sees it: an MP state, a run structure, and a run loop that
// enters the guest through the backend until something needs userspace (KVM_RUN).
import type { BackendVcpu } from './backend-api.js';
import { RunState, TO_USER } from './backend-api.js';
import {
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  MP_STATE_NAMES,
} from './kvm-abi.js';

export class Vcpu {
  mpState = KVM_MP_STATE_RUNNABLE;
  readonly run = new RunState();

  constructor(
    readonly id: number,
    readonly backend: BackendVcpu,
    private readonly trace: (line: string) => void,
  ) {}

  setMpState(state: number): void {
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
    const cpu = this.backend.cpu;
    const end = cpu.icount + budget;
    if (this.run.exitReason !== 0) this.backend.completeUserspace(this.run);
    this.run.exitReason = 0;
    for (;;) {
      if (this.mpState === KVM_MP_STATE_HALTED) {
        this.run.exitReason = KVM_EXIT_HLT;
        return KVM_EXIT_HLT;
      }
      const left = end - cpu.icount;
      if (left <= 0) {
        this.run.exitReason = KVM_EXIT_INTR;
        return KVM_EXIT_INTR;
      }
      if (this.backend.runOnce(left, this.run) === TO_USER) return this.run.exitReason;
    }
  }
}
