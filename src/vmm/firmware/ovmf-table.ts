// The OVMF GUIDed table: the list of (GUID, data) entries that OVMF's reset vector code puts just
// below the last 32 bytes of the firmware image (edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm),
// read here the way QEMU reads it (hw/i386/pc_sysfw_ovmf.c: pc_system_parse_ovmf_flash and
// pc_system_ovmf_table_find) and the SEV-ES reset block decoded as QEMU's target/i386/sev.c does.
//
// Layout, from the end of the image backwards:
//   [image size - 48, +16)  footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d
//   [image size - 50, +2)   u16 length of the whole table, footer (length + GUID) included
//   below that, entries up to the table's start, each  [data][u16 length][GUID]  where the length
//   counts data + 2 + 16. An entry is found from its end: GUID, then length, then data before them.
// GUIDs are stored in EFI byte order: the first three fields little-endian, the last 8 bytes as is.
//
// Where QEMU stops silently (it only ever answers "not found"), this parser throws OvmfTableError
// naming what is wrong, so that a broken table is visible rather than an absent reset block.

export const OVMF_TABLE_FOOTER_GUID = '96b582de-1fb2-45f7-baea-a366c55a082d';
/** The footer GUID starts this many bytes before the end of the image (ResetVectorVtf0.asm: 0xffffffd0). */
export const OVMF_TABLE_FOOTER_FROM_END = 48;
/** GUID (16) + u16 length: the smallest entry, and the footer's own share of the table length. */
export const OVMF_ENTRY_HEADER = 18;
/** QEMU parses no flash image smaller than a target page (pc_system_parse_ovmf_flash). */
export const OVMF_MIN_IMAGE = 4096;

// Entry GUIDs, each checked against edk2's ResetVectorVtf0.asm bytes and QEMU's definitions.
export const SEV_ES_RESET_BLOCK_GUID = '00f771de-1a7e-4fcb-890e-68c77e2fb44e'; // QEMU SEV_INFO_BLOCK_GUID
export const SEV_METADATA_GUID = 'dc886566-984a-4798-a75e-5585a7bf67cc'; // edk2 OvmfSevMetadataGuid
export const SEV_HASH_TABLE_GUID = '7255371f-3a3b-4b04-927b-1da6efa8d454'; // QEMU SEV_HASH_TABLE_RV_GUID
export const SEV_SECRET_BLOCK_GUID = '4c2eb361-7d9b-4cc3-8081-127c90d3d294'; // edk2 "SEV secret block"
export const TDX_METADATA_GUID = 'e47a6535-984a-4798-865e-4685a7bf8ec2'; // QEMU hw/i386/tdvf.c

/** Names of the GUIDs known to appear in the table (the footer's included, for reports). */
export const OVMF_GUID_NAMES: ReadonlyMap<string, string> = new Map([
  [OVMF_TABLE_FOOTER_GUID, 'OVMF GUIDed table footer'],
  [SEV_ES_RESET_BLOCK_GUID, 'SEV-ES reset block'],
  [SEV_METADATA_GUID, 'SEV metadata offset'],
  [SEV_HASH_TABLE_GUID, 'SEV hash table block'],
  [SEV_SECRET_BLOCK_GUID, 'SEV secret block'],
  [TDX_METADATA_GUID, 'TDX metadata offset'],
]);

export class OvmfTableError extends Error {
  override readonly name = 'OvmfTableError';
}

export interface OvmfTableEntry {
  /** Lower-case text form, e.g. "00f771de-1a7e-4fcb-890e-68c77e2fb44e". */
  guid: string;
  /** From OVMF_GUID_NAMES, or undefined for a GUID this file does not know. */
  name: string | undefined;
  /** The entry's u16 length: data + 2 + 16. */
  length: number;
  /** File offset of the entry's first byte (its data). */
  offset: number;
  data: Uint8Array;
}

export interface OvmfTable {
  /** The footer's u16: the whole table, footer included. */
  length: number;
  /** File offset of the table's first byte. */
  offset: number;
  /** In the order they are walked: the entry nearest the footer first. */
  entries: OvmfTableEntry[];
}

const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;

/** The 16 bytes at `at` as a GUID's text form (EFI byte order). */
export function guidToString(bytes: Uint8Array, at = 0): string {
  const h = (i: number) => bytes[at + i].toString(16).padStart(2, '0');
  const run = (idx: number[]) => idx.map(h).join('');
  return [run([3, 2, 1, 0]), run([5, 4]), run([7, 6]), run([8, 9]), run([10, 11, 12, 13, 14, 15])].join('-');
}

/** A GUID's 16 bytes in EFI byte order, as they sit in the image. */
export function guidToBytes(guid: string): Uint8Array {
  const h = guid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new OvmfTableError(`not a GUID: "${guid}"`);
  const b = Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(h.slice(2 * i, 2 * i + 2), 16));
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Uint8Array.from(order, (i) => b[i]);
}

/**
 * The table of an OVMF-style firmware image, or null when the image has none (shorter than
 * 4 KiB, or no footer GUID 48 bytes before its end). Throws OvmfTableError for a malformed table.
 */
export function parseOvmfTable(image: Uint8Array): OvmfTable | null {
  if (image.length < OVMF_MIN_IMAGE) return null;
  const footerAt = image.length - OVMF_TABLE_FOOTER_FROM_END;
  if (guidToString(image, footerAt) !== OVMF_TABLE_FOOTER_GUID) return null;
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const length = dv.getUint16(footerAt - 2, true);
  if (length < OVMF_ENTRY_HEADER)
    throw new OvmfTableError(
      `table length ${length} (u16 at file offset ${hex(footerAt - 2)}) is less than ${OVMF_ENTRY_HEADER}, the footer's own length field and GUID`,
    );
  const end = footerAt + 16; // one past the footer GUID: the table's end
  const offset = end - length;
  if (offset < 0)
    throw new OvmfTableError(
      `table length ${length} runs past the start of the image: the table would begin ${-offset} bytes before file offset 0`,
    );
  const entries: OvmfTableEntry[] = [];
  let ptr = footerAt - 2; // one past the nearest entry's GUID
  while (ptr > offset) {
    const left = ptr - offset;
    if (left < OVMF_ENTRY_HEADER)
      throw new OvmfTableError(
        `${left} bytes left at the table's start (file offset ${hex(offset)}) are too few for an entry (${OVMF_ENTRY_HEADER} at least)`,
      );
    const guid = guidToString(image, ptr - 16);
    const len = dv.getUint16(ptr - OVMF_ENTRY_HEADER, true);
    const where = `entry ${entries.length} (GUID ${guid}, ending at file offset ${hex(ptr)})`;
    if (len < OVMF_ENTRY_HEADER)
      throw new OvmfTableError(
        `${where} has length ${len}, less than ${OVMF_ENTRY_HEADER} (its own length field and GUID)`,
      );
    if (len > left)
      throw new OvmfTableError(
        `${where} has length ${len}, which runs past the table's start: only ${left} bytes of the table are left`,
      );
    const at = ptr - len;
    entries.push({
      guid,
      name: OVMF_GUID_NAMES.get(guid),
      length: len,
      offset: at,
      data: image.subarray(at, ptr - OVMF_ENTRY_HEADER),
    });
    ptr = at;
  }
  return { length, offset, entries };
}

/** The first entry with this GUID, walking from the footer (which QEMU's lookup also returns). */
export function findOvmfEntry(table: OvmfTable, guid: string): OvmfTableEntry | undefined {
  const want = guid.toLowerCase();
  return table.entries.find((e) => e.guid === want);
}

/**
 * Where an SEV-ES AP first runs, in real mode. The hypervisor cannot set an SEV-ES AP's registers
 * after launch, so its launch VMSA must already hold this (QEMU: sev_es_save_reset_vector, applied
 * to every vCPU but the BSP by sev_es_set_reset_vector).
 */
export interface SevEsResetVector {
  /** The block's u32 (edk2 SEV_ES_AP_RESET_IP): bits 15:0 IP, bits 31:16 CS base bits 31:16. */
  address: number;
  ip: number;
  csBase: number;
  /** QEMU loads CS with selector F000 and this base, whatever the base is (not selector << 4). */
  csSelector: 0xf000;
  csLimit: 0xffff;
}

/** The SEV-ES reset vector from the table, or null when the table has no SEV-ES reset block. */
export function sevEsResetBlock(table: OvmfTable): SevEsResetVector | null {
  const e = findOvmfEntry(table, SEV_ES_RESET_BLOCK_GUID);
  return e === undefined ? null : decodeSevEsResetBlock(e);
}

/** One SEV-ES reset block entry's data: a u32 address (edk2 ResetVectorVtf0.asm, sevEsResetBlock). */
export function decodeSevEsResetBlock(e: OvmfTableEntry): SevEsResetVector {
  if (e.data.length < 4)
    throw new OvmfTableError(
      `the SEV-ES reset block at file offset ${hex(e.offset)} has ${e.data.length} data bytes; its address needs 4`,
    );
  const address = new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
  // QEMU refuses a zero address ("SEV-ES reset address is zero") rather than start APs at 0:0.
  if (address === 0)
    throw new OvmfTableError(`the SEV-ES reset block at file offset ${hex(e.offset)} holds address 0`);
  return {
    address,
    ip: address & 0xffff,
    csBase: (address & 0xffff0000) >>> 0,
    csSelector: 0xf000,
    csLimit: 0xffff,
  };
}
