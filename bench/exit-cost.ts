// Exit cost (issues 3, 4, 5): round trips to the hypervisor per second, in one process, interleaved:
//   bare    CPUID on the bare processor (no hypervisor: the baseline)     guests/exit-loop.asm
//   svm     CPUID intercepted: #VMEXIT, the handler, VMRUN                 guests/exit-loop.asm
//   vmx     CPUID exit: VM exit, the handler, VM entry                     guests/exit-loop.asm
//   sev-es  VMGEXIT with CPUID in the GHCB page; VMGEXIT with the MSR protocol's CPUID request;
//           CPUID -> #VC -> the guest's handler -> GHCB -> VMGEXIT -> IRETQ   guests/sev-exit-loop.asm
// Host ns per round trip = the host time between the guest's marker bytes around its loop / ITERS
// (start-up, launch and printing fall outside the markers). The guest's RDTSC difference over the
// loop gives the guest cycles per iteration (the VM clock: one cycle per instruction it counts).
import { assemble } from './lib/assemble.js';
import { BenchFailure } from './lib/failure.js';
import { type Kind, runGuest } from './lib/guest-run.js';
import type { Scheduler } from './lib/scheduler.js';
import { median } from './lib/stats.js';

export interface ExitCostRow {
  scheduler: string;
  machine: Kind;
  loop: string;
  iters: number;
  /** Host ns per round trip, one per run. */
  nsPerTrip: number[];
  medianNs: number;
  perSecond: number;
  /** Guest TSC cycles per iteration (RDTSC around the loop). */
  guestCycles: number;
  /** medianNs / the bare processor's CPUID loop's medianNs (same process, interleaved). */
  vsBare: number;
}

export interface ExitCostOptions {
  schedulers: readonly Scheduler[];
  /** Iterations per loop in a VM (the bare loop runs 10 times as many) and runs per loop. */
  iters: number;
  reps: number;
  onStep?: (label: string) => void;
}

interface Loop {
  machine: Kind;
  loop: string;
  /** Marker bytes before and after this loop, and which "cycles" field is its TSC difference. */
  from: number;
  to: number;
  field: number;
}

const LEGACY_LOOP = 'CPUID (4-instruction loop)';
const LOOPS: Loop[] = [
  { machine: 'bare', loop: `${LEGACY_LOOP}, no exit`, from: 1, to: 2, field: 0 },
  { machine: 'svm', loop: `${LEGACY_LOOP}, CPUID exit`, from: 1, to: 2, field: 0 },
  { machine: 'vmx', loop: `${LEGACY_LOOP}, CPUID exit`, from: 1, to: 2, field: 0 },
  { machine: 'sev-es', loop: 'VMGEXIT: CPUID in the GHCB page', from: 1, to: 2, field: 0 },
  { machine: 'sev-es', loop: 'VMGEXIT: CPUID by the GHCB MSR protocol', from: 2, to: 3, field: 1 },
  { machine: 'sev-es', loop: 'CPUID -> #VC -> GHCB -> VMGEXIT -> IRETQ', from: 3, to: 4, field: 2 },
];

/** One run of one machine's guest: host ns between each pair of markers, and the guest's cycles. */
async function runMachine(
  machine: Kind,
  iters: number,
  sched: Scheduler,
): Promise<{ marks: Map<number, number>; cycles: number[] }> {
  const image =
    machine === 'sev-es'
      ? assemble('sev-exit-loop', { ITERS: iters })
      : assemble('exit-loop', { ITERS: iters });
  const marks = new Map<number, number>();
  const run = await runGuest(
    {
      kind: machine,
      image,
      memoryMiB: machine === 'sev-es' ? 32 : 16,
      scheduler: sched,
      what: `exit cost, ${machine}, ${iters} iterations`,
    },
    { marker: (b) => marks.set(b, performance.now() * 1e6) },
  );
  const m = /cycles ([0-9A-F]+)(?: ([0-9A-F]+) ([0-9A-F]+))?/.exec(run.text);
  if (!m) throw new BenchFailure(`exit cost, ${machine}: the guest printed no cycles line: '${run.text}'`);
  return {
    marks,
    cycles: m
      .slice(1)
      .filter((x) => x !== undefined)
      .map((x) => Number.parseInt(x, 16)),
  };
}

export async function measureExitCost(o: ExitCostOptions): Promise<ExitCostRow[]> {
  const machines: Kind[] = ['bare', 'svm', 'vmx', 'sev-es'];
  const itersOf = (m: Kind) =>
    m === 'bare' ? o.iters * 10 : m === 'sev-es' ? Math.ceil(o.iters / 2) : o.iters;
  const rows: ExitCostRow[] = [];
  for (const sched of o.schedulers) {
    for (const m of machines) await runMachine(m, 2000, sched); // warm-up: not counted
    o.onStep?.('exit cost warm-up');
    const ns = new Map<Loop, number[]>(LOOPS.map((l) => [l, []]));
    const cyc = new Map<Loop, number>();
    for (let rep = 0; rep < o.reps; rep++)
      for (const m of machines) {
        const r = await runMachine(m, itersOf(m), sched);
        for (const l of LOOPS.filter((x) => x.machine === m)) {
          const a = r.marks.get(l.from);
          const b = r.marks.get(l.to);
          if (a === undefined || b === undefined)
            throw new BenchFailure(`exit cost, ${m}: markers ${l.from}/${l.to} missing`);
          ns.get(l)?.push((b - a) / itersOf(m));
          cyc.set(l, r.cycles[l.field] / itersOf(m));
        }
        o.onStep?.(`exit cost ${m} run ${rep + 1}/${o.reps}`);
      }
    const bare = median(ns.get(LOOPS[0]) ?? []);
    for (const l of LOOPS) {
      const xs = ns.get(l) ?? [];
      const med = median(xs);
      rows.push({
        scheduler: l.machine === 'bare' ? '-' : sched.name,
        machine: l.machine,
        loop: l.loop,
        iters: itersOf(l.machine),
        nsPerTrip: xs,
        medianNs: med,
        perSecond: 1e9 / med,
        guestCycles: cyc.get(l) ?? Number.NaN,
        vsBare: med / bare,
      });
    }
  }
  return rows;
}
