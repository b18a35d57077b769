// `hvemu run --threads`: the command line's way to the threaded scheduler (the built CLI, as a
// user runs it), and its refusals.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR } from '../../guests/guest-list.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');
const LEGACY = join(GUESTS_DIR, 'smp-legacy', 'smp-legacy.img');
const hvemu = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'latin1', input: '', timeout: 60_000 });

describe('hvemu run --threads', () => {
  it('runs smp-legacy on 4 vCPU threads to the same end as without', { timeout: 120_000 }, () => {
    const thr = hvemu(LEGACY, '--cpus', '4', '--threads');
    const det = hvemu(LEGACY, '--cpus', '4');
    expect({ out: thr.stdout, status: thr.status }).toEqual({ out: det.stdout, status: det.status });
    expect(thr.stdout).toMatch(/SMP: done\n$/);
  });

  it('refuses what it does not do yet, with exit status 8', () => {
    for (const [args, why] of [
      [['--trace', 'apic'], /--threads does not trace or debug yet/],
      [['--arch', 'none'], /runs as a VM/],
    ] as const) {
      const r = hvemu(LEGACY, '--threads', ...args);
      expect(r.status).toBe(8);
      expect(r.stderr).toMatch(why);
    }
  });
});
