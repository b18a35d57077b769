// The VM's virtual time for the platform devices (PIT, RTC), in nanoseconds, driven by the
// deterministic scheduler. vCPUs take turns in rounds; a round models them running side by side,
// so it lasts as long as the longest turn in it. During a turn, time is the round's start plus
// the instructions the running vCPU has executed so far, one nanosecond each (a 1 GHz processor
// at one instruction per cycle, the rate of its TSC), plus the cycles the VMM charged to it for
// work a processor would have spent time on (VM exits: exit-cost.ts). Readings never go
// backwards. When every vCPU waits, the scheduler may skip time forward to the next device deadline.

/** Nanoseconds per guest instruction. */
export const NS_PER_INSTRUCTION = 1;

/** What the clock needs of a processor: its instruction count, and the TSC offset it sets. */
export interface InstructionCounter {
  readonly icount: number;
  /** RDTSC reads icount + tscOffset: the clock points it at virtual time (1 GHz TSC). */
  tscOffset?: number;
}

export class VmClock {
  private roundStart = 0;
  private longestTurn = 0;
  private turnCpu: InstructionCounter | null = null;
  private turnStartCount = 0;
  /** Where the current turn starts: the round's start, or later for a vCPU woken during the round. */
  private turnBase = 0;
  /** Nanoseconds charged to the running vCPU in this turn (charge()). */
  private turnCharged = 0;
  private last = 0;

  /** The current virtual time in ns. */
  now(): number {
    let t = this.turnBase;
    const cpu = this.turnCpu;
    if (cpu !== null) t += (cpu.icount - this.turnStartCount) * NS_PER_INSTRUCTION + this.turnCharged;
    if (t > this.last) this.last = t;
    return this.last;
  }

  /**
   * `cpu` starts its turn in the current round, but not before `notBefore`: a vCPU woken by an IPI
   * sent at time T in this round runs from T on, so no reading of its TSC precedes the wake-up.
   * Its TSC (RDTSC) is the virtual time: all vCPUs share one clock.
   */
  beginTurn(cpu: InstructionCounter, notBefore = 0): void {
    this.turnCpu = cpu;
    this.turnStartCount = cpu.icount;
    this.turnBase = Math.max(this.roundStart, notBefore);
    this.turnCharged = 0;
    if (cpu.tscOffset !== undefined) cpu.tscOffset = Math.round(this.turnBase) - cpu.icount;
  }

  /**
   * The running vCPU spent `ns` outside its instruction stream (a VM exit's round trip): its
   * clock and its TSC move on by that much, as a processor's would while the hypervisor ran.
   */
  charge(ns: number): void {
    const cpu = this.turnCpu;
    if (cpu === null || ns <= 0) return;
    this.turnCharged += ns;
    if (cpu.tscOffset !== undefined) cpu.tscOffset += ns;
  }

  /** The turn is over; returns the virtual time at which it ended. */
  endTurn(): number {
    const cpu = this.turnCpu;
    if (cpu === null) return this.last;
    const ran =
      this.turnBase -
      this.roundStart +
      (cpu.icount - this.turnStartCount) * NS_PER_INSTRUCTION +
      this.turnCharged;
    if (ran > this.longestTurn) this.longestTurn = ran;
    this.turnCpu = null;
    return this.roundStart + ran;
  }

  /** Every vCPU has had its turn: the next round starts where the longest turn ended. */
  endRound(): void {
    this.endTurn();
    this.roundStart = Math.max(this.last, this.roundStart + this.longestTurn);
    this.last = this.turnBase = this.roundStart;
    this.longestTurn = 0;
  }

  /** Nothing runs: jump to `ns` (ignored if that is not in the future). */
  skipTo(ns: number): void {
    this.endRound();
    if (ns > this.roundStart) this.roundStart = this.last = this.turnBase = ns;
  }
}
