// The ACPI tables as QEMU hands them to firmware through fw_cfg (what OVMF's AcpiPlatformDxe and
// SeaBIOS read): two blobs, `etc/acpi/rsdp` and `etc/acpi/tables`, whose pointers hold offsets into
// the tables blob, and `etc/table-loader`, the linker script that tells the firmware where to put
// each blob and how to fix it up (QEMU's hw/acpi/bios-linker-loader.c format): 128-byte commands,
//   1 ALLOCATE      file[56], align u32, zone u8 (1 = anywhere high, 2 = the F-segment)
//   2 ADD_POINTER   dest file[56], source file[56], offset u32, size u8: the dest field (size bytes,
//                   little-endian) holds an offset into the source blob; add the source's address
//   3 ADD_CHECKSUM  file[56], result offset u32, start u32, length u32: make the range sum to 0
// The tables are the ones hvemu writes into RAM (acpi.ts), built at a scratch address and turned
// into blob offsets, so both paths describe the same machine.
import { type AcpiOptions, writeAcpiTables } from './acpi.js';
import { FADT } from './acpi-fadt.js';
import { SDT_HEADER_LENGTH } from './acpi-sdt.js';

export const LOADER_FILE = 'etc/table-loader';
export const RSDP_FILE = 'etc/acpi/rsdp';
export const TABLES_FILE = 'etc/acpi/tables';
export const LOADER_ENTRY_SIZE = 128;
export const LOADER_ALLOCATE = 1;
export const LOADER_ADD_POINTER = 2;
export const LOADER_ADD_CHECKSUM = 3;
export const ZONE_HIGH = 1;
export const ZONE_FSEG = 2;
const NAME = 56;

/** Where the tables are built before being cut out: the RSDP at 0, the tables at TABLES_AT. */
const TABLES_AT = 0x40;

export interface AcpiFwCfgBlobs {
  rsdp: Uint8Array;
  tables: Uint8Array;
  loader: Uint8Array;
}

type TableOptions = Omit<AcpiOptions, 'rsdpAddr' | 'tablesAddr' | 'revision'>;

class Loader {
  readonly entries: Uint8Array[] = [];
  private entry(cmd: number): [Uint8Array, DataView] {
    const e = new Uint8Array(LOADER_ENTRY_SIZE);
    const dv = new DataView(e.buffer);
    dv.setUint32(0, cmd, true);
    this.entries.push(e);
    return [e, dv];
  }
  private name(e: Uint8Array, at: number, s: string): void {
    for (let i = 0; i < s.length && i < NAME - 1; i++) e[at + i] = s.charCodeAt(i);
  }
  allocate(file: string, align: number, zone: number): void {
    const [e, dv] = this.entry(LOADER_ALLOCATE);
    this.name(e, 4, file);
    dv.setUint32(4 + NAME, align, true);
    e[8 + NAME] = zone;
  }
  pointer(dest: string, src: string, offset: number, size: number): void {
    const [e, dv] = this.entry(LOADER_ADD_POINTER);
    this.name(e, 4, dest);
    this.name(e, 4 + NAME, src);
    dv.setUint32(4 + 2 * NAME, offset, true);
    e[8 + 2 * NAME] = size;
  }
  checksum(file: string, result: number, start: number, length: number): void {
    const [e, dv] = this.entry(LOADER_ADD_CHECKSUM);
    this.name(e, 4, file);
    dv.setUint32(4 + NAME, result, true);
    dv.setUint32(8 + NAME, start, true);
    dv.setUint32(12 + NAME, length, true);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.entries.length * LOADER_ENTRY_SIZE);
    this.entries.forEach((e, i) => {
      out.set(e, i * LOADER_ENTRY_SIZE);
    });
    return out;
  }
}

/** The three fw_cfg files for these tables (RSDP revision 2 with RSDT and XSDT). */
export function acpiFwCfgBlobs(o: TableOptions): AcpiFwCfgBlobs {
  const scratch = new Uint8Array(TABLES_AT + 0x40000);
  const dv = new DataView(scratch.buffer);
  const l = writeAcpiTables(scratch, { ...o, rsdpAddr: 0, tablesAddr: TABLES_AT, revision: 2 });
  const loader = new Loader();
  loader.allocate(RSDP_FILE, 16, ZONE_FSEG);
  loader.allocate(TABLES_FILE, 64, ZONE_HIGH);

  // Every pointer field becomes an offset into the tables blob, with an ADD_POINTER to fix it.
  const sums: [number, number][] = []; // tables to checksum: [offset in blob, length]
  const rel = (at: number, size: 4 | 8, file: string, base: number) => {
    if (size === 4) dv.setUint32(at, dv.getUint32(at, true) - TABLES_AT, true);
    else dv.setBigUint64(at, dv.getBigUint64(at, true) - BigInt(TABLES_AT), true);
    loader.pointer(file, TABLES_FILE, at - base, size);
  };
  const table = (at: number) => sums.push([at - TABLES_AT, dv.getUint32(at + 4, true)]);
  const ptr = (at: number, size: 4 | 8) => rel(at, size, TABLES_FILE, TABLES_AT);

  const entries = (at: number, size: 4 | 8) => (dv.getUint32(at + 4, true) - SDT_HEADER_LENGTH) / size;
  for (let i = 0; i < entries(l.rsdt, 4); i++) ptr(l.rsdt + SDT_HEADER_LENGTH + 4 * i, 4);
  table(l.rsdt);
  if (l.xsdt !== undefined) {
    for (let i = 0; i < entries(l.xsdt, 8); i++) ptr(l.xsdt + SDT_HEADER_LENGTH + 8 * i, 8);
    table(l.xsdt);
  }
  if (l.fadt !== undefined) {
    const f = l.fadt;
    const dsdt = dv.getUint32(f + FADT.DSDT, true);
    ptr(f + FADT.FIRMWARE_CTRL, 4);
    ptr(f + FADT.DSDT, 4);
    ptr(f + FADT.X_FIRMWARE_CTRL, 8);
    ptr(f + FADT.X_DSDT, 8);
    table(dsdt);
    table(f); // after its pointers
  }
  table(l.madt);
  rel(16, 4, RSDP_FILE, 0); // RSDT address
  rel(24, 8, RSDP_FILE, 0); // XSDT address
  for (const [at, len] of sums) loader.checksum(TABLES_FILE, at + 9, at, len);
  loader.checksum(RSDP_FILE, 8, 0, 20);
  loader.checksum(RSDP_FILE, 32, 0, 36);

  return {
    rsdp: scratch.slice(0, 36),
    tables: scratch.slice(TABLES_AT, l.end),
    loader: loader.bytes(),
  };
}
