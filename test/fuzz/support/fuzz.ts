// Shared fuzzing harness: fixed seeds so every run tries the same inputs (and a failure reproduces),
// a kept corpus of inputs that once failed (test/fuzz/corpus/<target>.json, replayed first on every
// run), and knobs for longer runs:
//   HVEMU_FUZZ_RUNS=N    runs per property instead of the default (e.g. 20000 for a long soak)
//   HVEMU_FUZZ_SEED=S    another seed (the default is fixed per property, derived from its name)
//   HVEMU_FUZZ_RECORD=1  append a new counterexample to the target's corpus file
// Inputs are plain JSON (64-bit numbers and byte strings as hex text) so the corpus is readable.
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';

export interface CorpusEntry<T> {
  /** What went wrong with this input before it was fixed, or why it is kept. */
  note: string;
  input: T;
}

const corpusPath = (target: string) => new URL(`../corpus/${target}.json`, import.meta.url);

export function loadCorpus<T>(target: string): CorpusEntry<T>[] {
  try {
    return JSON.parse(readFileSync(corpusPath(target), 'utf8')) as CorpusEntry<T>[];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

function record<T>(target: string, input: T, why: string): void {
  const corpus = loadCorpus<T>(target);
  corpus.push({ note: `found by the fuzzer: ${why.split('\n')[0].slice(0, 300)}`, input });
  writeFileSync(corpusPath(target), `${JSON.stringify(corpus, null, 2)}\n`);
}

/** FNV-1a of the property's name: a stable default seed per property. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

export const fuzzRunsOverride = (() => {
  const v = process.env.HVEMU_FUZZ_RUNS;
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`HVEMU_FUZZ_RUNS must be a positive integer, not '${v}'`);
  return n;
})();

/** Runs a property over `arb` with a fixed seed; on failure, says how to replay and (optionally) records it. */
export function fuzz<T>(
  target: string,
  name: string,
  arb: fc.Arbitrary<T>,
  check: (input: T) => void,
  defaultRuns: number,
): void {
  const seed = process.env.HVEMU_FUZZ_SEED
    ? Number(process.env.HVEMU_FUZZ_SEED)
    : seedOf(`${target}/${name}`);
  const numRuns = fuzzRunsOverride ?? defaultRuns;
  const details = fc.check(
    fc.property(arb, (x) => {
      check(x);
    }),
    { seed, numRuns, endOnFailure: false },
  );
  if (!details.failed) return;
  const input = details.counterexample?.[0] as T;
  if (process.env.HVEMU_FUZZ_RECORD === '1') record(target, input, String(details.errorInstance));
  const why =
    details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(
    `${why}\n${fc.defaultReportMessage(details)}\nreplay: HVEMU_FUZZ_SEED=${seed} HVEMU_FUZZ_RUNS=${numRuns} npx vitest run test/fuzz/${target}.test.ts; ` +
      `keep it: HVEMU_FUZZ_RECORD=1 (appends to test/fuzz/corpus/${target}.json)\ninput: ${JSON.stringify(input)}`,
  );
}

// ---- JSON-friendly value helpers ----

/** A 64-bit value as hex text. */
export const hex64 = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;
export const big = (s: string): bigint => BigInt(s);
export const bytesHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const hexBytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** Arbitrary u64 as hex text, biased toward edges: 0, small, all ones, high bits. */
export const u64Hex = fc
  .oneof(
    { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
    { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 0x1_0000n }) },
    { weight: 1, arbitrary: fc.constantFrom(0n, 1n, (1n << 64n) - 1n, 1n << 63n, 0xffff_ffffn, 1n << 32n) },
  )
  .map(hex64);

/** Any thrown value that is not one of `typed` is an untyped exception: the test fails with it. */
export function typedOnly(e: unknown, typed: readonly (abstract new (...a: never[]) => Error)[]): Error {
  if (typed.some((t) => e instanceof t)) return e as Error;
  throw new Error(
    `untyped exception escaped: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`,
  );
}

// ---- outcome tallies (HVEMU_FUZZ_STATS=1 prints them: the figures in docs/robustness.md) ----

const tallies = new Map<string, Map<string, number>>();

/** Count one outcome of a target ("refused: ...", "ran: halted", "#UD", ...). */
export function tally(target: string, outcome: string): void {
  if (process.env.HVEMU_FUZZ_STATS !== '1') return;
  let t = tallies.get(target);
  if (t === undefined) tallies.set(target, (t = new Map()));
  t.set(outcome, (t.get(outcome) ?? 0) + 1);
}

export function printTallies(): void {
  if (process.env.HVEMU_FUZZ_STATS !== '1') return;
  for (const [target, t] of tallies) {
    const rows = [...t].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(6)}  ${k}`);
    console.log(`${target}:\n${rows.join('\n')}`);
  }
}
