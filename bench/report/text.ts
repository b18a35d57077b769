// The terminal tables of a bench run (also what bench/RESULTS.md quotes).
import type { ExitCostRow } from '../exit-cost.js';
import type { FloorResult } from '../floor.js';
import { median } from '../lib/stats.js';
import { fmt, table } from '../lib/table.js';
import type { ScaleResult } from '../scaling.js';
import type { BreakdownResult } from '../wake-breakdown.js';
import type { WakeResult } from '../wake-latency.js';

const us = (ns: number) => ns / 1e3;
/** The p50 share of a wake spent before the AP's turn began (the sender's exit, accepting, switching), in %. */
const waitShare = (r: WakeResult) => `${Math.round((r.summary.hostWaitShare?.p50 ?? Number.NaN) * 100)}%`;
const ms = (ns: number) => ns / 1e6;

export function exitCostTable(rows: ExitCostRow[]): string {
  return table(
    [
      'scheduler',
      'machine',
      'loop',
      'round trips/s',
      'host ns/trip',
      'runs min-max',
      'guest cycles/iter',
      'x bare',
    ],
    rows.map((r) => [
      r.scheduler,
      r.machine,
      r.loop,
      Math.round(r.perSecond),
      Math.round(r.medianNs),
      `${fmt(Math.min(...r.nsPerTrip))}-${fmt(Math.max(...r.nsPerTrip))}`,
      r.guestCycles,
      r.vsBare,
    ]),
  );
}

export function exitRatios(rows: ExitCostRow[]): string[] {
  const get = (m: string, loop: RegExp) => rows.find((r) => r.machine === m && loop.test(r.loop))?.medianNs;
  const svm = get('svm', /exit/);
  const vmx = get('vmx', /exit/);
  const page = get('sev-es', /GHCB page/);
  const msr = get('sev-es', /MSR protocol/);
  const vc = get('sev-es', /#VC/);
  if (!svm || !vmx || !page || !msr || !vc) return [];
  return [
    `same-run ratios of host time per round trip: VMX/SVM ${fmt(vmx / svm)}; SEV-ES VMGEXIT (GHCB page)/SVM CPUID exit ${fmt(page / svm)}; (MSR protocol)/SVM ${fmt(msr / svm)}; #VC-served CPUID/SVM ${fmt(vc / svm)}`,
  ];
}

export function wakeHostTable(rs: WakeResult[]): string {
  return table(
    [
      'scheduler',
      'guest',
      'wakes',
      'p50 µs',
      'p90 µs',
      'p99 µs',
      'max µs',
      'first boot p50 µs',
      'per wake, trace off/on',
    ],
    rs.map((r) => {
      const s = r.summary.hostNs;
      return [
        r.scheduler,
        r.config,
        r.wakes,
        us(s?.p50 ?? Number.NaN),
        us(s?.p90 ?? Number.NaN),
        us(s?.p99 ?? Number.NaN),
        us(s?.max ?? Number.NaN),
        us(median(r.firstBoots.hostNs)),
        `${fmt(us(r.hostPerWakeUntraced))} / ${fmt(us(r.hostPerWakeTraced))} µs`,
      ];
    }),
  );
}

export function wakeGuestTable(rs: WakeResult[]): string {
  const q = (r: WakeResult, k: keyof WakeResult['summary']) => {
    const s = r.summary[k];
    return s ? (s.p50 === s.max ? fmt(s.p50) : `${fmt(s.p50)} (max ${fmt(s.max)})`) : '-';
  };
  return table(
    [
      'guest',
      'VM clock ns',
      'VM clock, SIPI -> AP turn',
      'AP TSC - BSP TSC before / after the SIPI write',
      'BSP sees the AP',
      'INIT-SIPI-SIPI',
      'SIPI ICR write',
      'AP: hold return -> target',
    ],
    rs.map((r) => [
      r.config,
      q(r, 'vmNs'),
      q(r, 'vmWait'),
      r.tscOrdered ? `${q(r, 'guestFromWrite')} / ${q(r, 'guestCross')}` : 'TSC not one clock: n/a',
      q(r, 'guestSeen'),
      q(r, 'guestWhole'),
      q(r, 'guestIcr'),
      q(r, 'guestReturn'),
    ]),
  );
}

export function wakeStagesTable(rs: WakeResult[]): string {
  const p50 = (r: WakeResult, k: keyof WakeResult['summary']) => us(r.summary[k]?.p50 ?? Number.NaN);
  return table(
    [
      'guest',
      'ICR exit -> IPI',
      'IPI -> AP takes the SIPI',
      '-> RUNNABLE',
      '-> AP turn (wait)',
      '-> arrival mark',
      'total',
      'before the AP turn',
    ],
    rs.map((r) => [
      r.config,
      p50(r, 'hostIcr'),
      p50(r, 'hostSched'),
      p50(r, 'hostAccept'),
      p50(r, 'hostWait'),
      p50(r, 'hostEntry'),
      p50(r, 'hostNs'),
      waitShare(r),
    ]),
  );
}

export function wakeRatios(rs: WakeResult[]): string[] {
  const base = rs.find((r) => r.config === 'svm legacy');
  if (!base?.summary.hostNs) return [];
  return rs
    .filter((r) => r !== base && r.summary.hostNs)
    .map(
      (r) =>
        `same-run ratio of p50 host wake latency, ${r.config} / svm legacy: ${fmt((r.summary.hostNs?.p50 ?? 0) / (base.summary.hostNs?.p50 ?? 1))}`,
    );
}

export function breakdownTable(bs: BreakdownResult[]): string {
  const labels = [...new Set(bs.flatMap((b) => b.rows.map((r) => r.label)))].sort();
  return table(
    ['instrumented (µs per wake; calls per wake x µs per call)', ...bs.map((b) => b.config)],
    [
      ['whole run, per wake', ...bs.map((b) => b.usPerWake)],
      ...labels.map((l) => [
        l,
        ...bs.map((b) => {
          const r = b.rows.find((x) => x.label === l);
          return r ? `${fmt(r.usPerWake)} (${fmt(r.callsPerWake)} x ${fmt(r.usPerCall)})` : '-';
        }),
      ]),
    ],
  );
}

export function scalingTable(rs: ScaleResult[]): string {
  const rows = rs.flatMap((r) =>
    r.points.map((p) =>
      p.ok
        ? [
            r.config,
            p.cpus,
            p.createMs,
            ms(p.bringUpHostNs),
            ms(p.wakeHostNs),
            p.bringUpVmNs,
            p.wakeVmNs,
            (p.heapBytes + p.sharedBytes) / 2 ** 20,
            p.heapBytes / 2 ** 20,
          ]
        : [r.config, p.cpus, `fails: ${p.error ?? '?'}`, '', '', '', '', '', ''],
    ),
  );
  return table(
    [
      'guest',
      'vCPUs',
      'create ms',
      'bring-up ms',
      'wake all ms',
      'bring-up VM ns',
      'wake VM ns',
      'host MiB',
      'MiB beyond RAM',
    ],
    rows,
  );
}

export function scalingSummary(rs: ScaleResult[]): string[] {
  return rs.map(
    (r) =>
      `${r.config}: ${fmt(r.bytesPerVcpu / 1024)} KiB of host memory per vCPU (least squares over ${r.points.filter((p) => p.ok).length} counts; goal 64 KiB), largest count that ran: ${Math.max(...r.points.filter((p) => p.ok).map((p) => p.cpus))}`,
  );
}

/** The floor (an Atomics.wait/notify hand-off between two workers) and each wake's p50 against it. */
export function floorRatios(rs: WakeResult[], floor: FloorResult | null): string[] {
  if (floor === null) return [];
  const f = floor.oneWay;
  return [
    `floor: Atomics.wait/notify hand-off between two piscina workers, one way (${floor.rounds} round trips / 2): p50 ${fmt(us(f.p50))} µs, p90 ${fmt(us(f.p90))} µs`,
    ...(floor.mailbox
      ? [
          `the same as a fixed IPI through the IpiMailbox, receiver parked in it: p50 ${fmt(us(floor.mailbox.p50))} µs, p90 ${fmt(us(floor.mailbox.p90))} µs (${fmt(floor.mailbox.p50 / f.p50)} x the floor)`,
        ]
      : []),
    ...rs
      .filter((r) => r.summary.hostNs)
      .map(
        (r) =>
          `same-run ratio of p50 host wake latency to the floor, ${r.scheduler} ${r.config}: ${fmt((r.summary.hostNs?.p50 ?? 0) / f.p50)}`,
      ),
  ];
}
