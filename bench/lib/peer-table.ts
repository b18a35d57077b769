// The guest-MIPS bench's arithmetic and tables (bench/mips.ts), kept apart from the timing so that a
// test can check them: MIPS from two run sizes, the rows of one runner, the checksums every run
// printed (they must all agree for one iteration count), and the table of hvemu's forms against
// the peers.
import { median } from './stats.js';
import { type Cell, fmt, table } from './table.js';

/** How hvemu runs the workload: on the bare processor, or as a guest of its own VMM. */
export const FORMS = ['bare', 'svm', 'vmx', 'sev-es'] as const;
export type Form = (typeof FORMS)[number];
export const FORM_NAMES: Record<Form, string> = { bare: 'bare', svm: 'SVM', vmx: 'VMX', 'sev-es': 'SEV-ES' };
export type Tier = 'off' | 'on';

/** Guest MIPS of a loop of `ipi` instructions: N2 - N1 more iterations took t2 - t1 more seconds. */
export function mipsOf(ipi: number, n1: number, n2: number, t1: number, t2: number): number {
  return (ipi * (n2 - n1)) / (t2 - t1) / 1e6;
}

export interface Row {
  runner: string;
  /** hvemu's rows: its form and tier 2 switch; undefined for the peers. */
  form?: Form;
  tier?: Tier;
  mode: 32 | 64;
  n1: number;
  n2: number;
  /** From the median t(N1) and the median t(N2). */
  mips: number;
  /** Min and max of the per-repetition pair MIPS: the run-to-run spread. */
  pairMin: number;
  pairMax: number;
  t1: number[];
  t2: number[];
  cpuMips?: number;
}

export function makeRow(
  ipi: number,
  r: Pick<Row, 'runner' | 'form' | 'tier' | 'mode' | 'n1' | 'n2' | 't1' | 't2'>,
): Row {
  const pairs = r.t1.map((a, i) => mipsOf(ipi, r.n1, r.n2, a, r.t2[i]));
  return {
    ...r,
    mips: mipsOf(ipi, r.n1, r.n2, median(r.t1), median(r.t2)),
    pairMin: Math.min(...pairs),
    pairMax: Math.max(...pairs),
  };
}

/** The line guest.asm (workload.inc) prints after N iterations: its computation, modelled here. */
export function peerChecksum(n: number): string {
  const t = new Uint32Array(1024);
  const rol = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  let s = 2463534242;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    const v = rol((t[s & 1023] + s) >>> 0, 7);
    acc = s & 1 ? rol((acc ^ v) >>> 0, 29) : (acc + v) >>> 0;
    t[s & 1023] = v;
  }
  let c = (acc ^ s) >>> 0;
  for (let k = 1023; k >= 0; k--) c = (rol(c, 5) + t[k]) >>> 0;
  return `CKSUM=${c.toString(16).toUpperCase().padStart(8, '0')}`;
}

/**
 * Every checksum printed, by iteration count: a run that printed something else than the others
 * for the same N is a disagreement (whatever the model says). Returns one line per N that has more
 * than one distinct checksum, naming who printed which.
 */
export class Checksums {
  readonly #seen = new Map<number, Map<string, Set<string>>>();

  record(n: number, who: string, checksum: string): void {
    let byValue = this.#seen.get(n);
    if (!byValue) this.#seen.set(n, (byValue = new Map()));
    let whos = byValue.get(checksum);
    if (!whos) byValue.set(checksum, (whos = new Set()));
    whos.add(who);
  }

  disagreements(): string[] {
    const out: string[] = [];
    for (const [n, byValue] of [...this.#seen].sort((a, b) => a[0] - b[0]))
      if (byValue.size > 1)
        out.push(
          `N=${n}: ${[...byValue].map(([c, whos]) => `${c} from ${[...whos].sort().join(', ')}`).join('; ')}`,
        );
    return out;
  }

  /** How many runners printed a checksum for N (all agreeing when disagreements() is empty). */
  runners(n: number): number {
    let k = 0;
    for (const whos of this.#seen.get(n)?.values() ?? []) k += whos.size;
    return k;
  }

  /** The iteration counts seen, with their one checksum when all agree. */
  agreed(): [number, string][] {
    return [...this.#seen]
      .filter(([, byValue]) => byValue.size === 1)
      .map(([n, byValue]): [number, string] => [n, [...byValue.keys()][0]])
      .sort((a, b) => a[0] - b[0]);
  }
}

/** The peers a table compares with: a display name and the runner name of its row. */
export interface Peer {
  name: string;
  runner: string;
}

const ratio = (a: number | undefined, b: number | undefined): Cell =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : 'n/a';

/**
 * One mode's table: a line per hvemu form with its interpreter and tier-2 MIPS, tier 2's ratio to
 * each peer measured and to tier 2 on the bare processor (what being a guest costs), and the
 * interpreter's ratio to the first peer; then a line per peer with its MIPS.
 */
export function formTable(rows: Row[], mode: 32 | 64, peers: Peer[]): string {
  const find = (f: (r: Row) => boolean) => rows.find((r) => r.mode === mode && f(r));
  // A non-positive MIPS is noise (the large run's median no longer than the small one's): n/a.
  const value = (r: Row | undefined) => (r !== undefined && r.mips > 0 ? r.mips : undefined);
  const hvRow = (form: Form, tier: Tier) => find((r) => r.form === form && r.tier === tier);
  const hv = (form: Form, tier: Tier) => value(hvRow(form, tier));
  const peerRows = peers.map((p) => find((r) => r.runner === p.runner));
  const peerMips = peerRows.map(value);
  const present = peerRows.map((r) => r !== undefined);
  const headers = [
    `${mode}-bit`,
    'interpreter MIPS',
    'tier 2 MIPS',
    ...peers.filter((_, i) => present[i]).map((p) => `tier 2 / ${p.name}`),
    'tier 2 / bare',
    ...(present[0] ? [`interpreter / ${peers[0].name}`] : []),
  ];
  const out: Cell[][] = [];
  for (const form of FORMS) {
    const off = hv(form, 'off');
    const on = hv(form, 'on');
    if (!hvRow(form, 'off') && !hvRow(form, 'on')) continue;
    out.push([
      `hvemu ${FORM_NAMES[form]}`,
      off ?? 'n/a',
      on ?? 'n/a',
      ...peerMips.filter((_, i) => present[i]).map((p) => ratio(on, p)),
      ratio(on, hv('bare', 'on')),
      ...(present[0] ? [ratio(off, peerMips[0])] : []),
    ]);
  }
  for (let i = 0; i < peers.length; i++)
    if (present[i]) out.push([peers[i].name, '', peerMips[i] ?? 'n/a', ...headers.slice(3).map(() => '')]);
  return table(
    headers,
    out.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c))),
  );
}
