// ACPI tables describing the CPUs and the I/O APIC, written into guest RAM (ACPI 6.5 chapter 5):
// the RSDP (5.2.5.3), the RSDT (5.2.7) and, for RSDP revision 2, the XSDT (5.2.8), and the MADT
// (5.2.12) with processor local APIC (type 0, 5.2.12.2), I/O APIC (1, 5.2.12.3), interrupt source
// override (2, 5.2.12.5), local APIC NMI (4, 5.2.12.7), processor local x2APIC (9, 5.2.12.12) and
// local x2APIC NMI (0xA, 5.2.12.13) structures. Every table's bytes sum to 0 modulo 256.
//
// Entries follow QEMU's build_madt: APIC IDs below 255 get type 0, others type 9; ISA IRQ 0 is
// overridden to GSI 2; the NMI is on LINT1 of every processor (UID 0xFF, or 0xFFFFFFFF in the x2APIC
// form when any x2APIC entry is present).
//
// With `pm` (the chipset's ACPI power-management block) the tables also hold a FADT (5.2.9) that
// points to it, its FACS (5.2.10) and a minimal DSDT (acpi-fadt.ts); the FADT comes first in the
// RSDT and XSDT, as firmware usually lists it.
//
// The RSDP must be on a 16-byte boundary in the first KiB of the EBDA or in 0xE0000-0xFFFFF
// (5.2.5.1), where OSes search for it.

import {
  type AcpiPmBlock,
  DSDT_LENGTH,
  FACS_LENGTH,
  FADT_LENGTH,
  writeDsdt,
  writeFacs,
  writeFadt,
} from './acpi-fadt.js';

import { acpiChecksum, ascii, header, SDT_HEADER_LENGTH, seal } from './acpi-sdt.js';

export { acpiChecksum, SDT_HEADER_LENGTH } from './acpi-sdt.js';
export const RSDP_SIGNATURE = 'RSD PTR ';
export const RSDP_V1_LENGTH = 20;
export const RSDP_V2_LENGTH = 36;
/** MADT revision 4: ACPI 6.0 Errata A (EDK2 EFI_ACPI_6_0_MULTIPLE_APIC_DESCRIPTION_TABLE_REVISION). */
export const MADT_REVISION = 4;
export const MADT_PCAT_COMPAT = 1;

// MADT interrupt controller structure types (5.2.12, "Interrupt Controller Structure Types").
export const MADT_LOCAL_APIC = 0;
export const MADT_IO_APIC = 1;
export const MADT_INTERRUPT_OVERRIDE = 2;
export const MADT_LOCAL_APIC_NMI = 4;
export const MADT_LOCAL_X2APIC = 9;
export const MADT_LOCAL_X2APIC_NMI = 0xa;

export interface AcpiCpu {
  apicId: number;
  enabled?: boolean;
}

export interface AcpiOptions {
  /** Processors, BSP first; a number n means APIC IDs 0..n-1. The ACPI processor UID is the index. */
  cpus: number | AcpiCpu[];
  /** Where the RSDP goes (16-byte aligned, see above). */
  rsdpAddr: number;
  /** Where the RSDT, XSDT and MADT go (one after another, 16-byte aligned). */
  tablesAddr: number;
  /** 0: ACPI 1.0 RSDP (20 bytes, RSDT only); 2: ACPI 2.0+ RSDP (36 bytes) with XSDT. Default 2. */
  revision?: 0 | 2;
  ioApicId?: number;
  ioApicAddr?: number;
  localApicAddr?: number;
  oemId?: string;
  oemTableId?: string;
  /** The PM block to describe in a FADT (none: no FADT, FACS or DSDT). */
  pm?: AcpiPmBlock;
}

export interface AcpiLayout {
  rsdp: number;
  /** With `pm`: where the FADT went. */
  fadt?: number;
  rsdt: number;
  xsdt: number | undefined;
  madt: number;
  madtLength: number;
  end: number;
}

export class AcpiError extends Error {
  override readonly name = 'AcpiError';
}

const align16 = (v: number) => (v + 15) & ~15;
const align64 = (v: number) => (v + 63) & ~63;

/** Bytes of the MADT for these processors. */
export function madtLength(cpus: AcpiCpu[]): number {
  const x2 = cpus.some((c) => c.apicId >= 0xff);
  let n = SDT_HEADER_LENGTH + 8;
  for (const c of cpus) n += c.apicId < 0xff ? 8 : 16;
  n += 12 + 10; // I/O APIC, IRQ0 override
  n += x2 ? 12 : 6;
  return n;
}

function writeMadt(ram: Uint8Array, dv: DataView, at: number, cpus: AcpiCpu[], o: AcpiOptions): number {
  const length = madtLength(cpus);
  ram.fill(0, at, at + length);
  header(dv, ram, at, 'APIC', length, MADT_REVISION, o);
  dv.setUint32(at + 36, o.localApicAddr ?? 0xfee00000, true); // Local Interrupt Controller Address
  dv.setUint32(at + 40, MADT_PCAT_COMPAT, true); // the 8259s are present
  let p = at + 44;
  cpus.forEach((c, uid) => {
    const flags = c.enabled === false ? 0 : 1; // bit 0: Enabled
    if (c.apicId < 0xff) {
      // Processor Local APIC (5.2.12.2): type, length 8, ACPI processor UID, APIC ID, flags.
      ram[p] = MADT_LOCAL_APIC;
      ram[p + 1] = 8;
      ram[p + 2] = uid;
      ram[p + 3] = c.apicId;
      dv.setUint32(p + 4, flags, true);
      p += 8;
    } else {
      // Processor Local x2APIC (5.2.12.12): type, length 16, reserved(2), x2APIC ID, flags, UID.
      ram[p] = MADT_LOCAL_X2APIC;
      ram[p + 1] = 16;
      dv.setUint32(p + 4, c.apicId, true);
      dv.setUint32(p + 8, flags, true);
      dv.setUint32(p + 12, uid, true);
      p += 16;
    }
  });
  // I/O APIC (5.2.12.3): type, length 12, ID, reserved, address, GSI base.
  ram[p] = MADT_IO_APIC;
  ram[p + 1] = 12;
  ram[p + 2] = o.ioApicId ?? 0;
  dv.setUint32(p + 4, o.ioApicAddr ?? 0xfec00000, true);
  dv.setUint32(p + 8, 0, true);
  p += 12;
  // Interrupt Source Override (5.2.12.5): type, length 10, bus 0 (ISA), source IRQ 0, GSI 2,
  // flags 0 (conforms to the bus: edge, active high).
  ram[p] = MADT_INTERRUPT_OVERRIDE;
  ram[p + 1] = 10;
  ram[p + 2] = 0;
  ram[p + 3] = 0;
  dv.setUint32(p + 4, 2, true);
  dv.setUint16(p + 8, 0, true);
  p += 10;
  if (cpus.some((c) => c.apicId >= 0xff)) {
    // Local x2APIC NMI (5.2.12.13): type, length 12, flags, UID 0xFFFFFFFF (all), LINT#, reserved.
    ram[p] = MADT_LOCAL_X2APIC_NMI;
    ram[p + 1] = 12;
    dv.setUint16(p + 2, 0, true);
    dv.setUint32(p + 4, 0xffffffff, true);
    ram[p + 8] = 1;
    p += 12;
  } else {
    // Local APIC NMI (5.2.12.7): type, length 6, UID 0xFF (all), flags, LINT# 1.
    ram[p] = MADT_LOCAL_APIC_NMI;
    ram[p + 1] = 6;
    ram[p + 2] = 0xff;
    dv.setUint16(p + 3, 0, true);
    ram[p + 5] = 1;
    p += 6;
  }
  if (p - at !== length) throw new AcpiError(`internal: MADT length ${p - at} != ${length}`);
  seal(ram, at, length);
  return length;
}

/** Write RSDP, RSDT, XSDT (revision 2) and MADT; returns where each went. */
export function writeAcpiTables(ram: Uint8Array, o: AcpiOptions): AcpiLayout {
  const cpus =
    typeof o.cpus === 'number' ? Array.from({ length: o.cpus }, (_, i) => ({ apicId: i })) : o.cpus;
  if (cpus.length === 0) throw new AcpiError('at least one processor is needed');
  if (cpus.length > 0xff && cpus.some((c, i) => i >= 0xff && c.apicId < 0xff))
    throw new AcpiError('processor UIDs above 254 need x2APIC entries (APIC ID >= 255)');
  const rev = o.revision ?? 2;
  if (o.rsdpAddr % 16 !== 0) throw new AcpiError(`RSDP at ${o.rsdpAddr.toString(16)} is not 16-byte aligned`);
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);

  const entries = o.pm ? 2 : 1;
  const rsdt = align16(o.tablesAddr);
  const rsdtLength = SDT_HEADER_LENGTH + 4 * entries;
  const xsdt = rev === 2 ? align16(rsdt + rsdtLength) : undefined;
  const xsdtLength = SDT_HEADER_LENGTH + 8 * entries;
  let next = xsdt !== undefined ? xsdt + xsdtLength : rsdt + rsdtLength;
  let fadt: number | undefined;
  let facs = 0;
  let dsdt = 0;
  if (o.pm) {
    facs = align64(next);
    dsdt = align16(facs + FACS_LENGTH);
    fadt = align16(dsdt + DSDT_LENGTH);
    next = fadt + FADT_LENGTH;
  }
  const madt = align16(next);
  const mLength = madtLength(cpus);
  const end = madt + mLength;
  if (end > ram.length || o.rsdpAddr + RSDP_V2_LENGTH > ram.length)
    throw new AcpiError('the ACPI tables do not fit in RAM');

  writeMadt(ram, dv, madt, cpus, o);
  if (o.pm && fadt !== undefined) {
    writeFacs(ram, dv, facs);
    writeDsdt(ram, dv, dsdt, o);
    writeFadt(ram, dv, fadt, { facs, dsdt, pm: o.pm }, o);
  }
  const tables = fadt !== undefined ? [fadt, madt] : [madt];

  // RSDT (5.2.7): header then 32-bit table addresses.
  ram.fill(0, rsdt, rsdt + rsdtLength);
  header(dv, ram, rsdt, 'RSDT', rsdtLength, 1, o);
  for (const [i, t] of tables.entries()) dv.setUint32(rsdt + 36 + 4 * i, t, true);
  seal(ram, rsdt, rsdtLength);

  // XSDT (5.2.8): header then 64-bit table addresses.
  if (xsdt !== undefined) {
    ram.fill(0, xsdt, xsdt + xsdtLength);
    header(dv, ram, xsdt, 'XSDT', xsdtLength, 1, o);
    for (const [i, t] of tables.entries()) dv.setBigUint64(xsdt + 36 + 8 * i, BigInt(t), true);
    seal(ram, xsdt, xsdtLength);
  }

  // RSDP (5.2.5.3): signature, checksum of the first 20 bytes, OEMID, revision, RSDT address;
  // revision 2 adds length, XSDT address, extended checksum of all 36 bytes, 3 reserved bytes.
  const r = o.rsdpAddr;
  ram.fill(0, r, r + (rev === 2 ? RSDP_V2_LENGTH : RSDP_V1_LENGTH));
  ascii(ram, r, RSDP_SIGNATURE, 8);
  ascii(ram, r + 9, o.oemId ?? 'HVEMU', 6);
  ram[r + 15] = rev;
  dv.setUint32(r + 16, rsdt, true);
  if (rev === 2) {
    dv.setUint32(r + 20, RSDP_V2_LENGTH, true);
    dv.setBigUint64(r + 24, BigInt(xsdt!), true);
  }
  ram[r + 8] = acpiChecksum(ram, r, RSDP_V1_LENGTH);
  if (rev === 2) ram[r + 32] = acpiChecksum(ram, r, RSDP_V2_LENGTH);

  return { rsdp: r, rsdt, xsdt, fadt, madt, madtLength: mLength, end };
}
