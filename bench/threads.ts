// The threaded scheduler (src/threads) beside its floor and the deterministic scheduler, in one run:
//   - AP wake latency: guests/legacy-wake's INIT-SIPI-SIPI wakes of a parked AP, from the BSP's TSC
//     before the SIPI to the AP's TSC at its first instruction. Under threads the TSC is host time
//     (re-read at every VM exit and entry), so this is host ns; beside it the floor, an
//     Atomics.wait/notify hand-off between two workers (floor.ts), measured in the same run, and
//     the deterministic scheduler's figure on its VM clock.
//   - Speed-up of a compute-bound SMP guest (bench/guests/compute-smp.asm: each vCPU the same
//     DEC/JNZ loop) at 1, 2, 4, 8 vCPUs: host time of the deterministic run over the threaded run's
//     (from the start barrier: workers built; the build time is shown apart).
// Run alone: `node dist/bench/threads.js [--wakes=N] [--iters=N]`; `npm run bench` runs it too.
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runThreaded } from '../src/threads/threaded-vm.js';
import { runImageVm, runPcVm } from '../src/vm-boot.js';
import { loadImageVm } from '../src/vm-threaded.js';
import { measureFloor } from './floor.js';
import { assemble } from './lib/assemble.js';
import { BenchFailure } from './lib/failure.js';
import { summarize } from './lib/stats.js';

const LOG = 0x100000;
const RECORD = 64;

export interface ThreadsBench {
  wake: { arch: string; threadedP50: number; threadedP90: number; deterministicP50: number; n: number }[];
  floorP50: number;
  mailboxP50: number;
  speedup: {
    cpus: number;
    detMs: number;
    thrMs: number;
    buildMs: number;
    speedup: number;
    /** Process CPU ms of each run: equal work should cost equal CPU time; wall time needs free cores. */
    detCpuMs: number;
    thrCpuMs: number;
  }[];
  text: string;
  notes: string[];
}

/** SIPI -> AP's first instruction, per wake (the first boot of the AP left out), in TSC ticks = ns. */
function wakeLatencies(read: (gpa: number, len: number) => Uint8Array, wakes: number): number[] {
  const log = read(LOG, wakes * RECORD);
  const dv = new DataView(log.buffer, log.byteOffset, log.byteLength);
  const out: number[] = [];
  for (let w = 1; w < wakes; w++) {
    const sipi = Number(dv.getBigUint64(w * RECORD + 16, true));
    const ap = Number(dv.getBigUint64(w * RECORD + 48, true));
    out.push(ap - sipi);
  }
  return out;
}

export async function measureThreads(o: {
  wakes: number;
  iters: number;
  counts: readonly number[];
  floorRounds: number;
}): Promise<ThreadsBench> {
  const wake: ThreadsBench['wake'] = [];
  for (const arch of ['svm', 'vmx'] as const) {
    const image = assemble('legacy-wake', { NCPUS: 2, WAKES: o.wakes });
    const opts = { arch, cpus: 2, memoryBytes: 16 * 2 ** 20, maxInstructions: 2_000_000_000 };
    const det = loadImageVm(image, opts);
    const d = runPcVm(det, opts);
    const thr = loadImageVm(image, opts);
    const t = await runThreaded(thr, arch, { maxInstructions: opts.maxInstructions });
    for (const [what, r] of [
      ['deterministic', d],
      ['threaded', t],
    ] as const)
      if (r.exitStatus !== 1)
        throw new BenchFailure(`legacy-wake (${arch}, ${what}): ${r.stop}: ${r.message}`);
    const ts = summarize(wakeLatencies((a, n) => thr.vm.memory.read(a, n), o.wakes));
    const ds = summarize(wakeLatencies((a, n) => det.vm.memory.read(a, n), o.wakes));
    wake.push({ arch, threadedP50: ts.p50, threadedP90: ts.p90, deterministicP50: ds.p50, n: ts.n });
  }
  const floor = await measureFloor(o.floorRounds);
  const speedup: ThreadsBench['speedup'] = [];
  // Warm up both paths (this thread's code, and the tier-2 compiler) before anything is timed.
  const warm = assemble('compute-smp', { NCPUS: 1, ITERS: o.iters });
  runImageVm(warm, { maxInstructions: 1e11 });
  await runThreaded(loadImageVm(warm, {}), 'svm', {});
  for (const cpus of o.counts) {
    const image = assemble('compute-smp', { NCPUS: cpus, ITERS: o.iters });
    const opts = { cpus, maxInstructions: 1e11 };
    const cpu = (from: NodeJS.CpuUsage) => {
      const u = process.cpuUsage(from);
      return (u.user + u.system) / 1000;
    };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const d = runImageVm(image, opts);
    const detMs = performance.now() - t0;
    const detCpuMs = cpu(c0);
    const c1 = process.cpuUsage();
    const t = await runThreaded(loadImageVm(image, opts), 'svm', opts);
    const thrCpuMs = cpu(c1);
    for (const [what, r] of [
      ['deterministic', d],
      ['threaded', t],
    ] as const)
      if (r.exitStatus !== 1)
        throw new BenchFailure(`compute-smp (${cpus} vCPUs, ${what}): ${r.stop}: ${r.message}`);
    speedup.push({
      cpus,
      detMs,
      thrMs: t.runMs,
      buildMs: t.buildMs,
      speedup: detMs / t.runMs,
      detCpuMs,
      thrCpuMs,
    });
  }
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const floorP50 = floor.oneWay.p50;
  const mailboxP50 = floor.mailbox?.p50 ?? Number.NaN;
  const text = [
    '| AP wake (SIPI -> AP) | threaded p50 µs | p90 µs | / floor | deterministic, guest TSC p50 µs |',
    '|---|---|---|---|---|',
    ...wake.map(
      (w) =>
        `| ${w.arch} legacy, ${w.n} wakes | ${us(w.threadedP50)} | ${us(w.threadedP90)} | ${(w.threadedP50 / floorP50).toFixed(2)}x | ${us(w.deterministicP50)} |`,
    ),
    `| floor: Atomics.wait/notify one way | ${us(floorP50)} | | 1x | |`,
    `| floor through the IPI mailbox | ${us(mailboxP50)} | | ${(mailboxP50 / floorP50).toFixed(2)}x | |`,
    '',
    `| compute-smp (${o.iters} iterations per vCPU) | deterministic ms | threaded ms (build ms) | speed-up | CPU ms det / threaded (with build) |`,
    '|---|---|---|---|---|',
    ...speedup.map(
      (s) =>
        `| ${s.cpus} vCPU${s.cpus > 1 ? 's' : ''} | ${s.detMs.toFixed(0)} | ${s.thrMs.toFixed(0)} (${s.buildMs.toFixed(0)}) | ${s.speedup.toFixed(2)}x | ${s.detCpuMs.toFixed(0)} / ${s.thrCpuMs.toFixed(0)} |`,
    ),
  ].join('\n');
  const notes = [
    'threaded wake: host ns (the TSC follows host time under threads); the deterministic column is its VM clock (the AP runs from the moment of the SIPI by the wake rule), its host time is in the AP wake latency section above',
    'speed-up: deterministic host ms / threaded host ms from the start barrier (worker build apart)',
    `host load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} on ${availableParallelism()} cores (a speed-up needs cores nobody else uses)`,
  ];
  return { wake, floorP50, mailboxP50, speedup, text, notes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: number) => {
    const a = process.argv.find((x) => x.startsWith(`--${name}=`));
    return a === undefined ? dflt : Number(a.slice(name.length + 3));
  };
  const r = await measureThreads({
    wakes: arg('wakes', 500),
    iters: arg('iters', 5_000_000),
    counts: (process.argv.find((x) => x.startsWith('--cpus='))?.slice(7) ?? '1,2,4,8').split(',').map(Number),
    floorRounds: arg('rounds', 5000),
  });
  console.log(`${r.text}\n\n${r.notes.map((n) => `- ${n}`).join('\n')}`);
}
