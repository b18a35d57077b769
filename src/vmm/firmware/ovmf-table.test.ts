// The OVMF GUIDed table read from synthetic images laid out as edk2's ResetVectorVtf0.asm lays
// them out, each malformed case refused with the problem named, and Debian's own OVMF builds.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  findOvmfEntry,
  guidToBytes,
  guidToString,
  OVMF_TABLE_FOOTER_GUID,
  OvmfTableError,
  parseOvmfTable,
  SEV_ES_RESET_BLOCK_GUID,
  SEV_SECRET_BLOCK_GUID,
  sevEsResetBlock,
} from './ovmf-table.js';

const u16 = (v: number) => [v & 0xff, v >> 8];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** One entry as it sits in the image: data, u16 length (data + 18), GUID. */
const entry = (guid: string, data: number[], length = data.length + 18) => [
  ...data,
  ...u16(length),
  ...guidToBytes(guid),
];

/**
 * An image of `size` bytes (filled with 0xFF, as erased flash reads) whose last 48 bytes hold the
 * footer GUID then 32 bytes of reset code, with `entries` (nearest the footer last) below it.
 */
function image(entries: number[][], opts: { size?: number; tableLength?: number } = {}): Uint8Array {
  const img = new Uint8Array(opts.size ?? 0x10000).fill(0xff);
  const body = entries.flat();
  const table = [
    ...body,
    ...u16(opts.tableLength ?? body.length + 18),
    ...guidToBytes(OVMF_TABLE_FOOTER_GUID),
  ];
  img.set(table, img.length - 32 - table.length);
  return img;
}

const err = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OvmfTableError);
    return (e as Error).message;
  }
  throw new Error('expected an OvmfTableError');
};

describe('GUID byte order', () => {
  it('stores the first three fields little-endian, as edk2 writes the footer', () => {
    // ResetVectorVtf0.asm: DB 0xDE, 0x82, 0xB5, 0x96, 0xB2, 0x1F, 0xF7, 0x45, 0xBA, 0xEA, ...
    const b = guidToBytes(OVMF_TABLE_FOOTER_GUID);
    expect(Array.from(b.subarray(0, 10))).toEqual([
      0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea,
    ]);
    expect(guidToString(b)).toBe(OVMF_TABLE_FOOTER_GUID);
  });
});

describe('parseOvmfTable', () => {
  it('walks two entries back from the footer and decodes the SEV-ES reset block', () => {
    const img = image([
      entry(SEV_SECRET_BLOCK_GUID, [...u32(0x80a000), ...u32(0xc00)]),
      entry(SEV_ES_RESET_BLOCK_GUID, u32(0x80b004)),
    ]);
    const t = parseOvmfTable(img)!;
    expect(t.length).toBe(22 + 26 + 18);
    expect(t.offset).toBe(img.length - 32 - t.length);
    expect(t.entries.map((e) => [e.guid, e.name, e.length])).toEqual([
      [SEV_ES_RESET_BLOCK_GUID, 'SEV-ES reset block', 22],
      [SEV_SECRET_BLOCK_GUID, 'SEV secret block', 26],
    ]);
    expect(t.entries[1].offset).toBe(t.offset);
    expect(Array.from(findOvmfEntry(t, SEV_SECRET_BLOCK_GUID)!.data)).toEqual([
      ...u32(0x80a000),
      ...u32(0xc00),
    ]);
    expect(sevEsResetBlock(t)).toEqual({
      address: 0x80b004,
      ip: 0xb004,
      csBase: 0x800000,
      csSelector: 0xf000,
      csLimit: 0xffff,
    });
  });

  it('names unknown GUIDs undefined and keeps their data', () => {
    const g = '01234567-89ab-cdef-0123-456789abcdef';
    const t = parseOvmfTable(image([entry(g, [1, 2, 3])]))!;
    expect(t.entries).toHaveLength(1);
    expect(t.entries[0].name).toBeUndefined();
    expect(Array.from(t.entries[0].data)).toEqual([1, 2, 3]);
    expect(sevEsResetBlock(t)).toBeNull();
  });

  it('accepts a table holding only its footer', () => {
    expect(parseOvmfTable(image([]))).toMatchObject({ length: 18, entries: [] });
  });

  it('returns the entry nearest the footer when a GUID appears twice, as QEMU finds it', () => {
    const t = parseOvmfTable(
      image([entry(SEV_ES_RESET_BLOCK_GUID, u32(0x1000)), entry(SEV_ES_RESET_BLOCK_GUID, u32(0x2000))]),
    )!;
    expect(sevEsResetBlock(t)?.address).toBe(0x2000);
  });

  it('finds no table without the footer GUID 48 bytes before the end', () => {
    expect(parseOvmfTable(new Uint8Array(0x10000))).toBeNull();
    const moved = image([entry(SEV_ES_RESET_BLOCK_GUID, u32(0x80b004))]);
    expect(parseOvmfTable(moved.subarray(0, moved.length - 16))).toBeNull(); // footer now at -32
  });

  it('reads nothing from an image smaller than 4 KiB, as QEMU does not', () => {
    expect(parseOvmfTable(image([], { size: 4096 }))).not.toBeNull();
    expect(parseOvmfTable(image([], { size: 4095 }))).toBeNull();
    expect(parseOvmfTable(new Uint8Array(10))).toBeNull();
  });
});

describe('malformed tables', () => {
  it('a table length below 18', () => {
    expect(err(() => parseOvmfTable(image([], { tableLength: 17 })))).toMatch(
      /table length 17 .* is less than 18/,
    );
  });

  it('a table length running past the start of the image', () => {
    expect(err(() => parseOvmfTable(image([], { size: 4096, tableLength: 0xffff })))).toMatch(
      /table length 65535 runs past the start of the image/,
    );
  });

  it('an entry length below 18', () => {
    const bad = entry(SEV_ES_RESET_BLOCK_GUID, u32(0x80b004), 17);
    expect(err(() => parseOvmfTable(image([bad], { tableLength: 22 + 18 })))).toMatch(
      /entry 0 \(GUID 00f771de-.*\) has length 17, less than 18/,
    );
  });

  it('an entry length of zero (which would never move the walk)', () => {
    const bad = entry(SEV_ES_RESET_BLOCK_GUID, u32(0x80b004), 0);
    expect(err(() => parseOvmfTable(image([bad], { tableLength: 22 + 18 })))).toMatch(
      /has length 0, less than 18/,
    );
  });

  it('an entry running past the table start', () => {
    const good = entry(SEV_ES_RESET_BLOCK_GUID, u32(0x80b004));
    const long = entry(SEV_SECRET_BLOCK_GUID, [0, 0], 40); // says 40, the table has 20 bytes left for it
    expect(err(() => parseOvmfTable(image([long, good])))).toMatch(
      /entry 1 \(GUID 4c2eb361-.*\) has length 40, which runs past the table's start: only 20 bytes/,
    );
  });

  it('leftover bytes at the table start too few for an entry', () => {
    const good = entry(SEV_ES_RESET_BLOCK_GUID, u32(0x80b004));
    expect(err(() => parseOvmfTable(image([[1, 2, 3], good])))).toMatch(
      /3 bytes left at the table's start .* too few for an entry/,
    );
  });

  it('an SEV-ES reset block with fewer than 4 data bytes', () => {
    const t = parseOvmfTable(image([entry(SEV_ES_RESET_BLOCK_GUID, [4, 0xb0])]))!;
    expect(err(() => sevEsResetBlock(t))).toMatch(
      /SEV-ES reset block .* has 2 data bytes; its address needs 4/,
    );
  });

  it('an SEV-ES reset block holding address 0', () => {
    const t = parseOvmfTable(image([entry(SEV_ES_RESET_BLOCK_GUID, u32(0))]))!;
    expect(err(() => sevEsResetBlock(t))).toMatch(/holds address 0/);
  });
});

// Debian's package `ovmf` (checked with 2022.11-6+deb12u2). An independent reading, once, with a
// python3 walk of the same layout (uuid.UUID(bytes_le=...), struct '<H' / '<I'):
//   /usr/share/OVMF/OVMF_CODE.fd     1966080 bytes, table length 136: SEV-ES reset block 04 b0 80 00
//     (0x80B004: IP 0xB004, CS base 0x800000), SEV secret block and SEV hash table block (base 0,
//     size 0), SEV metadata offset 0x52c ("ASEV" there), TDX metadata offset 0x840 ("TDVF" there).
//   /usr/share/ovmf/OVMF.fd          2097152 bytes, the same table as OVMF_CODE.fd.
//   /usr/share/OVMF/OVMF_CODE_4M.fd  3653632 bytes, table length 92: SEV-ES reset block 0x808004,
//     SEV secret block and SEV hash table block (base 0, size 0).
// 0x80B004 is edk2's PcdSevEsWorkAreaBase in OVMF's RAM work area (the MEMFD at 0x800000).
// The exact values belong to that Debian version; the test checks what holds for any edk2 build
// since 2021: the reset block is the entry just below the footer (ResetVectorVtf0.asm), so its u32
// also sits at a fixed place, size - 50 - 22, which the test reads directly as a second opinion.
const DEBIAN_OVMF = [
  '/usr/share/OVMF/OVMF_CODE_4M.fd',
  '/usr/share/OVMF/OVMF_CODE.fd',
  '/usr/share/ovmf/OVMF.fd',
  '/usr/share/ovmf/OVMF.amdsev.fd',
];

describe("Debian's OVMF (package ovmf)", () => {
  const installed = DEBIAN_OVMF.filter((p) => existsSync(p));
  const title = installed.length
    ? `finds the SEV-ES reset block in ${installed.join(', ')}`
    : 'skipped: package ovmf is not installed (none of its OVMF images is present)';
  it.skipIf(installed.length === 0)(title, () => {
    for (const path of installed) {
      const img = new Uint8Array(readFileSync(path));
      const t = parseOvmfTable(img);
      expect(t, path).not.toBeNull();
      const rv = sevEsResetBlock(t!)!;
      expect(rv, path).not.toBeNull();
      // Plausible: in OVMF's RAM work area, below 4 GiB and far below the flash mapping.
      expect(rv.address, path).toBeGreaterThanOrEqual(0x800000);
      expect(rv.address, path).toBeLessThan(0x900000);
      const raw = new DataView(img.buffer, img.byteOffset).getUint32(img.length - 50 - 22, true);
      expect(rv.address, path).toBe(raw);
      expect(rv, path).toMatchObject({
        ip: raw & 0xffff,
        csBase: 0x800000,
        csSelector: 0xf000,
        csLimit: 0xffff,
      });
      expect(t!.entries[0].guid, path).toBe(SEV_ES_RESET_BLOCK_GUID);
    }
  });
});
