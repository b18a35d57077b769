// The decoded-block cache: straight-line runs of decoded instructions keyed by the physical
// address (and code size) of their first byte, dropped when their code page is written.

import { blockSlot } from './code-cache.js';
import { EPOCH_CODE, EPOCH_WRITES } from './code-share.js';
import { type Cpu, FAULT } from './cpu.js';
import { DEC_TERM, decode, releaseDecoder } from './decode.js';
import { ATT_SMC } from './events.js';
import { Insn } from './insn.js';
import type { CompiledRegion } from './jit/region-compiler.js';
import { translateExec } from './mmu.js';
import { tlbDropSharedCode, tlbDropWritable } from './tlb.js';

export const MAX_BLOCK_INSNS = 64;
/**
 * When this many instructions have been decoded since the cache was last emptied, it is emptied
 * (as QEMU flushes its translation buffer when full): about 100 MB of decoded blocks at most,
 * far more than the hot code of a guest, whatever the guest does.
 */
export const CODE_CACHE_INSNS = 1 << 19;

/**
 * A compiled region (jit/region.ts): valid while every block in it is. Its entry block holds the
 * compiled function, and so does any member that became hot later (it enters the same function at
 * its own block instead of compiling a region of its own); invalidating any member drops the
 * function from all of them, so it is rebuilt before it runs again.
 */
export class RegionRef {
  valid = true;
  /** The compiled function (set once compiled). */
  fn: CompiledRegion | null = null;
  /** The blocks whose `fn` is this region's function: the entry, then members entering it. */
  readonly users: Block[] = [];
  constructor(
    readonly entry: Block,
    /** members[i] is entered as block i of the function. */
    readonly members: Block[],
  ) {}
}

export class Block {
  valid = true;
  /** Tier 2: the compiled region this block enters, once the block is hot (jit/). */
  fn: CompiledRegion | null = null;
  /** The member index of this block in `fn`'s region (0 for the region's own entry). */
  fnEntry = 0;
  /** The region `fn` belongs to. */
  region: RegionRef | null = null;
  /** The regions this block is a member of (to drop them when its code changes). */
  inRegions: RegionRef[] | null = null;
  /** Runs in the interpreter so far; negative once compiling was declined. */
  hits = 0;
  // Links to the blocks that followed this one last time (taken and fall-through), valid while
  // Cpu.chainEpoch is unchanged: the next block is found without a TLB lookup or hash probe.
  next0: Block | null = null;
  next0Rip = Number.NaN;
  next0Epoch = -1;
  next1: Block | null = null;
  next1Rip = Number.NaN;
  next1Epoch = -1;
  constructor(
    /** Physical address * 4 + code-size index: the cache key. */
    readonly key: number,
    readonly insns: Insn[],
    /** Physical pages the block's bytes live in (one, or two when an instruction straddles). */
    readonly pages: number[],
    /** For each page, the 128-byte chunks the block's bytes occupy (bit c = bytes c*128 ... c*128+127). */
    readonly chunks: number[],
  ) {}
}

/** The block's code changed or left the cache: every region containing it is dropped. */
export function dropRegions(b: Block): void {
  const rs = b.inRegions;
  if (rs === null) return;
  b.inRegions = null;
  for (const r of rs) {
    if (!r.valid) continue;
    r.valid = false;
    for (const u of r.users)
      if (u.region === r) {
        u.fn = null;
        u.region = null;
        u.hits = 0;
      }
  }
}

/** The cached, valid block with cache key `key`, or null (no decoding, no side effects). */
export function cachedBlock(cpu: Cpu, key: number): Block | null {
  const phys = Math.floor(key / 4);
  const b = cpu.blockTable[blockSlot(phys)];
  return b !== null && b.key === key && b.valid ? b : null;
}

export function modeIndex(codeSize: number): number {
  return codeSize === 64 ? 3 : codeSize === 32 ? 2 : 1;
}

/** The block starting at the current CS:RIP, from the cache or freshly decoded. */
export function getBlock(cpu: Cpu, lin: number): Block {
  const phys = translateExec(cpu, lin);
  const key = phys * 4 + modeIndex(cpu.codeSize);
  const h = blockSlot(phys);
  const b = cpu.blockTable[h];
  if (b !== null && b.key === key && b.valid) return b;
  if (cpu.code.decodedInsns >= CODE_CACHE_INSNS) flushBlocks(cpu);
  const nb = buildBlock(cpu, lin, phys, key);
  cpu.code.decodedInsns += nb.insns.length;
  if (nb.pages.length > 0) {
    if (b?.valid) forgetBlock(cpu, b);
    cpu.blockTable[h] = nb;
  }
  return nb;
}

/**
 * A block leaves the table (its slot went to another): it leaves its pages' lists too, so the
 * cache holds at most one block per slot. Kept there, every rebuild of a block that lost its slot
 * (two hot blocks on one slot, or code run one instruction per VM exit) added a copy for good:
 * a guest stepping through a zeroed 64 MiB that way grew the host's heap to gigabytes.
 */
function forgetBlock(cpu: Cpu, b: Block): void {
  b.valid = false; // links to it from other blocks are no longer followed
  dropRegions(b);
  for (const p of b.pages) {
    const list = cpu.pageBlocks.get(p);
    if (list === undefined) continue;
    const i = list.lastIndexOf(b);
    if (i < 0) continue;
    list[i] = list[list.length - 1];
    list.pop();
    if (list.length === 0) cpu.pageBlocks.delete(p);
  }
}

function buildBlock(cpu: Cpu, lin: number, phys: number, key: number): Block {
  const insns: Insn[] = [];
  const pages: number[] = [];
  const inRam = phys + 16 <= cpu.ramBytes;
  const firstPage = Math.floor(phys / 4096);
  // The generation before the bytes are read: a store between the two leaves the block stale to a later sync.
  const share = cpu.code.share;
  const gen0 = share !== null && inRam ? Atomics.load(share.gen, firstPage) : 0;
  let off = 0;
  const pageLeft = 4096 - (phys & 0xfff);
  const csLimit = cpu.codeSize === 64 ? Number.POSITIVE_INFINITY : cpu.segLimit[1];
  for (;;) {
    const insn = new Insn();
    let r: number;
    try {
      r = decode(cpu, lin + off, insn);
    } catch (e) {
      // A fetch fault on a later instruction ends the block before it; the fault happens if it is reached.
      if (e === FAULT && insns.length > 0) break;
      throw e;
    }
    if (cpu.codeSize !== 64 && cpu.rip + off + insn.len - 1 > csLimit) {
      if (insns.length > 0) break;
      cpu.excVector = 13;
      cpu.excError = 0;
      cpu.excHasError = true;
      throw FAULT;
    }
    insns.push(insn);
    off += insn.len;
    if (off > pageLeft && inRam) {
      // The instruction straddles into the next page: the block depends on that page too.
      const p2 = Math.floor(translateExec(cpu, lin + pageLeft) / 4096);
      if (!pages.includes(p2)) pages.push(p2);
      break;
    }
    if (r & DEC_TERM || insns.length >= MAX_BLOCK_INSNS || off >= pageLeft) break;
  }
  releaseDecoder();
  const chunks: number[] = [];
  if (inRam) {
    pages.unshift(firstPage);
    const start = phys & 0xfff;
    chunks.push(chunkMask(start, Math.min(start + off, 4096) - 1));
    if (pages.length > 1) chunks.push(chunkMask(0, off - pageLeft - 1));
  } else pages.length = 0; // fetched from MMIO/unbacked space: never cached
  const block = new Block(key, insns, pages, chunks);
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i];
    let list = cpu.pageBlocks.get(p);
    if (list === undefined) {
      list = [];
      cpu.pageBlocks.set(p, list);
      if (share !== null) cpu.code.seenGen![p] = i === 0 ? gen0 : Atomics.load(share.gen, p);
    }
    list.push(block);
    if (cpu.codePages[p] === 0) tlbDropWritable(cpu, p * 4096);
    cpu.codePages[p] |= chunks[i];
    if (share !== null) share.addCode(p, chunks[i]);
  }
  return block;
}

/** Chunk bits (128 bytes each) covering page offsets first..last. */
export function chunkMask(first: number, last: number): number {
  const a = first >> 7;
  const b = last >> 7;
  return (b === 31 ? -1 : (1 << (b + 1)) - 1) & ~((1 << a) - 1);
}

/**
 * A write hit chunks of a page that hold decoded code: drop the blocks in those chunks
 * (self-modifying code, loaders). Data written next to code in other chunks of the page leaves
 * its blocks alone, so guests that keep variables beside their code do not thrash the cache.
 */
export function invalidateCodeChunks(cpu: Cpu, ppn: number, written: number): void {
  const list = cpu.pageBlocks.get(ppn);
  let remaining = 0;
  if (list !== undefined) {
    let keep = 0;
    for (let i = 0; i < list.length; i++) {
      const b = list[i];
      const m = b.pages[0] === ppn ? b.chunks[0] : b.chunks[1];
      if (m & written) {
        b.valid = false;
        dropRegions(b);
      } else {
        list[keep++] = b;
        remaining |= m;
      }
    }
    list.length = keep;
    if (keep === 0) cpu.pageBlocks.delete(ppn);
  }
  cpu.codePages[ppn] = remaining;
  cpu.attention |= ATT_SMC;
}

/** Drop every block of a page (an outside writer changed it). */
export function invalidateCodePage(cpu: Cpu, ppn: number): void {
  invalidateCodeChunks(cpu, ppn, -1);
}

/**
 * A serializing point for cross-modifying code (SDM vol 3 8.1.3): drop this cache's blocks of
 * every page another thread (or this one) stored to since they were decoded, and the writable TLB
 * entries of pages that became code in another thread's cache.
 */
export function syncSharedCode(cpu: Cpu): void {
  const code = cpu.code;
  const share = code.share;
  if (share === null) return;
  const newCode = Atomics.load(share.epochs, EPOCH_CODE);
  if (newCode !== code.seenCode) {
    code.seenCode = newCode;
    for (const c of code.cpus) tlbDropSharedCode(c, share.code);
  }
  const writes = Atomics.load(share.epochs, EPOCH_WRITES);
  if (writes === code.seenWrites) return;
  code.seenWrites = writes;
  const seen = code.seenGen!;
  const stale: number[] = [];
  for (const p of code.pageBlocks.keys()) if (Atomics.load(share.gen, p) !== seen[p]) stale.push(p);
  for (const p of stale) {
    seen[p] = Atomics.load(share.gen, p);
    invalidateCodePage(cpu, p);
  }
}

/** Drop every decoded block (e.g. after guest memory was replaced from outside). */
export function flushBlocks(cpu: Cpu): void {
  cpu.code.decodedInsns = 0;
  cpu.blockTable.fill(null);
  for (const list of cpu.pageBlocks.values())
    for (const b of list) {
      b.valid = false;
      dropRegions(b);
    }
  cpu.pageBlocks.clear();
  cpu.codePages.fill(0);
}

/** Remember that `next` followed `prev` at RIP `rip` (two slots: branch taken and not taken). */
export function linkBlocks(cpu: Cpu, prev: Block, next: Block, rip: number): void {
  if (prev.next0 === null || prev.next0Epoch !== cpu.chainEpoch || !prev.next0.valid) {
    prev.next0 = next;
    prev.next0Rip = rip;
    prev.next0Epoch = cpu.chainEpoch;
  } else {
    prev.next1 = next;
    prev.next1Rip = rip;
    prev.next1Epoch = cpu.chainEpoch;
  }
}
