// The bench guests are NASM sources in bench/guests, assembled on demand into build/bench (git-ignored)
// with the defines a measurement needs (iterations, vCPU count, hold form). Images are cached by a
// hash of the source, its includes and the defines, so a run assembles each variant once.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BenchFailure } from './failure.js';
import { BENCH_GUESTS, BUILD, GUEST_LIB, PEERS } from './paths.js';

export type Defines = Record<string, number | true>;

function sourcesHash(): string {
  const h = createHash('sha1');
  for (const dir of [BENCH_GUESTS, GUEST_LIB, PEERS])
    for (const f of readdirSync(dir).sort())
      if (/\.(asm|inc)$/.test(f)) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 10);
}
let hash: string | null = null;

/** Assemble bench/guests/<name>.asm with `defines`; returns the image's bytes. */
export function assemble(name: string, defines: Defines = {}): Uint8Array {
  hash ??= sourcesHash();
  const args = Object.entries(defines)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => (v === true ? `-D${k}` : `-D${k}=${v}`));
  const tag = args.map((a) => a.slice(2).replace('=', '')).join('-');
  const out = join(BUILD, `${name}${tag ? `-${tag}` : ''}-${hash}.img`);
  if (!existsSync(out)) {
    mkdirSync(BUILD, { recursive: true });
    // Assembled under a name of this process's own, then renamed: test files run in parallel, and
    // one must never read an image another is still writing.
    const tmp = `${out}.${process.pid}.tmp`;
    const r = spawnSync(
      'nasm',
      [
        '-f',
        'bin',
        '-w+all',
        '-i',
        `${GUEST_LIB}/`,
        '-i',
        `${BENCH_GUESTS}/`,
        ...args,
        '-o',
        tmp,
        join(BENCH_GUESTS, `${name}.asm`),
      ],
      { encoding: 'utf8' },
    );
    if (r.error) throw new BenchFailure(`cannot run nasm (apt-get install nasm): ${r.error.message}`);
    if (r.status !== 0) {
      rmSync(tmp, { force: true });
      throw new BenchFailure(`nasm ${name}.asm ${args.join(' ')} failed:\n${r.stderr}`);
    }
    renameSync(tmp, out);
  }
  return readFileSync(out);
}
