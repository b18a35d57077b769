// What every ACPI system description table shares (ACPI 6.5, 5.2.6): the 36-byte header with
// its OEM fields, and the checksum that makes the table's bytes sum to 0 modulo 256.

export const SDT_HEADER_LENGTH = 36;

/** The OEM identification every table header carries. */
export interface SdtIds {
  oemId?: string;
  oemTableId?: string;
}

export function ascii(ram: Uint8Array, at: number, s: string, width: number): void {
  for (let i = 0; i < width; i++) ram[at + i] = i < s.length ? s.charCodeAt(i) & 0x7f : 0x20;
}

export function acpiChecksum(ram: Uint8Array, at: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i++) sum += ram[at + i];
  return -sum & 0xff;
}

/** The System Description Table header (5.2.6); the checksum is set by `seal`. */
export function header(
  dv: DataView,
  ram: Uint8Array,
  at: number,
  sig: string,
  length: number,
  rev: number,
  o: SdtIds,
) {
  ascii(ram, at, sig, 4);
  dv.setUint32(at + 4, length, true);
  ram[at + 8] = rev;
  ram[at + 9] = 0;
  ascii(ram, at + 10, o.oemId ?? 'HVEMU', 6);
  ascii(ram, at + 16, o.oemTableId ?? 'HVEMUPC', 8);
  dv.setUint32(at + 24, 1, true); // OEM revision
  ascii(ram, at + 28, 'HVEM', 4); // creator ID
  dv.setUint32(at + 32, 1, true); // creator revision
}

export function seal(ram: Uint8Array, at: number, length: number): void {
  ram[at + 9] = 0;
  ram[at + 9] = acpiChecksum(ram, at, length);
}
