// minios, the disk-booting SMP teaching guest, under hvemu and under QEMU (the outside truth):
// the same disk image and the same console input (input.txt) give the same console output, under
// SVM and VMX with 1, 2 and 4 vCPUs and under qemu-system-i386 -smp N with SeaBIOS. The AP greetings
// may come in any order, so they are compared as a set and every other line in order. The
// expected-smpN.txt files are what QEMU printed (qemu-run.sh); the QEMU runs here check them
// again where QEMU is installed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesInput, runImageVm } from '../../src/vm-boot.js';
import { DiskImage } from '../../src/vmm/devices/disk-image.js';

const DIR = import.meta.dirname;
const IMAGE = new Uint8Array(readFileSync(join(DIR, 'minios.img')));
const INPUT = readFileSync(join(DIR, 'input.txt'), 'latin1');
const expected = (cpus: number) => readFileSync(join(DIR, `expected-smp${cpus}.txt`), 'latin1');
const qemuInstalled = spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0;

const AP_LINE = /^smp: hello from AP \d+$/;
/** The lines in order with the AP greetings taken out, and the greetings sorted. */
function shape(out: string) {
  const lines = out.split('\n');
  return {
    ordered: lines.filter((l) => !AP_LINE.test(l)),
    aps: lines.filter((l) => AP_LINE.test(l)).sort(),
  };
}

function boot(arch: 'svm' | 'vmx', cpus: number, how: 'com1' | 'keyboard' = 'com1') {
  let screen = '';
  const input = bytesInput(INPUT);
  const r = runImageVm(new Uint8Array(0), {
    arch,
    cpus,
    disks: [new DiskImage(IMAGE, 'minios.img')],
    serialInput: how === 'com1' ? input : undefined,
    keyboardInput: how === 'keyboard' ? input : undefined,
    onVgaScreen: (t) => {
      screen = t;
    },
    maxInstructions: 20_000_000,
  });
  return { ...r, screen };
}

describe('minios under hvemu', () => {
  for (const arch of ['svm', 'vmx'] as const)
    for (const cpus of [1, 2, 4])
      it(`${arch}, ${cpus} vCPU${cpus > 1 ? 's' : ''}: the shell session QEMU prints, every AP online, exit 1`, () => {
        const r = boot(arch, cpus);
        expect(r.stop).toBe('exit');
        expect(r.exitStatus).toBe(1);
        expect(shape(r.output)).toEqual(shape(expected(cpus)));
        expect(r.output).toContain(`smp: ${cpus} of ${cpus}\n`);
        // The kernel prints to the VGA text screen too: the screen holds the end of the session.
        const kernelLines = r.output.split('\n').slice(1, -1);
        const screenLines = r.screen.trimEnd().split('\n');
        expect(screenLines.length).toBeGreaterThanOrEqual(Math.min(kernelLines.length, 24));
        expect(screenLines).toEqual(kernelLines.slice(-screenLines.length));
      });

  it('typed on the keyboard (8042, set-1 scan codes) instead of COM1: the same session', () => {
    const r = boot('svm', 2, 'keyboard');
    expect(r.exitStatus).toBe(1);
    expect(shape(r.output)).toEqual(shape(expected(2)));
  });

  it('the disk command sees IDENTIFY give the image size and IRQ 14 arrive through the I/O APIC', () => {
    const r = boot('vmx', 1);
    expect(r.output).toContain(`disk: ${IMAGE.length / 512} sectors, LBA yes\n`);
    expect(r.output).toContain('disk: sector 0 read on IRQ 14, signature 0xaa55\n');
  });
});

describe('minios under QEMU (the outside truth)', () => {
  for (const cpus of [1, 2, 4])
    it(`qemu-system-i386 -smp ${cpus}: prints expected-smp${cpus}.txt and exits 1, as hvemu does`, (ctx) => {
      ctx.skip(!qemuInstalled, 'qemu-system-i386 not installed: the QEMU comparison was skipped');
      const q = spawnSync('bash', [join(DIR, 'qemu-run.sh'), join(DIR, 'minios.img'), String(cpus)], {
        input: INPUT,
        encoding: 'latin1',
        env: { ...process.env, QEMU_TIMEOUT: '60' },
      });
      expect(q.status).toBe(1);
      expect(shape(q.stdout)).toEqual(shape(expected(cpus)));
      expect(shape(q.stdout)).toEqual(shape(boot('svm', cpus).output));
    });
});
