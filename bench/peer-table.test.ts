import { describe, expect, it } from 'vitest';
import { parseTimes } from './lib/child-time.js';
import { Checksums, formTable, makeRow, mipsOf } from './lib/peer-table.js';

describe('the guest-MIPS bench arithmetic (lib/peer-table.ts)', () => {
  it('takes MIPS from the difference of two run sizes, so start-up cancels', () => {
    // 24 x 4M more instructions in 1 s more: 96 MIPS, whatever the fixed cost.
    expect(mipsOf(24, 1e6, 5e6, 0.5, 1.5)).toBeCloseTo(96, 9);
    expect(mipsOf(24, 1e6, 5e6, 10.5, 11.5)).toBeCloseTo(96, 9);
  });

  it('builds a row from the medians, and the spread from each repetition', () => {
    const r = makeRow(24, {
      runner: 'x',
      mode: 32,
      n1: 1e6,
      n2: 5e6,
      t1: [0.5, 0.4, 0.6],
      t2: [1.5, 2.4, 1.1],
    });
    expect(r.mips).toBeCloseTo(96, 9); // medians 0.5 and 1.5
    expect(r.pairMin).toBeCloseTo(48, 9); // 0.4 -> 2.4
    expect(r.pairMax).toBeCloseTo(192, 9); // 0.6 -> 1.1
  });

  it('finds a runner whose checksum differs from the others of the same N', () => {
    const c = new Checksums();
    c.record(1000, 'hvemu bare 32', 'CKSUM=0000ABCD');
    c.record(1000, 'qemu 32', 'CKSUM=0000ABCD');
    c.record(5000, 'hvemu svm 64', 'CKSUM=12345678');
    expect(c.disagreements()).toEqual([]);
    expect(c.agreed()).toEqual([
      [1000, 'CKSUM=0000ABCD'],
      [5000, 'CKSUM=12345678'],
    ]);
    expect(c.runners(1000)).toBe(2);
    c.record(1000, 'bochs 32', 'CKSUM=0000ABCE');
    expect(c.disagreements()).toEqual([
      'N=1000: CKSUM=0000ABCD from hvemu bare 32, qemu 32; CKSUM=0000ABCE from bochs 32',
    ]);
    expect(c.agreed()).toEqual([[5000, 'CKSUM=12345678']]);
  });

  it('tabulates each form against the peers present, and against bare tier 2', () => {
    const row = (runner: string, mips: number, extra: object = {}) => ({
      ...makeRow(24, { runner, mode: 64 as const, n1: 0, n2: 1, t1: [0], t2: [1] }),
      mips,
      ...extra,
    });
    const rows = [
      row('hvemu bare tier2=off', 20, { form: 'bare', tier: 'off' }),
      row('hvemu bare tier2=on', 400, { form: 'bare', tier: 'on' }),
      row('hvemu svm tier2=on', 200, { form: 'svm', tier: 'on' }),
      row('hvemu vmx tier2=on', -50, { form: 'vmx', tier: 'on' }), // noise: t(N2) < t(N1)
      row('bochs', 40),
      row('qemu tcg (no BIOS)', 800),
    ];
    const t = formTable(rows, 64, [
      { name: 'Bochs', runner: 'bochs' },
      { name: 'QEMU', runner: 'qemu tcg (no BIOS)' },
      { name: 'v86', runner: 'v86 jit' }, // not measured: no column
    ]);
    const lines = t.split('\n').map((l) => l.split('|').map((c) => c.trim()));
    expect(lines[0]).toEqual([
      '',
      '64-bit',
      'interpreter MIPS',
      'tier 2 MIPS',
      'tier 2 / Bochs',
      'tier 2 / QEMU',
      'tier 2 / bare',
      'interpreter / Bochs',
      '',
    ]);
    expect(lines[2].slice(1, -1)).toEqual(['hvemu bare', '20', '400', '10', '0.500', '1', '0.500']);
    expect(lines[3].slice(1, -1)).toEqual(['hvemu SVM', 'n/a', '200', '5', '0.250', '0.500', 'n/a']);
    expect(lines[4].slice(1, -1)).toEqual(['hvemu VMX', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    expect(lines[5].slice(1, 4)).toEqual(['Bochs', '', '40']);
    expect(lines[6].slice(1, 4)).toEqual(['QEMU', '', '800']);
    expect(lines).toHaveLength(7); // no SEV-ES row: nothing measured
  });
});

describe("a child's CPU time from bash's times (lib/child-time.ts)", () => {
  it("takes the children's line, and leaves the command's own stderr", () => {
    const p = parseTimes('warning: x\n0m0.003s 0m0.001s\n1m2.500s 0m0.250s\n');
    expect(p.cpu).toBeCloseTo(62.75, 9);
    expect(p.rest).toBe('warning: x\n');
  });
  it('says NaN when there is no times line', () => {
    expect(parseTimes('killed').cpu).toBeNaN();
  });
});
