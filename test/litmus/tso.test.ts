// x86-TSO litmus tests (Sewell et al., "x86-TSO", CACM 2010; Intel SDM vol 3 9.2.3) run as guest
// code (litmus.asm) on raw processors, one worker thread each, over one shared RAM. Every
// iteration is released by a spin barrier in the guest; the outcomes are counted, and only those
// x86-TSO forbids are asserted absent. The store-buffering outcome TSO allows (both loads 0) is
// rare here (a handful in 100,000 iterations): it is searched for within a bound, and where the
// emulated run does not show it, the same test built with gcc shows it on this machine's processor.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { built, R, runThreads } from './threads.js';

const N = 2000;

/** Outcome histogram: per iteration, each thread's "EAX EDX" (0 or 1 each) joined by "|". */
async function outcomes(entries: number[], iterations = N): Promise<Map<string, number>> {
  const run = await runThreads(entries, iterations);
  const res = entries.map((_, t) => run.results(t));
  const h = new Map<string, number>();
  for (let i = 0; i < iterations; i++) {
    const k = res.map((a) => `${a[2 * i]}${a[2 * i + 1]}`).join('|');
    h.set(k, (h.get(k) ?? 0) + 1);
  }
  return h;
}

function show(name: string, h: Map<string, number>): void {
  console.log(`${name}: ${JSON.stringify(Object.fromEntries([...h].sort()))}`);
}

/** Every observed value is 0 or 1 and every iteration is accounted for. */
function wellFormed(h: Map<string, number>, threads: number, iterations = N): void {
  let total = 0;
  for (const [k, n] of h) {
    expect(k).toMatch(new RegExp(`^[01]{2}(\\|[01]{2}){${threads - 1}}$`));
    total += n;
  }
  expect(total).toBe(iterations);
}

describe('litmus.bin', () => {
  it('is what litmus.asm assembles to (skipped without nasm)', (ctx) => {
    try {
      execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    } catch {
      return ctx.skip();
    }
    const out = join(mkdtempSync(join(tmpdir(), 'hvemu-litmus-')), 'litmus.bin');
    execFileSync('nasm', [
      '-f',
      'bin',
      '-w+all',
      '-o',
      out,
      fileURLToPath(new URL('./litmus.asm', import.meta.url)),
    ]);
    expect(readFileSync(out).equals(readFileSync(new URL('./litmus.bin', import.meta.url)))).toBe(true);
  });
});

describe.skipIf(!built)('x86-TSO litmus tests on worker threads (skipped before npm run build)', () => {
  it('MP: a reader that sees the second store sees the first (never Y=1, X=0)', async () => {
    const h = await outcomes([R.mpWriter, R.mpReader]);
    show('MP', h);
    wellFormed(h, 2);
    for (const k of h.keys()) expect(k.split('|')[1]).not.toBe('10');
  }, 60_000);

  it.each([
    ['MFENCE', R.sbMfence0, R.sbMfence1],
    ['a LOCK OR to another line', R.sbLock0, R.sbLock1],
    ['XCHG as the store', R.sbXchg0, R.sbXchg1],
  ])(
    'SB with %s: never both loads 0',
    async (name, t0, t1) => {
      const h = await outcomes([t0, t1], 5000);
      show(`SB + ${name}`, h);
      wellFormed(h, 2, 5000);
      expect(h.get('00|00') ?? 0).toBe(0);
    },
    60_000,
  );

  it('LB: loads are not reordered with later stores (never both loads 1)', async () => {
    const h = await outcomes([R.lb0, R.lb1]);
    show('LB', h);
    wellFormed(h, 2);
    expect(h.get('10|10') ?? 0).toBe(0);
  }, 60_000);

  it('IRIW: the two readers agree on the order of the two stores (never 1,0 and 1,0)', async () => {
    const h = await outcomes([R.iriwW0, R.iriwW1, R.iriwR0, R.iriwR1], 1000);
    show('IRIW', h);
    wellFormed(h, 4, 1000);
    for (const k of h.keys()) {
      const [, , r0, r1] = k.split('|');
      expect(r0 === '10' && r1 === '10').toBe(false);
    }
  }, 60_000);

  it('SB without a fence: both loads 0 (allowed by TSO) shows, here or on the host processor', async () => {
    let seen = 0;
    let ran = 0;
    const t0 = Date.now();
    // Batches until the outcome shows, at most 100,000 iterations or 10 s.
    while (seen === 0 && ran < 100_000 && Date.now() - t0 < 10_000) {
      const h = await outcomes([R.sb0, R.sb1], 20_000);
      wellFormed(h, 2, 20_000);
      seen += h.get('00|00') ?? 0;
      ran += 20_000;
    }
    console.log(`SB: both loads 0 in ${seen} of ${ran} emulated iterations`);
    if (seen > 0) return;
    // Not within the bound: the same test as native code shows that this processor does it.
    let gcc = true;
    try {
      execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    } catch {
      gcc = false;
    }
    if (!gcc) return void console.log('SB: no gcc to run the native comparison');
    const exe = join(mkdtempSync(join(tmpdir(), 'hvemu-sb-')), 'sb');
    const src = fileURLToPath(new URL('./sb-native.c', import.meta.url));
    execFileSync('gcc', ['-O2', '-pthread', '-o', exe, src]);
    const [iters, plain, fenced] = execFileSync(exe, ['200000'], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    console.log(`SB native: both loads 0 in ${plain} of ${iters} iterations, ${fenced} with MFENCE`);
    expect(fenced).toBe(0);
    expect(plain).toBeGreaterThan(0);
  }, 120_000);
});
