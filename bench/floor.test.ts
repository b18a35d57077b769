// The floor benchmark (bench/floor.ts) on a few round trips: two piscina workers hand a word back and
// forth through Atomics.wait/notify, then as fixed IPIs through the IpiMailbox (needs the build, as
// `npm test` makes it: the workers load dist/bench/lib/pingpong-worker.js). No timing is asserted
// beyond "positive and finite".
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { measureFloor } from './floor.js';

const built = existsSync(new URL('../dist/bench/lib/pingpong-worker.js', import.meta.url));

describe.skipIf(!built)('the Atomics.wait/notify floor (skipped before npm run build)', () => {
  it('hands off 200 round trips between two workers and times each', async () => {
    const r = await measureFloor(200, 20);
    expect(r.rounds).toBe(200);
    expect(r.oneWay.n).toBe(200);
    expect(r.oneWay.min).toBeGreaterThan(0);
    expect(Number.isFinite(r.oneWay.max)).toBe(true);
    expect(r.mailbox?.n).toBe(200); // every IPI through the mailbox came back
    expect(r.mailbox?.min).toBeGreaterThan(0);
  });
});
