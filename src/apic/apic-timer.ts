// The local APIC timer (SDM 11.5.4): one-shot, periodic and TSC-deadline, on a virtual clock. Nothing
// runs in the background: the count is computed from the clock when read, `nextDeadline()` tells a
// scheduler when to look again, and `expire()` (called once the clock has reached that tick) re-arms
// or disarms the timer and says whether the LVT timer interrupt is due.
import { TIMER_PERIODIC, TIMER_TSC_DEADLINE } from './registers.js';

/** The VM's clock, in TSC ticks. */
export interface ApicClock {
  now(): number;
}

/** Divide configuration register bits 3,1,0 → divisor (SDM 11.5.4 figure 11-10). */
export function dcrDivisor(dcr: number): number {
  const idx = (dcr & 3) | ((dcr >>> 1) & 4);
  return idx === 7 ? 1 : 2 << idx;
}

export class ApicTimer {
  /** LVT timer mode field (bits 18:17); 11b is reserved and runs as one-shot. */
  private mode = 0;
  private initialCount = 0;
  private dcr = 0;
  /** TSC ticks per count: the timer input clock is `ticksPerBusClock` TSC ticks times the divisor. */
  private ticksPerCount: number;
  /** Tick at which the current count was loaded (may be fractional after a DCR change). */
  private start = 0;
  /** Tick of the next expiry, or -1 when disarmed. */
  private deadline = -1;
  /** IA32_TSC_DEADLINE as written (0 = disarmed). */
  private tscDeadline = 0n;

  constructor(
    private readonly clock: ApicClock,
    private readonly ticksPerBusClock = 1,
  ) {
    this.ticksPerCount = ticksPerBusClock * dcrDivisor(0);
  }

  reset(): void {
    this.mode = 0;
    this.initialCount = 0;
    this.dcr = 0;
    this.ticksPerCount = this.ticksPerBusClock * dcrDivisor(0);
    this.start = 0;
    this.deadline = -1;
    this.tscDeadline = 0n;
  }

  /** Called when the LVT timer register is written. */
  setMode(mode: number): void {
    // "A transition between TSC-deadline mode and other timer modes also disarms the timer" (11.5.4.1).
    if ((mode === TIMER_TSC_DEADLINE) !== (this.mode === TIMER_TSC_DEADLINE)) {
      this.initialCount = 0;
      this.tscDeadline = 0n;
      this.deadline = -1;
    }
    this.mode = mode;
  }

  get initial(): number {
    return this.initialCount;
  }

  get divideConfig(): number {
    return this.dcr;
  }

  writeInitialCount(count: number): void {
    if (this.mode === TIMER_TSC_DEADLINE) return; // ignored in TSC-deadline mode (11.5.4.1)
    this.initialCount = count >>> 0;
    this.start = this.clock.now();
    // A write of 0 stops the timer in one-shot and periodic mode (11.5.4).
    this.deadline = this.initialCount === 0 ? -1 : this.start + this.initialCount * this.ticksPerCount;
  }

  writeDivideConfig(dcr: number): void {
    this.dcr = dcr & 0xb;
    const per = this.ticksPerBusClock * dcrDivisor(this.dcr);
    if (this.deadline >= 0 && this.mode !== TIMER_TSC_DEADLINE) {
      // Keep the counts already elapsed; the rest run at the new rate.
      const now = this.clock.now();
      this.start = now - ((now - this.start) * per) / this.ticksPerCount;
      this.ticksPerCount = per;
      this.deadline = this.start + this.initialCount * per;
    } else {
      this.ticksPerCount = per;
    }
  }

  currentCount(): number {
    // CCR reads 0 in TSC-deadline mode and once a one-shot count has run out (11.5.4).
    if (this.mode === TIMER_TSC_DEADLINE || this.initialCount === 0 || this.deadline < 0) return 0;
    const elapsed = Math.floor((this.clock.now() - this.start) / this.ticksPerCount);
    if (this.mode === TIMER_PERIODIC) return this.initialCount - (elapsed % this.initialCount);
    return elapsed >= this.initialCount ? 0 : this.initialCount - elapsed;
  }

  readTscDeadline(): bigint {
    return this.mode === TIMER_TSC_DEADLINE ? this.tscDeadline : 0n; // reads 0 in other modes
  }

  writeTscDeadline(value: bigint): void {
    if (this.mode !== TIMER_TSC_DEADLINE) return; // writes ignored in other modes (11.5.4.1)
    this.tscDeadline = BigInt.asUintN(64, value);
    this.deadline = value === 0n ? -1 : Number(this.tscDeadline);
  }

  /** Tick of the next expiry, or -1 if the timer is disarmed. */
  nextDeadline(): number {
    return this.deadline;
  }

  /** If the clock has reached the deadline: re-arm (periodic) or disarm, and return true. */
  expire(): boolean {
    const now = this.clock.now();
    if (this.deadline < 0 || now < this.deadline) return false;
    if (this.mode === TIMER_PERIODIC) {
      // Missed periods collapse into one interrupt, as they would in a single IRR bit.
      const period = this.initialCount * this.ticksPerCount;
      this.start += Math.floor((now - this.start) / period) * period;
      this.deadline = this.start + period;
    } else {
      this.deadline = -1;
      // "the timer ... disarms itself and clears the IA32_TSC_DEADLINE MSR" (11.5.4.1).
      if (this.mode === TIMER_TSC_DEADLINE) this.tscDeadline = 0n;
    }
    return true;
  }
}
