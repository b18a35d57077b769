// #PF error codes and CR2 from the page walk (translate) in the three walk formats.
// Error-code bits per Intel SDM vol 3 4.7 / AMD APM vol 2 8.4.2: P (bit 0) = protection violation
// rather than not-present, W/R (1) = write, U/S (2) = user access, RSVD (3) = reserved bit set in
// a paging entry (always with P), I/D (4) = instruction fetch, only when CR4.PAE = 1 and EFER.NXE = 1.
import { describe, expect, it } from 'vitest';
import { ACC_EXEC, ACC_READ, ACC_USER, ACC_WRITE, translate } from '../../src/cpu/mmu.js';
import { NX, P, PageTables, type PagingMode, PFE, pageFaultOf, U, W } from '../support/paging.js';

const LIN = 0x00403123; // PDE 1, PTE 3 in every format
const FRAME = 0x7000;

const accesses = [
  { name: 'supervisor read', acc: ACC_READ, bits: 0 },
  { name: 'supervisor write', acc: ACC_WRITE, bits: PFE.W },
  { name: 'user read', acc: ACC_USER, bits: PFE.U },
  { name: 'user write', acc: ACC_USER | ACC_WRITE, bits: PFE.U | PFE.W },
];

describe.each(['32', 'pae', 'long'] as PagingMode[])('%s-bit walk', (mode) => {
  it('translates a present page', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, FRAME, P | W | U);
    expect(translate(pt.cpu, LIN, ACC_USER | ACC_WRITE)).toBe(FRAME + 0x123);
  });

  it.each(accesses)('not-present PTE, $name: error = W/U bits only, CR2 = address', ({ acc, bits }) => {
    const pt = new PageTables(mode);
    const pte = pt.map(LIN, FRAME, P | W | U);
    pt.write(pte, 0n);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, acc))).toEqual({ err: bits, cr2: LIN });
  });

  it.each(accesses)('not-present PDE, $name', ({ acc, bits }) => {
    const pt = new PageTables(mode);
    pt.map(LIN, FRAME, P | W | U);
    pt.write(pt.entryAddr(LIN, 2), 0n);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, acc))).toEqual({ err: bits, cr2: LIN });
  });

  it('user access to a supervisor page: P|U (read), P|W|U (write)', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, FRAME, P | W); // U = 0 in the PTE
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_USER))?.err).toBe(PFE.P | PFE.U);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_USER | ACC_WRITE))?.err).toBe(
      PFE.P | PFE.W | PFE.U,
    );
    expect(translate(pt.cpu, LIN, ACC_WRITE)).toBe(FRAME + 0x123); // supervisor is fine
  });

  it('U/S and R/W combine across levels: a supervisor PDE hides a user PTE', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, FRAME, P | W | U, { upper: P | W }); // intermediate entries supervisor
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_USER))?.err).toBe(PFE.P | PFE.U);
  });

  it('user write to a page read-only at the PDE: P|W|U', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, FRAME, P | W | U, { upper: P | U });
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_USER | ACC_WRITE))?.err).toBe(
      PFE.P | PFE.W | PFE.U,
    );
    expect(translate(pt.cpu, LIN, ACC_USER)).toBe(FRAME + 0x123);
  });

  it('instruction fetch from a not-present page: I/D only with PAE/4-level paging and EFER.NXE', () => {
    const pt = new PageTables(mode, { nxe: true });
    const pte = pt.map(LIN, FRAME, P | W | U);
    pt.write(pte, 0n);
    const f = pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_EXEC));
    expect(f?.err).toBe(mode === '32' ? 0 : PFE.ID);
    const noNxe = new PageTables(mode);
    noNxe.write(noNxe.map(LIN, FRAME, P | W | U), 0n);
    expect(pageFaultOf(noNxe.cpu, () => translate(noNxe.cpu, LIN, ACC_EXEC))?.err).toBe(0);
  });
});

describe.each(['pae', 'long'] as PagingMode[])('%s: execute-disable and reserved bits', (mode) => {
  it('fetch from an NX page with EFER.NXE: P|I/D (user: P|U|I/D); data reads still work', () => {
    const pt = new PageTables(mode, { nxe: true });
    pt.map(LIN, FRAME, P | W | U | NX);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_EXEC))?.err).toBe(PFE.P | PFE.ID);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_EXEC | ACC_USER))?.err).toBe(
      PFE.P | PFE.U | PFE.ID,
    );
    expect(translate(pt.cpu, LIN, ACC_READ)).toBe(FRAME + 0x123);
  });

  it('NX in a PDE applies to the whole range below it', () => {
    const pt = new PageTables(mode, { nxe: true });
    pt.map(LIN, FRAME, P | W | U);
    const pde = pt.entryAddr(LIN, 2);
    pt.write(pde, pt.read(pde) | NX);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_EXEC))?.err).toBe(PFE.P | PFE.ID);
  });

  it('bit 63 without EFER.NXE is reserved: P|RSVD', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, FRAME, P | W | U | NX);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_READ))).toEqual({
      err: PFE.P | PFE.RSVD,
      cr2: LIN,
    });
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_WRITE | ACC_USER))?.err).toBe(
      PFE.P | PFE.W | PFE.U | PFE.RSVD,
    );
  });

  it('physical-address bits above MAXPHYADDR (48, CPUID 80000008h) are reserved', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, (1n << 50n) | BigInt(FRAME), P | W | U);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_READ))?.err).toBe(PFE.P | PFE.RSVD);
    const ok = new PageTables(mode);
    ok.map(LIN, (1n << 47n) | BigInt(FRAME), P | W | U); // bit 47 is a real address bit
    expect(translate(ok.cpu, LIN, ACC_READ)).toBe(2 ** 47 + FRAME + 0x123);
  });

  it('a 2 MiB page with bits 20:13 set is reserved (the PAT bit 12 is not)', () => {
    const pt = new PageTables(mode);
    pt.map(LIN, 0x200000 | 0x2000, P | W | U, { leafLevel: 2 });
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_READ))?.err).toBe(PFE.P | PFE.RSVD);
    const pat = new PageTables(mode);
    pat.map(LIN, 0x200000 | 0x1000, P | W | U, { leafLevel: 2 });
    expect(translate(pat.cpu, LIN, ACC_READ)).toBe(0x200000 + (LIN & 0x1fffff));
  });
});

describe('4-level only', () => {
  it('PS in a PML4E is reserved', () => {
    const pt = new PageTables('long');
    pt.map(LIN, FRAME, P | W | U);
    const e = pt.entryAddr(LIN, 4);
    pt.write(e, pt.read(e) | 0x80n);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, LIN, ACC_READ))?.err).toBe(PFE.P | PFE.RSVD);
  });

  it('a high-half address walks PML4 entry 256+ and CR2 gets the whole canonical address', () => {
    const pt = new PageTables('long');
    const hi = 0xffff8000_00403123n; // PML4 index 256
    pt.map(hi, FRAME, P | W);
    const lin = Number(BigInt.asIntN(64, hi)); // the core keeps canonical addresses signed
    expect(translate(pt.cpu, lin, ACC_READ)).toBe(FRAME + 0x123);
    expect(pt.entryAddr(hi, 4)).toBe(pt.root + 256 * 8);
    pt.write(pt.entryAddr(hi, 1), 0n);
    expect(pageFaultOf(pt.cpu, () => translate(pt.cpu, lin, ACC_WRITE))).toEqual({ err: PFE.W, cr2: lin });
  });
});
