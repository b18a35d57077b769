// Parked vCPUs cost nothing: under the threaded scheduler a vCPU that is halted or waits for SIPI
// sleeps in Atomics.wait on its IPI mailbox. With every vCPU of a 16-vCPU VM parked (15 APs
// waiting for SIPI, the BSP halted with interrupts off while the PIT ticks on), the process's CPU
// time over a window is compared with one thread spinning over a window of the same length, in
// the same run.
import { describe, expect, it } from 'vitest';
import { VCPU_PARKED } from '../../src/threads/run-page.js';
import { runImageVmThreaded } from '../../src/vm-threaded.js';

/** cli; PIT channel 0 in mode 2 (periodic: the VM always has a timer due); h: hlt; jmp h. */
const PARK = Uint8Array.from(Buffer.from('fab034e64330c0e640e640f4ebfd', 'hex'));
const CPUS = 16;
const SETTLE_MS = 1000;
const WINDOW_MS = 1000;

/** CPU time of this process (all its threads) over `ms` of wall time, in ms. */
async function cpuOver(ms: number, spin: boolean): Promise<number> {
  const start = process.cpuUsage();
  const end = performance.now() + ms;
  if (spin) while (performance.now() < end);
  else await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

describe('parked vCPUs under the threaded scheduler', () => {
  it(`${CPUS} parked vCPUs keep the process near idle`, { timeout: 120_000 }, async () => {
    const abort = new AbortController();
    let parked: Promise<number> | null = null;
    const run = runImageVmThreaded(
      PARK,
      { cpus: CPUS, maxInstructions: 1e12 },
      {
        signal: abort.signal,
        idleDeadlines: Number.POSITIVE_INFINITY, // nobody wakes: the test ends the run itself
        onLook: (states) => {
          if (parked !== null || !states.every((s) => s === VCPU_PARKED)) return;
          // Let the workers' start-up garbage collection finish, then measure.
          parked = new Promise((r) => setTimeout(r, SETTLE_MS)).then(() => cpuOver(WINDOW_MS, false));
        },
      },
    );
    while (parked === null) await new Promise((r) => setTimeout(r, 50));
    const idle = await (parked as Promise<number>);
    abort.abort();
    const r = await run;
    expect(r.stop).toBe('interrupted');
    expect(r.where).toEqual([
      'vcpu 0: RIP 0x7c0c', // halted: RIP after the HLT
      ...Array.from({ length: CPUS - 1 }, (_, i) => `vcpu ${i + 1}: RIP 0xfff0`),
    ]);
    const spinning = await cpuOver(WINDOW_MS, true);
    // Parked, the whole VM uses a small part of what one spinning thread uses in the same time.
    expect(idle).toBeLessThan(spinning * 0.25);
  });
});
