// Scaling (issue 5): for N vCPUs, legacy (SVM, VMX) and SEV-ES, with one INIT-SIPI-SIPI broadcast
// (all excluding self) from the BSP:
//   bring-up  INIT-SIPI-SIPI -> every AP counted in (and, SEV-ES, parked in AP Reset Hold)
//   wake      a second INIT-SIPI-SIPI -> every AP back (legacy: from CLI;HLT; SEV-ES: from the hold)
// each on the host clock (between the guest's marker bytes), the VM clock (read at the markers) and
// the BSP's TSC (printed by the guest); plus the host time to create (SEV-ES: launch and measure) the
// VM, and host memory after the run: heap + external after a full GC, less the same before the VM
// existed (with the previous VM released: lib/memory.ts), plus the VM's SharedArrayBuffer (guest RAM
// and control pages). The memory cost of one vCPU is the slope of a least-squares line through
// (N, bytes). Counts up to `limit` must succeed
// (a failure is a BenchFailure); larger counts in `beyond` are tried and what happens is recorded.
import { assemble, type Defines } from './lib/assemble.js';
import { BenchFailure } from './lib/failure.js';
import { type Kind, runGuest } from './lib/guest-run.js';
import { bytesInUse, releaseLastVm } from './lib/memory.js';
import type { Scheduler } from './lib/scheduler.js';
import { linearFit } from './lib/stats.js';

export interface ScaleConfig {
  id: string;
  kind: Kind;
  guest: 'legacy-wake' | 'sev-wake';
  defines: Defines;
  memoryMiB: number;
  /** The most vCPUs this guest can address (bench/guests/sev-boot.inc: 1024 per-CPU areas). */
  guestMax: number;
}

export const SCALE_CONFIGS: readonly ScaleConfig[] = [
  {
    id: 'svm legacy',
    kind: 'svm',
    guest: 'legacy-wake',
    defines: { BROADCAST: true },
    memoryMiB: 8,
    guestMax: 1 << 20,
  },
  {
    id: 'vmx legacy',
    kind: 'vmx',
    guest: 'legacy-wake',
    defines: { BROADCAST: true },
    memoryMiB: 8,
    guestMax: 1 << 20,
  },
  {
    id: 'sev-es ghcb hold',
    kind: 'sev-es',
    guest: 'sev-wake',
    defines: { BROADCAST: true },
    memoryMiB: 32,
    guestMax: 1024,
  },
];

export interface ScalePoint {
  cpus: number;
  ok: boolean;
  /** What went wrong (only for counts beyond the required limit). */
  error?: string;
  createMs: number;
  runMs: number;
  bringUpHostNs: number;
  wakeHostNs: number;
  bringUpVmNs: number;
  wakeVmNs: number;
  bringUpGuestCycles: number;
  wakeGuestCycles: number;
  /** Heap + external growth, and the VM's SharedArrayBuffer (guest RAM + control pages). */
  heapBytes: number;
  sharedBytes: number;
}

export interface ScaleResult {
  config: string;
  kind: Kind;
  scheduler: string;
  points: ScalePoint[];
  /** Least-squares bytes per vCPU (heap + external) over the successful points, and the intercept. */
  bytesPerVcpu: number;
  fixedBytes: number;
}

async function point(c: ScaleConfig, sched: Scheduler, cpus: number): Promise<ScalePoint> {
  if (cpus > c.guestMax) throw new BenchFailure(`the ${c.guest} guest addresses at most ${c.guestMax} vCPUs`);
  const image = assemble(c.guest, { ...c.defines, NCPUS: cpus });
  const host = new Map<number, number>();
  const vm = new Map<number, number>();
  let vmNow: () => number = () => Number.NaN;
  releaseLastVm();
  const before = bytesInUse();
  const run = await runGuest(
    {
      kind: c.kind,
      image,
      cpus,
      memoryMiB: c.memoryMiB,
      scheduler: sched,
      what: `scaling, ${c.id}, ${cpus} vCPUs`,
    },
    {
      attach: (now) => {
        if (now) vmNow = now;
      },
      marker: (b) => {
        host.set(b, performance.now() * 1e6);
        vm.set(b, vmNow());
      },
    },
  );
  const heapBytes = bytesInUse() - before;
  const sharedBytes = run.pc?.vm.memory.byteLength ?? 0;
  const m = /cycles ([0-9A-F]+) ([0-9A-F]+)/.exec(run.text);
  if (!m) throw new BenchFailure(`scaling, ${c.id}, ${cpus} vCPUs: no cycles line in '${run.text}'`);
  const d = (t: Map<number, number>, a: number, b: number) =>
    (t.get(b) ?? Number.NaN) - (t.get(a) ?? Number.NaN);
  return {
    cpus,
    ok: true,
    createMs: run.createMs,
    runMs: run.runMs,
    bringUpHostNs: d(host, 2, 3),
    wakeHostNs: d(host, 4, 5),
    bringUpVmNs: d(vm, 2, 3),
    wakeVmNs: d(vm, 4, 5),
    bringUpGuestCycles: Number.parseInt(m[1], 16),
    wakeGuestCycles: Number.parseInt(m[2], 16),
    heapBytes,
    sharedBytes,
  };
}

export interface ScaleOptions {
  schedulers: readonly Scheduler[];
  /** vCPU counts that must work, and counts beyond them to try. */
  counts: readonly number[];
  beyond: readonly number[];
  configs?: readonly ScaleConfig[];
  onStep?: (label: string) => void;
}

export async function measureScaling(o: ScaleOptions): Promise<ScaleResult[]> {
  const out: ScaleResult[] = [];
  for (const sched of o.schedulers)
    for (const c of o.configs ?? SCALE_CONFIGS) {
      const points: ScalePoint[] = [];
      for (const n of o.counts) {
        points.push(await point(c, sched, n));
        o.onStep?.(`scaling ${c.id} ${n} vCPUs`);
      }
      for (const n of o.beyond) {
        points.push(await attempt(c, sched, n));
        o.onStep?.(`scaling ${c.id} ${n} vCPUs (beyond)`);
      }
      const ok = points.filter((p) => p.ok);
      const fit = linearFit(
        ok.map((p) => p.cpus),
        ok.map((p) => p.heapBytes),
      );
      out.push({
        config: c.id,
        kind: c.kind,
        scheduler: sched.name,
        points,
        bytesPerVcpu: fit.slope,
        fixedBytes: fit.intercept,
      });
    }
  return out;
}

/**
 * A count beyond the limit: its point, or what went wrong. The error is caught in this frame, which
 * ends: caught in the suspended loop of measureScaling, it kept the half-built VM reachable (about
 * 1 GB at 1024 vCPUs) and skewed the next count's memory baseline by as much.
 */
async function attempt(c: ScaleConfig, sched: Scheduler, cpus: number): Promise<ScalePoint> {
  try {
    return await point(c, sched, cpus);
  } catch (e) {
    if (!(e instanceof Error)) return { ...failed(cpus), error: String(e) };
    return { ...failed(cpus), error: e.message.split('\n')[0] };
  }
}

function failed(cpus: number): ScalePoint {
  const nan = Number.NaN;
  return {
    cpus,
    ok: false,
    createMs: nan,
    runMs: nan,
    bringUpHostNs: nan,
    wakeHostNs: nan,
    bringUpVmNs: nan,
    wakeVmNs: nan,
    bringUpGuestCycles: nan,
    wakeGuestCycles: nan,
    heapBytes: nan,
    sharedBytes: nan,
  };
}
