// AP wake latency (issue 5): for legacy guests under SVM and VMX and SEV-ES guests (AP Reset Hold by
// GHCB event and by the MSR protocol), from the moment the BSP's SIPI leaves to the AP's first
// instruction at its target, over many wakes, on both clocks:
//   - host ns, from the VMM's trace points (wake-timeline.ts): the SIPI's IPI line to the AP's
//     arrival mark (legacy: its 2nd instruction, OUT 80h; SEV-ES: its first VMGEXIT, 7 instructions
//     after the target, since nothing of an SEV-ES guest is visible before it exits);
//   - the VM clock (src/vmm/vm-clock.ts) read at the same trace points;
//   - the guest's RDTSC (bench/guests/*-wake.asm records: see there).
// Runs of the configurations are interleaved (rep 1 of each, rep 2 of each, ...); the first boot of
// each AP is kept apart (a different path under SEV-ES) and not in the distributions.
import { assemble, type Defines } from './lib/assemble.js';
import { BenchFailure } from './lib/failure.js';
import { type GuestRun, type Kind, runGuest } from './lib/guest-run.js';
import type { Scheduler } from './lib/scheduler.js';
import { type Summary, summarize } from './lib/stats.js';
import { type WakeSample, WakeTimeline } from './lib/wake-timeline.js';

export interface WakeConfig {
  id: string;
  kind: Kind;
  guest: 'legacy-wake' | 'sev-wake';
  defines: Defines;
  /** Where the guest's per-wake records are (guest-physical; SEV-ES: a shared page). */
  logGpa: number;
  isMark: (exitLine: string) => boolean;
  memoryMiB: number;
}

export const WAKE_CONFIGS: readonly WakeConfig[] = [
  {
    id: 'svm legacy',
    kind: 'svm',
    guest: 'legacy-wake',
    defines: {},
    logGpa: 0x100000,
    isMark: (l) => l.includes(' port=0x80 '),
    memoryMiB: 16,
  },
  {
    id: 'vmx legacy',
    kind: 'vmx',
    guest: 'legacy-wake',
    defines: {},
    logGpa: 0x100000,
    isMark: (l) => l.includes(' port=0x80 '),
    memoryMiB: 16,
  },
  {
    id: 'sev-es ghcb hold',
    kind: 'sev-es',
    guest: 'sev-wake',
    defines: {},
    logGpa: 0x8c0000,
    isMark: (l) => l.includes('VMGEXIT (MSR protocol) cpuid'),
    memoryMiB: 32,
  },
  {
    id: 'sev-es msr hold',
    kind: 'sev-es',
    guest: 'sev-wake',
    defines: { HOLD_MSR: true },
    logGpa: 0x8c0000,
    isMark: (l) => l.includes('VMGEXIT (MSR protocol) cpuid'),
    memoryMiB: 32,
  },
];

/** One wake, every clock. Guest values are raw TSC readings (see the guests' record layout). */
export interface Wake {
  target: number;
  host: WakeSample;
  guest: {
    tInit: number;
    tSipi0: number;
    tSipi1: number;
    tSeen: number;
    tSipi2: number;
    tAp: number;
    tHold: number;
  };
}

/** The distributions reported per configuration (ns or cycles; null: not meaningful here). */
export interface WakeMetrics {
  /** SIPI trace point -> arrival mark, host ns (the headline). */
  hostNs: number[];
  /** The same two trace points on the VM clock. */
  vmNs: number[];
  /** AP TSC at its first instruction - BSP TSC before / after the SIPI's ICR write (one TSC for
   *  the whole VM: src/vmm/vm-clock.ts). The IPI leaves inside the write, so "after" can be < 0. */
  guestFromWrite: number[];
  guestCross: number[];
  /** BSP: after the SIPI write -> it sees the AP counted in (BSP-local, valid on any TSC). */
  guestSeen: number[];
  /** BSP: before INIT -> after the second SIPI: the whole INIT-SIPI-SIPI as the guest sees it. */
  guestWhole: number[];
  /** BSP: the SIPI's ICR write (legacy: MOV to the xAPIC page; SEV-ES: WRMSR -> #VC round trip). */
  guestIcr: number[];
  /** SEV-ES AP: its hold's VMGEXIT returned -> its first instruction at the target (AP-local). */
  guestReturn: number[] | null;
  /** Host breakdown: ICR exit -> IPI sent; IPI -> the AP takes the SIPI; -> RUNNABLE; -> its turn
   *  begins (the scheduling wait that remains); -> arrival mark (entry, world switch, guest path). */
  hostIcr: number[];
  hostSched: number[];
  hostAccept: number[];
  hostWait: number[];
  hostEntry: number[];
  /** The VM clock from the SIPI to the AP's turn: virtual time spent waiting to be scheduled. */
  vmWait: number[];
  /** Per wake, (SIPI -> the AP's turn begins) / (SIPI -> arrival mark): the share that is not the AP's own path. */
  hostWaitShare: number[];
}

export interface WakeResult {
  config: string;
  kind: Kind;
  scheduler: string;
  cpus: number;
  runs: number;
  wakes: number;
  firstBoots: { hostNs: number[]; guestSeen: number[] };
  metrics: WakeMetrics;
  summary: Record<keyof WakeMetrics, Summary | null>;
  /** Every AP TSC at its first instruction was >= the BSP's TSC before its SIPI write (else the
   *  guest TSC is not one clock for the VM and the cross-vCPU figures mean nothing). */
  tscOrdered: boolean;
  /** Host ns per wake (all wakes, markers 1 -> 6) with the trace on and with it off: its cost. */
  hostPerWakeTraced: number;
  hostPerWakeUntraced: number;
}

const le64 = (b: Uint8Array, off: number) =>
  Number(new DataView(b.buffer, b.byteOffset).getBigUint64(off, true));

function records(run: GuestRun, gpa: number, n: number): Wake['guest'][] {
  const bytes = run.read(gpa, n * 64);
  const out: Wake['guest'][] = [];
  for (let i = 0; i < n; i++) {
    const o = i * 64;
    out.push({
      tInit: le64(bytes, o + 8),
      tSipi0: le64(bytes, o + 16),
      tSipi1: le64(bytes, o + 24),
      tSeen: le64(bytes, o + 32),
      tSipi2: le64(bytes, o + 40),
      tAp: le64(bytes, o + 48),
      tHold: le64(bytes, o + 56),
    });
  }
  return out;
}

/** One run of a configuration: `wakes` wakes (first boots included), traced or not. */
async function runOnce(
  c: WakeConfig,
  sched: Scheduler,
  cpus: number,
  wakes: number,
  traced: boolean,
): Promise<{ wakes: Wake[]; markerNs: number }> {
  const image = assemble(c.guest, { ...c.defines, NCPUS: cpus, WAKES: wakes });
  const tl = new WakeTimeline(c.isMark);
  const marks = new Map<number, number>();
  const what = `wake latency, ${c.id}, ${cpus} vCPUs, ${wakes} wakes`;
  const run = await runGuest(
    { kind: c.kind, image, cpus, memoryMiB: c.memoryMiB, scheduler: sched, what },
    {
      attach: (vmNow) => tl.attach(vmNow),
      marker: (b) => marks.set(b, performance.now() * 1e6),
      trace: traced ? (cat, line) => tl.onTrace(cat, line, performance.now() * 1e6) : undefined,
      turn: traced ? (v) => tl.onTurn(v, performance.now() * 1e6) : undefined,
    },
  );
  const markerNs = ((marks.get(6) ?? Number.NaN) - (marks.get(1) ?? Number.NaN)) / wakes;
  if (!traced) return { wakes: [], markerNs };
  tl.finish();
  const recs = records(run, c.logGpa, wakes);
  const rawTargets = run.read(c.logGpa, wakes * 64);
  if (tl.samples.length !== wakes)
    throw new BenchFailure(`${what}: the trace shows ${tl.samples.length} wakes, the guest made ${wakes}`);
  const out: Wake[] = tl.samples.map((s, i) => {
    const target = le64(rawTargets, i * 64);
    if (target !== s.target)
      throw new BenchFailure(
        `${what}: wake ${i} went to vcpu ${s.target} in the trace, APIC ID ${target} in the guest`,
      );
    return { target, host: s, guest: recs[i] };
  });
  return { wakes: out, markerNs };
}

function metricsOf(ws: Wake[], sev: boolean): WakeMetrics {
  const m = (f: (w: Wake) => number) => ws.map(f);
  return {
    hostNs: m((w) => w.host.arrive.host - w.host.sipi.host),
    vmNs: m((w) => w.host.arrive.vm - w.host.sipi.vm),
    guestFromWrite: m((w) => w.guest.tAp - w.guest.tSipi0),
    guestCross: m((w) => w.guest.tAp - w.guest.tSipi1),
    guestSeen: m((w) => w.guest.tSeen - w.guest.tSipi1),
    guestWhole: m((w) => w.guest.tSipi2 - w.guest.tInit),
    guestIcr: m((w) => w.guest.tSipi1 - w.guest.tSipi0),
    guestReturn: sev ? m((w) => w.guest.tAp - w.guest.tHold) : null,
    hostIcr: m((w) => (w.host.icrExit ? w.host.sipi.host - w.host.icrExit.host : Number.NaN)),
    hostSched: m((w) => w.host.accept.host - w.host.sipi.host),
    hostAccept: m((w) => w.host.runnable.host - w.host.accept.host),
    hostWait: m((w) => (w.host.turn ?? w.host.runnable).host - w.host.runnable.host),
    hostEntry: m((w) => w.host.arrive.host - (w.host.turn ?? w.host.runnable).host),
    vmWait: m((w) => (w.host.turn ?? w.host.runnable).vm - w.host.sipi.vm),
    hostWaitShare: m(
      (w) =>
        ((w.host.turn ?? w.host.runnable).host - w.host.sipi.host) / (w.host.arrive.host - w.host.sipi.host),
    ),
  };
}

export interface WakeOptions {
  schedulers: readonly Scheduler[];
  cpus: number;
  /** Measured wakes per run (first boots come on top) and runs per configuration. */
  wakesPerRun: number;
  reps: number;
  configs?: readonly WakeConfig[];
  /** A short untimed run of each configuration first (default true), so V8 has compiled the paths. */
  warmUp?: boolean;
  onStep?: (label: string) => void;
}

export async function measureWakes(o: WakeOptions): Promise<WakeResult[]> {
  const configs = o.configs ?? WAKE_CONFIGS;
  const naps = o.cpus - 1;
  const wakes = o.wakesPerRun + naps;
  const results: WakeResult[] = [];
  for (const sched of o.schedulers) {
    const got = new Map<string, { wakes: Wake[]; first: Wake[]; traced: number[]; untraced: number[] }>();
    for (const c of configs) got.set(c.id, { wakes: [], first: [], traced: [], untraced: [] });
    // Warm-up: V8 compiles the emulator's paths for each configuration once; not counted.
    if (o.warmUp !== false) {
      for (const c of configs) await runOnce(c, sched, o.cpus, 20 + naps, true);
      o.onStep?.('wake warm-up');
    }
    for (let rep = 0; rep < o.reps; rep++)
      for (const c of configs) {
        const g = got.get(c.id)!;
        const r = await runOnce(c, sched, o.cpus, wakes, true);
        g.first.push(...r.wakes.slice(0, naps));
        g.wakes.push(...r.wakes.slice(naps));
        g.traced.push(r.markerNs);
        g.untraced.push((await runOnce(c, sched, o.cpus, wakes, false)).markerNs);
        o.onStep?.(`wake ${c.id} run ${rep + 1}/${o.reps}`);
      }
    for (const c of configs) {
      const g = got.get(c.id)!;
      const metrics = metricsOf(g.wakes, c.kind === 'sev-es');
      const summary = Object.fromEntries(
        Object.entries(metrics).map(([k, v]) => [k, v === null ? null : summarize(v)]),
      ) as WakeResult['summary'];
      const first = metricsOf(g.first, c.kind === 'sev-es');
      results.push({
        config: c.id,
        kind: c.kind,
        scheduler: sched.name,
        cpus: o.cpus,
        runs: o.reps,
        wakes: g.wakes.length,
        firstBoots: { hostNs: first.hostNs, guestSeen: first.guestSeen },
        metrics,
        summary,
        tscOrdered: metrics.guestFromWrite.every((x) => x >= 0),
        hostPerWakeTraced: summarize(g.traced).p50,
        hostPerWakeUntraced: summarize(g.untraced).p50,
      });
    }
  }
  return results;
}
