// The GHCB page: a 4 KiB page the SEV-ES guest maps shared (C-bit clear) and hands to the hypervisor
// through the GHCB MSR. Offsets follow the GHCB specification (AMD 56421, "GHCB Layout" table) and
// Linux arch/x86/include/asm/svm.h (struct ghcb_save_area / struct ghcb, whose BUILD_BUG_ON offset
// checks pin the same numbers). Register fields sit where the VMSA keeps them (APM vol 2 table B-4),
// which is why the valid-bitmap index of a field is simply its quadword number.
// Pure: imports nothing. 64-bit fields are bigint; nothing here is per-instruction.

export const GHCB_PAGE_SIZE = 0x1000;

/** A save-area field: byte offset in the page and size in bytes (CPL is the only 1-byte field). */
export interface GhcbField {
  readonly offset: number;
  readonly size: 1 | 8;
}

/**
 * Save-area fields, named as Linux names them (struct ghcb_save_area). RFLAGS at 0x170 appears only in
 * edk2's GHCB_REGISTER enum, not in Linux, so it is left out.
 */
export const GHCB_FIELDS = Object.freeze({
  cpl: { offset: 0x0cb, size: 1 },
  xss: { offset: 0x140, size: 8 },
  dr7: { offset: 0x160, size: 8 },
  rip: { offset: 0x178, size: 8 },
  rsp: { offset: 0x1d8, size: 8 },
  rax: { offset: 0x1f8, size: 8 },
  rcx: { offset: 0x308, size: 8 },
  rdx: { offset: 0x310, size: 8 },
  rbx: { offset: 0x318, size: 8 },
  rbp: { offset: 0x328, size: 8 },
  rsi: { offset: 0x330, size: 8 },
  rdi: { offset: 0x338, size: 8 },
  r8: { offset: 0x340, size: 8 },
  r9: { offset: 0x348, size: 8 },
  r10: { offset: 0x350, size: 8 },
  r11: { offset: 0x358, size: 8 },
  r12: { offset: 0x360, size: 8 },
  r13: { offset: 0x368, size: 8 },
  r14: { offset: 0x370, size: 8 },
  r15: { offset: 0x378, size: 8 },
  sw_exit_code: { offset: 0x390, size: 8 },
  sw_exit_info_1: { offset: 0x398, size: 8 },
  sw_exit_info_2: { offset: 0x3a0, size: 8 },
  sw_scratch: { offset: 0x3a8, size: 8 },
  xcr0: { offset: 0x3e8, size: 8 },
} as const satisfies Record<string, GhcbField>);

export type GhcbFieldName = keyof typeof GHCB_FIELDS;
export const GHCB_FIELD_NAMES = Object.freeze(Object.keys(GHCB_FIELDS) as GhcbFieldName[]);

/** 16-byte valid bitmap: bit n (byte n / 8, bit n % 8) says quadword n of the save area was supplied. */
export const GHCB_VALID_BITMAP_OFFSET = 0x3f0;
export const GHCB_VALID_BITMAP_SIZE = 16;
/** Not covered by the bitmap (its quadword 128 is past bit 127); Linux struct ghcb_save_area. */
export const GHCB_X87_STATE_GPA_OFFSET = 0x400;
/** sizeof(struct ghcb_save_area) = 1032 (Linux EXPECTED_GHCB_SAVE_AREA_SIZE); reserved up to 0x800. */
export const GHCB_SAVE_AREA_SIZE = 0x408;
/** The shared buffer: the only part of the page a scratch area may use (KVM setup_vmgexit_scratch). */
export const GHCB_SHARED_BUFFER_OFFSET = 0x800;
export const GHCB_SHARED_BUFFER_SIZE = 2032; // Linux GHCB_SHARED_BUF_SIZE; ends at 0xFF0
export const GHCB_SHARED_BUFFER_END = GHCB_SHARED_BUFFER_OFFSET + GHCB_SHARED_BUFFER_SIZE;
/** u16: the GHCB protocol version the guest negotiated over the MSR protocol. */
export const GHCB_PROTOCOL_VERSION_OFFSET = 0xffa;
/** u32: 0 = the standard layout above (GHCB_DEFAULT_USAGE); anything else is another layout. */
export const GHCB_USAGE_OFFSET = 0xffc;
export const GHCB_DEFAULT_USAGE = 0;

/** Linux GHCB_BITMAP_IDX: a field's valid bit is its offset in quadwords. */
export function ghcbBitmapIndex(offset: number): number {
  return offset >>> 3;
}

export function fieldBit(name: GhcbFieldName): number {
  return ghcbBitmapIndex(GHCB_FIELDS[name].offset);
}

/** A little-endian view of a whole GHCB page. A short buffer is a host bug, not guest input. */
export function ghcbView(page: Uint8Array): DataView {
  if (page.byteLength < GHCB_PAGE_SIZE) throw new RangeError(`GHCB page is ${page.byteLength} bytes`);
  return new DataView(page.buffer, page.byteOffset, GHCB_PAGE_SIZE);
}

export function isBitValid(view: DataView, bit: number): boolean {
  return ((view.getUint8(GHCB_VALID_BITMAP_OFFSET + (bit >>> 3)) >>> (bit & 7)) & 1) === 1;
}

export function setBitValid(view: DataView, bit: number): void {
  const at = GHCB_VALID_BITMAP_OFFSET + (bit >>> 3);
  view.setUint8(at, view.getUint8(at) | (1 << (bit & 7)));
}

export function isFieldValid(view: DataView, name: GhcbFieldName): boolean {
  return isBitValid(view, fieldBit(name));
}

/** The 128-bit bitmap as one bigint (bit n of the result = valid bit n). */
export function readValidBitmap(view: DataView): bigint {
  const lo = view.getBigUint64(GHCB_VALID_BITMAP_OFFSET, true);
  const hi = view.getBigUint64(GHCB_VALID_BITMAP_OFFSET + 8, true);
  return (hi << 64n) | lo;
}

/** Both sides clear the bitmap before filling a request or an answer (Linux vc_ghcb_invalidate). */
export function clearValidBitmap(view: DataView): void {
  view.setBigUint64(GHCB_VALID_BITMAP_OFFSET, 0n, true);
  view.setBigUint64(GHCB_VALID_BITMAP_OFFSET + 8, 0n, true);
}

/** Reads a field whether or not its valid bit is set (Linux ghcb_get_<field>). */
export function getField(view: DataView, name: GhcbFieldName): bigint {
  const f = GHCB_FIELDS[name];
  return f.size === 1 ? BigInt(view.getUint8(f.offset)) : view.getBigUint64(f.offset, true);
}

/** Writes a field and marks it valid (Linux ghcb_set_<field>). Values are truncated to the field. */
export function setField(view: DataView, name: GhcbFieldName, value: bigint): void {
  const f = GHCB_FIELDS[name];
  if (f.size === 1) view.setUint8(f.offset, Number(BigInt.asUintN(8, value)));
  else view.setBigUint64(f.offset, BigInt.asUintN(64, value), true);
  setBitValid(view, ghcbBitmapIndex(f.offset));
}

export function getProtocolVersion(view: DataView): number {
  return view.getUint16(GHCB_PROTOCOL_VERSION_OFFSET, true);
}

export function setProtocolVersion(view: DataView, version: number): void {
  view.setUint16(GHCB_PROTOCOL_VERSION_OFFSET, version, true);
}

export function getUsage(view: DataView): number {
  return view.getUint32(GHCB_USAGE_OFFSET, true);
}

export function setUsage(view: DataView, usage: number): void {
  view.setUint32(GHCB_USAGE_OFFSET, usage, true);
}
