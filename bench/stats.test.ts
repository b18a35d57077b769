import { describe, expect, it } from 'vitest';
import { linearFit, median, percentile, summarize } from './lib/stats.js';

describe('bench statistics', () => {
  it('takes nearest-rank percentiles: always an observed value', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i + 1); // 1..1000
    expect(percentile(xs, 50)).toBe(500);
    expect(percentile(xs, 90)).toBe(900);
    expect(percentile(xs, 99)).toBe(990);
    expect(percentile(xs, 100)).toBe(1000);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted input without changing it', () => {
    const xs = [5, 1, 4, 2, 3];
    const s = summarize(xs);
    expect(s).toMatchObject({ n: 5, min: 1, p50: 3, max: 5, mean: 3 });
    expect(xs).toEqual([5, 1, 4, 2, 3]);
  });

  it('takes the median of even and odd counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('fits a line by least squares (the per-vCPU memory slope)', () => {
    const f = linearFit([1, 2, 4, 8], [1010, 2010, 4010, 8010]);
    expect(f.slope).toBeCloseTo(1000, 9);
    expect(f.intercept).toBeCloseTo(10, 6);
  });
});
