// Software TLB: direct-mapped, six banks of TLB_SIZE entries:
//   supervisor read, write, execute, then user read, write, execute.
// An entry maps a linear page number (a double; canonical 64-bit addresses are kept signed so
// they stay exact) to the RAM offset of its physical page. Only RAM pages enter the TLB (MMIO
// always takes the slow path), and the write banks never hold a page that has decoded code, so a
// write there always reaches the block cache's invalidation.
import { nextChainEpoch } from './code-cache.js';
import type { Cpu } from './cpu.js';

export const TLB_BITS = 8;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;

/**
 * The entry of linear page `lpn` in a bank: its low bits XOR the next ones, so pages a multiple
 * of TLB_SIZE pages (1 MiB) apart, which guests often use for per-CPU areas, do not evict each other.
 */
export function tlbIndex(lpn: number): number {
  return (lpn ^ (lpn >>> TLB_BITS)) & TLB_MASK;
}
export const BANK_READ = 0,
  BANK_WRITE = 1,
  BANK_EXEC = 2,
  BANK_USER = 3;

/** Flush everything (CR0/CR4 paging-mode changes, or CR3 writes with global pages off). */
export function tlbFlushAll(cpu: Cpu): void {
  cpu.chainEpoch = nextChainEpoch();
  cpu.tlbTag.fill(Number.NaN);
  cpu.tlbGlobal.fill(0);
}

/** CR3 write: drop all but global entries (when CR4.PGE is set). */
export function tlbFlushNonGlobal(cpu: Cpu): void {
  cpu.chainEpoch = nextChainEpoch();
  const tag = cpu.tlbTag,
    g = cpu.tlbGlobal;
  for (let i = 0; i < tag.length; i++) if ((g[i] & 1) === 0) tag[i] = Number.NaN;
}

/** INVLPG: drop the page in every bank. */
export function tlbFlushPage(cpu: Cpu, lin: number): void {
  cpu.chainEpoch = nextChainEpoch();
  const lpn = Math.floor(lin / 4096);
  const idx = tlbIndex(lpn);
  for (let b = 0; b < 6; b++) {
    const i = b * TLB_SIZE + idx;
    if (cpu.tlbTag[i] === lpn) {
      cpu.tlbTag[i] = Number.NaN;
      cpu.tlbGlobal[i] = 0;
    }
  }
  // Large pages are entered per 4 KiB page, so one INVLPG of a 2 MiB/4 MiB page must flush all of
  // them; entries from large pages are flagged 2 in tlbGlobal's bit 1 and flushed wholesale.
  if (cpu.tlbHasLarge) {
    const tag = cpu.tlbTag,
      g = cpu.tlbGlobal;
    for (let i = 0; i < tag.length; i++) if (g[i] & 2) tag[i] = Number.NaN;
  }
}

/** A physical page has become a code page: no write bank of any processor sharing the code may map it. */
export function tlbDropWritable(cpu: Cpu, physPage: number): void {
  for (const c of cpu.code.cpus) {
    const tag = c.tlbTag,
      phys = c.tlbPhys;
    for (const bank of [BANK_WRITE, BANK_USER + BANK_WRITE]) {
      const end = (bank + 1) * TLB_SIZE;
      for (let i = bank * TLB_SIZE; i < end; i++) if (phys[i] === physPage) tag[i] = Number.NaN;
    }
  }
}
