// The cross-thread IPI mailbox (ipi-mailbox.ts): what a sender posts is what the target takes, once;
// a post between the target's look and its sleep is not lost; and vCPUs parked in Atomics.wait on
// other threads cost no CPU and wake on a post. The threads load the built module
// (dist/src/apic/ipi-mailbox.js, made by `npm run build`, as `npm test` does first).
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { IpiMailbox } from './ipi-mailbox.js';
import { EV_INIT, EV_NMI, EV_SIPI } from './local-apic.js';

describe('IpiMailbox on one thread', () => {
  it('gives the target what was posted, once: events, the SIPI vector, fixed vectors', () => {
    const mb = new IpiMailbox(4);
    mb.postEvents(2, EV_INIT);
    mb.postEvents(2, EV_SIPI, 0x9a);
    mb.postFixed(2, 0x40);
    mb.postFixed(2, 0xfe);
    mb.postFixed(1, 0x41); // another vCPU's mail stays its own
    const irr = new Uint32Array(8);
    const sipi = new Uint8Array(1);
    expect(mb.take(2, irr, sipi)).toBe(EV_INIT | EV_SIPI);
    expect(sipi[0]).toBe(0x9a);
    expect(Array.from(irr)).toEqual([0, 0, 1, 0, 0, 0, 0, 1 << 30]);
    expect(mb.take(2, irr.fill(0), sipi)).toBe(0);
    expect(Array.from(irr)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(mb.take(1, irr, sipi)).toBe(0);
    expect(irr[2]).toBe(1 << 1);
  });

  it('does not sleep through a post that came after the look (no lost wake-up); times out with none', () => {
    const mb = new IpiMailbox(2);
    const seen = mb.seq(1);
    mb.postEvents(1, EV_NMI);
    expect(mb.park(1, seen, 10_000)).toBe('pending');
    expect(mb.park(1, mb.seq(1), 5)).toBe('timed-out');
  });

  it('refuses a buffer of the wrong size', () => {
    expect(() => new IpiMailbox(4, new SharedArrayBuffer(64))).toThrow(RangeError);
  });
});

const built = new URL('../../dist/src/apic/ipi-mailbox.js', import.meta.url);

describe.skipIf(!existsSync(built))('IpiMailbox across threads (skipped before npm run build)', () => {
  it('8 vCPUs parked on other threads use no CPU, and each wakes on its post with its vector', async () => {
    const N = 8;
    const mb = new IpiMailbox(N);
    const parked = new Int32Array(new SharedArrayBuffer(4));
    // Each thread: look at its mail, count itself parked, sleep until a post, take it, report it.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(${JSON.stringify(built.href)}).then(({ IpiMailbox }) => {
        const { id, n, shared, parked } = workerData;
        const mb = new IpiMailbox(n, shared);
        const irr = new Uint32Array(8), sipi = new Uint8Array(1);
        const count = new Int32Array(parked);
        let seen = mb.seq(id);
        let sleeps = 0;
        Atomics.add(count, 0, 1);
        while (mb.take(id, irr, sipi) === 0 && irr.every((x) => x === 0)) {
          sleeps++;
          mb.park(id, seen);
          seen = mb.seq(id);
        }
        parentPort.postMessage({ id, irr: Array.from(irr), sleeps });
      });`;
    const done: Promise<{ id: number; irr: number[]; sleeps: number }>[] = [];
    const workers: Worker[] = [];
    for (let id = 0; id < N; id++) {
      const w = new Worker(code, {
        eval: true,
        workerData: { id, n: N, shared: mb.shared, parked: parked.buffer },
      });
      workers.push(w);
      done.push(
        new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
      );
    }
    try {
      const t0 = Date.now();
      while (Atomics.load(parked, 0) < N && Date.now() - t0 < 20_000)
        await new Promise((r) => setTimeout(r, 10));
      expect(Atomics.load(parked, 0)).toBe(N);
      await new Promise((r) => setTimeout(r, 50)); // from counting to sleeping
      const before = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 300));
      const used = process.cpuUsage(before);
      // Parked threads sleep in the kernel: the whole process (this thread idle in a timer) stays
      // far below one busy thread's 300 ms, let alone eight (measured: under 1 ms parked; 110 ms
      // with the threads spinning on the sequence word instead, on this machine under load 20).
      expect((used.user + used.system) / 1000).toBeLessThan(30);
      for (let id = 0; id < N; id++) mb.postFixed(id, 0x30 + id);
      const got = await Promise.all(done);
      for (const g of got) {
        const want = [0, 0, 0, 0, 0, 0, 0, 0];
        want[(0x30 + g.id) >>> 5] = 1 << ((0x30 + g.id) & 31);
        expect(g.irr).toEqual(want);
        expect(g.sleeps).toBeGreaterThanOrEqual(1); // it did sleep, and a post woke it
      }
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }, 30_000);
});
