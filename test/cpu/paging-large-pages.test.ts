// Large pages: 4 MiB with 32-bit paging and CR4.PSE (PS ignored without PSE), 2 MiB PDEs with PAE
// and 4-level paging, 1 GiB PDPTEs with 4-level paging (Intel SDM vol 3 4.3-4.5, AMD APM vol 2
// 5.2-5.3). The offset inside the page comes from the linear address.
import { describe, expect, it } from 'vitest';
import { ACC_READ, translate } from '../../src/cpu/mmu.js';
import { CR4_PSE } from '../../src/cpu/regs.js';
import { P, PageTables, type PagingMode, PFE, pageFaultOf, U, W } from '../support/paging.js';

describe('32-bit paging', () => {
  it('CR4.PSE = 1: a PDE with PS maps 4 MiB', () => {
    const pt = new PageTables('32', { cr4: CR4_PSE });
    pt.map(0x00800000, 0x01c00000, P | W, { leafLevel: 2 });
    expect(translate(pt.cpu, 0x00800000, ACC_READ)).toBe(0x01c00000);
    expect(translate(pt.cpu, 0x00bfffff, ACC_READ)).toBe(0x01ffffff);
    expect(translate(pt.cpu, 0x00923456, ACC_READ)).toBe(0x01d23456);
  });

  it('CR4.PSE = 0: PS is ignored and the PDE points to a page table', () => {
    const pt = new PageTables('32');
    const table = pt.alloc();
    pt.write(pt.entryAddr(0x00800000, 2), BigInt(table) | P | W | 0x80n);
    pt.write(table + 0x23 * 4, 0x5000n | P);
    expect(translate(pt.cpu, 0x00823456, ACC_READ)).toBe(0x5456);
  });

  it('bit 21 of a 4 MiB PDE is reserved: P|RSVD', () => {
    const pt = new PageTables('32', { cr4: CR4_PSE });
    pt.map(0x00800000, 0x01c00000 | 0x200000, P | W, { leafLevel: 2 });
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, 0x00800000, ACC_READ))?.err).toBe(PFE.P | PFE.RSVD);
  });
});

describe.each(['pae', 'long'] as PagingMode[])('%s: 2 MiB pages', (mode) => {
  it('a PDE with PS maps 2 MiB', () => {
    const pt = new PageTables(mode);
    pt.map(0x40600000, 0x00a00000, P | W | U, { leafLevel: 2 });
    expect(translate(pt.cpu, 0x40600000, ACC_READ)).toBe(0x00a00000);
    expect(translate(pt.cpu, 0x407fffff, ACC_READ)).toBe(0x00bfffff);
    expect(translate(pt.cpu, 0x40712345, ACC_READ)).toBe(0x00b12345);
  });
});

describe('4-level: 1 GiB pages', () => {
  it('a PDPTE with PS maps 1 GiB', () => {
    const pt = new PageTables('long');
    pt.map(0x80_4000_0000n, 0xc000_0000, P | W, { leafLevel: 3 });
    expect(translate(pt.cpu, 0x80_4000_0000, ACC_READ)).toBe(0xc000_0000);
    expect(translate(pt.cpu, 0x80_7fff_ffff, ACC_READ)).toBe(0xffff_ffff);
    expect(translate(pt.cpu, 0x80_5234_5678, ACC_READ)).toBe(0xd234_5678);
  });

  it('bits 29:13 of a 1 GiB PDPTE are reserved', () => {
    const pt = new PageTables('long');
    pt.map(0x4000_0000, 0xc000_0000 | 0x0010_0000, P | W, { leafLevel: 3 });
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, 0x4000_0000, ACC_READ))?.err).toBe(PFE.P | PFE.RSVD);
  });
});
