// The fixed-hardware tables (ACPI 6.5): the FADT (5.2.9, revision 3, 244 bytes: the 32-bit block
// addresses and their X_ Generic Address forms), the FACS (5.2.10) it must name, and a DSDT
// (5.2.11.1) whose AML holds only \_S5 (soft-off: SLP_TYP 0, as the PM block decodes it), so an OS
// can power the machine off. The PM block is the PIIX4's (devices/acpi-pm.ts): PM1a event at
// base+0 (4 bytes), PM1a control at base+4 (2), the PM timer at base+8 (4, 24 bits: TMR_VAL_EXT
// clear). No SMI command port: the machine is in ACPI mode from the start (SCI_EN set), which the
// specification allows with SMI_CMD = 0. No GPE blocks, no C2/C3 (latencies above the limits).
import { ascii, header, SDT_HEADER_LENGTH, type SdtIds, seal } from './acpi-sdt.js';

export const FADT_REVISION = 3;
export const FADT_LENGTH = 244;
export const FACS_LENGTH = 64;
/** Header, then Name(_S5_, Package(4) {0, 0, 0, 0}). */
const S5_AML = [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00];
export const DSDT_LENGTH = SDT_HEADER_LENGTH + S5_AML.length;

// FADT field offsets (Table 5.9).
export const FADT = {
  FIRMWARE_CTRL: 36,
  DSDT: 40,
  SCI_INT: 46,
  SMI_CMD: 48,
  PM1a_EVT_BLK: 56,
  PM1a_CNT_BLK: 64,
  PM_TMR_BLK: 76,
  PM1_EVT_LEN: 88,
  PM1_CNT_LEN: 89,
  PM_TMR_LEN: 91,
  P_LVL2_LAT: 96,
  P_LVL3_LAT: 98,
  CENTURY: 108,
  IAPC_BOOT_ARCH: 109,
  FLAGS: 112,
  X_FIRMWARE_CTRL: 132,
  X_DSDT: 140,
  X_PM1a_EVT_BLK: 148,
  X_PM1a_CNT_BLK: 172,
  X_PM_TMR_BLK: 208,
} as const;

const FLAG_WBINVD = 1 << 0;
const FLAG_PROC_C1 = 1 << 2;
const FLAG_SLP_BUTTON = 1 << 5;
const FLAG_RTC_S4 = 1 << 7;
/** IAPC_BOOT_ARCH: ISA/LPC legacy devices, and an 8042. */
const BOOT_ARCH_LEGACY_DEVICES = 1 << 0;
const BOOT_ARCH_8042 = 1 << 1;
const GAS_SYSTEM_IO = 1;

export interface AcpiPmBlock {
  /** I/O base of the PM1a event block (the PIIX4's PMBA). */
  base: number;
  /** The SCI's ISA interrupt. */
  sciIrq: number;
  /** The CMOS index of the century byte (0 for none). */
  centuryIndex: number;
}

/** A Generic Address Structure (5.2.3.2) for an I/O block. */
function gas(dv: DataView, at: number, port: number, bits: number, accessSize: number): void {
  dv.setUint8(at, GAS_SYSTEM_IO);
  dv.setUint8(at + 1, bits);
  dv.setUint8(at + 2, 0);
  dv.setUint8(at + 3, accessSize);
  dv.setBigUint64(at + 4, BigInt(port), true);
}

export function writeFacs(ram: Uint8Array, dv: DataView, at: number): void {
  ram.fill(0, at, at + FACS_LENGTH);
  ascii(ram, at, 'FACS', 4);
  dv.setUint32(at + 4, FACS_LENGTH, true);
  ram[at + 32] = 2; // version
}

export function writeDsdt(ram: Uint8Array, dv: DataView, at: number, o: SdtIds): void {
  ram.fill(0, at, at + DSDT_LENGTH);
  header(dv, ram, at, 'DSDT', DSDT_LENGTH, 2, o);
  ram.set(S5_AML, at + SDT_HEADER_LENGTH);
  seal(ram, at, DSDT_LENGTH);
}

export function writeFadt(
  ram: Uint8Array,
  dv: DataView,
  at: number,
  t: { facs: number; dsdt: number; pm: AcpiPmBlock },
  o: SdtIds,
): void {
  const { base, sciIrq, centuryIndex } = t.pm;
  ram.fill(0, at, at + FADT_LENGTH);
  header(dv, ram, at, 'FACP', FADT_LENGTH, FADT_REVISION, o);
  dv.setUint32(at + FADT.FIRMWARE_CTRL, t.facs, true);
  dv.setUint32(at + FADT.DSDT, t.dsdt, true);
  dv.setUint16(at + FADT.SCI_INT, sciIrq, true);
  dv.setUint32(at + FADT.SMI_CMD, 0, true);
  dv.setUint32(at + FADT.PM1a_EVT_BLK, base, true);
  dv.setUint32(at + FADT.PM1a_CNT_BLK, base + 4, true);
  dv.setUint32(at + FADT.PM_TMR_BLK, base + 8, true);
  ram[at + FADT.PM1_EVT_LEN] = 4;
  ram[at + FADT.PM1_CNT_LEN] = 2;
  ram[at + FADT.PM_TMR_LEN] = 4;
  dv.setUint16(at + FADT.P_LVL2_LAT, 0x0fff, true);
  dv.setUint16(at + FADT.P_LVL3_LAT, 0x0fff, true);
  ram[at + FADT.CENTURY] = centuryIndex;
  dv.setUint16(at + FADT.IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042, true);
  dv.setUint32(at + FADT.FLAGS, FLAG_WBINVD | FLAG_PROC_C1 | FLAG_SLP_BUTTON | FLAG_RTC_S4, true);
  dv.setBigUint64(at + FADT.X_FIRMWARE_CTRL, BigInt(t.facs), true);
  dv.setBigUint64(at + FADT.X_DSDT, BigInt(t.dsdt), true);
  gas(dv, at + FADT.X_PM1a_EVT_BLK, base, 32, 2);
  gas(dv, at + FADT.X_PM1a_CNT_BLK, base + 4, 16, 2);
  gas(dv, at + FADT.X_PM_TMR_BLK, base + 8, 32, 3);
  seal(ram, at, FADT_LENGTH);
}
