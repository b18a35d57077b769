// Cross-modifying code under the threaded scheduler (src/cpu/code-share.ts): guests/xmc's AP runs a
// function, the BSP rewrites it on another worker thread, and the AP, after CPUID, must run the new
// code, although its own worker's code cache had decoded the old. The workers run the built code
// (dist/), as `npm ci` leaves it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR } from '../../guests/guest-list.js';
import { runBootSectorVm } from '../../src/vm-boot.js';
import { runImageVmThreaded } from '../../src/vm-threaded.js';

const XMC = new Uint8Array(readFileSync(join(GUESTS_DIR, 'xmc', 'xmc.img')));
const EXPECTED = "XMC: the AP's call returned 00000011 before the rewrite, 00000022 after it\n";

describe('cross-modifying code', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    it(`2 vCPUs under ${arch}, one thread each: the AP runs the rewritten function`, {
      timeout: 120_000,
    }, async () => {
      const thr = await runImageVmThreaded(XMC, { arch, cpus: 2, maxInstructions: 1_000_000_000 });
      expect({ output: thr.output, stop: thr.stop, exitStatus: thr.exitStatus }).toEqual({
        output: EXPECTED,
        stop: 'exit',
        exitStatus: 1,
      });
      expect(thr.hung).toEqual([]);
    });

    it(`2 vCPUs under ${arch}, one thread: the same`, () => {
      const det = runBootSectorVm(XMC, { arch, cpus: 2, maxInstructions: 50_000_000 });
      expect({ output: det.output, stop: det.stop }).toEqual({ output: EXPECTED, stop: 'exit' });
    });
  }
});
