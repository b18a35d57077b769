// The threaded scheduler (src/threads) runs the SMP guests with the same output as the
// deterministic scheduler: guests/smp-legacy (INIT-SIPI-SIPI the MP specification's way, LOCK XADD,
// fixed IPIs; output independent of the order the APs run in) and guests/smp-boot (lines compared
// as a set: its APs print in the order they come up). The workers run the built code (dist/), as
// `npm ci` leaves it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR } from '../../guests/guest-list.js';
import { bytesInput, runBootSectorVm, runImageVm, runMultibootVm } from '../../src/vm-boot.js';
import { runImageVmThreaded } from '../../src/vm-threaded.js';
import { DiskImage } from '../../src/vmm/devices/disk-image.js';

const LEGACY = new Uint8Array(readFileSync(join(GUESTS_DIR, 'smp-legacy', 'smp-legacy.img')));
const MINIOS = new Uint8Array(readFileSync(join(GUESTS_DIR, 'minios', 'minios.img')));
const MINIOS_INPUT = readFileSync(join(GUESTS_DIR, 'minios', 'input.txt'), 'latin1');
const SMP_BOOT = new Uint8Array(readFileSync(join(GUESTS_DIR, 'smp-boot', 'smp-boot.img')));
/**
 * Whether LOCK-prefixed read-modify-writes are atomic across threads (Atomics on DRAM in the
 * instruction handlers). Until they are, a LOCK XADD or LOCK BTS of two vCPUs at once can lose
 * one's update, which these guests' counters and print lock notice at 8 vCPUs and more.
 */
const EXEC = join(import.meta.dirname, '../../src/cpu/exec');
const lockedAtomic = readdirSync(EXEC).some((f) => readFileSync(join(EXEC, f), 'utf8').includes('Atomics.'));
const NEEDS_ATOMIC = 'needs atomic LOCK-prefixed instructions (src/cpu/exec has no Atomics yet)';
/**
 * The threaded runs' budget: a BSP that waits for its APs in a PAUSE loop spends instructions for
 * as long as the host does not schedule their threads, which on a loaded machine is long.
 */
const THREADED_BUDGET = 1_000_000_000;
const sorted = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .sort();

describe('smp-legacy under both schedulers', () => {
  for (const arch of ['svm', 'vmx'] as const)
    for (const cpus of [1, 2, 4, 16]) {
      const skip = cpus > 4 && !lockedAtomic;
      it.skipIf(skip)(
        `${cpus} vCPU(s) under ${arch}: the same output, exit status and every worker stopped${skip ? ` (skipped: ${NEEDS_ATOMIC})` : ''}`,
        {
          timeout: 120_000,
        },
        async () => {
          const det = runMultibootVm(LEGACY, { arch, cpus, maxInstructions: 50_000_000 });
          const thr = await runImageVmThreaded(LEGACY, { arch, cpus, maxInstructions: THREADED_BUDGET });
          expect({ output: thr.output, stop: thr.stop, exitStatus: thr.exitStatus }).toEqual({
            output: det.output,
            stop: 'exit',
            exitStatus: 1,
          });
          expect(thr.vcpus.map((v) => v.end)).toEqual(Array(cpus).fill('stopped'));
          expect(thr.hung).toEqual([]);
        },
      );
    }
});

describe('smp-boot under both schedulers', () => {
  for (const arch of ['svm', 'vmx'] as const)
    it.skipIf(!lockedAtomic)(
      `8 vCPUs under ${arch}: the same lines${lockedAtomic ? '' : ` (skipped: ${NEEDS_ATOMIC})`}`,
      { timeout: 120_000 },
      async () => {
        const det = runBootSectorVm(SMP_BOOT, { arch, cpus: 8, maxInstructions: 50_000_000 });
        const thr = await runImageVmThreaded(SMP_BOOT, { arch, cpus: 8, maxInstructions: THREADED_BUDGET });
        expect(det.stop).toBe('exit');
        expect({ lines: sorted(thr.output), stop: thr.stop, exitStatus: thr.exitStatus }).toEqual({
          lines: sorted(det.output),
          stop: 'exit',
          exitStatus: det.exitStatus,
        });
      },
    );
});

describe('minios (a disk, ATA PIO by string I/O, a shell on COM1) under both schedulers', () => {
  for (const arch of ['svm', 'vmx'] as const)
    it(`2 vCPUs under ${arch}: the same session`, { timeout: 120_000 }, async () => {
      const opts = () => ({
        arch,
        cpus: 2,
        disks: [new DiskImage(MINIOS, 'minios.img')],
        serialInput: bytesInput(MINIOS_INPUT),
        maxInstructions: 20_000_000,
      });
      const det = runImageVm(new Uint8Array(0), opts());
      const thr = await runImageVmThreaded(new Uint8Array(0), opts());
      expect(det.output).toMatch(/minios> /);
      expect({ output: thr.output, stop: thr.stop }).toEqual({ output: det.output, stop: det.stop });
    });
});
