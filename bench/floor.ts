// The floor for threaded wake latency: an Atomics.wait/notify ping-pong between two piscina
// workers, the hand-off a threaded scheduler's IPI makes when its target sleeps (issue 13). One
// way is half a round trip; figures are host ns, from the pinger's performance.now().
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { IpiMailbox } from '../src/apic/ipi-mailbox.js';
import type { PingPongTask } from './lib/pingpong-worker.js';
import { type Summary, summarize } from './lib/stats.js';

export interface FloorResult {
  rounds: number;
  /** One-way hand-off, host ns (each round trip / 2). */
  oneWay: Summary;
  /** The same through the IpiMailbox (a fixed IPI each way, the receiver parked in it). */
  mailbox?: Summary;
}

/** The worker module: next to this file when built (dist/bench/lib), also from vitest's TS sources. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts') ? here.replace(/\/bench\/floor\.ts$/, '/dist/bench/floor.js') : here;
  return js.replace(/floor\.js$/, 'lib/pingpong-worker.js');
}

export async function measureFloor(rounds: number, warmUp = Math.min(1000, rounds)): Promise<FloorResult> {
  const pool = new Piscina({ filename: workerFile(), minThreads: 2, maxThreads: 2, idleTimeout: 1000 });
  try {
    const once = async (n: number, form: PingPongTask['form']) => {
      const shared = new SharedArrayBuffer(8);
      const mailbox = new IpiMailbox(2).shared;
      const [rts] = await Promise.all(
        (['ping', 'pong'] as const).map((role) =>
          pool.run({ shared, mailbox, role, form, rounds: n } satisfies PingPongTask),
        ),
      );
      return Array.from(rts as Float64Array, (x) => x / 2);
    };
    await once(warmUp, 'atomics');
    await once(warmUp, 'mailbox');
    // Interleaved halves, so that a change in the machine's load falls on both forms.
    const half = Math.ceil(rounds / 2);
    const raw = [...(await once(half, 'atomics'))];
    const mb = [...(await once(half, 'mailbox'))];
    raw.push(...(await once(rounds - half, 'atomics')));
    mb.push(...(await once(rounds - half, 'mailbox')));
    return { rounds, oneWay: summarize(raw), mailbox: summarize(mb) };
  } finally {
    await pool.destroy();
  }
}
