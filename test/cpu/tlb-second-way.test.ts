// The software TLB's second way (src/cpu/tlb.ts): a page evicted from its first-way slot by
// another page stays cached, and every flush the manuals define reaches it too (Intel SDM vol 3
// 4.10.4.1: MOV to CR3 drops non-global translations, INVLPG drops the page's; AMD APM vol 2 5.5).
// A stale translation kept after a page-table write without INVLPG is allowed by both manuals
// (4.10.4.2, "the processor may use the old translation") and is what shows the entry is cached.
import { describe, expect, it } from 'vitest';
import { readLin32, writeLin32 } from '../../src/cpu/mmu.js';
import { CR4_PGE } from '../../src/cpu/regs.js';
import { tlbDropWritable, tlbFlushNonGlobal, tlbFlushPage, tlbIndex } from '../../src/cpu/tlb.js';
import { A, D, G, P, PageTables, W } from '../support/paging.js';

const PAGE_A = 0x400000;
const FRAME_1 = 0x20000,
  FRAME_2 = 0x21000,
  FRAME_3 = 0x22000;

/** A page that shares PAGE_A's first-way slot. */
function sameSlot(): number {
  let lpn = PAGE_A / 4096 + 1;
  while (tlbIndex(lpn) !== tlbIndex(PAGE_A / 4096)) lpn++;
  return lpn * 4096;
}

function setup(global = false) {
  const pt = new PageTables('long', { cr4: CR4_PGE });
  const pageB = sameSlot();
  const leafA = pt.map(PAGE_A, FRAME_1, P | W | A | D | (global ? G : 0n));
  pt.map(pageB, FRAME_2, P | W | A | D);
  pt.dv.setUint32(FRAME_1, 0x1111, true);
  pt.dv.setUint32(FRAME_2, 0x2222, true);
  pt.dv.setUint32(FRAME_3, 0x3333, true);
  return { pt, cpu: pt.cpu, pageB, leafA };
}

describe('TLB second way', () => {
  it('keeps a page its slot-mate evicted: the old translation is still used after a PTE change', () => {
    const { pt, cpu, pageB, leafA } = setup();
    expect(readLin32(cpu, PAGE_A)).toBe(0x1111);
    expect(readLin32(cpu, pageB)).toBe(0x2222); // takes PAGE_A's first-way slot
    pt.write(leafA, BigInt(FRAME_3) | P | W | A | D); // no INVLPG
    expect(readLin32(cpu, PAGE_A)).toBe(0x1111); // cached in the second way
    expect(readLin32(cpu, pageB)).toBe(0x2222);
    expect(readLin32(cpu, PAGE_A)).toBe(0x1111);
  });

  it('INVLPG drops the page from the second way', () => {
    const { pt, cpu, pageB, leafA } = setup();
    readLin32(cpu, PAGE_A);
    readLin32(cpu, pageB);
    pt.write(leafA, BigInt(FRAME_3) | P | W | A | D);
    tlbFlushPage(cpu, PAGE_A);
    expect(readLin32(cpu, PAGE_A)).toBe(0x3333);
  });

  it('a CR3 write drops non-global second-way entries and keeps global ones (CR4.PGE)', () => {
    for (const global of [false, true]) {
      const { pt, cpu, pageB, leafA } = setup(global);
      readLin32(cpu, PAGE_A);
      readLin32(cpu, pageB);
      pt.write(leafA, BigInt(FRAME_3) | P | W | A | D | (global ? G : 0n));
      tlbFlushNonGlobal(cpu);
      expect(readLin32(cpu, PAGE_A)).toBe(global ? 0x1111 : 0x3333);
    }
  });

  it('a page that becomes code leaves the write banks of both ways', () => {
    const { pt, cpu, pageB, leafA } = setup();
    writeLin32(cpu, PAGE_A, 0x4444);
    writeLin32(cpu, pageB, 0x5555); // PAGE_A's write entry moves to the second way
    tlbDropWritable(cpu, FRAME_1);
    pt.write(leafA, BigInt(FRAME_3) | P | W | A | D);
    writeLin32(cpu, PAGE_A, 0x6666); // must walk again: lands in FRAME_3
    expect(pt.dv.getUint32(FRAME_3, true)).toBe(0x6666);
    expect(pt.dv.getUint32(FRAME_1, true)).toBe(0x4444);
  });
});
