// Anchors the guests' expected files to QEMU: runs every image under qemu-system-x86_64 (TCG,
// no firmware, via qemu-run.sh) and asserts the same output and exit status hvemu must give.
// Skipped, with the reason shown, where QEMU is not installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR, loadGuests } from './guest-list.js';

const hasCommand = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const qemuInstalled = hasCommand('qemu-system-x86_64');
// qemu-run.sh assembles the BIOS stub into build/ when it is missing, which needs nasm.
const stubReady = existsSync(join(GUESTS_DIR, '..', 'build', 'bios-stub.bin')) || hasCommand('nasm');

const skipReason = !qemuInstalled
  ? 'QEMU not installed: the QEMU comparison was skipped'
  : !stubReady
    ? 'nasm not installed and build/bios-stub.bin missing: the QEMU comparison was skipped'
    : null;

describe('NASM guests in QEMU (the outside truth)', () => {
  for (const guest of loadGuests()) {
    it(`${guest.name}: QEMU prints expected.txt and exits with ${guest.qemuExitStatus}`, (ctx) => {
      ctx.skip(skipReason !== null, skipReason ?? undefined);
      const run = spawnSync('bash', [join(GUESTS_DIR, 'qemu-run.sh'), guest.imagePath], {
        encoding: 'latin1',
        env: { ...process.env, QEMU_TIMEOUT: '60' },
      });
      expect(run.error).toBeUndefined();
      expect({ output: run.stdout, status: run.status }).toEqual({
        output: guest.output,
        status: guest.qemuExitStatus,
      });
    });
  }
});
