// The command line as a user meets it: dist/src/cli.js run by node, as `npx hvemu` runs it.
// `npm test` builds dist/ first; a test file run alone builds it when it is missing, once, under a
// lock (test files run in parallel and must not run tsc over each other).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const guestImage = (name: string) => join(ROOT, 'guests', name, `${name}.img`);

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Build dist/ when dist/src/cli.js is missing (call from beforeAll). */
export function ensureCli(): void {
  if (existsSync(CLI)) return;
  const lock = join(ROOT, 'dist.build-lock');
  try {
    mkdirSync(lock); // atomic: exactly one test file builds
  } catch {
    for (let i = 0; i < 600 && existsSync(lock); i++) sleep(200);
    if (!existsSync(CLI)) throw new Error('another test file was building dist/ and did not finish');
    return;
  }
  try {
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`npm run build failed:\n${b.stdout}\n${b.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `hvemu ARGS` to its end (60 s at most). */
export function hvemu(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'latin1', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Start `hvemu ARGS`, send `signal` after `afterMs`, and collect what it printed until it ends.
 * Standard input is /dev/null, or with 'pipe' a socket that stays silent (Node's child_process).
 */
export function hvemuSignalled(
  args: string[],
  signal: NodeJS.Signals,
  afterMs: number,
  env: NodeJS.ProcessEnv = process.env,
  stdin: 'ignore' | 'pipe' = 'ignore',
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: [stdin, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout?.setEncoding('latin1').on('data', (d: string) => {
      stdout += d;
    });
    p.stderr?.setEncoding('latin1').on('data', (d: string) => {
      stderr += d;
    });
    const t = setTimeout(() => p.kill(signal), afterMs);
    const guard = setTimeout(() => p.kill('SIGKILL'), afterMs + 30_000);
    p.on('error', reject);
    p.on('close', (status, sig) => {
      clearTimeout(t);
      clearTimeout(guard);
      resolve({ status, signal: sig, stdout, stderr });
    });
  });
}
