// The decoded-block cache of a machine: blocks are keyed by physical address, so the processors
// that share RAM (a VM's vCPUs) share their decoded and compiled code too. One copy of the tables
// per VM instead of per vCPU is what lets a VM have a thousand vCPUs.
import type { Block } from './block.js';
import type { CodeShare } from './code-share.js';
import type { Cpu } from './cpu.js';

/**
 * Slots of the block table: 2^18, so the tens of thousands of blocks a booting Linux kernel runs
 * (about 56,000 before userspace) rarely share one. With 2^16, two thirds of all decodes were of
 * blocks that had lost their slot, and each lost its compiled form with it.
 */
export const BLOCK_TABLE_BITS = 18;

/** The block table slot of the code at physical address `phys`. */
export function blockSlot(phys: number): number {
  return (phys ^ (phys >>> 12) ^ (phys >>> 20)) & ((1 << BLOCK_TABLE_BITS) - 1);
}

export class CodeCache {
  readonly blockTable: (Block | null)[] = new Array(1 << BLOCK_TABLE_BITS).fill(null);
  /** Per physical page: the 128-byte chunks that hold decoded code (block.ts), 0 for none. */
  readonly codePages: Int32Array;
  readonly pageBlocks = new Map<number, Block[]>();
  /** The processors using this cache: a page that becomes code leaves every one's write TLB. */
  readonly cpus: Cpu[] = [];
  /** Instructions decoded into blocks since the cache was last emptied (block.ts bounds it). */
  decodedInsns = 0;
  /** Code shared with caches on other host threads (code-share.ts), null when there are none. */
  readonly share: CodeShare | null;
  /** Per page: the write generation this cache's blocks of the page were decoded at. */
  readonly seenGen: Int32Array | null;
  /** The share's epochs as this cache last looked at them. */
  seenWrites = 0;
  seenCode = 0;

  constructor(ramBytes: number, share: CodeShare | null = null) {
    this.codePages = new Int32Array(Math.ceil(ramBytes / 4096));
    this.share = share;
    this.seenGen = share === null ? null : new Int32Array(this.codePages.length);
  }
}

/**
 * Block links (Block.next0/next1) are valid for one processor's translation context: every
 * context change takes a number no processor has used, so a link made by one vCPU is never
 * followed by another.
 */
let epochs = 0;
export function nextChainEpoch(): number {
  return ++epochs;
}
