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
  // smp-boot times its steps by PAUSE loops, not by waiting for its APs: with 8 threads on fewer
  // host cores an AP whose thread has not run yet is not counted online, drops the fixed IPI (its
  // APIC is still software-disabled, as on hardware) or has not printed when the BSP exits. Those
  // are races the guest runs. What must hold on threads: a clean exit, every line one the guest
  // prints whole (no line torn: the LOCK BTS print lock), none twice, and counts within 7.
  const counted = /^BSP: (APs online|IPIs taken): ([0-9A-F]{8})$/;
  for (const arch of ['svm', 'vmx'] as const)
    it(`8 vCPUs under ${arch}: a clean exit, whole lines, counts within the APs`, {
      timeout: 120_000,
    }, async () => {
      const det = runBootSectorVm(SMP_BOOT, { arch, cpus: 8, maxInstructions: 50_000_000 });
      const thr = await runImageVmThreaded(SMP_BOOT, { arch, cpus: 8, maxInstructions: THREADED_BUDGET });
      expect(det.stop).toBe('exit');
      expect({ stop: thr.stop, exitStatus: thr.exitStatus }).toEqual({
        stop: 'exit',
        exitStatus: det.exitStatus,
      });
      const known = new Set(sorted(det.output));
      const lines = sorted(thr.output);
      expect(new Set(lines).size).toBe(lines.length);
      for (const line of lines) {
        const m = counted.exec(line);
        if (m === null) expect(known).toContain(line);
        else expect(Number.parseInt(m[2], 16)).toBeLessThanOrEqual(7);
      }
      expect(lines).toContain('SMP: done');
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
