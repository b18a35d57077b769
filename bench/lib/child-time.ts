// A child process timed two ways: wall time (what a user waits) and its CPU time, user + system of
// the child and everything it waited for (what it cost, whatever else the machine runs: on a shared
// 2-core machine other sessions' load moves wall times by 2-10x, CPU times much less). Node gives
// no child rusage from spawnSync, so the command runs under bash, whose `times` builtin prints the
// children's CPU times on stderr after it ends.
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';

export interface Timed {
  status: number | null;
  error?: Error;
  stdout: string;
  /** The command's own stderr, without bash's `times` lines. */
  stderr: string;
  wall: number;
  /** User + system seconds of the command and its children; NaN if bash did not report them. */
  cpu: number;
}

const TIMES = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\n?$/;

/** Split bash's `times` output (its last line: the children's user and system time) off stderr. */
export function parseTimes(stderr: string): { cpu: number; rest: string } {
  const m = TIMES.exec(stderr);
  if (!m) return { cpu: Number.NaN, rest: stderr };
  const cpu = Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
  // The line before is bash's own times (the shell itself): drop it too.
  const rest = stderr.slice(0, m.index).replace(/\d+m[\d.]+s \d+m[\d.]+s\n$/, '');
  return { cpu, rest };
}

export function runTimed(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Timed {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', '"$@"; s=$?; times >&2; exit $s', 'bash', cmd, ...args], {
    encoding: 'latin1',
    ...opts,
  });
  const wall = (performance.now() - t0) / 1e3;
  const { cpu, rest } = parseTimes(String(r.stderr ?? ''));
  return { status: r.status, error: r.error, stdout: String(r.stdout ?? ''), stderr: rest, wall, cpu };
}
