// Region formation: from a hot block, the cached blocks it branches to (and those they branch to)
// in the same linear page, so that their compiled code can jump to each other directly. Only
// blocks already decoded (run at least once) join: a region grows over code that really runs.
// Staying in one page keeps the region correct under any mapping: the entry block is found through
// the TLB at run time, and every member sits at a fixed offset from it in the same physical page.
import { type Block, cachedBlock, MAX_BLOCK_INSNS, modeIndex } from '../block.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { Op } from '../ops.js';
import { CS } from '../regs.js';

/** Most blocks in one region (a loop nest and the small functions it calls). */
export const MAX_REGION_BLOCKS = 32;
/**
 * Most instructions in one region: V8's optimizing compiler takes time superlinear in a function's
 * size (one loop holding every register local): kernel regions of 32 blocks took it seconds each,
 * and 24-instruction regions ran the first 60M instructions of the boot in 11% less CPU than 96.
 */
export const MAX_REGION_INSNS = 32;

export interface Region {
  /** members[0] is the entry block. */
  readonly members: Block[];
  /** RIP of each member minus the entry's RIP. */
  readonly deltas: number[];
  /** Code size of the processor mode the region was built for (32 or 64). */
  readonly codeSize: number;
}

/** Byte length of a block. */
export function blockBytes(b: Block): number {
  let n = 0;
  for (const i of b.insns) n += i.len;
  return n;
}

/** Is `ins` a near branch the region compiler follows with a constant target (not 16-bit)? */
export function staticBranch(ins: Insn, codeSize: number): boolean {
  switch (ins.op) {
    case Op.JCC:
    case Op.JMP_REL:
      return ins.size !== 2;
    case Op.CALL_REL:
      return ins.size === (codeSize === 64 ? 8 : 4);
  }
  return false;
}

/**
 * Offsets (from the block's own RIP) where control can go after the block, as far as they are
 * constants: branch targets, the fall-through of a conditional branch or of a block cut at its
 * size limit, and the return address after a CALL (where its RET comes back).
 */
export function successorOffsets(b: Block, codeSize: number): number[] {
  const last = b.insns[b.insns.length - 1];
  const end = blockBytes(b);
  if (staticBranch(last, codeSize)) {
    const t = end + last.imm;
    return last.op === Op.JMP_REL ? [t] : [t, end];
  }
  return b.insns.length === MAX_BLOCK_INSNS && !endsBlock(last) ? [end] : [];
}

/** Instructions that always end a block (their fall-through is not a constant successor). */
function endsBlock(ins: Insn): boolean {
  switch (ins.op) {
    case Op.RET_NEAR:
    case Op.JMP_RM:
    case Op.CALL_RM:
    case Op.LOOP:
    case Op.JCXZ:
    case Op.UD:
      return true;
  }
  return false;
}

/** The region grown from `entry`, which starts at the current CS:RIP. */
export function formRegion(cpu: Cpu, entry: Block): Region {
  const codeSize = cpu.codeSize;
  const lin0 = codeSize === 64 ? cpu.rip : (cpu.segBase[CS] + cpu.rip) >>> 0;
  const page0 = Math.floor(lin0 / 4096);
  const phys0 = Math.floor(entry.key / 4);
  const mode = modeIndex(codeSize);
  const members: Block[] = [entry];
  const deltas: number[] = [0];
  let insns = entry.insns.length;
  for (let j = 0; j < members.length; j++) {
    for (const off of successorOffsets(members[j], codeSize)) {
      const d = deltas[j] + off;
      if (deltas.includes(d) || members.length >= MAX_REGION_BLOCKS) continue;
      if (Math.floor((lin0 + d) / 4096) !== page0) continue;
      const b = cachedBlock(cpu, (phys0 + d) * 4 + mode);
      if (b === null || b.pages.length !== 1 || insns + b.insns.length > MAX_REGION_INSNS) continue;
      insns += b.insns.length;
      members.push(b);
      deltas.push(d);
    }
  }
  return { members, deltas, codeSize };
}
