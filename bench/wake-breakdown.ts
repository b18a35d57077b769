// Where the host time of a wake goes inside the emulator, for SEV-ES next to legacy SVM: one extra
// run per configuration with timers around the world switch, the VMGEXIT handler and the memory
// controller (lib/instrument.ts), trace off. Reported per wake (the run's totals divided by its
// wakes, first boots included) and per call. The timers slow the run down; the headline figures
// come from wake-latency.ts's uninstrumented runs.
import { assemble } from './lib/assemble.js';
import { runGuest } from './lib/guest-run.js';
import { instrument, type Timed } from './lib/instrument.js';
import type { Scheduler } from './lib/scheduler.js';
import { WAKE_CONFIGS, type WakeConfig } from './wake-latency.js';

export interface BreakdownRow {
  label: string;
  calls: number;
  callsPerWake: number;
  usPerCall: number;
  usPerWake: number;
}

export interface BreakdownResult {
  config: string;
  scheduler: string;
  wakes: number;
  /** Host µs per wake for the whole instrumented run (markers 1 -> 6). */
  usPerWake: number;
  rows: BreakdownRow[];
  missing: string[];
}

export async function measureBreakdown(
  sched: Scheduler,
  cpus: number,
  wakes: number,
  configs: readonly WakeConfig[] = WAKE_CONFIGS.filter((c) => c.kind !== 'vmx'),
): Promise<BreakdownResult[]> {
  const out: BreakdownResult[] = [];
  for (const c of configs) {
    const image = assemble(c.guest, { ...c.defines, NCPUS: cpus, WAKES: wakes });
    const marks = new Map<number, number>();
    const ins = instrument();
    try {
      await runGuest(
        {
          kind: c.kind,
          image,
          cpus,
          memoryMiB: c.memoryMiB,
          scheduler: sched,
          what: `instrumented wakes, ${c.id}`,
        },
        { marker: (b) => marks.set(b, performance.now()) },
      );
    } finally {
      ins.remove();
    }
    const rows = [...ins.timings.entries()].map(([label, t]: [string, Timed]) => ({
      label,
      calls: t.calls,
      callsPerWake: t.calls / wakes,
      usPerCall: t.ns / t.calls / 1e3,
      usPerWake: t.ns / wakes / 1e3,
    }));
    out.push({
      config: c.id,
      scheduler: sched.name,
      wakes,
      usPerWake: (((marks.get(6) ?? 0) - (marks.get(1) ?? 0)) * 1e3) / wakes,
      rows,
      missing: ins.missing,
    });
  }
  return out;
}
