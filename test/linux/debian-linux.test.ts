// Debian's own kernel (linux-image-amd64, fetched by test/linux/fetch-debian.sh) with an initramfs
// made here (test/linux/initramfs.ts), run by the built CLI as a user would run it: it boots through
// its PVH entry (the bzImage's XZ payload is taken out), brings up every CPU, reaches userspace,
// takes CPU 1 offline and online again, and powers off (ACPI S5: exit status 0). One boot per
// backend: a boot is about 1.7 billion instructions. Skipped, saying why, without the kernel.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';
import { DEBIAN, DEBIAN_SKIP, hotplugInitrd } from './debian-kernel.js';
import { INIT_MARKERS } from './initramfs.js';

/** The TSC runs at 1 GHz (CPUID 40000010h): loops_per_jiffy = 1,000,000 kHz * 1000 / HZ 250. */
const APPEND = 'console=ttyS0 panic=-1 tsc=reliable lpj=4000000';

describe("Debian's Linux kernel", () => {
  const initrd = hotplugInitrd('hvemu-linux-');

  for (const arch of ['svm', 'vmx'] as const) {
    it(`boots on 4 vCPUs under ${arch.toUpperCase()}, brings every CPU up, and takes CPU 1 offline and online`, (ctx) => {
      ctx.skip(DEBIAN_SKIP !== null, DEBIAN_SKIP ?? undefined);
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'run',
          join(DEBIAN, 'vmlinuz'),
          ...['--arch', arch, '--cpus', '4', '--memory', '256M'],
          ...['--append', APPEND, '--initrd', initrd(), '--max-instructions', '4000000000'],
        ],
        { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'], timeout: 900_000 },
      );
      const out = r.stdout;
      expect(out).toContain('smp: Brought up 1 node, 4 CPUs');
      expect(out).toContain(INIT_MARKERS.started);
      expect(out).toContain(`${INIT_MARKERS.online} 0-3`);
      expect(out).toContain(`${INIT_MARKERS.offline} (0,2-3)`);
      expect(out).toContain(`${INIT_MARKERS.onlineAgain} (0-3)`);
      expect(out).toContain(INIT_MARKERS.done);
      expect(out).toContain('reboot: Power down');
      expect(r.status).toBe(0);
    }, 900_000);
  }
});
