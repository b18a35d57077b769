// `hvemu run` with Multiboot kernels, as a user meets it (dist/src/cli.js, built by `npm run
// build`): the COM1 console on stdout, the guest's exit status, and malformed kernels refused with
// exit status 8 and a message that says what is wrong with them.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureCli, hvemu, ROOT } from '../support/cli.js';
import { AOUT_KLUDGE, aoutKernel, EXIT_0, OUT_EAX } from '../vmm/platform-kernels.js';

const SMP_LEGACY = join(ROOT, 'guests', 'smp-legacy', 'smp-legacy.img');
const DIR = mkdtempSync(join(tmpdir(), 'hvemu-mb-cli-'));

function file(name: string, bytes: Uint8Array): string {
  const p = join(DIR, name);
  writeFileSync(p, bytes);
  return p;
}

beforeAll(ensureCli);

describe('hvemu run <Multiboot kernel>', () => {
  it('smp-legacy --cpus 4: the COM1 console on stdout is what QEMU printed, exit status 0', () => {
    for (const arch of [[], ['--arch', 'vmx']]) {
      const r = hvemu('run', SMP_LEGACY, '--cpus', '4', ...arch);
      expect(r.stdout).toBe(readFileSync(join(ROOT, 'guests', 'smp-legacy', 'expected.txt'), 'latin1'));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('fwcfg --cpus 3 --append: what QEMU printed with -smp 3 -append (fw_cfg, PCI, ACPI, the command line)', () => {
    const r = hvemu(
      'run',
      join(ROOT, 'guests', 'fwcfg', 'fwcfg.img'),
      '--cpus',
      '3',
      '--append',
      'hello world=1',
    );
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'guests', 'fwcfg', 'expected.txt'), 'latin1'));
    expect(r.status).toBe(0); // the guest wrote 0 to port 0xF4: success
  });

  it('--initrd "file args": a Multiboot module with its bytes and its string, as QEMU -initrd', () => {
    // mov eax,[ebx+20] (mods_count); report; mov esi,[ebx+24]; mov eax,[esi] (mod_start);
    // mov eax,[eax]: the module's first bytes; report; mov eax,[esi+8]; mov eax,[eax]: its string.
    const kernel = aoutKernel([
      0x8b,
      0x43,
      0x14,
      ...OUT_EAX,
      0x8b,
      0x73,
      0x18,
      0x8b,
      0x06,
      0x8b,
      0x00,
      ...OUT_EAX,
      0x8b,
      0x46,
      0x08,
      0x8b,
      0x00,
      ...OUT_EAX,
      ...EXIT_0,
    ]);
    const mod = file('mod.bin', Uint8Array.from([0x4d, 0x4f, 0x44, 0x21]));
    const r = hvemu('run', file('k-initrd.img', kernel), '--initrd', `${mod} x=1`);
    expect(r.status).toBe(0);
    const out = Buffer.from(r.stdout, 'latin1');
    expect(out.readUInt32LE(0)).toBe(1);
    expect(out.subarray(4, 8).toString('latin1')).toBe('MOD!');
    expect(out.subarray(8, 12).toString('latin1')).toBe(mod.slice(0, 4));
  });

  it('a Linux kernel (PVH): --append is its whole command line, --initrd its initrd, as QEMU gives them', () => {
    const pvh = join(ROOT, 'guests', 'pvh-hello');
    const json = JSON.parse(readFileSync(join(pvh, 'expected.json'), 'utf8'));
    const initrd = file('initrd.txt', new TextEncoder().encode(json.initrd));
    const r = hvemu('run', join(pvh, 'pvh-hello.img'), '--append', json.cmdline, '--initrd', initrd);
    expect(r.stdout).toBe(readFileSync(join(pvh, 'expected.txt'), 'latin1'));
    expect(json.exitStatus).toBe(1); // QEMU's status for the guest's 0: hvemu run exits 0
    expect(r.status).toBe(0);
  });

  it('--append is refused for an image that is not a Multiboot or Linux kernel', () => {
    const r = hvemu('run', file('bs.img', Uint8Array.from([0xf4])), '--append', 'x');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/--append and --initrd are for a Multiboot or Linux kernel/);
  });

  it('--arch none is refused: a Multiboot kernel runs as a VM', () => {
    const r = hvemu('run', SMP_LEGACY, '--arch', 'none');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/is a Multiboot kernel, which runs as a VM: use --arch svm or vmx/);
  });

  it('--trace names the categories it takes', () => {
    const r = hvemu('run', SMP_LEGACY, '--trace', 'exits,bogus');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/--trace takes exits, apic, mp.*not 'bogus'/);
  });
});

describe('malformed Multiboot kernels exit 8 and say what is wrong', () => {
  const elf64 = () => {
    // An ELF64 identification, then a Multiboot header without the a.out kludge at offset 64.
    const img = new Uint8Array(64 + 12);
    img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
    const dv = new DataView(img.buffer);
    dv.setUint32(64, 0x1badb002, true);
    dv.setUint32(68, 0, true);
    dv.setUint32(72, -0x1badb002 >>> 0, true);
    return img;
  };
  const cases: [string, Uint8Array, RegExp, string[]?][] = [
    [
      'bad checksum',
      aoutKernel(EXIT_0, { checksum: 0 }),
      /bad checksum in the Multiboot header at offset 0x0: magic \+ flags \+ checksum = 0x1BAEB002, must be 0/,
    ],
    [
      'a header cut short',
      Uint8Array.from([0x02, 0xb0, 0xad, 0x1b, 0, 0]),
      /truncated file: .* needs 12 bytes/,
    ],
    ['a required video mode', aoutKernel(EXIT_0, { flags: AOUT_KLUDGE | 4 }), /requires a video mode/],
    [
      'neither ELF nor the a.out kludge',
      aoutKernel(EXIT_0, { flags: 0 }),
      /not an ELF32 image .* no a\.out kludge/,
    ],
    ['an ELF64 kernel', elf64(), /ELF64 image: Multiboot 1 loads 32-bit kernels only/],
    [
      'load_addr above header_addr',
      aoutKernel(EXIT_0, { loadAddr: 0x100010 }),
      /load_addr 0x100010 is above header_addr 0x100000/,
    ],
    [
      'an entry point outside the image',
      aoutKernel(EXIT_0, { entryAddr: 0x200000 }),
      /entry_addr 0x200000 is outside the loaded image 0x100000-0x100024/,
    ],
    [
      'a kernel beyond the end of RAM',
      aoutKernel(EXIT_0, { headerAddr: 0x1000000, loadAddr: 0x1000000, entryAddr: 0x1000020 }),
      /the kernel at 0x1000000-0x1000024 is outside RAM \(8388608 bytes, ending at 0x800000\)/,
      ['--memory', '8'],
    ],
    [
      'a kernel over the BIOS area',
      aoutKernel(EXIT_0, { headerAddr: 0xf8000, loadAddr: 0xf8000, entryAddr: 0xf8020 }),
      /overlaps the BIOS area 0xF0000-0xFFFFF/,
    ],
  ];
  for (const [what, image, message, extra] of cases) {
    it(what, () => {
      const path = file(`${what.replaceAll(' ', '-')}.img`, image);
      const r = hvemu('run', path, ...(extra ?? []));
      expect(r.status).toBe(8);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^hvemu: bad image .*: not a loadable Multiboot kernel: /);
      expect(r.stderr).toMatch(message);
    });
  }

  it('a well-formed tiny kernel from the same builder runs (exit status 0: it wrote 0 to port 0xF4)', () => {
    expect(hvemu('run', file('ok.img', aoutKernel(EXIT_0))).status).toBe(0);
  });
});
