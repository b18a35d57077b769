// Software TLB: six banks of TLB_SIZE entries:
//   supervisor read, write, execute, then user read, write, execute.
// Each bank has two ways. The first is direct-mapped and is all the hot path looks at (one compare).
// The second, indexed by another hash, keeps what the first way evicted: a miss looks there before
// walking the page tables and swaps a hit back in, so two hot pages that share a first-way slot cost
// a swap each time instead of a (nested) page walk.
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
/** The slot of linear page `lpn` in a bank's second way (a multiplicative hash: unrelated to tlbIndex). */
export function tlbIndex2(lpn: number): number {
  return Math.imul(lpn | 0, 0x9e3779b1) >>> (32 - TLB_BITS);
}
export const BANK_READ = 0,
  BANK_WRITE = 1,
  BANK_EXEC = 2,
  BANK_USER = 3;

/**
 * The nested TLB: guest-physical page to host-physical page under nested paging or EPT, with the
 * rights the walk found. Like the hardware's (APM vol 2 15.16; SDM vol 3 28.3), it is tagged by the
 * address space: flushed with everything else when the hypervisor asks (TLB_CONTROL, a new ASID,
 * nCR3, VPID or EPTP), never by the guest's own CR3 writes or INVLPG.
 */
export const NTLB_BITS = 10;
export const NTLB_SIZE = 1 << NTLB_BITS;
export const NTLB_READ = 1,
  NTLB_WRITE = 2,
  NTLB_EXEC = 4;
/** The entry of guest-physical page `gpn` (pages 4 MiB apart do not share a slot). */
export function nTlbIndex(gpn: number): number {
  return (gpn ^ (gpn >>> NTLB_BITS)) & (NTLB_SIZE - 1);
}

/** Flush everything (CR0/CR4 paging-mode changes, or CR3 writes with global pages off). */
export function tlbFlushAll(cpu: Cpu): void {
  cpu.chainEpoch = nextChainEpoch();
  cpu.nTlbTag.fill(Number.NaN);
  cpu.tlbTag.fill(Number.NaN);
  cpu.tlbGlobal.fill(0);
  cpu.tlbTag2.fill(Number.NaN);
  cpu.tlbGlobal2.fill(0);
}

/** CR3 write: drop all but global entries (when CR4.PGE is set). */
export function tlbFlushNonGlobal(cpu: Cpu): void {
  cpu.chainEpoch = nextChainEpoch();
  dropNonGlobal(cpu.tlbTag, cpu.tlbGlobal);
  dropNonGlobal(cpu.tlbTag2, cpu.tlbGlobal2);
}
function dropNonGlobal(tag: Float64Array, g: Uint8Array): void {
  for (let i = 0; i < tag.length; i++) if ((g[i] & 1) === 0) tag[i] = Number.NaN;
}

/** INVLPG: drop the page in every bank. */
export function tlbFlushPage(cpu: Cpu, lin: number): void {
  cpu.chainEpoch = nextChainEpoch();
  const lpn = Math.floor(lin / 4096);
  const idx = tlbIndex(lpn),
    idx2 = tlbIndex2(lpn);
  for (let b = 0; b < 6; b++) {
    const i = b * TLB_SIZE + idx;
    if (cpu.tlbTag[i] === lpn) {
      cpu.tlbTag[i] = Number.NaN;
      cpu.tlbGlobal[i] = 0;
    }
    const j = b * TLB_SIZE + idx2;
    if (cpu.tlbTag2[j] === lpn) {
      cpu.tlbTag2[j] = Number.NaN;
      cpu.tlbGlobal2[j] = 0;
    }
  }
  // Large pages are entered per 4 KiB page, so one INVLPG of a 2 MiB/4 MiB page must flush all of
  // them; entries from large pages are flagged 2 in tlbGlobal's bit 1 and flushed wholesale.
  if (cpu.tlbHasLarge) {
    dropLarge(cpu.tlbTag, cpu.tlbGlobal);
    dropLarge(cpu.tlbTag2, cpu.tlbGlobal2);
  }
}
function dropLarge(tag: Float64Array, g: Uint8Array): void {
  for (let i = 0; i < tag.length; i++) if (g[i] & 2) tag[i] = Number.NaN;
}

/**
 * The miss path's look into the second way of the bank at `bankBase`: on a hit the entry swaps
 * places with the first way's occupant (which moves to its own second-way slot) and its physical
 * page is returned; -1 on a miss.
 */
export function tlbSecondWay(cpu: Cpu, bankBase: number, lpn: number): number {
  const j = bankBase + tlbIndex2(lpn);
  if (cpu.tlbTag2[j] !== lpn) return -1;
  const page = cpu.tlbPhys2[j];
  const g = cpu.tlbGlobal2[j];
  cpu.tlbTag2[j] = Number.NaN;
  tlbEnter(cpu, bankBase + tlbIndex(lpn), lpn, page, g);
  return page;
}

/** Put an entry in the first way at `i`, moving the one it replaces to the second way. */
export function tlbEnter(cpu: Cpu, i: number, lpn: number, page: number, g: number): void {
  const old = cpu.tlbTag[i];
  if (!Number.isNaN(old) && old !== lpn) {
    // A valid entry (not NaN) for another page: keep it in the second way of the same bank.
    const bankBase = i - (i & TLB_MASK);
    const j = bankBase + tlbIndex2(old);
    cpu.tlbTag2[j] = old;
    cpu.tlbPhys2[j] = cpu.tlbPhys[i];
    cpu.tlbGlobal2[j] = cpu.tlbGlobal[i];
  }
  cpu.tlbTag[i] = lpn;
  cpu.tlbPhys[i] = page;
  cpu.tlbGlobal[i] = g;
}

/** A physical page has become a code page: no write bank of any processor sharing the code may map it. */
export function tlbDropWritable(cpu: Cpu, physPage: number): void {
  for (const c of cpu.code.cpus) {
    for (const bank of [BANK_WRITE, BANK_USER + BANK_WRITE]) {
      dropPhys(c.tlbTag, c.tlbPhys, bank, physPage);
      dropPhys(c.tlbTag2, c.tlbPhys2, bank, physPage);
    }
  }
}
/** Pages other threads decoded code in (code-share.ts): drop this processor's writable entries of them. */
export function tlbDropSharedCode(c: Cpu, code: Int32Array): void {
  for (const bank of [BANK_WRITE, BANK_USER + BANK_WRITE]) {
    dropShared(c.tlbTag, c.tlbPhys, bank, code);
    dropShared(c.tlbTag2, c.tlbPhys2, bank, code);
  }
}
function dropShared(tag: Float64Array, phys: Float64Array, bank: number, code: Int32Array): void {
  const end = (bank + 1) * TLB_SIZE;
  for (let i = bank * TLB_SIZE; i < end; i++) if (code[phys[i] / 4096] !== 0) tag[i] = Number.NaN;
}
function dropPhys(tag: Float64Array, phys: Float64Array, bank: number, physPage: number): void {
  const end = (bank + 1) * TLB_SIZE;
  for (let i = bank * TLB_SIZE; i < end; i++) if (phys[i] === physPage) tag[i] = Number.NaN;
}
