// The decoded-block cache stays bounded however the guest runs. Two ways it grew without end:
// a block that lost its hash slot stayed in its page's list when it was decoded again (two hot
// blocks sharing a slot added a copy per switch), and code run one instruction at a time at new
// addresses (each VM exit resuming one instruction further, as a guest stepping through zeroed
// memory with an MMIO access per instruction does) decoded a fresh 64-instruction block per
// instruction and kept all of them: a 255-vCPU guest grew the host heap to 4 GB that way.
import { describe, expect, it } from 'vitest';
import { CODE_CACHE_INSNS, MAX_BLOCK_INSNS } from '../../src/cpu/block.js';
import { blockSlot } from '../../src/cpu/code-cache.js';
import type { Cpu } from '../../src/cpu/cpu.js';
import { run } from '../../src/cpu/run.js';
import { makePm32 } from '../support/pm32.js';

function cached(cpu: Cpu): { blocks: number; insns: number } {
  let blocks = 0;
  let insns = 0;
  for (const list of cpu.pageBlocks.values())
    for (const b of list) {
      blocks++;
      insns += b.insns.length;
    }
  return { blocks, insns };
}

const slot = blockSlot;

describe('decoded-block cache bounds', () => {
  it('two blocks that share a hash slot, run in turn, leave one cached block each at most', () => {
    const { cpu, ram } = makePm32();
    const a = 0x10000;
    let b = a + 0x1000;
    while (slot(b) !== slot(a)) b += 1;
    ram.fill(0x90, a, a + 16); // NOPs
    ram.fill(0x90, b, b + 16);
    for (let i = 0; i < 2000; i++) {
      cpu.rip = i % 2 ? b : a;
      run(cpu, 1);
    }
    expect(cached(cpu).blocks).toBeLessThanOrEqual(2);
  });

  it('one instruction at a time through zeroed memory: the cache stays under its bound', () => {
    const { cpu } = makePm32();
    cpu.r32[0] = 0x8000; // EAX: `add [eax], al` (00 00) reads and writes a data page
    const start = 0x20000;
    const steps = CODE_CACHE_INSNS / MAX_BLOCK_INSNS + 512; // past the bound, if every block were kept
    for (let i = 0; i < steps; i++) {
      cpu.rip = start + 2 * i;
      run(cpu, 1);
    }
    expect(cpu.icount).toBe(steps);
    const c = cached(cpu);
    expect(c.insns).toBeLessThanOrEqual(CODE_CACHE_INSNS + MAX_BLOCK_INSNS);
    expect(cpu.code.decodedInsns).toBeLessThanOrEqual(CODE_CACHE_INSNS + MAX_BLOCK_INSNS);
  });
});
