// Where things are: the project root (found from this file, whether it runs compiled in dist/bench
// or from source in bench/), its bench guests and outputs.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the project root (no package.json above)');
    dir = up;
  }
  return dir;
}

export const ROOT = projectRoot();
/** The bench guests' sources, and the shared guest library they include. */
export const BENCH_GUESTS = resolve(ROOT, 'bench/guests');
export const GUEST_LIB = resolve(ROOT, 'guests/lib');
/** The peer workload (guest.asm) and its loop (workload.inc), which sev-peer.asm includes. */
export const PEERS = resolve(ROOT, 'bench/peers');
/** Assembled bench guests (git-ignored). */
export const BUILD = resolve(ROOT, 'build/bench');
/** Results: JSON and HTML reports (git-ignored). */
export const OUT = resolve(ROOT, 'bench/out');
