// The guest-MIPS bench's spin rows: a waiter's loop (bench/guests/spin-loop.asm: PAUSE, a compare
// with memory, the branches) on the bare processor and as an SVM and a VMX guest, in this process
// with tier 2 as HVEMU_TIER2 says (default on), interleaved in rounds like the peer rows. Beside its
// MIPS, each row gives the VM exits per 1000 iterations (the pause filter's under SVM, PLE's under
// VMX) and the same loop without PAUSE, so the table says whether those exits, or PAUSE itself,
// decide a spinning vCPU's speed. See bench/README.md.
import { assemble } from './lib/assemble.js';
import { type GuestRun, type Kind, runGuest } from './lib/guest-run.js';
import { makeRow, type Row } from './lib/peer-table.js';
import { median } from './lib/stats.js';
import { type Cell, fmt, table } from './lib/table.js';

export interface SpinRow extends Row {
  kind: Kind;
  pause: boolean;
  /** VM exits per 1000 iterations: the difference between the large and the small run's counts. */
  exitsPerK: number;
}

const KINDS = ['bare', 'svm', 'vmx'] as const;
const NAMES: Record<string, string> = { bare: 'bare', svm: 'SVM', vmx: 'VMX' };

async function once(kind: Kind, pause: boolean, n: number): Promise<{ s: number; exits: number }> {
  const image = assemble('spin-loop', { ITERS: n, ...(pause ? {} : { NOPAUSE: true }) });
  const ipi = pause ? 5 : 4;
  const what = `spin-loop ${kind}${pause ? '' : ' (no PAUSE)'} N=${n}`;
  const t0 = performance.now();
  const r: GuestRun = await runGuest({ kind, image, what, maxInstructions: 2 * ipi * n + 1e6 });
  const s = (performance.now() - t0) / 1e3;
  const want = `SPIN=${n.toString(16).toUpperCase().padStart(8, '0')}`;
  if (!r.text.includes(want)) throw new Error(`${what} printed '${r.text.trim()}', expected ${want}`);
  return { s, exits: r.pc ? r.pc.vm.vcpus[0].exits : 0 };
}

/** Measure and print the spin rows; returns them for the JSON. */
export async function spinRows(o: { full: boolean; reps: number }): Promise<SpinRow[]> {
  const n1 = o.full ? 2_000_000 : 1_000_000;
  const n2 = o.full ? 20_000_000 : 5_000_000;
  const tier = process.env.HVEMU_TIER2 ?? 'on';
  console.log(
    `\nspin loop (bench/guests/spin-loop.asm, 32-bit, in this process with HVEMU_TIER2=${tier}; N1=${n1}, N2=${n2}, ${o.reps} interleaved repetitions):`,
  );
  const T = new Map<string, { s: number[]; exits: number[] }>();
  const cell = (k: string) => {
    let c = T.get(k);
    if (!c) T.set(k, (c = { s: [], exits: [] }));
    return c;
  };
  for (const kind of KINDS) for (const pause of [true, false]) await once(kind, pause, n1); // warm-up
  for (let i = 0; i < o.reps; i++)
    for (const pause of [true, false])
      for (const n of [n1, n2])
        for (const kind of KINDS) {
          const r = await once(kind, pause, n);
          const c = cell(`${kind}|${pause}|${n}`);
          c.s.push(r.s);
          c.exits.push(r.exits);
        }
  const rows: SpinRow[] = [];
  for (const pause of [true, false])
    for (const kind of KINDS) {
      const a = cell(`${kind}|${pause}|${n1}`);
      const b = cell(`${kind}|${pause}|${n2}`);
      const row = makeRow(pause ? 5 : 4, {
        runner: `spin ${kind}${pause ? '' : ' no-pause'}`,
        mode: 32,
        n1,
        n2,
        t1: a.s,
        t2: b.s,
      });
      rows.push({ ...row, kind, pause, exitsPerK: ((median(b.exits) - median(a.exits)) / (n2 - n1)) * 1000 });
    }
  const get = (kind: Kind, pause: boolean) => rows.find((r) => r.kind === kind && r.pause === pause);
  const body: Cell[][] = KINDS.map((kind) => {
    const p = get(kind, true);
    const q = get(kind, false);
    const bare = get('bare', true);
    return [
      NAMES[kind],
      fmt(p?.mips),
      `${fmt(p?.pairMin)}-${fmt(p?.pairMax)}`,
      p && bare ? fmt(p.mips / bare.mips) : 'n/a',
      fmt(p?.exitsPerK),
      fmt(q?.mips),
      fmt(q?.exitsPerK),
      p && q ? fmt(p.mips / 5 / (q.mips / 4)) : 'n/a',
    ];
  });
  console.log(
    table(
      [
        'spin loop',
        'MIPS (5 insns/iter)',
        'pairs',
        '/ bare',
        'exits per 1000 iter',
        'no PAUSE: MIPS (4/iter)',
        'no PAUSE: exits per 1000',
        'iterations/s with / without PAUSE',
      ],
      body,
    ),
  );
  return rows;
}
