// One side of the Atomics.wait/notify ping-pong (bench/floor.ts), run as a piscina task: a word
// counts the hand-offs, the pinger makes it odd and sleeps until the ponger makes it even. The
// pinger returns the host ns of each round trip (two one-way hand-offs).
export interface PingPongTask {
  shared: SharedArrayBuffer;
  role: 'ping' | 'pong';
  rounds: number;
}

/** Words of the shared buffer: the hand-off counter, and how many sides are ready. */
const COUNT = 0;
const READY = 1;

export default function pingPong(t: PingPongTask): Float64Array {
  const w = new Int32Array(t.shared);
  Atomics.add(w, READY, 1);
  while (Atomics.load(w, READY) < 2) Atomics.wait(w, READY, 1, 1); // both threads up before timing
  const rts = new Float64Array(t.role === 'ping' ? t.rounds : 0);
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
      while (Atomics.load(w, COUNT) !== theirs) Atomics.wait(w, COUNT, Atomics.load(w, COUNT));
      Atomics.store(w, COUNT, mine);
      Atomics.notify(w, COUNT);
    }
  }
  return rts;
}
