// Where IPIs wait for a vCPU that runs on another host thread (the threaded scheduler of issue 13,
// docs/scheduling.md): per vCPU a few words of a SharedArrayBuffer. A sender ORs what it delivers
// (EV_* events, the SIPI vector, fixed vectors in a 256-bit IRR) with Atomics and bumps the vCPU's
// sequence word, then notifies it; the vCPU takes everything at once before its next entry (KVM's
// accept-events) and, with nothing to do, sleeps in Atomics.wait on the sequence word it last saw,
// so a post that lands between its look and its sleep wakes it at once (no lost wake-up).
// The single-threaded scheduler does not use this: its senders write the target's APIC directly.

import { EV_SIPI } from './local-apic.js';

/** Words per vCPU: events, SIPI vector, sequence, spare, IRR (8 x 32 bits), spare. */
const EVENTS = 0;
const SIPI_VECTOR = 1;
const SEQ = 2;
const IRR = 4;
const WORDS = 16;

export type ParkOutcome = 'woken' | 'pending' | 'timed-out';

export class IpiMailbox {
  readonly shared: SharedArrayBuffer;
  private readonly w: Int32Array;

  /** `shared`: the buffer another thread made (its vCPU count must match), or a new one. */
  constructor(
    readonly vcpus: number,
    shared?: SharedArrayBuffer,
  ) {
    this.shared = shared ?? new SharedArrayBuffer(vcpus * WORDS * 4);
    if (this.shared.byteLength !== vcpus * WORDS * 4)
      throw new RangeError(`an IPI mailbox for ${vcpus} vCPUs is ${vcpus * WORDS * 4} bytes`);
    this.w = new Int32Array(this.shared);
  }

  /** INIT, SIPI (with its vector), NMI, SMI, ExtINT for `target`: the EV_* bits of local-apic.ts. */
  postEvents(target: number, events: number, sipiVector = 0): void {
    const b = target * WORDS;
    if (events & EV_SIPI) Atomics.store(this.w, b + SIPI_VECTOR, sipiVector & 0xff); // before the bit
    Atomics.or(this.w, b + EVENTS, events);
    this.ring(b);
  }

  /** A fixed interrupt `vector` for `target` (its IRR bit). */
  postFixed(target: number, vector: number): void {
    const b = target * WORDS;
    Atomics.or(this.w, b + IRR + (vector >>> 5), 1 << (vector & 31));
    this.ring(b);
  }

  /** The sequence word of `target`: how many posts reached it (a parked vCPU waits on it). */
  seq(target: number): number {
    return Atomics.load(this.w, target * WORDS + SEQ);
  }

  /**
   * Everything pending for `target`, taken (cleared): returns the events; `irr` (8 words) gets the
   * fixed vectors ORed in; `sipi[0]` the SIPI vector when EV_SIPI is among the events.
   */
  take(target: number, irr: Uint32Array, sipi: Uint8Array): number {
    const b = target * WORDS;
    const ev = Atomics.exchange(this.w, b + EVENTS, 0);
    if (ev & EV_SIPI) sipi[0] = Atomics.load(this.w, b + SIPI_VECTOR);
    for (let i = 0; i < 8; i++)
      if (Atomics.load(this.w, b + IRR + i) !== 0) irr[i] |= Atomics.exchange(this.w, b + IRR + i, 0);
    return ev;
  }

  /**
   * Sleep until a post after `seenSeq` (the `seq` read before the vCPU last took its mail), or
   * `timeoutMs`. 'pending': one came in between, so it did not sleep at all.
   */
  park(target: number, seenSeq: number, timeoutMs = Number.POSITIVE_INFINITY): ParkOutcome {
    const r = Atomics.wait(this.w, target * WORDS + SEQ, seenSeq, timeoutMs);
    return r === 'ok' ? 'woken' : r === 'not-equal' ? 'pending' : 'timed-out';
  }

  private ring(b: number): void {
    Atomics.add(this.w, b + SEQ, 1);
    Atomics.notify(this.w, b + SEQ);
  }
}
