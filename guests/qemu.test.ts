// Anchors the guests' expected files to QEMU: runs every image under qemu-system-x86_64 (TCG) and
// asserts the same output and exit status hvemu must give. Boot sectors run with no firmware
// (qemu-run.sh), Multiboot kernels through -kernel with the vCPU count in expected.json
// (qemu-kernel-run.sh). Skipped, with the reason shown, where QEMU is not installed.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUEST_KINDS, GUESTS_DIR, loadGuests } from './guest-list.js';

const hasCommand = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const qemuInstalled = hasCommand('qemu-system-x86_64');
// Boot sectors start from the committed BIOS stub (guests/qemu/bios-stub.bin): QEMU is all they need.
const skipReason = qemuInstalled ? null : 'QEMU not installed: the QEMU comparison was skipped';

describe('NASM guests in QEMU (the outside truth)', () => {
  for (const guest of loadGuests(GUEST_KINDS)) {
    const how = guest.kind === 'multiboot' ? ` (-kernel, -smp ${guest.cpus})` : '';
    it(`${guest.name}: QEMU${how} prints expected.txt and exits with ${guest.qemuExitStatus}`, (ctx) => {
      // Multiboot runs use QEMU's own firmware: they need QEMU only.
      const reason = guest.kind === 'multiboot' && qemuInstalled ? null : skipReason;
      ctx.skip(reason !== null, reason ?? undefined);
      const args =
        guest.kind === 'multiboot'
          ? [join(GUESTS_DIR, 'qemu-kernel-run.sh'), guest.imagePath, String(guest.cpus), guest.append]
          : [join(GUESTS_DIR, 'qemu-run.sh'), guest.imagePath];
      const run = spawnSync('bash', args, {
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
