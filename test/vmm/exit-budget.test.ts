// VM exits count against the run's instruction budget (vcpu.ts EXIT_COST), so a guest caught in
// an exit loop ends at --max-instructions like one in a busy loop, and the host's memory stays
// bounded meanwhile. Before: a loop of exits that retired no instruction (a page-table walk into
// unbacked memory faults on every entry) never ended, and smp-boot with 248 or more vCPUs (its
// per-AP stacks then overwrite its own code; the BSP ends up running zeroed memory, one MMIO read
// and write per instruction at 0x60000010) grew the heap to 4 GB until V8 aborted (exit 134).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODE_CACHE_INSNS, MAX_BLOCK_INSNS } from '../../src/cpu/block.js';
import { coreOf } from '../../src/host/core-access.js';
import type { SvmVcpu } from '../../src/svm/backend.js';
import { createPcVm, loadBootSector, runMultibootVm, runPcVm } from '../../src/vm-boot.js';
import { EXIT_COST } from '../../src/vmm/vcpu.js';
import { aoutKernel } from './platform-kernels.js';

const SMP_BOOT = readFileSync(new URL('../../guests/smp-boot/smp-boot.img', import.meta.url));

/** Paging on with CR3 = 0xD0000000, where nothing is: every instruction fetch faults in the walk. */
const WALK_INTO_NOTHING = aoutKernel([
  0xb8,
  0x00,
  0x00,
  0x00,
  0xd0, // mov eax, 0xD0000000
  0x0f,
  0x22,
  0xd8, // mov cr3, eax
  0x0f,
  0x20,
  0xc0, // mov eax, cr0
  0x0d,
  0x00,
  0x00,
  0x00,
  0x80, // or eax, CR0.PG
  0x0f,
  0x22,
  0xc0, // mov cr0, eax
  0xeb,
  0xfe, // jmp $
]);

describe('an exit loop ends at the instruction budget', () => {
  for (const arch of ['svm', 'vmx'] as const)
    it(`${arch}: a guest whose every entry exits without retiring an instruction stops at the budget`, () => {
      const budget = 64_000;
      const r = runMultibootVm(WALK_INTO_NOTHING, { arch, maxInstructions: budget });
      expect(r.stop).toBe('max-instructions');
      expect(r.instructions).toBeLessThan(100);
      const exits = Number(/(\d+) VM exits/.exec(r.message)?.[1]);
      expect(exits * EXIT_COST + r.instructions).toBeGreaterThanOrEqual(budget);
    });
});

describe('smp-boot with many vCPUs: the run ends and the heap stays bounded', () => {
  for (const cpus of [255, 1024])
    it(`${cpus} vCPUs, 3M-instruction budget`, () => {
      const heap0 = process.memoryUsage().heapUsed;
      const pc = createPcVm({ arch: 'svm', cpus });
      loadBootSector(pc, SMP_BOOT);
      const r = runPcVm(pc, { maxInstructions: 3_000_000 });
      expect(['max-instructions', 'exit']).toContain(r.stop);
      const cpu = coreOf((pc.vm.vcpus[0].backend as SvmVcpu).cpu); // the processor behind vCPU 0
      expect(cpu.code.decodedInsns).toBeLessThanOrEqual(CODE_CACHE_INSNS + MAX_BLOCK_INSNS);
      let blocks = 0;
      for (const list of cpu.pageBlocks.values()) blocks += list.length;
      expect(blocks).toBeLessThanOrEqual(1 << 16); // one per slot of the block table
      expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(400 * 2 ** 20);
    }, 60_000);
});
