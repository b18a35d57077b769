// One side of the ping-pong hand-offs (bench/floor.ts), run as a piscina task. 'atomics': a word
// counts the hand-offs, the pinger makes it odd and sleeps until the ponger makes it even (the raw
// Atomics.wait/notify floor). 'mailbox': the same hand-off as a fixed IPI through the IpiMailbox
// (src/apic/ipi-mailbox.ts) each way, the receiver parked in it: what a threaded scheduler's IPI to
// a halted vCPU would add to the floor. The pinger returns the host ns of each round trip.
import { IpiMailbox } from '../../src/apic/ipi-mailbox.js';

export interface PingPongTask {
  shared: SharedArrayBuffer;
  /** The mailbox's buffer (2 vCPUs) for the 'mailbox' form. */
  mailbox?: SharedArrayBuffer;
  role: 'ping' | 'pong';
  form: 'atomics' | 'mailbox';
  rounds: number;
}

/** Words of the shared buffer: the hand-off counter, and how many sides are ready. */
const COUNT = 0;
const READY = 1;
const VECTOR = 0x40;

export default function pingPong(t: PingPongTask): Float64Array {
  const w = new Int32Array(t.shared);
  Atomics.add(w, READY, 1);
  while (Atomics.load(w, READY) < 2) Atomics.wait(w, READY, 1, 1); // both threads up before timing
  const rts = new Float64Array(t.role === 'ping' ? t.rounds : 0);
  if (t.form === 'mailbox') {
    const mb = new IpiMailbox(2, t.mailbox);
    const me = t.role === 'ping' ? 0 : 1;
    const irr = new Uint32Array(8);
    const sipi = new Uint8Array(1);
    /** Sleep until the other side's IPI is here, and take it. */
    const receive = () => {
      for (;;) {
        const seen = mb.seq(me);
        mb.take(me, irr, sipi);
        if (irr[VECTOR >>> 5] !== 0) break;
        mb.park(me, seen);
      }
      irr.fill(0);
    };
    for (let i = 0; i < t.rounds; i++) {
      if (t.role === 'ping') {
        const t0 = performance.now();
        mb.postFixed(1, VECTOR);
        receive();
        rts[i] = (performance.now() - t0) * 1e6;
      } else {
        receive();
        mb.postFixed(0, VECTOR);
      }
    }
    return rts;
  }
  for (let i = 0; i < t.rounds; i++) {
    const mine = t.role === 'ping' ? 2 * i + 1 : 2 * i + 2;
    const theirs = mine - 1;
    if (t.role === 'ping') {
      const t0 = performance.now();
      Atomics.store(w, COUNT, mine);
      Atomics.notify(w, COUNT);
      while (Atomics.load(w, COUNT) === mine) Atomics.wait(w, COUNT, mine);
      rts[i] = (performance.now() - t0) * 1e6;
    } else {
      // Wait on the value just compared: reading it again for the wait could take the pinger's
      // new value, and then sleep through the one notify that announced it.
      for (let v = Atomics.load(w, COUNT); v !== theirs; v = Atomics.load(w, COUNT))
        Atomics.wait(w, COUNT, v);
      Atomics.store(w, COUNT, mine);
      Atomics.notify(w, COUNT);
    }
  }
  return rts;
}
