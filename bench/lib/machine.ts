// What a result was measured on and with: the machine, Node, the hvemu build, the load around it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export interface MachineInfo {
  date: string;
  node: string;
  v8: string;
  cpuModel: string;
  nproc: number;
  memoryGiB: number;
  git: string;
  /** Hash of dist/src: a rebuild during the run would mix two builds. */
  dist: string;
  loadStart: number[];
  tier2: string;
}

/** Hash of the compiled emulator (dist/src/**.js). */
export function distHash(): string {
  const h = createHash('sha1');
  const dir = join(ROOT, 'dist/src');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  for (const f of files.filter((f) => f.endsWith('.js')).sort())
    h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

/** The model name /proc/cpuinfo gives (Node's os.cpus() reads the same). */
function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  const git = spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    cpuModel: cpuModel(),
    nproc: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    git: git.stdout?.trim() || 'unknown',
    dist: distHash(),
    loadStart: loadavg(),
    tier2: process.env.HVEMU_TIER2 ?? 'on',
  };
}
