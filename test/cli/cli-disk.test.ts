// `hvemu run` with disks, as a user meets it (dist/src/cli.js): a disk image given as the image
// boots from its LBA 0 although the kernel it carries has a Multiboot header; --disk and QEMU's
// -hda spell the same; -drive gets a hint; --disk-write decides whether the guest's writes reach
// the file; --vga writes the text screen; standard input is the guest's console input (COM1, or
// the keyboard with --input keyboard). The guest is guests/minios; its expected output is QEMU's.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureCli, ROOT } from '../support/cli.js';

const MINIOS = join(ROOT, 'guests', 'minios');
const IMAGE = join(MINIOS, 'minios.img');
const INPUT = readFileSync(join(MINIOS, 'input.txt'), 'latin1');
const DIR = mkdtempSync(join(tmpdir(), 'hvemu-disk-cli-'));
const expected = (cpus: number) => readFileSync(join(MINIOS, `expected-smp${cpus}.txt`), 'latin1');

function hvemu(input: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'latin1', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(ensureCli);

describe('hvemu run with a disk', () => {
  it('a disk image as the image boots as a disk (its kernel has a Multiboot header), stdin on COM1', () => {
    const r = hvemu(INPUT, 'run', IMAGE);
    expect(r.stdout).toBe(expected(1));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('--disk and -hda boot the same disk; --input keyboard types stdin on the 8042', () => {
    const a = hvemu(INPUT, 'run', '--disk', IMAGE);
    const b = hvemu(INPUT, 'run', '-hda', IMAGE);
    const c = hvemu(INPUT, 'run', '--disk', IMAGE, '--input', 'keyboard');
    expect(a.stdout).toBe(expected(1));
    expect(b.stdout).toBe(expected(1));
    expect(c.stdout).toBe(expected(1));
    expect([a.status, b.status, c.status]).toEqual([0, 0, 0]);
  });

  it("QEMU's -drive file=F,format=raw is the master disk, as on QEMU's pc machine (if=ide, index 0)", () => {
    const r = hvemu(INPUT, 'run', '-drive', `file=${IMAGE},format=raw`);
    expect(r.stdout).toBe(expected(1));
    expect(r.status).toBe(0);
  });

  it.each([
    [`file=${IMAGE},if=virtio`, /-drive if=virtio: hvemu has IDE disks only/],
    [`file=${IMAGE},format=qcow2`, /-drive format=qcow2: hvemu reads raw images only/],
    [`file=${IMAGE},index=2`, /-drive index=2: hvemu has the primary channel only \(index 0 and 1\)/],
    ['format=raw', /hvemu needs file=FILE/],
  ])("QEMU's -drive %s is answered with a hint naming --disk, status 8", (spec, message) => {
    const r = hvemu('', 'run', '-drive', spec);
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/--disk FILE/);
  });

  it('--arch none cannot take a disk (the PC devices are the VM platform): status 8', () => {
    const r = hvemu('', 'run', '--disk', IMAGE, '--arch', 'none');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/use --arch svm or vmx/);
  });

  it('without --disk-write the file is unchanged; with it the stamp reaches the last sector', () => {
    for (const write of [false, true]) {
      const disk = join(DIR, `minios-${write}.img`);
      copyFileSync(IMAGE, disk);
      const r = hvemu('stamp\nhalt\n', 'run', '--disk', disk, ...(write ? ['--disk-write'] : []));
      expect(r.stdout).toContain('disk: LBA 7 written and read back: minios was here\n');
      expect(r.status).toBe(0);
      const last = readFileSync(disk)
        .subarray(7 * 512, 7 * 512 + 15)
        .toString('latin1');
      expect(last).toBe(write ? 'minios was here' : '\0'.repeat(15));
    }
  });

  it('--vga FILE holds the text screen at the end: the kernel lines the guest also sent to COM1', () => {
    const screen = join(DIR, 'screen.txt');
    const r = hvemu(INPUT, 'run', '--disk', IMAGE, '--vga', screen, '--arch', 'vmx');
    expect(r.status).toBe(0);
    const lines = readFileSync(screen, 'latin1').trimEnd().split('\n');
    const kernel = r.stdout.split('\n').slice(1, -1);
    expect(lines.length).toBeGreaterThanOrEqual(20);
    expect(lines).toEqual(kernel.slice(-lines.length));
  });

  it('--vga-console prints each finished screen row once: the session as the screen shows it', () => {
    const r = hvemu(INPUT, 'run', '--disk', IMAGE, '--vga-console', '--console', 'e9');
    // With --console e9 COM1 is not shown (the guest never writes 0xE9): only the screen rows.
    expect(r.stdout).toBe(`${expected(1).split('\n').slice(1).join('\n')}`);
  });
});
