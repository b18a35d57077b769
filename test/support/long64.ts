/**
 * A bare 64-bit machine for descriptor-table and event tests: 4-level paging with the first 2 MiB
 * identity-mapped and mapped again at the upper half (UPPER + x reaches physical x, as a kernel's
 * direct map does), a GDT with flat 64-bit code (0x08) and data (0x10), an IDT of not-present
 * gates, CPL 0. Tables and code can be reached through either address.
 */
import { flushBlocks } from '../../src/cpu/block.js';
import { type Cpu, SEG_DB, SEG_G, SEG_L, SEG_P, SEG_S, type Vendor } from '../../src/cpu/cpu.js';
import { CS, DS, ES, FS, GS, SS } from '../../src/cpu/regs.js';
import { updateSegCheck } from '../../src/cpu/segment-check.js';
import { tlbFlushAll } from '../../src/cpu/tlb.js';
import { A, P, PageTables, W } from './paging.js';

/** 0xffffffff80000000 as the signed number the core keeps for upper-half addresses. */
export const UPPER = -2147483648;
export const GDT = 0x1000;
export const IDT = 0x2000;
export const TSS = 0x3000;
export const STACK_TOP = 0x80000;

export interface Long64 {
  cpu: Cpu;
  dv: DataView;
  ram: Uint8Array;
  /** Write GDT entry `sel >> 3` (8 bytes). */
  setGdt(sel: number, desc: bigint): void;
  /** Install a 64-bit interrupt (0xE) or trap (0xF) gate to `cs`:`offset`. */
  gate(
    vector: number,
    offset: number,
    opts?: { cs?: number; type?: number; dpl?: number; ist?: number },
  ): void;
  load(addr: number, bytes: number[]): void;
  /** Point GDTR and IDTR at their tables through `base` (0, or UPPER for the upper-half alias). */
  tablesAt(base: number): void;
}

export function makeLong64(vendor?: Vendor): Long64 {
  const pt = new PageTables('long', { nxe: true, vendor });
  pt.map(0, 0, P | W | A, { leafLevel: 2 });
  pt.map(0xffffffff80000000n, 0, P | W | A, { leafLevel: 2 });
  const { cpu, dv } = pt;
  const ram = new Uint8Array(dv.buffer);
  const setGdt = (sel: number, d: bigint) => dv.setBigUint64(GDT + (sel & ~7), d, true);
  setGdt(0x08, 0x00af9b000000ffffn);
  setGdt(0x10, 0x00cf93000000ffffn);
  for (const s of [ES, SS, DS, FS, GS]) {
    cpu.segSel[s] = 0x10;
    cpu.segBase[s] = 0;
    cpu.segLimit[s] = 0xffffffff;
    cpu.segAttr[s] = 0x93 | SEG_DB | SEG_G;
  }
  cpu.segSel[CS] = 0x08;
  cpu.segBase[CS] = 0;
  cpu.segLimit[CS] = 0xffffffff;
  cpu.segAttr[CS] = SEG_P | SEG_S | 0xb | SEG_L | SEG_G;
  cpu.cpl = 0;
  cpu.gdtrLimit = 0xff;
  cpu.idtrLimit = 256 * 16 - 1;
  cpu.updateMode();
  for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
  tlbFlushAll(cpu);
  cpu.r32[4 * 2] = STACK_TOP;
  const m: Long64 = {
    cpu,
    dv,
    ram,
    setGdt,
    gate(vector, offset, opts = {}) {
      const a = IDT + vector * 16;
      const type = opts.type ?? 0xe;
      dv.setUint32(a, ((opts.cs ?? 0x08) << 16) | (offset & 0xffff), true);
      const hi = (offset & 0xffff0000) | 0x8000 | ((opts.dpl ?? 0) << 13) | (type << 8) | (opts.ist ?? 0);
      dv.setUint32(a + 4, hi >>> 0, true);
      dv.setUint32(a + 8, offset < 0 ? 0xffffffff : 0, true);
      dv.setUint32(a + 12, 0, true);
    },
    load(addr, bytes) {
      ram.set(bytes, addr);
      flushBlocks(cpu);
    },
    tablesAt(base) {
      cpu.gdtrBase = base + GDT;
      cpu.idtrBase = base + IDT;
    },
  };
  m.tablesAt(0);
  return m;
}
