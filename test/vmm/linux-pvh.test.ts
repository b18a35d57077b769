// Linux's ways in: the PVH entry of an ELF kernel (vmlinux) and a bzImage whose payload hvemu takes
// out and decompresses. guests/pvh-hello is the smallest PVH kernel: it prints the hvm_start_info
// fields Linux reads. Its expected output is what QEMU's -kernel/-append/-initrd give it, checked
// again here when QEMU is installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runImageVm } from '../../src/vm-boot.js';
import { ImageError } from '../../src/vmm/bare-metal.js';
import { extractVmlinux, isBzImage } from '../../src/vmm/loaders/linux/bzimage.js';
import { findPvhEntry, HVM_START_MAGIC } from '../../src/vmm/loaders/linux/pvh.js';

const DIR = new URL('../../guests/pvh-hello/', import.meta.url).pathname;
const KERNEL = new Uint8Array(readFileSync(join(DIR, 'pvh-hello.img')));
const EXPECTED = readFileSync(join(DIR, 'expected.txt'), 'latin1');
const SPEC = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as {
  cmdline: string;
  initrd: string;
};
const INITRD = new TextEncoder().encode(SPEC.initrd);
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

/** A bzImage around `payload` (boot protocol 2.15 header fields only; setup_sects = 1). */
function bzImage(payload: Uint8Array): Uint8Array {
  const setup = 2 * 512;
  const img = new Uint8Array(setup + 0x100 + payload.length + 4);
  const dv = new DataView(img.buffer);
  img[0x1f1] = 1; // setup_sects
  dv.setUint16(0x1fe, 0xaa55, true);
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, 0x020f, true);
  dv.setUint32(0x248, 0x100, true); // payload_offset from the protected-mode kernel
  dv.setUint32(0x24c, payload.length, true);
  img.set(payload, setup + 0x100);
  return img;
}

function run(image: Uint8Array) {
  return runImageVm(image, { cmdline: SPEC.cmdline, initrd: INITRD, maxInstructions: 5_000_000 });
}

describe('PVH entry (hvm_start_info)', () => {
  it('finds the XEN_ELFNOTE_PHYS32_ENTRY note', () => {
    // pvh-hello's note and its e_entry both name `start`.
    const eEntry = new DataView(KERNEL.buffer, KERNEL.byteOffset).getUint32(24, true);
    expect(eEntry).toBeGreaterThan(0x100000);
    expect(findPvhEntry(KERNEL)).toBe(eEntry);
    expect(findPvhEntry(new Uint8Array(512))).toBeNull();
  });

  it('enters pvh-hello as QEMU does: flat 32-bit, paging off, the command line, the initrd, the RSDP', () => {
    const r = run(KERNEL);
    expect(r.output).toBe(EXPECTED);
    expect(r.exitStatus).toBe(1);
    expect(EXPECTED).toContain(`magic ${HVM_START_MAGIC.toString(16).toUpperCase()}`);
  });

  it('QEMU -kernel -append -initrd prints the same (the outside truth)', (ctx) => {
    ctx.skip(!has('qemu-system-x86_64'), 'QEMU not installed: the QEMU comparison was skipped');
    const dir = mkdtempSync(join(tmpdir(), 'hvemu-pvh-'));
    try {
      writeFileSync(join(dir, 'initrd'), INITRD);
      const out = join(dir, 'com1.txt');
      const q = spawnSync(
        'timeout',
        [
          '60',
          'qemu-system-x86_64',
          ...['-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-reboot', '-m', '64'],
          ...['-kernel', join(DIR, 'pvh-hello.img'), '-append', SPEC.cmdline, '-initrd', join(dir, 'initrd')],
          ...['-serial', `file:${out}`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'],
        ],
        { encoding: 'latin1' },
      );
      expect(q.status).toBe(1);
      expect(readFileSync(out, 'latin1')).toBe(EXPECTED);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a kernel whose segments do not fit in RAM, saying so', () => {
    const big = Uint8Array.from(KERNEL);
    new DataView(big.buffer).setUint32(52 + 12, 0x7000_0000, true); // PT_LOAD p_paddr far above RAM
    expect(() => run(big)).toThrow(ImageError);
    expect(() => run(big)).toThrow(/outside RAM/);
  });
});

describe('bzImage', () => {
  it('takes out a gzip payload and boots the vmlinux inside through PVH', () => {
    const bz = bzImage(gzipSync(KERNEL));
    expect(isBzImage(bz)).toBe(true);
    expect(Buffer.from(extractVmlinux(bz)).equals(Buffer.from(KERNEL))).toBe(true);
    expect(run(bz).output).toBe(EXPECTED);
  });

  it('takes out an XZ payload with the x86 BCJ filter, as Debian builds its kernels', (ctx) => {
    ctx.skip(!has('xz'), 'xz (xz-utils) not installed: the XZ payload test was skipped');
    // The kernel's scripts/xz_wrap.sh: --check=crc32 --x86 --lzma2.
    const xz = spawnSync('xz', ['-c', '--check=crc32', '--x86', '--lzma2=dict=1MiB'], { input: KERNEL });
    expect(xz.status).toBe(0);
    const bz = bzImage(new Uint8Array(xz.stdout));
    expect(Buffer.from(extractVmlinux(bz)).equals(Buffer.from(KERNEL))).toBe(true);
  });

  it('refuses a truncated bzImage or an unknown payload format with the reason', () => {
    const bz = bzImage(gzipSync(KERNEL));
    expect(() => run(bz.subarray(0, 0x500))).toThrow(/outside the file|not a bootable Linux kernel/);
    const odd = bzImage(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0));
    expect(() => run(odd)).toThrow(/format hvemu does not decompress/);
  });
});
