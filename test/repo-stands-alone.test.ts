// The repository stands on its own: nothing it ships points into a folder beside it (../shared) for
// facts, code or workloads. bench/RESULTS.md is a log of past runs and may say what was run then.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const HISTORY = new Set(['bench/RESULTS.md', 'test/repo-stands-alone.test.ts']);

describe('the repository stands on its own', () => {
  const git = spawnSync('git', ['-C', ROOT, 'ls-files'], { encoding: 'utf8' });
  const files =
    git.status === 0
      ? git.stdout.split('\n').filter((f) => /\.(ts|mjs|md|sh|asm|inc|json|txt)$/.test(f) && !HISTORY.has(f))
      : [];

  it.skipIf(git.status !== 0)('no shipped file refers to ../shared (the seed, docs or bench peers)', () => {
    expect(files.length).toBeGreaterThan(100);
    const bad = files.filter(
      (f) =>
        existsSync(join(ROOT, f)) &&
        /\.\.\/shared\/|\bshared\/(seed|docs|bench-peers)\b/.test(readFileSync(join(ROOT, f), 'utf8')),
    );
    expect(bad).toEqual([]);
  });

  it('what the MIPS bench and the docs need is here', () => {
    for (const f of [
      'bench/peers/guest.asm',
      'bench/peers/bochsrc.txt',
      'guests/qemu/bios-stub.bin',
      'docs/sources.md',
    ])
      expect(existsSync(join(ROOT, f)), f).toBe(true);
    expect(readFileSync(join(ROOT, 'docs/sources.md'), 'utf8')).toMatch(
      /## The seed: KVM's SEV-ES AP boot patch/,
    );
  });
});
