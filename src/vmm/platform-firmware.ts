// What firmware leaves in RAM for an operating system to find, written before a VM boots (hvemu
// has no BIOS, so the VMM writes it, as QEMU's fw_cfg tables end up in RAM through SeaBIOS):
// the BIOS data area's EBDA segment and base memory size, the MP floating pointer and
// configuration table (MP specification 1.4), and the ACPI RSDP, RSDT, XSDT and MADT (and the
// FADT, FACS and DSDT when the chipset's PM block is given). The tables
// describe every vCPU (APIC ID = vCPU index) and the I/O APIC, and live in the BIOS area
// 0xF0000-0xFFFFF, which both specifications search and the Multiboot memory map reserves:
//
//   F0000  MP floating pointer (16 bytes)     F0040  MP configuration table (< 5.3 KiB for 255 CPUs)
//   F0010  RSDP (36 bytes, revision 2)        F2000  RSDT, XSDT, FACS, DSDT, FADT, MADT
//                                                    (< 2.6 KiB for 255 CPUs)
//   FF000  the Multiboot entry stub (loaders/multiboot-entry.ts)

import { IOAPIC_VERSION } from '../apic/io-apic.js';
import { APIC_VERSION_VALUE } from '../apic/registers.js';
import { writeAcpiTables } from './firmware/acpi.js';
import type { AcpiPmBlock } from './firmware/acpi-fadt.js';
import { writeMpTable } from './firmware/mptable.js';

export const BIOS_AREA = 0xf0000;
export const MP_FLOAT_ADDR = 0xf0000;
export const RSDP_ADDR = 0xf0010;
export const MP_TABLE_ADDR = 0xf0040;
export const ACPI_TABLES_ADDR = 0xf2000;
export const MULTIBOOT_ENTRY_ADDR = 0xff000;
/** The EBDA: the last KiB of base memory (what the Multiboot memory map reserves). */
export const EBDA_ADDR = 0x9fc00;

export interface FirmwareTablesOptions {
  cpus: number;
  ioApicId: number;
  ioApicAddr: number;
  /** CPUID.1 EAX and EDX of the processors, for the MP table's processor entries. */
  cpuSignature: number;
  featureFlags: number;
  /** The chipset's PM block, for a FADT (none: no FADT). */
  pm?: AcpiPmBlock;
}

/** Write the BDA words and the MP and ACPI tables into guest RAM (which must reach 1 MiB). */
export function writeFirmwareTables(ram: Uint8Array, o: FirmwareTablesOptions): void {
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  // BDA 40:0E, the EBDA segment (where the MP and ACPI searches start), and 40:13, base memory in KiB.
  dv.setUint16(0x40e, EBDA_ADDR >> 4, true);
  dv.setUint16(0x413, EBDA_ADDR >> 10, true);
  ram.fill(0, EBDA_ADDR, EBDA_ADDR + 0x400);
  ram.fill(0, BIOS_AREA, MULTIBOOT_ENTRY_ADDR);
  // The MP table's processor entries hold 8-bit APIC IDs (FFh is broadcast): beyond 255 vCPUs there
  // is none, as with SeaBIOS; the MADT's x2APIC entries describe them.
  if (o.cpus <= 255)
    writeMpTable(ram, {
      cpus: o.cpus,
      floatAddr: MP_FLOAT_ADDR,
      tableAddr: MP_TABLE_ADDR,
      ioApicId: o.ioApicId,
      ioApicAddr: o.ioApicAddr,
      localApicVersion: APIC_VERSION_VALUE & 0xff,
      ioApicVersion: IOAPIC_VERSION,
      cpuSignature: o.cpuSignature,
      featureFlags: o.featureFlags,
    });
  writeAcpiTables(ram, {
    cpus: o.cpus,
    rsdpAddr: RSDP_ADDR,
    tablesAddr: ACPI_TABLES_ADDR,
    ioApicId: o.ioApicId,
    ioApicAddr: o.ioApicAddr,
    pm: o.pm,
  });
}
