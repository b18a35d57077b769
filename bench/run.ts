// hvemu's bench: exit cost, AP wake latency (with an SEV-ES breakdown) and vCPU scaling, in one
// process, every comparison a ratio measured in the same run. See bench/README.md.
//   npm run bench                   quick mode (about a minute on a 2-core machine, build included)
//   npm run bench -- --full         more iterations, 10000 wakes per configuration, 2048 vCPUs
//                                   tried too, and the guest-MIPS bench (mips.js --full) after
// Options: --only=exit,wake,scale,threads   --scheduler=NAME   --wakes=N (measured per run)   --reps=N
//          --iters=N (exit loops)   --cpus=N (wake-latency VM size)   --mips / --no-mips
// Writes bench/out/bench-<date>.json and .html (and latest.json / latest.html); exits 1 and prints
// FAILED with the reason if a guest never reaches the state a benchmark measures.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { measureExitCost } from './exit-cost.js';
import { measureFloor } from './floor.js';
import { BenchFailure } from './lib/failure.js';
import { distHash, machineInfo } from './lib/machine.js';
import { OUT, ROOT } from './lib/paths.js';
import { Progress } from './lib/progress.js';
import type { BenchResults, BenchSettings } from './lib/results.js';
import { SCHEDULERS, schedulerByName } from './lib/scheduler.js';
import { htmlReport } from './report/html.js';
import {
  breakdownTable,
  exitCostTable,
  exitRatios,
  floorRatios,
  scalingSummary,
  scalingTable,
  wakeGuestTable,
  wakeHostTable,
  wakeRatios,
  wakeStagesTable,
} from './report/text.js';
import { measureScaling, SCALE_CONFIGS } from './scaling.js';
import { measureThreads, type ThreadsBench } from './threads.js';
import { measureBreakdown } from './wake-breakdown.js';
import { measureWakes, WAKE_CONFIGS } from './wake-latency.js';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const num = (name: string, dflt: number) => {
  const v = opt(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --${name} takes a positive integer, not '${v}'`);
    process.exit(2);
  }
  return n;
};
const full = args.includes('--full');
const suites = (opt('only') ?? 'exit,wake,scale,threads').split(',');
for (const s of suites)
  if (!['exit', 'wake', 'scale', 'threads'].includes(s)) {
    console.error(`bench: --only takes exit, wake, scale, threads; not '${s}'`);
    process.exit(2);
  }
const schedulers = opt('scheduler') ? [schedulerByName(opt('scheduler') as string)] : SCHEDULERS;

const settings: BenchSettings = {
  mode: full ? 'full' : 'quick',
  suites,
  schedulers: schedulers.map((s) => s.name),
  exitIters: num('iters', full ? 200_000 : 30_000),
  exitReps: num('reps', full ? 5 : 3),
  wakeCpus: num('cpus', 2),
  wakesPerRun: num('wakes', full ? 2000 : 500),
  floorRounds: full ? 20_000 : 5000,
  wakeReps: num('reps', full ? 5 : 2),
  breakdownWakes: full ? 1000 : 300,
  scaleCounts: [1, 2, 4, 8, 16, 32, 64, 128, 255],
  scaleBeyond: full ? [256, 512, 1024, 2048] : [256, 512, 1024],
};

// ---- the plan, for the progress bar: steps weighted by their expected share of the time
const S = schedulers.length;
const weight = {
  exit: 1,
  wake: 3,
  breakdown: 8,
  scale: (n: number) => 0.5 + n / 40,
};
let total = 0;
if (suites.includes('exit')) total += S * weight.exit * (1 + 4 * settings.exitReps);
if (suites.includes('wake'))
  total += S * (weight.wake * (1 + WAKE_CONFIGS.length * settings.wakeReps) + weight.breakdown);
if (suites.includes('scale'))
  total +=
    S *
    SCALE_CONFIGS.length *
    [...settings.scaleCounts, ...settings.scaleBeyond].reduce((a, n) => a + weight.scale(n), 0);
const progress = new Progress(total);
const step = (w: number) => (label: string) => progress.finish(label, w);

const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
const machine = machineInfo();
const t0 = performance.now();
console.log(
  `hvemu bench (${settings.mode}): ${settings.suites.join(', ')}; schedulers ${settings.schedulers.join(', ')}`,
);
console.log(
  `${machine.date}; ${machine.nproc} x ${machine.cpuModel}; node ${machine.node}; hvemu ${machine.git} (dist/src ${machine.dist}); load ${machine.loadStart.map((x) => x.toFixed(2)).join(' ')}`,
);

const results: BenchResults = {
  command,
  machine,
  settings,
  exitCost: null,
  wakes: null,
  floor: null,
  breakdown: null,
  scaling: null,
  failure: null,
  loadEnd: [],
  seconds: 0,
  distChanged: false,
};

const section = (title: string, body: string, notes: string[] = []) =>
  console.log(
    `\n## ${title}\n\n${body}${notes.length ? `\n\n${notes.map((n) => `- ${n}`).join('\n')}` : ''}`,
  );

let threads: ThreadsBench | null = null;
try {
  if (suites.includes('exit')) {
    progress.start('exit cost');
    results.exitCost = await measureExitCost({
      schedulers,
      iters: settings.exitIters,
      reps: settings.exitReps,
      onStep: step(weight.exit),
    });
  }
  if (suites.includes('wake')) {
    progress.start('wake latency');
    results.wakes = await measureWakes({
      schedulers,
      cpus: settings.wakeCpus,
      wakesPerRun: settings.wakesPerRun,
      reps: settings.wakeReps,
      onStep: step(weight.wake),
    });
    results.floor = await measureFloor(settings.floorRounds ?? 5000);
    progress.start('wake breakdown (instrumented)');
    results.breakdown = [];
    for (const s of schedulers) {
      results.breakdown.push(...(await measureBreakdown(s, settings.wakeCpus, settings.breakdownWakes)));
      progress.finish(`wake breakdown ${s.name}`, weight.breakdown);
    }
  }
  if (suites.includes('scale')) {
    progress.start('scaling');
    results.scaling = await measureScaling({
      schedulers,
      counts: settings.scaleCounts,
      beyond: settings.scaleBeyond,
      onStep: (label) => progress.finish(label, weight.scale(Number(/(\d+) vCPUs/.exec(label)?.[1] ?? 1))),
    });
  }
  if (suites.includes('threads')) {
    progress.start('threaded scheduler');
    threads = await measureThreads({
      wakes: full ? 1000 : 200,
      iters: full ? 10_000_000 : 2_000_000,
      counts: [1, 2, 4, 8],
      floorRounds: settings.floorRounds ?? 5000,
    });
  }
} catch (e) {
  results.failure =
    e instanceof BenchFailure ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
}
progress.end();

if (results.exitCost)
  section(
    'Exit cost (round trips to the hypervisor)',
    exitCostTable(results.exitCost),
    exitRatios(results.exitCost),
  );
if (results.wakes) {
  section(
    `AP wake latency, host (SIPI leaves -> AP at its target; ${settings.wakeCpus} vCPUs)`,
    wakeHostTable(results.wakes),
    [...wakeRatios(results.wakes), ...floorRatios(results.wakes, results.floor ?? null)],
  );
  section('Host stages of a wake (p50 µs, from trace points)', wakeStagesTable(results.wakes));
  section(
    'Guest TSC and VM clock (cycles = ns at 1 GHz; p50, max if different)',
    wakeGuestTable(results.wakes),
  );
}
if (results.breakdown) section('Inside the emulator (instrumented runs)', breakdownTable(results.breakdown));
if (results.scaling)
  section(
    'Scaling (INIT-SIPI-SIPI broadcast)',
    scalingTable(results.scaling),
    scalingSummary(results.scaling),
  );
if (threads) section('The threaded scheduler (bench/threads.ts)', threads.text, threads.notes);

results.loadEnd = loadavg();
results.seconds = (performance.now() - t0) / 1e3;
results.distChanged = distHash() !== machine.dist;
if (results.distChanged)
  console.log('\nWARNING: dist/src changed during the bench: the figures mix two builds');
console.log(
  `\nload average at end: ${results.loadEnd.map((x) => x.toFixed(2)).join(' ')}; ${results.seconds.toFixed(0)} s`,
);

mkdirSync(OUT, { recursive: true });
const stamp = machine.date.replace(/:/g, '-').replace(/\..*/, '');
const json = join(OUT, `bench-${stamp}.json`);
const html = join(OUT, `bench-${stamp}.html`);
writeFileSync(json, `${JSON.stringify(results, null, 1)}\n`);
writeFileSync(html, htmlReport(results));
copyFileSync(json, join(OUT, 'latest.json'));
copyFileSync(html, join(OUT, 'latest.html'));
console.log(`wrote ${json}\nwrote ${html}`);

if (args.includes('--mips') || (full && !args.includes('--no-mips'))) {
  console.log('\n## Guest MIPS (bench/mips.js)\n');
  // mips.js's own options pass through (--v86=DIR, --forms=..., --no-spin, --no-bochs, --no-qemu).
  const own = args.filter((a) => /^--(v86=|forms=|no-spin$|no-bochs$|no-qemu$)/.test(a));
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'dist/bench/mips.js'), ...(full ? ['--full'] : []), ...own],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) results.failure ??= `mips.js exited with ${r.status}`;
}

if (results.failure) {
  console.log(`\nbench: FAILED: ${results.failure}`);
  console.error(`bench: FAILED: ${results.failure}`);
  process.exit(1);
}
