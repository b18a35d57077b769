// The wake benchmark end to end on a few wakes (needs nasm, as `npm run bench` does): every wake the
// guest made shows in the trace with its target, and the guest's RDTSC, the VM clock and the trace
// agree on order. No timing is asserted.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { KVM_LIKE_EXIT_COSTS } from '../src/vmm/exit-cost.js';
import { DETERMINISTIC } from './lib/scheduler.js';
import { measureWakes, WAKE_CONFIGS } from './wake-latency.js';

const nasm = spawnSync('nasm', ['-v']).status === 0;

describe.skipIf(!nasm)('wake latency, end to end (skipped without nasm)', () => {
  it.each(WAKE_CONFIGS.map((c) => [c.id, c] as const))('%s: 6 wakes over 2 APs', async (_id, c) => {
    const [r] = await measureWakes({
      schedulers: [DETERMINISTIC],
      cpus: 3,
      wakesPerRun: 6,
      reps: 1,
      configs: [c],
      warmUp: false,
    });
    expect(r.wakes).toBe(6);
    expect(r.firstBoots.hostNs).toHaveLength(2);
    expect(r.tscOrdered).toBe(true); // one TSC for the VM: the AP never starts before the SIPI write
    for (const x of r.metrics.hostNs) expect(x).toBeGreaterThan(0);
    for (const x of r.metrics.vmNs) expect(x).toBeGreaterThanOrEqual(0);
    // The deterministic scheduler: the guest sees the same cycles on every wake.
    expect(new Set(r.metrics.guestIcr).size).toBe(1);
    if (c.kind === 'sev-es') expect(r.metrics.guestReturn?.every((x) => x > 0)).toBe(true);
    // The wake rule (docs/scheduling.md): the AP's turn begins at the exit that carried the SIPI,
    // so on the VM clock it waits at most that exit's cost, not the BSP's PAUSE loop.
    for (const x of r.metrics.vmWait) expect(x).toBeLessThanOrEqual(KVM_LIKE_EXIT_COSTS.exit + 16);
  });
});
