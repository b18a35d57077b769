// The guest-MIPS bench's spin rows: a waiter's loop (bench/guests/spin-loop.asm: PAUSE, a compare
// with memory, the branches) on the bare processor and as an SVM and a VMX guest, as `hvemu run`
// child processes with tier 2 off and on, interleaved in rounds like the peer rows and timed the same
// two ways. Beside its MIPS, each row gives the VM exits per 1000 iterations (the pause filter's
// under SVM, PLE's under VMX; counted in this process, where the vCPU is at hand: the count is the
// same every run) and the same loop without PAUSE, so the table says whether those exits, PAUSE
// itself or the loop's shape decide a spinning vCPU's speed. See bench/README.md.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from './lib/assemble.js';
import { runTimed } from './lib/child-time.js';
import { type Kind, runGuest } from './lib/guest-run.js';
import { makeRow, type Row, type Tier } from './lib/peer-table.js';
import { type Cell, fmt, table } from './lib/table.js';

export interface SpinRow extends Row {
  kind: Kind;
  pause: boolean;
  /** From CPU times (the row's own `mips` is from wall times). */
  cpuMips: number;
}

const KINDS = ['bare', 'svm', 'vmx'] as const;
const NAMES: Record<string, string> = { bare: 'bare', svm: 'SVM', vmx: 'VMX' };
const ARCH: Record<string, string> = { bare: 'none', svm: 'svm', vmx: 'vmx' };
const ipiOf = (pause: boolean) => (pause ? 5 : 4);

function image(work: string, pause: boolean, n: number): string {
  const path = join(work, `spin-${pause ? 'pause' : 'nopause'}-${n}.img`);
  writeFileSync(path, assemble('spin-loop', { ITERS: n, ...(pause ? {} : { NOPAUSE: true }) }));
  return path;
}

const expected = (n: number) => `SPIN=${n.toString(16).toUpperCase().padStart(8, '0')}`;

/** VM exits per 1000 iterations, from two short runs in this process (deterministic counts). */
async function exitsPerK(kind: Kind, pause: boolean): Promise<number> {
  const counts: number[] = [];
  for (const n of [100_000, 300_000]) {
    const r = await runGuest({
      kind,
      image: assemble('spin-loop', { ITERS: n, ...(pause ? {} : { NOPAUSE: true }) }),
      what: `spin-loop ${kind} N=${n}`,
      maxInstructions: 2 * ipiOf(pause) * n + 1e6,
    });
    if (!r.text.includes(expected(n))) throw new Error(`spin-loop ${kind} printed '${r.text.trim()}'`);
    counts.push(r.pc ? r.pc.vm.vcpus[0].exits : 0);
  }
  return ((counts[1] - counts[0]) / 200_000) * 1000;
}

/**
 * Measure and print the spin rows; returns them for the JSON. `peerBare` is tier 2's CPU-time MIPS
 * on the peer loop, bare, same mode (32-bit), from the rounds before: "at tier-2 speed" means near it.
 */
export async function spinRows(o: {
  full: boolean;
  reps: number;
  work: string;
  cli: string;
  peerBare?: number;
  die: (msg: string) => never;
}): Promise<SpinRow[]> {
  // 7.5M more iterations: ~0.3 s of CPU at tier 2 bare, ~1.4 s for the interpreter under VMX.
  const n1 = o.full ? 1_000_000 : 500_000;
  const n2 = o.full ? 20_000_000 : 8_000_000;
  const runners: [Kind, Tier, boolean][] = [];
  for (const kind of KINDS) runners.push([kind, 'off', true], [kind, 'on', true], [kind, 'on', false]);
  console.log(
    `\nspin loop (bench/guests/spin-loop.asm, 32-bit; N1=${n1}, N2=${n2}; ${o.reps} interleaved repetitions of ${runners.length} hvemu runs):`,
  );
  const imgs = new Map<string, string>();
  for (const pause of [true, false])
    for (const n of [n1, n2]) imgs.set(`${pause}|${n}`, image(o.work, pause, n));
  const T = new Map<string, { wall: number[]; cpu: number[] }>();
  for (let i = 0; i < o.reps; i++)
    for (const n of [n1, n2])
      for (const [kind, tier, pause] of runners) {
        const r = runTimed(
          process.execPath,
          [
            o.cli,
            'run',
            imgs.get(`${pause}|${n}`)!,
            '--arch',
            ARCH[kind],
            '--max-instructions',
            String(2 * ipiOf(pause) * n + 1e6),
          ],
          { env: { ...process.env, HVEMU_TIER2: tier } },
        );
        if (!r.stdout.includes(expected(n)))
          o.die(
            `spin-loop ${kind} tier2=${tier} N=${n} printed '${r.stdout.trim()}' [${r.stderr.trim()}], expected ${expected(n)}`,
          );
        const k = `${kind}|${tier}|${pause}|${n}`;
        const c = T.get(k) ?? { wall: [], cpu: [] };
        c.wall.push(r.wall);
        c.cpu.push(r.cpu);
        T.set(k, c);
      }
  const rows: SpinRow[] = [];
  for (const [kind, tier, pause] of runners) {
    const a = T.get(`${kind}|${tier}|${pause}|${n1}`)!;
    const b = T.get(`${kind}|${tier}|${pause}|${n2}`)!;
    const base = {
      runner: `spin ${kind} tier2=${tier}${pause ? '' : ' no-pause'}`,
      tier,
      mode: 32 as const,
      n1,
      n2,
    };
    const w = makeRow(ipiOf(pause), { ...base, t1: a.wall, t2: b.wall });
    const c = makeRow(ipiOf(pause), { ...base, t1: a.cpu, t2: b.cpu });
    rows.push({ ...w, kind, pause, cpuMips: c.mips });
  }
  const get = (kind: Kind, tier: Tier, pause: boolean) =>
    rows.find((r) => r.kind === kind && r.tier === tier && r.pause === pause)?.cpuMips;
  const ratio = (a?: number, b?: number): string =>
    a !== undefined && b !== undefined && b > 0 ? fmt(a / b) : 'n/a';
  const body: Cell[][] = [];
  for (const kind of KINDS) {
    const off = get(kind, 'off', true);
    const on = get(kind, 'on', true);
    const noPause = get(kind, 'on', false);
    body.push([
      NAMES[kind],
      fmt(off),
      fmt(on),
      ratio(on, off),
      ratio(on, get('bare', 'on', true)),
      ratio(on, o.peerBare),
      fmt(await exitsPerK(kind, true)),
      fmt(noPause),
      fmt(await exitsPerK(kind, false)),
    ]);
  }
  console.log(
    table(
      [
        'spin loop (CPU time)',
        'interpreter MIPS',
        'tier 2 MIPS',
        'tier 2 / interpreter',
        'tier 2 / bare',
        'tier 2 / peer loop bare',
        'exits per 1000 iterations',
        'no PAUSE: tier 2 MIPS',
        'no PAUSE: exits per 1000',
      ],
      body,
    ),
  );
  return rows;
}
