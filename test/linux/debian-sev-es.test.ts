// Debian's own kernel (fetched by test/linux/fetch-debian.sh) as an SEV-ES guest, run by the built
// CLI as a user would run it: `hvemu run vmlinuz --sev-es`. The kernel is entered through its 64-bit
// boot protocol with everything in RAM launched and measured (src/sev-linux.ts); it brings up 4
// CPUs (each AP's first SIPI runs its launch VMSA, the measured stub far-jumps through the AP jump
// table), reaches userspace, takes CPU 1 offline (sev_es_play_dead: VMGEXIT AP_HLT_LOOP, the vCPU
// parks in AP Reset Hold) and online again (INIT-SIPI-SIPI completes the hold with
// sw_exit_info_2 = 1), and powers off. One boot: about as long as the legacy one. Skipped, saying
// why, without the kernel.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';
import { DEBIAN, DEBIAN_SKIP, hotplugInitrd } from './debian-kernel.js';
import { INIT_MARKERS } from './initramfs.js';

/**
 * As the legacy boot's (debian-linux.test.ts), plus swiotlb=1024 (2 MiB of bounce buffers): under
 * SEV every DMA goes through swiotlb, which Linux sizes at 6% of RAM and at least 64 MiB and makes
 * shared page by page; this VM has no DMA-capable device, so the smallest useful pool saves a quarter
 * of its 256 MiB and the conversion work.
 */
const APPEND = 'console=ttyS0 panic=-1 tsc=reliable lpj=4000000 swiotlb=1024';

describe("Debian's Linux kernel as an SEV-ES guest", () => {
  const initrd = hotplugInitrd('hvemu-sev-linux-');

  it('boots on 4 vCPUs, brings every CPU up, parks CPU 1 in AP Reset Hold and wakes it with INIT-SIPI-SIPI', (ctx) => {
    ctx.skip(DEBIAN_SKIP !== null, DEBIAN_SKIP ?? undefined);
    const started = process.hrtime.bigint();
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'run',
        join(DEBIAN, 'vmlinuz'),
        ...['--sev-es', '--cpus', '4', '--memory', '256M', '--trace', 'mp', '--stats'],
        ...['--append', APPEND, '--initrd', initrd(), '--max-instructions', '4000000000'],
      ],
      { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'], timeout: 1_500_000, maxBuffer: 1 << 28 },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const out = r.stdout;
    const err = r.stderr;
    const stats = /(\d+) instructions in/.exec(err);
    console.log(`SEV-ES Linux boot: ${stats?.[1] ?? '?'} instructions, ${seconds.toFixed(1)} s host time`);
    expect(err).toContain("matches the owner's recomputation");
    expect(out).toContain('Memory Encryption Features active: AMD SEV SEV-ES');
    expect(out).toContain('smp: Brought up 1 node, 4 CPUs');
    expect(out).toContain(INIT_MARKERS.started);
    expect(out).toContain(`${INIT_MARKERS.online} 0-3`);
    expect(out).toContain(`${INIT_MARKERS.offline} (0,2-3)`);
    expect(out).toContain(`${INIT_MARKERS.onlineAgain} (0-3)`);
    expect(out).toContain(INIT_MARKERS.done);
    expect(out).toContain('reboot: Power down');

    // The trace of vCPU 1: its first SIPI runs the launch VMSA; after boot it parks in AP Reset Hold
    // (interrupts may wake it and it asks again) and an INIT-SIPI-SIPI completes the hold.
    const v1 = err.split('\n').filter((l) => l.startsWith('vcpu 1: '));
    const first = v1.findIndex((l) => l.includes('first SIPI: runs its launch VMSA'));
    expect(first).toBeGreaterThanOrEqual(0);
    const park = v1.findIndex((l, i) => i > first && l.endsWith('-> AP_RESET_HOLD'));
    expect(park).toBeGreaterThan(first);
    const release = v1.findIndex(
      (l, i) => i > park && /AP Reset Hold \(GHCB at 0x[0-9a-f]+\) completed/.test(l),
    );
    expect(release).toBeGreaterThan(park);
    // Between the last time it parked and the release: INIT took it from the hold to wait-for-SIPI.
    let lastPark = release;
    while (!v1[lastPark].endsWith('-> AP_RESET_HOLD')) lastPark--;
    expect(v1.slice(lastPark + 1, release)).toContain('vcpu 1: mp_state AP_RESET_HOLD -> INIT_RECEIVED');
    expect(v1[release + 1]).toBe('vcpu 1: mp_state INIT_RECEIVED -> RUNNABLE');
    // No other vCPU was taken offline.
    expect(err).not.toMatch(/vcpu [023]: mp_state \w+ -> AP_RESET_HOLD/);
    expect(r.status).toBe(0);
  }, 1_500_000);
});
