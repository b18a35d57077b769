// Exit cost, this checkout against another one, in one process and interleaved (issue 12): host
// time per round trip of the exit-cost guests, run alternately by both builds, so that a loaded
// machine slows both alike. Usage, after `npm run build` in both checkouts:
//   node dist/bench/exit-ab.js --base=/path/to/other/checkout [--iters=20000] [--reps=5] [--min]
// --min reports the fastest run instead of the median (the better estimate on a busy machine).
import { resolve } from 'node:path';
import { assemble } from './lib/assemble.js';
import type { Kind, runGuest } from './lib/guest-run.js';
import { median } from './lib/stats.js';

type RunGuest = typeof runGuest;
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const base = arg('base');
if (!base) throw new Error('usage: exit-ab.js --base=/path/to/other/checkout [--iters=N] [--reps=N] [--min]');
const iters = Number(arg('iters') ?? 20000);
const reps = Number(arg('reps') ?? 5);
const pick = process.argv.includes('--min') ? (xs: number[]) => Math.min(...xs) : median;

const builds: [string, RunGuest][] = [
  ['base', (await import(resolve(base, 'dist/bench/lib/guest-run.js'))).runGuest],
  ['this', (await import('./lib/guest-run.js')).runGuest],
];
const kinds: Kind[] = ['bare', 'svm', 'vmx', 'sev-es'];
const itersOf = (k: Kind, n: number) => (k === 'bare' ? n * 10 : k === 'sev-es' ? Math.ceil(n / 2) : n);
const LOOPS = [
  'bare CPUID',
  'SVM CPUID exit',
  'VMX CPUID exit',
  'VMGEXIT GHCB page',
  'VMGEXIT MSR protocol',
  'CPUID via #VC',
];

/** Host ns per round trip of each loop the guest marks (1-2, 2-3, 3-4). */
async function once(run: RunGuest, kind: Kind, n: number): Promise<number[]> {
  const image = assemble(kind === 'sev-es' ? 'sev-exit-loop' : 'exit-loop', { ITERS: n });
  const marks = new Map<number, number>();
  await run(
    { kind, image, memoryMiB: kind === 'sev-es' ? 32 : 16, what: `exit A/B, ${kind}` },
    { marker: (b) => marks.set(b, performance.now() * 1e6) },
  );
  const out: number[] = [];
  for (let m = 2; marks.has(m); m++) out.push(((marks.get(m) ?? 0) - (marks.get(m - 1) ?? 0)) / n);
  return out;
}

const ns = new Map<string, number[]>();
for (const [, run] of builds) for (const k of kinds) await once(run, k, 2000); // warm-up
for (let r = 0; r < reps; r++)
  for (const k of kinds)
    for (const [name, run] of builds) {
      const xs = await once(run, k, itersOf(k, iters));
      const first = kinds.indexOf(k); // sev-es marks three loops: LOOPS[3..5]
      xs.forEach((x, i) => {
        const key = `${name} ${LOOPS[first + i]}`;
        ns.set(key, [...(ns.get(key) ?? []), x]);
      });
    }
console.log(`| round trip | base ns | this ns | base/this | base x bare | this x bare |`);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
const at = (b: string, l: string) => pick(ns.get(`${b} ${l}`) ?? [Number.NaN]);
for (const l of LOOPS) {
  const [a, b] = [at('base', l), at('this', l)];
  const ba = at('base', LOOPS[0]);
  const bb = at('this', LOOPS[0]);
  console.log(
    `| ${l} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)} | ${(a / ba).toFixed(1)} | ${(b / bb).toFixed(1)} |`,
  );
}
