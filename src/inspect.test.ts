// `hvemu inspect` reports on synthetic images of each kind it knows, on a guest of ours, and on
// Debian's OVMF when installed.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inspectImage } from './inspect.js';
import {
  guidToBytes,
  OVMF_TABLE_FOOTER_GUID,
  SEV_ES_RESET_BLOCK_GUID,
  SEV_SECRET_BLOCK_GUID,
} from './vmm/firmware/ovmf-table.js';

const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const le32 = (b: Uint8Array, at: number, v: number) => b.set(u32(v), at);

/** A flash-like image whose table holds `entries` ([guid, data]) below the footer, nearest last. */
function firmware(entries: [string, number[]][], tableLength?: number): Uint8Array {
  const img = new Uint8Array(0x10000).fill(0xff);
  const body = entries.flatMap(([g, d]) => [
    ...d,
    (d.length + 18) & 0xff,
    (d.length + 18) >> 8,
    ...guidToBytes(g),
  ]);
  const len = tableLength ?? body.length + 18;
  const table = [...body, len & 0xff, len >> 8, ...guidToBytes(OVMF_TABLE_FOOTER_GUID)];
  img.set(table, img.length - 32 - table.length);
  img.set([0x90, 0x90, 0xe9, 0x5b, 0xff], img.length - 16); // nop; nop; jmp near (as edk2's reset vector)
  return img;
}

describe('inspectImage', () => {
  it('recognizes a boot sector and says when the signature is missing', () => {
    const b = new Uint8Array(512);
    expect(inspectImage(b, 'x')).toContain('boot sector: no (bytes at offset 510 are 00 00, not 55 AA)');
    b[510] = 0x55;
    b[511] = 0xaa;
    const r = inspectImage(b, 'boot.img');
    expect(r).toMatch(/^boot\.img: 512 bytes \(0x200\)\n {2}is: boot sector\n/);
    expect(r).toContain('boot sector: yes (signature 55 AA at offset 510)');
  });

  it('a file larger than a sector with the signature is a disk, its Multiboot header only carried', () => {
    const b = new Uint8Array(4 * 512);
    b[510] = 0x55;
    b[511] = 0xaa;
    le32(b, 0x200, 0x1badb002);
    le32(b, 0x204, 0);
    le32(b, 0x208, -0x1badb002);
    const r = inspectImage(b, 'disk.img');
    expect(r).toContain(
      'is: disk image with boot sector; with a Multiboot v1 header inside (not a kernel to hvemu: the disk boots)',
    );
    expect(r).toContain('on a disk of 4 sectors');
    expect(r).not.toContain('is: Multiboot v1 kernel');
  });

  it('reads a Multiboot v1 header with the a.out kludge addresses', () => {
    const b = new Uint8Array(0x2000);
    const flags = 0x00010003;
    le32(b, 0x40, 0x1badb002);
    le32(b, 0x44, flags);
    le32(b, 0x48, -(0x1badb002 + flags));
    const aout = [0x100040, 0x100000, 0x101000, 0x102000, 0x100080]; // header, load, load_end, bss_end, entry
    for (const [i, v] of aout.entries()) le32(b, 0x4c + 4 * i, v);
    const r = inspectImage(b, 'k');
    expect(r).toContain('is: Multiboot v1 kernel');
    expect(r).toContain(
      'Multiboot v1: header at offset 0x40, flags 0x00010003 (page-align modules, memory info, a.out kludge), checksum 0xE4514FFB ok',
    );
    expect(r).toContain(
      'a.out kludge: header_addr 0x00100040, load_addr 0x00100000, load_end_addr 0x00101000, bss_end_addr 0x00102000, entry_addr 0x00100080',
    );
  });

  it('shows a Multiboot header with a bad checksum and unknown flag bits, and does not call it a kernel', () => {
    const b = new Uint8Array(64);
    le32(b, 8, 0x1badb002);
    le32(b, 12, 0x100);
    le32(b, 16, 0);
    const r = inspectImage(b, 'k');
    expect(r).toContain('flags 0x00000100 (unknown bits 0x100), checksum 0x00000000 BAD');
    expect(r).toContain('is: raw image');
    const cut = new Uint8Array(8);
    le32(cut, 4, 0x1badb002);
    expect(inspectImage(cut, 'k')).toContain(
      'magic at offset 0x4, but the file ends before its flags and checksum',
    );
  });

  it('reads an ELF header', () => {
    const b = new Uint8Array(64);
    b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
    b.set([2, 0, 3, 0], 16); // ET_EXEC, EM_386
    le32(b, 24, 0x100000);
    b[44] = 2;
    expect(inspectImage(b, 'e')).toContain(
      'ELF: ELF32 little-endian, ET_EXEC, EM_386, entry 0x100000, 2 program headers',
    );
  });

  it('lists every OVMF table entry, decodes the SEV-ES reset block and shows the reset vector', () => {
    const unknown = '01234567-89ab-cdef-0123-456789abcdef';
    const r = inspectImage(
      firmware([
        [unknown, [0xaa, 0xbb]],
        [SEV_SECRET_BLOCK_GUID, [...u32(0x80a000), ...u32(0xc00)]],
        [SEV_ES_RESET_BLOCK_GUID, u32(0x80b004)],
      ]),
      'fw',
    );
    expect(r).toContain('is: firmware image with an OVMF GUIDed table');
    expect(r).toContain('3 entries, walked from the footer');
    expect(r).toContain(`${SEV_ES_RESET_BLOCK_GUID}  SEV-ES reset block, length 22`);
    expect(r).toContain('SEV-ES AP reset address 0x0080B004: CS:IP F000:B004 with CS base 0x00800000');
    expect(r).toContain('guest RAM base 0x0080A000, size 0xC00');
    expect(r).toContain(`${unknown}  (unknown GUID), length 20, data at 0xFF8A: aa bb`);
    expect(r).toContain('reset vector: last 16 bytes');
    expect(r).toContain('90 90 e9 5b ff ff ff ff');
  });

  it('reports a malformed table instead of hiding it', () => {
    const r = inspectImage(firmware([[SEV_ES_RESET_BLOCK_GUID, u32(0x80b004)]], 10), 'bad');
    expect(r).toContain('OVMF GUIDed table: MALFORMED: table length 10');
    expect(r).toContain('is: firmware image with a malformed OVMF GUIDed table');
  });

  it('describes one of our guests as a raw image with no table', () => {
    const r = inspectImage(
      new Uint8Array(readFileSync(new URL('../guests/smp-boot/smp-boot.img', import.meta.url))),
      'smp-boot.img',
    );
    expect(r).toContain('is: raw image, nothing recognized');
    expect(r).toContain('OVMF GUIDed table: not looked for');
  });

  const ovmf = '/usr/share/OVMF/OVMF_CODE_4M.fd';
  it.skipIf(!existsSync(ovmf))(
    `reads Debian's ${ovmf}${existsSync(ovmf) ? '' : ' (skipped: package ovmf is not installed)'}`,
    () => {
      const r = inspectImage(new Uint8Array(readFileSync(ovmf)), ovmf);
      expect(r).toContain('is: firmware image with an OVMF GUIDed table');
      expect(r).toMatch(
        /SEV-ES AP reset address 0x0080[0-9A-F]{4}: CS:IP F000:[0-9A-F]{4} with CS base 0x00800000/,
      );
    },
  );
});
