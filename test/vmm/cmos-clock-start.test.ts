// The CMOS clock starts at a fixed date on the VM's virtual clock unless asked for the host's time,
// so two runs of a guest that reads it print the same thing. Before, it started at the host's wall
// clock and every run differed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBootSectorVm } from '../../src/vm-boot.js';
import { RTC_DEFAULT_EPOCH_MS } from '../../src/vmm/devices/cmos-rtc.js';

/** Real mode: print CMOS registers 0 (seconds), 2, 4, 7, 8, 9 and 32h (century) on port 0xE9, then exit. */
const READ_CLOCK = (() => {
  const code: number[] = [];
  for (const reg of [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32])
    code.push(0xb0, reg, 0xe6, 0x70, 0xe4, 0x71, 0xe6, 0xe9); // mov al, reg / out 70h, al / in al, 71h / out 0E9h, al
  code.push(0x30, 0xc0, 0xe6, 0xf4); // xor al, al / out 0F4h, al
  const img = new Uint8Array(512);
  img.set(code);
  img[510] = 0x55;
  img[511] = 0xaa;
  return img;
})();

const bcd = (n: number) => ((Math.floor(n / 10) << 4) | (n % 10)) & 0xff;
const clockBytes = (d: Date) =>
  [
    d.getUTCSeconds(),
    d.getUTCMinutes(),
    d.getUTCHours(),
    d.getUTCDate(),
    d.getUTCMonth() + 1,
    d.getUTCFullYear() % 100,
    Math.floor(d.getUTCFullYear() / 100),
  ].map(bcd);

describe('the CMOS clock at the start of a run', () => {
  it('is 2025-01-01 00:00:00 UTC by default, in both backends and in every run', () => {
    const want = clockBytes(new Date(RTC_DEFAULT_EPOCH_MS));
    expect(want).toEqual([0, 0, 0, 0x01, 0x01, 0x25, 0x20]);
    const outputs = ['svm', 'svm', 'vmx'].map((arch) => {
      const r = runBootSectorVm(READ_CLOCK, { arch: arch as 'svm' | 'vmx', maxInstructions: 10_000 });
      expect(r.stop, r.message).toBe('exit');
      return [...Buffer.from(r.output, 'latin1')];
    });
    for (const out of outputs) expect(out).toEqual(want);
  });

  it("'host' starts it at the host's time", () => {
    const before = Date.now();
    const r = runBootSectorVm(READ_CLOCK, { arch: 'svm', rtcEpochMs: 'host', maxInstructions: 10_000 });
    const after = Date.now();
    const got = [...Buffer.from(r.output, 'latin1')];
    // The run takes well under a second of virtual time: the guest sees the host's time at the start.
    const candidates = [clockBytes(new Date(before)), clockBytes(new Date(after))];
    expect(candidates).toContainEqual(got);
  });
});

describe('hvemu run --rtc', () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const CLI = join(ROOT, 'dist', 'src', 'cli.js');
  const hvemu = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'latin1', timeout: 60_000 });

  it.skipIf(!existsSync(CLI))(
    'default and --rtc fixed give the fixed date; --rtc host the year now; others are refused',
    () => {
      const img = join(mkdtempSync(join(tmpdir(), 'hvemu-rtc-')), 'clock.img');
      writeFileSync(img, READ_CLOCK);
      const fixed = hvemu('run', img, '--arch', 'svm');
      expect(fixed.status).toBe(0); // the guest wrote 0 to port 0xF4
      expect([...Buffer.from(fixed.stdout, 'latin1')]).toEqual([0, 0, 0, 0x01, 0x01, 0x25, 0x20]);
      expect(hvemu('run', img, '--arch', 'svm', '--rtc', 'fixed').stdout).toBe(fixed.stdout);
      const host = hvemu('run', img, '--arch', 'svm', '--rtc', 'host');
      expect(host.status).toBe(0);
      expect(host.stdout.charCodeAt(5)).toBe(bcd(new Date().getUTCFullYear() % 100));
      const bad = hvemu('run', img, '--arch', 'svm', '--rtc', 'localtime');
      expect(bad.status).toBe(8);
      expect(bad.stderr).toMatch(/--rtc must be fixed or host/);
    },
  );
});
