// Accessed and dirty bits (Intel SDM vol 3 4.8, AMD APM vol 2 5.4.2): every entry used in a
// translation gets A; the entry that maps the page (PTE, or the large-page PDE/PDPTE) gets D on a
// write; D is never set in non-leaf entries and a read never sets D.
import { describe, expect, it } from 'vitest';
import { ACC_READ, ACC_USER, ACC_WRITE, translate } from '../../src/cpu/mmu.js';
import { A, D, P, PageTables, type PagingMode, U, W } from '../support/paging.js';

const LIN = 0x00403123;

describe.each(['32', 'pae', 'long'] as PagingMode[])('%s-bit walk', (mode) => {
  const levels = mode === 'long' ? [4, 3, 2, 1] : mode === 'pae' ? [2, 1] : [2, 1]; // PAE PDPTEs have no A/D

  it('a read sets A on every level and D nowhere', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, 0x7000, P | W | U);
    translate(pt.cpu, LIN, ACC_READ | ACC_USER);
    for (const lv of levels) {
      const e = pt.read(pt.entryAddr(LIN, lv));
      expect({ lv, a: e & A }).toEqual({ lv, a: A });
      expect({ lv, d: e & D }).toEqual({ lv, d: 0n });
    }
  });

  it('a write after a read sets D in the PTE only', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, 0x7000, P | W | U);
    translate(pt.cpu, LIN, ACC_READ);
    translate(pt.cpu, LIN, ACC_WRITE);
    expect(pt.read(pt.entryAddr(LIN, 1)) & (A | D)).toBe(A | D);
    for (const lv of levels.filter((l) => l > 1)) expect(pt.read(pt.entryAddr(LIN, lv)) & D).toBe(0n);
  });

  it('a large page gets D in its PDE', () => {
    const pt = new PageTables(mode, { cr4: mode === '32' ? 0x10 /* PSE */ : 0 });
    pt.map(LIN, mode === '32' ? 0x400000 : 0x200000, P | W, { leafLevel: 2 });
    translate(pt.cpu, LIN, ACC_WRITE);
    expect(pt.read(pt.entryAddr(LIN, 2)) & (A | D)).toBe(A | D);
  });

  it('a faulting write leaves the PTE clean', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, 0x7000, P | U); // read-only
    expect(() => translate(pt.cpu, LIN, ACC_WRITE | ACC_USER)).toThrow();
    expect(pt.read(pt.entryAddr(LIN, 1)) & D).toBe(0n);
  });
});
