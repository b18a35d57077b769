// The threaded scheduler (src/threads) runs the SMP guests with the same output as the
// deterministic scheduler: guests/smp-legacy (INIT-SIPI-SIPI the MP specification's way, LOCK XADD,
// fixed IPIs, counted atomically across threads; output independent of the order the APs run in) and guests/smp-boot (lines compared
// as a set: its APs print in the order they come up). The workers run the built code (dist/), as
// `npm ci` leaves it.
import { readFileSync } from 'node:fs';
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
      it(`${cpus} vCPU(s) under ${arch}: the same output, exit status and every worker stopped`, {
        timeout: 120_000,
      }, async () => {
        const det = runMultibootVm(LEGACY, { arch, cpus, maxInstructions: 50_000_000 });
        const thr = await runImageVmThreaded(LEGACY, { arch, cpus, maxInstructions: THREADED_BUDGET });
        expect({ output: thr.output, stop: thr.stop, exitStatus: thr.exitStatus }).toEqual({
          output: det.output,
          stop: 'exit',
          exitStatus: 1,
        });
        expect(thr.vcpus.map((v) => v.end)).toEqual(Array(cpus).fill('stopped'));
        expect(thr.hung).toEqual([]);
      });
    }
});

describe('smp-boot under both schedulers', () => {
  // smp-boot times its fixed IPI by a PAUSE loop: an AP whose thread the host has not run yet has
  // not software-enabled its APIC and, as on hardware, drops the IPI; and the BSP reads the IPI
  // count and exits while APs may still be taking theirs. So with 8 threads on fewer host cores the
  // IPI lines are a race the guest runs; what must hold is that every AP came online, counted by
  // their concurrent LOCK XADDs, and that no line was torn (the LOCK BTS print lock).
  const taken = (lines: string[]) => lines.filter((l) => l.endsWith('got the fixed IPI')).length;
  for (const arch of ['svm', 'vmx'] as const)
    it(`8 vCPUs under ${arch}: the same APs online (a LOCK XADD count), no torn line`, {
      timeout: 120_000,
    }, async () => {
      const det = runBootSectorVm(SMP_BOOT, { arch, cpus: 8, maxInstructions: 50_000_000 });
      const thr = await runImageVmThreaded(SMP_BOOT, { arch, cpus: 8, maxInstructions: THREADED_BUDGET });
      expect(det.stop).toBe('exit');
      expect(taken(sorted(det.output))).toBe(7);
      const lines = sorted(thr.output);
      const rest = (all: string[]) =>
        all.filter((l) => !l.endsWith('got the fixed IPI') && !l.startsWith('BSP: IPIs taken'));
      expect({ lines: rest(lines), stop: thr.stop, exitStatus: thr.exitStatus }).toEqual({
        lines: rest(sorted(det.output)),
        stop: 'exit',
        exitStatus: det.exitStatus,
      });
      expect(taken(lines)).toBeLessThanOrEqual(7);
    });
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
