// CR0.WP (Intel SDM vol 3 4.6.1, AMD APM vol 2 5.6.4): with WP = 0 supervisor writes ignore the
// R/W bits; with WP = 1 a supervisor write to a read-only page faults with P|W. User writes to a
// read-only page fault either way (P|W|U).
import { describe, expect, it } from 'vitest';
import { writeCr } from '../../src/cpu/exec/system.js';
import { ACC_USER, ACC_WRITE, readLin32, translate, writeLin32 } from '../../src/cpu/mmu.js';
import { CR0_WP } from '../../src/cpu/regs.js';
import { P, PageTables, type PagingMode, PFE, pageFaultOf, U } from '../support/paging.js';

const LIN = 0x00403123;

describe.each(['32', 'pae', 'long'] as PagingMode[])('%s-bit walk', (mode) => {
  it('WP = 0: a supervisor write to a read-only page succeeds', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, 0x7000, P | U);
    expect(translate(pt.cpu, LIN, ACC_WRITE)).toBe(0x7123);
  });

  it('WP = 1: the same write faults with P|W; a read-only PDE counts too', () => {
    const pt = new PageTables(mode, { cr0: CR0_WP });
    pt.map(LIN, 0x7000, P | U);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_WRITE))).toEqual({
      err: PFE.P | PFE.W,
      cr2: LIN,
    });
    const pde = new PageTables(mode, { cr0: CR0_WP });
    pde.map(LIN, 0x7000, P | 2n | U, { upper: P | U });
    expect(pageFaultOf(pde.cpu, () => translate(pde.cpu, LIN, ACC_WRITE))?.err).toBe(PFE.P | PFE.W);
  });

  it('user writes to a read-only page fault whatever WP says', () => {
    for (const cr0 of [0, CR0_WP]) {
      const pt = new PageTables(mode, { cr0 });
      pt.map(LIN, 0x7000, P | U);
      expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_WRITE | ACC_USER))?.err).toBe(
        PFE.P | PFE.W | PFE.U,
      );
    }
  });

  it('setting WP with MOV CR0 takes effect even after the page was written (TLB)', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, 0x7000, P | U);
    writeLin32(pt.cpu, LIN, 0x11223344); // WP = 0: allowed, may be cached as writable
    expect(readLin32(pt.cpu, LIN)).toBe(0x11223344);
    writeCr(pt.cpu, 0, pt.cpu.cr0 | CR0_WP);
    expect(pageFaultOf(pt.cpu, () => writeLin32(pt.cpu, LIN, 0x55667788))?.err).toBe(PFE.P | PFE.W);
    expect(readLin32(pt.cpu, LIN)).toBe(0x11223344);
  });
});
