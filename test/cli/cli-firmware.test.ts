// Firmware mode on the command line: --bios, the --pflash pair and QEMU's spellings of them
// (-bios, -drive if=pflash,..., -debugcon file:F), and the refusals for images QEMU's pc machine
// would not map (not whole 4 KiB sectors, more than 8 MiB). The runs are a few thousand
// instructions of Debian's OVMF (SEC's first steps): enough to show the firmware is mapped and
// entered at the reset vector; test/firmware/ovmf.test.ts boots it further.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCli, hvemu } from '../support/cli.js';

const CODE = '/usr/share/OVMF/OVMF_CODE.fd';
const VARS = '/usr/share/OVMF/OVMF_VARS.fd';
const have = existsSync(CODE) && existsSync(VARS);
let dir = '';

beforeAll(() => {
  ensureCli();
  dir = mkdtempSync(join(tmpdir(), 'hvemu-fw-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!have)('firmware mode (skipped without /usr/share/OVMF: install Debian package ovmf)', () => {
  const few = ['--max-instructions', '20000'];

  it.each([
    ['--pflash CODE --pflash VARS', () => ['--pflash', CODE, '--pflash', VARS]],
    ['--bios CODE', () => ['--bios', CODE]],
    [
      "QEMU's -drive if=pflash pair and -debugcon file:",
      () => [
        ...['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${CODE}`],
        ...['-drive', `if=pflash,format=raw,unit=1,file=${VARS}`],
        ...['-debugcon', `file:${join(dir, 'debugcon.txt')}`, '-global', 'isa-debugcon.iobase=0x402'],
      ],
    ],
    ['--arch vmx', () => ['--pflash', CODE, '--pflash', VARS, '--arch', 'vmx']],
  ] as [string, () => string[]][])('%s runs the firmware from the reset vector', (_what, args) => {
    const r = hvemu('run', ...args(), ...few);
    expect(r.stderr).toMatch(/stopped after \d+ instructions/);
    expect(r.status).toBe(4); // --max-instructions: it ran, nothing refused it
  });

  it.each([
    [
      'three --pflash files',
      () => ['--pflash', CODE, '--pflash', VARS, '--pflash', VARS],
      /--pflash takes the code and the variable store \(QEMU's units 0 and 1\), not 3 files/,
    ],
    ['--bios with --pflash', () => ['--bios', CODE, '--pflash', VARS], /--bios and --pflash both name/],
    ['--pflash-write without a variable store', () => ['--bios', CODE, '--pflash-write'], /there is none/],
    ['an image and --bios', () => [CODE, '--bios', CODE], /is what boots: give no other image/],
    [
      'an image not whole 4 KiB sectors',
      () => ['--bios', file('odd.fd', 5000)],
      /odd\.fd is 5000 bytes; a system flash image is whole 4096-byte sectors/,
    ],
    [
      'a pair over 8 MiB',
      () => ['--pflash', file('big.fd', 8 * 2 ** 20), '--pflash', file('vars.fd', 4096)],
      /the firmware is 8392704 bytes .* at most 8388608 bytes \(8 MiB\) below 4 GiB/,
    ],
    [
      'a -drive if=pflash in qcow2',
      () => ['-drive', `if=pflash,format=qcow2,file=${CODE}`],
      /format=qcow2: hvemu reads raw images only/,
    ],
  ] as [string, () => string[], RegExp][])('refuses %s, exit 8', (_what, args, message) => {
    const r = hvemu('run', ...args(), ...few);
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(8);
  });
});

function file(name: string, bytes: number): string {
  const p = join(dir, name);
  writeFileSync(p, new Uint8Array(bytes));
  return p;
}
