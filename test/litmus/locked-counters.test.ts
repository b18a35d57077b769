// Locked read-modify-writes are atomic across threads: two raw processors on two worker threads
// over one RAM each add N to the same counter, and the sum is exact for every locked form (aligned
// Atomics, the split-lock bus lock across a cache line and across a page, CMPXCHG8B, a 64-bit
// LOCK ADD). Without LOCK, INC may lose the other thread's increments: only "never more" holds.
import { describe, expect, it } from 'vitest';
import { built, R, runThreads } from './threads.js';

const N = 20_000;

describe.skipIf(!built)('locked counters on two threads (skipped before npm run build)', () => {
  it.each([
    ['LOCK INC m32', R.lockInc, 0, 4],
    ['LOCK XADD m32', R.lockXadd, 0, 4],
    ['a LOCK CMPXCHG loop', R.cmpxchgLoop, 0, 4],
    ['LOCK INC across a cache line (bus lock)', R.splitLine, 62, 4],
    ['LOCK XADD across a page (bus lock)', R.splitPage, 0xffe, 4],
    ['a LOCK CMPXCHG8B loop', R.cmpxchg8bLoop, 8, 8],
  ])(
    '%s: two threads of N increments, none lost',
    async (_name, entry, at, size) => {
      const { data } = await runThreads([entry, entry], N);
      const got = size === 8 ? Number(data.getBigUint64(at, true)) : data.getUint32(at, true);
      expect(got).toBe(2 * N);
    },
    60_000,
  );

  it('LOCK ADD m64 with a carry between the halves: exact', async () => {
    const { data } = await runThreads([R.lockAdd64, R.lockAdd64], N);
    expect(data.getBigUint64(16, true)).toBe(BigInt(2 * N) << 32n);
  }, 60_000);

  it('plain INC m32: never more than 2N (updates may be lost: one thread can overwrite the other)', async () => {
    const { data } = await runThreads([R.plainInc, R.plainInc], N);
    const got = data.getUint32(0, true);
    expect(got).toBeLessThanOrEqual(2 * N);
    expect(got).toBeGreaterThanOrEqual(2); // the known floor of two racing increment loops
    console.log(`plain INC: ${2 * N - got} of ${2 * N} increments lost`);
  }, 60_000);
});
