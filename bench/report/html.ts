// The HTML report of a bench run: one self-contained page (inline SVG, no scripts) with the machine,
// the tables the terminal shows, the latency distributions (CDFs and histograms) and the scaling
// curves. Written next to the JSON under bench/out/.
import type { BenchResults } from '../lib/results.js';
import type { ScalePoint } from '../scaling.js';
import { bars, cdf, esc, histogram, lineChart } from './svg.js';
import {
  breakdownTable,
  exitCostTable,
  exitRatios,
  scalingSummary,
  scalingTable,
  wakeGuestTable,
  wakeHostTable,
  wakeRatios,
  wakeStagesTable,
} from './text.js';

const pre = (s: string) => `<pre>${esc(s)}</pre>`;
const list = (xs: string[]) => (xs.length ? `<ul>${xs.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : '');

function exitSection(r: BenchResults): string {
  if (!r.exitCost) return '';
  const chart = bars(
    'Host ns per round trip (median of runs)',
    r.exitCost.map((x) => ({ label: `${x.machine}: ${x.loop}`, value: x.medianNs })),
    'ns (log scale)',
  );
  return `<h2>Exit cost</h2>${chart}${pre(exitCostTable(r.exitCost))}${list(exitRatios(r.exitCost))}`;
}

function wakeSection(r: BenchResults): string {
  if (!r.wakes) return '';
  const ws = r.wakes;
  const cdfChart = lineChart(
    'AP wake latency, host: SIPI leaves -> AP at its target (CDF)',
    ws.map((w) => ({
      name: `${w.config} (${w.scheduler})`,
      points: cdf(w.metrics.hostNs.map((x) => x / 1e3)),
    })),
    { xLabel: 'µs (log scale)', yLabel: 'fraction of wakes', logX: true },
  );
  const hists = ws
    .map((w) =>
      histogram(
        `${w.config}: host wake latency, ${w.wakes} wakes`,
        w.metrics.hostNs.map((x) => x / 1e3),
        { xLabel: 'µs (log bins)', log: true },
      ),
    )
    .join('');
  const seen = lineChart(
    'BSP-observed wake (guest TSC: SIPI written -> BSP sees the AP), CDF',
    ws.map((w) => ({ name: w.config, points: cdf(w.metrics.guestSeen) })),
    { xLabel: 'guest TSC cycles (log scale)', yLabel: 'fraction of wakes', logX: true },
  );
  const bd = r.breakdown
    ? `<h3>Inside the emulator (instrumented run)</h3>${pre(breakdownTable(r.breakdown))}`
    : '';
  return `<h2>AP wake latency</h2>${cdfChart}${hists}
<h3>Host time</h3>${pre(wakeHostTable(ws))}${list(wakeRatios(ws))}
<h3>Host stages (p50, µs, from trace points)</h3>${pre(wakeStagesTable(ws))}
<h3>Guest TSC and VM clock (cycles = ns at the VM's 1 GHz; p50, max if different)</h3>${seen}${pre(wakeGuestTable(ws))}${bd}`;
}

function scaleSection(r: BenchResults): string {
  if (!r.scaling) return '';
  const series = (f: (p: ScalePoint) => number) =>
    (r.scaling ?? []).map((s) => ({
      name: `${s.config} (${s.scheduler})`,
      points: s.points.filter((p) => p.ok).map((p) => [p.cpus, f(p)] as [number, number]),
    }));
  const up = lineChart(
    'Bring-up: INIT-SIPI-SIPI to all APs online (host)',
    series((p) => p.bringUpHostNs / 1e6),
    {
      xLabel: 'vCPUs (log scale)',
      yLabel: 'ms (log scale)',
      logX: true,
      logY: true,
      dots: true,
    },
  );
  const wake = lineChart(
    'Wake all parked APs (host)',
    series((p) => p.wakeHostNs / 1e6),
    {
      xLabel: 'vCPUs (log scale)',
      yLabel: 'ms (log scale)',
      logX: true,
      logY: true,
      dots: true,
    },
  );
  const mem = lineChart(
    'Host memory beyond guest RAM',
    series((p) => p.heapBytes / 2 ** 20),
    {
      xLabel: 'vCPUs',
      yLabel: 'MiB',
      dots: true,
    },
  );
  return `<h2>Scaling</h2>${up}${wake}${mem}${pre(scalingTable(r.scaling))}${list(scalingSummary(r.scaling))}`;
}

export function htmlReport(r: BenchResults): string {
  const m = r.machine;
  const head = `<p>${esc(r.command)} &mdash; ${esc(m.date)}, ${r.seconds.toFixed(0)} s<br>
${m.nproc} x ${esc(m.cpuModel)}, ${m.memoryGiB} GiB; Node ${esc(m.node)} (V8 ${esc(m.v8)}); tier 2 ${esc(m.tier2)}<br>
hvemu ${esc(m.git)}, dist/src ${esc(m.dist)}${r.distChanged ? ' <b>(changed during the run: mixed builds)</b>' : ''}<br>
load average ${m.loadStart.map((x) => x.toFixed(2)).join(' ')} at start, ${r.loadEnd.map((x) => x.toFixed(2)).join(' ')} at end</p>`;
  const fail = r.failure ? `<p style="color:#b00"><b>FAILED:</b> ${esc(r.failure)}</p>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>hvemu bench ${esc(m.date)}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}pre{font-size:12px;overflow-x:auto;background:#f6f6f6;padding:.5em}svg{display:block;margin:.5em 0}</style>
</head><body><h1>hvemu bench (${esc(r.settings.mode)})</h1>${head}${fail}
<p>How to read this: bench/README.md. Every comparison is a ratio measured in this run.</p>
${exitSection(r)}${wakeSection(r)}${scaleSection(r)}
</body></html>
`;
}
