// The floor for threaded wake latency: an Atomics.wait/notify ping-pong between two piscina
// workers, the hand-off a threaded scheduler's IPI makes when its target sleeps (issue 13). One
// way is half a round trip; figures are host ns, from the pinger's performance.now().
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { PingPongTask } from './lib/pingpong-worker.js';
import { type Summary, summarize } from './lib/stats.js';

export interface FloorResult {
  rounds: number;
  /** One-way hand-off, host ns (each round trip / 2). */
  oneWay: Summary;
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
    const once = async (n: number) => {
      const shared = new SharedArrayBuffer(8);
      const [rts] = await Promise.all(
        (['ping', 'pong'] as const).map((role) =>
          pool.run({ shared, role, rounds: n } satisfies PingPongTask),
        ),
      );
      return Array.from(rts as Float64Array, (x) => x / 2);
    };
    await once(warmUp);
    return { rounds, oneWay: summarize(await once(rounds)) };
  } finally {
    await pool.destroy();
  }
}
