// Offsets pinned against the GHCB specification (AMD 56421, "GHCB Layout" table), Linux
// arch/x86/include/asm/svm.h (struct ghcb_save_area, struct ghcb and their BUILD_BUG_ON offset checks)
// and edk2 MdePkg/Include/Register/Amd/Ghcb.h (GHCB_REGISTER: the valid-bitmap indices).
import { describe, expect, it } from 'vitest';
import {
  clearValidBitmap,
  fieldBit,
  GHCB_DEFAULT_USAGE,
  GHCB_FIELD_NAMES,
  GHCB_FIELDS,
  GHCB_PAGE_SIZE,
  GHCB_PROTOCOL_VERSION_OFFSET,
  GHCB_SAVE_AREA_SIZE,
  GHCB_SHARED_BUFFER_END,
  GHCB_SHARED_BUFFER_OFFSET,
  GHCB_SHARED_BUFFER_SIZE,
  GHCB_USAGE_OFFSET,
  GHCB_VALID_BITMAP_OFFSET,
  GHCB_VALID_BITMAP_SIZE,
  GHCB_X87_STATE_GPA_OFFSET,
  getField,
  getProtocolVersion,
  getUsage,
  ghcbBitmapIndex,
  ghcbView,
  isBitValid,
  isFieldValid,
  readValidBitmap,
  setField,
  setProtocolVersion,
  setUsage,
} from './layout.js';

describe('GHCB page layout', () => {
  it('places the save-area fields where Linux struct ghcb_save_area does', () => {
    const offsets = Object.fromEntries(GHCB_FIELD_NAMES.map((n) => [n, GHCB_FIELDS[n].offset]));
    expect(offsets).toEqual({
      cpl: 0x0cb,
      xss: 0x140,
      dr7: 0x160,
      rip: 0x178,
      rsp: 0x1d8,
      rax: 0x1f8,
      rcx: 0x308,
      rdx: 0x310,
      rbx: 0x318,
      rbp: 0x328,
      rsi: 0x330,
      rdi: 0x338,
      r8: 0x340,
      r9: 0x348,
      r10: 0x350,
      r11: 0x358,
      r12: 0x360,
      r13: 0x368,
      r14: 0x370,
      r15: 0x378,
      sw_exit_code: 0x390,
      sw_exit_info_1: 0x398,
      sw_exit_info_2: 0x3a0,
      sw_scratch: 0x3a8,
      xcr0: 0x3e8,
    });
    expect(GHCB_FIELDS.cpl.size).toBe(1);
    for (const n of GHCB_FIELD_NAMES) if (n !== 'cpl') expect(GHCB_FIELDS[n].size).toBe(8);
  });

  it('has the page-level fields of the spec table', () => {
    expect(GHCB_PAGE_SIZE).toBe(4096);
    expect(GHCB_VALID_BITMAP_OFFSET).toBe(0x3f0);
    expect(GHCB_VALID_BITMAP_SIZE).toBe(16);
    expect(GHCB_X87_STATE_GPA_OFFSET).toBe(0x400);
    expect(GHCB_SAVE_AREA_SIZE).toBe(1032); // Linux EXPECTED_GHCB_SAVE_AREA_SIZE
    expect(GHCB_SHARED_BUFFER_OFFSET).toBe(0x800);
    expect(GHCB_SHARED_BUFFER_SIZE).toBe(2032); // Linux GHCB_SHARED_BUF_SIZE
    expect(GHCB_SHARED_BUFFER_END).toBe(0xff0); // reserved_0xff0[10] follows
    expect(GHCB_PROTOCOL_VERSION_OFFSET).toBe(0xffa);
    expect(GHCB_USAGE_OFFSET).toBe(0xffc);
    expect(GHCB_USAGE_OFFSET + 4).toBe(GHCB_PAGE_SIZE);
    expect(GHCB_DEFAULT_USAGE).toBe(0);
  });

  it('keeps every field inside the save area and none overlapping', () => {
    const spans = GHCB_FIELD_NAMES.map((n) => [
      GHCB_FIELDS[n].offset,
      GHCB_FIELDS[n].offset + GHCB_FIELDS[n].size,
    ]);
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    expect(spans[spans.length - 1][1]).toBeLessThanOrEqual(GHCB_VALID_BITMAP_OFFSET);
  });

  it('indexes the valid bitmap by quadword (Linux GHCB_BITMAP_IDX; edk2 GHCB_REGISTER values)', () => {
    expect(ghcbBitmapIndex(0x1f8)).toBe(63);
    expect(fieldBit('cpl')).toBe(25); // GhcbCpl
    expect(fieldBit('rip')).toBe(47); // GhcbRip
    expect(fieldBit('rsp')).toBe(59); // GhcbRsp
    expect(fieldBit('rax')).toBe(63); // GhcbRax
    expect(fieldBit('rcx')).toBe(97); // GhcbRcx
    expect(fieldBit('rdx')).toBe(98);
    expect(fieldBit('rbx')).toBe(99);
    expect(fieldBit('rbp')).toBe(101); // GhcbRbp
    expect(fieldBit('r15')).toBe(111);
    expect(fieldBit('xss')).toBe(40);
    expect(fieldBit('dr7')).toBe(44);
    expect(fieldBit('sw_exit_code')).toBe(114); // OVMF sets 114/115/116 for AP Reset Hold
    expect(fieldBit('sw_exit_info_1')).toBe(115);
    expect(fieldBit('sw_exit_info_2')).toBe(116);
    expect(fieldBit('sw_scratch')).toBe(117);
    expect(fieldBit('xcr0')).toBe(125); // GhcbXCr0
    // The bitmap's 128 bits cover 0x000..0x3FF; x87_state_gpa (quadword 128) has no valid bit.
    expect(ghcbBitmapIndex(GHCB_X87_STATE_GPA_OFFSET)).toBe(128);
  });

  it('stores bit n in byte n/8, bit n%8 of the bitmap', () => {
    const page = new Uint8Array(GHCB_PAGE_SIZE);
    const v = ghcbView(page);
    setField(v, 'rax', 1n);
    expect(page[0x3f0 + 7]).toBe(0x80); // bit 63
    setField(v, 'sw_exit_code', 0x72n);
    expect(page[0x3f0 + 14]).toBe(1 << 2); // bit 114
    expect(readValidBitmap(v)).toBe((1n << 63n) | (1n << 114n));
    expect(isBitValid(v, 63)).toBe(true);
    expect(isFieldValid(v, 'rcx')).toBe(false);
    clearValidBitmap(v);
    expect(readValidBitmap(v)).toBe(0n);
    expect(getField(v, 'rax')).toBe(1n); // clearing the bitmap leaves values in place
  });

  it('reads and writes little-endian, truncating to the field size', () => {
    const page = new Uint8Array(GHCB_PAGE_SIZE);
    const v = ghcbView(page);
    setField(v, 'sw_exit_info_1', 0x1122_3344_5566_7788n);
    expect([...page.subarray(0x398, 0x3a0)]).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    setField(v, 'cpl', 0x103n);
    expect(page[0xcb]).toBe(3);
    expect(page[0xcc]).toBe(0);
    setField(v, 'rbx', -1n);
    expect(getField(v, 'rbx')).toBe(0xffff_ffff_ffff_ffffn);
    setProtocolVersion(v, 2);
    setUsage(v, 0xdead_beef);
    expect([...page.subarray(0xffa, 0x1000)]).toEqual([2, 0, 0xef, 0xbe, 0xad, 0xde]);
    expect(getProtocolVersion(v)).toBe(2);
    expect(getUsage(v)).toBe(0xdead_beef);
  });

  it('views a page inside a larger buffer and refuses a short one', () => {
    const big = new Uint8Array(3 * GHCB_PAGE_SIZE);
    const v = ghcbView(big.subarray(GHCB_PAGE_SIZE));
    setField(v, 'rcx', 5n);
    expect(big[GHCB_PAGE_SIZE + 0x308]).toBe(5);
    expect(() => ghcbView(new Uint8Array(100))).toThrow(RangeError);
  });
});
