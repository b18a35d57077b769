// The number accessors of the VMCS (lo/hi/readNum/writeNum/writeHalves, read32/write32) that the VM
// entry and exit use instead of BigInt (issue 12): they must agree with the BigInt VMREAD/VMWRITE
// model of the same region, through the hypervisor's view and through the processor's word view.
import { describe, expect, it } from 'vitest';
import { VMCS_REGION_SIZE, VMCS_REVISION_ID, VMCS_SUPPORTED_FIELDS, Vmcs } from './vmcs.js';
import { VMCS_FIELD, VMCS_WIDTH_16, VMCS_WIDTH_32, vmcsFieldIsHigh, vmcsFieldWidth } from './vmcs-fields.js';

const F = VMCS_FIELD;
const AT = 0x1000;

function pair(): { bytes: Vmcs; words: Vmcs } {
  const buf = new ArrayBuffer(0x3000);
  const view = new DataView(buf);
  const bytes = new Vmcs(view, AT);
  bytes.revisionId = VMCS_REVISION_ID;
  bytes.vmclear();
  return { bytes, words: new Vmcs(view, AT, new Uint32Array(buf, AT, VMCS_REGION_SIZE / 4)) };
}

const wide = VMCS_SUPPORTED_FIELDS.filter((e) => {
  const w = vmcsFieldWidth(e);
  return !vmcsFieldIsHigh(e) && w !== VMCS_WIDTH_16 && w !== VMCS_WIDTH_32;
});
const narrow = VMCS_SUPPORTED_FIELDS.filter((e) => {
  const w = vmcsFieldWidth(e);
  return w === VMCS_WIDTH_16 || w === VMCS_WIDTH_32;
});

// Canonical addresses, small values and the extremes: exact as numbers (below 2^53 or sign-extended).
const VALUES = [0, 1, 0x7c00, 0xffff_ffff, 2 ** 32, 2 ** 47 - 1, -(2 ** 47), -1, -4096, 2 ** 52 + 3];

describe('VMCS number accessors against the BigInt model', () => {
  it('writeNum then VMREAD gives the 64-bit two’s complement; readNum gives the number back', () => {
    const { bytes, words } = pair();
    for (const v of [bytes, words])
      for (const e of wide)
        for (const n of VALUES) {
          v.writeNum(e, n);
          expect(v.read(e)).toBe(BigInt.asUintN(64, BigInt(n)));
          expect(v.readNum(e)).toBe(n);
          expect(v.lo(e)).toBe(Number(BigInt.asUintN(64, BigInt(n)) & 0xffff_ffffn));
          expect(v.hi(e)).toBe(Number(BigInt.asUintN(64, BigInt(n)) >> 32n));
        }
  });

  it('writeHalves and VMWRITE agree, and the two views see one region', () => {
    const { bytes, words } = pair();
    words.writeHalves(F.GUEST_RIP, 0x8000_1234, 0xffff_8000);
    expect(bytes.read(F.GUEST_RIP)).toBe(0xffff_8000_8000_1234n);
    bytes.write(F.GUEST_RSP, 0x1234_5678_9abc_def0n);
    expect(words.lo(F.GUEST_RSP)).toBe(0x9abc_def0);
    expect(words.hi(F.GUEST_RSP)).toBe(0x1234_5678);
    expect(words.readNum(F.GUEST_RIP)).toBe(-(2 ** 47) + 0x8000_1234);
  });

  it('write32 truncates to the field width (16 or 32 bits) and clears the slot’s upper half', () => {
    const { bytes, words } = pair();
    for (const v of [bytes, words])
      for (const e of narrow) {
        v.write(e, 0xffff_ffff_ffff_ffffn); // BigInt write of a narrow field truncates too
        v.write32(e, 0x1234_5678 | 0);
        const want = vmcsFieldWidth(e) === VMCS_WIDTH_16 ? 0x5678 : 0x1234_5678;
        expect(v.read32(e)).toBe(want);
        expect(v.read(e)).toBe(BigInt(want));
      }
  });

  it('a field of the wrong width or none at all is a host error naming it', () => {
    const { words } = pair();
    expect(() => words.read32(F.GUEST_RIP)).toThrow(/GUEST_RIP/);
    expect(() => words.lo(F.GUEST_CS_LIMIT)).toThrow(/GUEST_CS_LIMIT/);
    expect(() => words.readNum(F.POSTED_INTR_NV)).toThrow(/POSTED_INTR_NV/);
  });
});
