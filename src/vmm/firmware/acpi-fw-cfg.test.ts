// The fw_cfg ACPI blobs linked the way firmware links them (QEMU's bios-linker-loader format, as
// SeaBIOS and OVMF's AcpiPlatformDxe run it): allocated at the addresses hvemu uses in RAM, fixed up
// by ADD_POINTER and ADD_CHECKSUM, they must be byte for byte the tables acpi.ts writes there.
import { describe, expect, it } from 'vitest';
import { writeAcpiTables } from './acpi.js';
import {
  acpiFwCfgBlobs,
  LOADER_ADD_CHECKSUM,
  LOADER_ADD_POINTER,
  LOADER_ALLOCATE,
  LOADER_ENTRY_SIZE,
  RSDP_FILE,
  TABLES_FILE,
  ZONE_FSEG,
  ZONE_HIGH,
} from './acpi-fw-cfg.js';

const name = (b: Uint8Array, at: number) => {
  let e = at;
  while (b[e] !== 0) e++;
  return String.fromCharCode(...b.subarray(at, e));
};

/** A firmware's linker: place each blob, then run the pointer and checksum commands in order. */
function link(blobs: Record<string, Uint8Array>, loader: Uint8Array, place: Record<string, number>) {
  const ram = new Uint8Array(2 << 20);
  const dv = new DataView(ram.buffer);
  const allocs: { file: string; align: number; zone: number }[] = [];
  for (let p = 0; p < loader.length; p += LOADER_ENTRY_SIZE) {
    const e = loader.subarray(p, p + LOADER_ENTRY_SIZE);
    const edv = new DataView(e.buffer, e.byteOffset, LOADER_ENTRY_SIZE);
    const cmd = edv.getUint32(0, true);
    if (cmd === LOADER_ALLOCATE) {
      const file = name(e, 4);
      allocs.push({ file, align: edv.getUint32(60, true), zone: e[64] });
      ram.set(blobs[file], place[file]);
    } else if (cmd === LOADER_ADD_POINTER) {
      const dest = place[name(e, 4)] + edv.getUint32(116, true);
      const src = place[name(e, 60)];
      if (e[120] === 4) dv.setUint32(dest, dv.getUint32(dest, true) + src, true);
      else dv.setBigUint64(dest, dv.getBigUint64(dest, true) + BigInt(src), true);
    } else if (cmd === LOADER_ADD_CHECKSUM) {
      const base = place[name(e, 4)];
      const [res, start, len] = [edv.getUint32(60, true), edv.getUint32(64, true), edv.getUint32(68, true)];
      ram[base + res] = 0;
      const sum = ram.subarray(base + start, base + start + len).reduce((a, b) => a + b, 0);
      ram[base + res] = -sum & 0xff;
    } else throw new Error(`unknown loader command ${cmd}`);
  }
  return { ram, allocs };
}

describe('etc/table-loader with etc/acpi/rsdp and etc/acpi/tables', () => {
  const opts = { cpus: 4, ioApicId: 0, pm: { base: 0x600, sciIrq: 9, centuryIndex: 0x32 } };
  const blobs = acpiFwCfgBlobs(opts);
  const place = { [RSDP_FILE]: 0xf0010, [TABLES_FILE]: 0xf2000 };
  const { ram, allocs } = link({ [RSDP_FILE]: blobs.rsdp, [TABLES_FILE]: blobs.tables }, blobs.loader, place);

  it('allocates the RSDP in the F-segment (16-byte aligned) and the tables high (64-byte aligned, for the FACS)', () => {
    expect(allocs).toEqual([
      { file: RSDP_FILE, align: 16, zone: ZONE_FSEG },
      { file: TABLES_FILE, align: 64, zone: ZONE_HIGH },
    ]);
  });

  it("linked at hvemu's RAM addresses, the result is byte for byte the tables in RAM", () => {
    const direct = new Uint8Array(2 << 20);
    const l = writeAcpiTables(direct, { ...opts, rsdpAddr: 0xf0010, tablesAddr: 0xf2000 });
    expect([...ram.subarray(0xf0010, 0xf0010 + 36)]).toEqual([...direct.subarray(0xf0010, 0xf0010 + 36)]);
    expect(
      Buffer.from(ram.subarray(0xf2000, l.end)).equals(Buffer.from(direct.subarray(0xf2000, l.end))),
    ).toBe(true);
    expect(blobs.tables.length).toBe(l.end - 0xf2000);
  });

  it('linked elsewhere, every pointer follows its blob and every table still sums to 0', () => {
    const at = { [RSDP_FILE]: 0xe0000, [TABLES_FILE]: 0x1c0040 };
    const r = link({ [RSDP_FILE]: blobs.rsdp, [TABLES_FILE]: blobs.tables }, blobs.loader, at).ram;
    const dv = new DataView(r.buffer);
    const sum = (a: number, n: number) => r.subarray(a, a + n).reduce((x, y) => x + y, 0) & 0xff;
    expect(sum(0xe0000, 20)).toBe(0);
    expect(sum(0xe0000, 36)).toBe(0);
    const rsdt = dv.getUint32(0xe0000 + 16, true);
    expect(String.fromCharCode(...r.subarray(rsdt, rsdt + 4))).toBe('RSDT');
    const fadt = dv.getUint32(rsdt + 36, true);
    expect(String.fromCharCode(...r.subarray(fadt, fadt + 4))).toBe('FACP');
    expect(sum(fadt, dv.getUint32(fadt + 4, true))).toBe(0);
    const dsdt = dv.getUint32(fadt + 40, true);
    expect(String.fromCharCode(...r.subarray(dsdt, dsdt + 4))).toBe('DSDT');
    expect(Number(dv.getBigUint64(fadt + 140, true))).toBe(dsdt);
    expect(dv.getUint32(fadt + 76, true)).toBe(0x608); // PM_TMR_BLK is an I/O port: not relocated
  });
});
