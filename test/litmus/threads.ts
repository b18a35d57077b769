// Runs litmus.bin's routines on raw processors, one worker thread each, over one shared RAM and
// one bus lock (vcpu-worker.mjs). The workers load the built core (dist/src, `npm run build`).
import { existsSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { BusLock } from '../../src/cpu/bus-lock.js';

export const DIST = new URL('../../dist/src', import.meta.url);
/** The built core is there (the threaded tests skip without it, as the IPI mailbox's do). */
export const built = existsSync(new URL('../../dist/src/cpu/run.js', import.meta.url));

const CODE = 0x100000;
export const DATA = 0x200000;
const PML4 = 0x300000;
const RESULTS = 0x400000;
const RAM = 16 * 1024 * 1024;

/** Entries of litmus.bin's table. */
export const R = {
  lockInc: 0,
  plainInc: 1,
  lockXadd: 2,
  cmpxchgLoop: 3,
  splitLine: 4,
  splitPage: 5,
  cmpxchg8bLoop: 6,
  lockAdd64: 7,
  mpWriter: 8,
  mpReader: 9,
  sb0: 10,
  sb1: 11,
  sbMfence0: 12,
  sbMfence1: 13,
  sbLock0: 14,
  sbLock1: 15,
  lb0: 16,
  lb1: 17,
  iriwW0: 18,
  iriwW1: 19,
  iriwR0: 20,
  iriwR1: 21,
  sbXchg0: 22,
  sbXchg1: 23,
} as const;

export interface ThreadsRun {
  ram: Uint8Array;
  data: DataView;
  /** What each thread's routine observed per iteration: [eax, edx]. */
  results(tid: number): Int32Array;
}

/**
 * Run `entries[t]` on thread t, `iterations` each, all released together; resolves when every
 * thread halted (rejects if one stopped otherwise, e.g. a triple fault).
 */
export async function runThreads(entries: number[], iterations: number, busLock = true): Promise<ThreadsRun> {
  if (iterations * 8 > 0x100000)
    throw new RangeError('at most 131072 iterations (1 MiB of results per thread)');
  const buf = new SharedArrayBuffer(RAM);
  const ram = new Uint8Array(buf);
  const dv = new DataView(buf);
  ram.set(readFileSync(new URL('./litmus.bin', import.meta.url)), CODE);
  // Identity map of the first 1 GiB with 2 MiB pages: PML4[0] -> PDPT[0] -> PD.
  dv.setUint32(PML4, PML4 + 0x1000 + 3, true);
  dv.setUint32(PML4 + 0x1000, PML4 + 0x2000 + 3, true);
  for (let i = 0; i < 512; i++) dv.setUint32(PML4 + 0x2000 + i * 8, i * 0x200000 + 0x83, true);
  const bus = busLock ? BusLock.create(entries.length).buffer : null;
  const start = new SharedArrayBuffer(8);
  const gate = new Int32Array(start);
  const workers = entries.map(
    (entry, tid) =>
      new Worker(new URL('./vcpu-worker.mjs', import.meta.url), {
        workerData: {
          ram: buf,
          bus,
          start,
          entry,
          tid,
          iterations,
          threads: entries.length,
          results: RESULTS + tid * 0x100000,
          pml4: PML4,
          dist: DIST.href,
        },
      }),
  );
  try {
    const done = workers.map(
      (w) =>
        new Promise<{ tid: number; stop: number; rip: number; history: string[] }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    // Open the gate once every thread is ready (its core loaded, its processor in 64-bit mode).
    while (Atomics.load(gate, 1) < entries.length) await new Promise((r) => setTimeout(r, 2));
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    for (const r of await Promise.all(done)) {
      if (r.stop !== 1)
        throw new Error(
          `thread ${r.tid} stopped with ${r.stop} at 0x${r.rip.toString(16)}: ${r.history.join('; ')}`,
        );
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return {
    ram,
    data: new DataView(buf, DATA),
    results: (tid) => new Int32Array(buf, RESULTS + tid * 0x100000, iterations * 2),
  };
}
