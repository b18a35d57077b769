// Small self-contained SVG charts for the HTML report: line charts (linear or log axes) for CDFs and
// scaling curves, histograms, and horizontal bars. No dependencies; text is escaped.

export interface Series {
  name: string;
  points: [number, number][];
}

const W = 760;
const H = 320;
const M = { l: 70, r: 250, t: 30, b: 45 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A short label for an axis tick: 1.5k, 20M, 0.25. */
export function si(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e9) return `${+(x / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(x / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(x / 1e3).toPrecision(3)}k`;
  return `${+x.toPrecision(3)}`;
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
}

function axis(values: number[], log: boolean, zero: boolean): Axis {
  const v = values.filter((x) => Number.isFinite(x) && (!log || x > 0));
  let lo = v.length ? Math.min(...v) : 0;
  let hi = v.length ? Math.max(...v) : 1;
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
  } else {
    if (zero) lo = Math.min(0, lo);
    if (hi === lo) hi = lo + 1;
  }
  return { lo, hi, log };
}

function scale(a: Axis, from: number, to: number): (x: number) => number {
  const f = a.log ? Math.log10 : (x: number) => x;
  const lo = f(a.lo);
  const span = f(a.hi) - lo || 1;
  return (x) => from + ((f(x) - lo) / span) * (to - from);
}

function ticks(a: Axis): number[] {
  if (a.log) {
    const out: number[] = [];
    for (let e = Math.log10(a.lo); e <= Math.log10(a.hi) + 1e-9; e++) out.push(10 ** e);
    return out;
  }
  const step = 10 ** Math.floor(Math.log10((a.hi - a.lo) / 4));
  const n = (a.hi - a.lo) / step;
  const s = n > 10 ? step * (n > 20 ? 5 : 2) : step;
  const out: number[] = [];
  for (let x = Math.ceil(a.lo / s) * s; x <= a.hi + 1e-9; x += s) out.push(x);
  return out;
}

function frame(title: string, xLabel: string, yLabel: string, xa: Axis, ya: Axis, body: string): string {
  const sx = scale(xa, M.l, W - M.r);
  const sy = scale(ya, H - M.b, M.t);
  const xt = ticks(xa)
    .map(
      (t) =>
        `<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.t}" y2="${H - M.b}" class="grid"/><text x="${sx(t)}" y="${H - M.b + 15}" text-anchor="middle">${si(t)}</text>`,
    )
    .join('');
  const yt = ticks(ya)
    .map(
      (t) =>
        `<line x1="${M.l}" x2="${W - M.r}" y1="${sy(t)}" y2="${sy(t)}" class="grid"/><text x="${M.l - 6}" y="${sy(t) + 4}" text-anchor="end">${si(t)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<style>.grid{stroke:#e4e4e4}</style>
<text x="${M.l}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>${xt}${yt}
<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#888"/>
<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>
<text x="14" y="${(M.t + H - M.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">${esc(yLabel)}</text>
${body}</svg>`;
}

function legend(names: string[]): string {
  return names
    .map(
      (n, i) =>
        `<rect x="${W - M.r + 10}" y="${M.t + i * 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${W - M.r + 25}" y="${M.t + i * 16 + 9}">${esc(n)}</text>`,
    )
    .join('');
}

export function lineChart(
  title: string,
  series: Series[],
  o: { xLabel: string; yLabel: string; logX?: boolean; logY?: boolean; steps?: boolean; dots?: boolean },
): string {
  const xa = axis(
    series.flatMap((s) => s.points.map((p) => p[0])),
    o.logX ?? false,
    false,
  );
  const ya = axis(
    series.flatMap((s) => s.points.map((p) => p[1])),
    o.logY ?? false,
    true,
  );
  const sx = scale(xa, M.l, W - M.r);
  const sy = scale(ya, H - M.b, M.t);
  const body = series
    .map((s, i) => {
      const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!xa.log || x > 0));
      const c = COLORS[i % COLORS.length];
      const d = pts.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      const dots = o.dots
        ? pts
            .map(
              ([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${c}"/>`,
            )
            .join('')
        : '';
      return `<path d="${d}" fill="none" stroke="${c}" stroke-width="1.6"/>${dots}`;
    })
    .join('');
  return frame(title, o.xLabel, o.yLabel, xa, ya, body + legend(series.map((s) => s.name)));
}

/** Empirical CDF points of `xs` (x ascending, y = fraction <= x), thinned to at most 400 points. */
export function cdf(xs: readonly number[]): [number, number][] {
  const s = [...xs].sort((a, b) => a - b);
  const step = Math.max(1, Math.floor(s.length / 400));
  const out: [number, number][] = [];
  for (let i = 0; i < s.length; i += step) out.push([s[i], (i + 1) / s.length]);
  if (s.length) out.push([s[s.length - 1], 1]);
  return out;
}

/** A histogram of `xs` in `bins` log-spaced (or linear) bins between min and max. */
export function histogram(
  title: string,
  xs: readonly number[],
  o: { xLabel: string; log?: boolean; bins?: number },
): string {
  const v = xs.filter((x) => Number.isFinite(x) && (!o.log || x > 0));
  const bins = o.bins ?? 40;
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const f = o.log ? Math.log10 : (x: number) => x;
  const span = f(hi) - f(lo) || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const x of v) counts[Math.min(bins - 1, Math.floor(((f(x) - f(lo)) / span) * bins))]++;
  const edge = (i: number) => (o.log ? 10 ** (f(lo) + (span * i) / bins) : lo + (span * i) / bins);
  const xa = axis([edge(0), edge(bins)], o.log ?? false, false);
  const ya = axis([0, Math.max(...counts)], false, true);
  const sx = scale(xa, M.l, W - M.r);
  const sy = scale(ya, H - M.b, M.t);
  const body = counts
    .map((c, i) => {
      const x0 = sx(edge(i));
      const x1 = sx(edge(i + 1));
      return `<rect x="${x0.toFixed(1)}" y="${sy(c).toFixed(1)}" width="${Math.max(0.5, x1 - x0 - 0.5).toFixed(1)}" height="${(sy(0) - sy(c)).toFixed(1)}" fill="${COLORS[0]}"/>`;
    })
    .join('');
  return frame(title, o.xLabel, 'wakes', xa, ya, body);
}

/** Horizontal bars (log scale), one per label. */
export function bars(title: string, items: { label: string; value: number }[], xLabel: string): string {
  const h = 40 + items.length * 24;
  const xa = axis(
    items.map((i) => i.value),
    true,
    false,
  );
  xa.lo /= 10; // the smallest bar keeps a visible length
  const left = 330;
  const sx = scale(xa, left, W - 20);
  const body = items
    .map(
      (it, i) =>
        `<text x="${left - 6}" y="${34 + i * 24}" text-anchor="end">${esc(it.label)}</text><rect x="${left}" y="${22 + i * 24}" width="${Math.max(1, sx(it.value) - left).toFixed(1)}" height="16" fill="${COLORS[i % COLORS.length]}"/><text x="${(sx(it.value) + 4).toFixed(1)}" y="${34 + i * 24}">${si(it.value)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="11">
<text x="10" y="15" font-size="13" font-weight="bold">${esc(title)}</text>${body}
<text x="${(left + W) / 2}" y="${h - 4}" text-anchor="middle">${esc(xLabel)}</text></svg>`;
}
