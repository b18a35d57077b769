// The deterministic scheduler's rule for wakes: an event (an IPI, an interrupt) that reaches a vCPU
// waiting for one (halted, waiting for SIPI, in AP Reset Hold) during another vCPU's turn ends that
// turn at its next VM exit, the scheduling point, so the woken vCPU runs next instead of after the
// sender's spin. The running vCPU's KVM_RUN returns KVM_EXIT_INTR when the list is not empty; the
// scheduler then accepts the targets' events and runs those that became runnable. Which events
// arrive in which exit depends only on the guest, so runs stay reproducible. See docs/scheduling.md.

export class WakeList {
  /** Ids of waiting vCPUs that an event reached during the current turn, in arrival order. */
  readonly ids: number[] = [];
  /** True during a turn: kicks outside turns (timers due before one) need no early end. */
  armed = false;

  add(id: number): void {
    if (this.armed && !this.ids.includes(id)) this.ids.push(id);
  }

  /** The ids so far, and an empty list. */
  take(): number[] {
    return this.ids.splice(0, this.ids.length);
  }
}
