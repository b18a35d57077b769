// Encodings pinned against Linux arch/x86/include/asm/sev-common.h (GHCB_MSR_*, GHCB_CPUID_REQ,
// GHCB_MSR_SEV_INFO, GHCB_SEV_TERM_REASON) and KVM sev_handle_vmgexit_msr_protocol, which implement
// the GHCB specification's "GHCB MSR Protocol" (AMD 56421).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as M from './msr-protocol.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const reg = fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<M.CpuidReg>;

describe('GHCB MSR protocol', () => {
  it('has the MSR and the GHCBInfo codes', () => {
    expect(M.MSR_AMD64_SEV_ES_GHCB).toBe(0xc0010130);
    expect([M.GHCB_MSR_SEV_INFO_RESP, M.GHCB_MSR_SEV_INFO_REQ]).toEqual([0x001, 0x002]);
    expect([M.GHCB_MSR_CPUID_REQ, M.GHCB_MSR_CPUID_RESP]).toEqual([0x004, 0x005]);
    expect([M.GHCB_MSR_AP_RESET_HOLD_REQ, M.GHCB_MSR_AP_RESET_HOLD_RESP]).toEqual([0x006, 0x007]);
    expect([M.GHCB_MSR_PREF_GPA_REQ, M.GHCB_MSR_PREF_GPA_RESP]).toEqual([0x010, 0x011]);
    expect([M.GHCB_MSR_REG_GPA_REQ, M.GHCB_MSR_REG_GPA_RESP]).toEqual([0x012, 0x013]);
    expect([M.GHCB_MSR_PSC_REQ, M.GHCB_MSR_PSC_RESP]).toEqual([0x014, 0x015]);
    expect([M.GHCB_MSR_HV_FT_REQ, M.GHCB_MSR_HV_FT_RESP]).toEqual([0x080, 0x081]);
    expect(M.GHCB_MSR_TERM_REQ).toBe(0x100);
    expect([M.GHCB_VERSION_MIN, M.GHCB_VERSION_MAX]).toEqual([1, 2]);
    expect([M.GHCB_HV_FT_SNP, M.GHCB_HV_FT_SNP_AP_CREATION, M.GHCB_HV_FT_SNP_MULTI_VMPL]).toEqual([
      1n,
      2n,
      32n,
    ]);
  });

  it('encodes SEV information: [63:48] max, [47:32] min, [31:24] C-bit', () => {
    const v = M.encodeSevInfo({ maxVersion: 2, minVersion: 1, cbitPos: 51 });
    expect(v).toBe(0x0002_0001_3300_0001n);
    expect(M.ghcbInfo(v)).toBe(M.GHCB_MSR_SEV_INFO_RESP);
    expect(M.decodeSevInfo(v)).toEqual({ maxVersion: 2, minVersion: 1, cbitPos: 51 });
  });

  it('encodes CPUID requests and responses: [31:30] register, [63:32] function or value', () => {
    expect(M.encodeCpuidRequest(0x8000001f, M.GHCB_CPUID_REQ_EBX)).toBe(0x8000001f_4000_0004n);
    expect(M.encodeCpuidRequest(0, M.GHCB_CPUID_REQ_EAX)).toBe(0x004n);
    expect(M.encodeCpuidResponse(0xdeadbeef, M.GHCB_CPUID_REQ_EDX)).toBe(0xdeadbeef_c000_0005n);
    expect(M.decodeCpuidResponse(0xdeadbeef_c000_0005n)).toEqual({ value: 0xdeadbeef, reg: 3 });
  });

  it('encodes the AP Reset Hold response with the result in [63:12]', () => {
    expect(M.AP_RESET_HOLD_REQUEST).toBe(0x006n);
    expect(M.encodeApResetHoldResponse(0n)).toBe(0x007n); // KVM's preset: not released yet
    expect(M.encodeApResetHoldResponse(1n)).toBe(0x1007n); // released by SIPI
    expect(M.decodeApResetHoldResponse(0x1007n)).toBe(1n);
  });

  it('encodes GHCB GPA registration with the GFN in [63:12]', () => {
    expect(M.encodeRegisterGpaRequest(0x12345n)).toBe(0x12345012n);
    expect(M.encodeRegisterGpaResponse(0x12345n)).toBe(0x12345013n);
    expect(M.decodeGfn(0x12345013n)).toBe(0x12345n);
  });

  it('encodes hypervisor features with the bitmap in [63:12]', () => {
    expect(M.HV_FEATURES_REQUEST).toBe(0x080n);
    expect(M.encodeHvFeaturesResponse(M.GHCB_HV_FT_SNP | M.GHCB_HV_FT_SNP_AP_CREATION)).toBe(0x3081n);
    expect(M.decodeHvFeaturesResponse(0x3081n)).toBe(3n);
  });

  it('encodes termination: [15:12] reason set, [23:16] reason code', () => {
    expect(M.encodeTermRequest(M.SEV_TERM_SET_GEN, M.GHCB_SEV_ES_PROT_UNSUPPORTED)).toBe(0x10100n);
    expect(M.encodeTermRequest(M.SEV_TERM_SET_LINUX, 0)).toBe(0x1100n);
    expect(M.decodeTermRequest(0x10100n)).toEqual({ reasonSet: 0, reasonCode: 1 });
  });

  it('classifies requests by GHCBInfo', () => {
    expect(M.decodeMsrRequest(0x7000n)).toEqual({ kind: 'ghcb-gpa', gpa: 0x7000n });
    expect(M.decodeMsrRequest(0x002n)).toEqual({ kind: 'sev-info' });
    expect(M.decodeMsrRequest(0x1_4000_0004n)).toEqual({ kind: 'cpuid', fn: 1, reg: 1 });
    expect(M.decodeMsrRequest(0x006n)).toEqual({ kind: 'ap-reset-hold' });
    expect(M.decodeMsrRequest(0x010n)).toEqual({ kind: 'preferred-gpa' });
    expect(M.decodeMsrRequest(0x55012n)).toEqual({ kind: 'register-gpa', gfn: 0x55n });
    expect(M.decodeMsrRequest((2n << 52n) | (0x77n << 12n) | 0x014n)).toEqual({
      kind: 'psc',
      gfn: 0x77n,
      op: 2,
    });
    expect(M.decodeMsrRequest(0x080n)).toEqual({ kind: 'hv-features' });
    expect(M.decodeMsrRequest(0x40100n)).toEqual({ kind: 'terminate', reasonSet: 0, reasonCode: 4 });
    expect(M.decodeMsrRequest(0x003n)).toEqual({ kind: 'unknown', info: 3 });
  });

  it('round-trips every encoding (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xff }),
        (max, min, c) => {
          expect(M.decodeSevInfo(M.encodeSevInfo({ maxVersion: max, minVersion: min, cbitPos: c }))).toEqual({
            maxVersion: max,
            minVersion: min,
            cbitPos: c,
          });
        },
      ),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), reg, (fn, r) => {
        expect(M.decodeCpuidRequest(M.encodeCpuidRequest(fn, r))).toEqual({ fn, reg: r });
        expect(M.decodeCpuidResponse(M.encodeCpuidResponse(fn, r))).toEqual({ value: fn, reg: r });
        expect(M.decodeMsrRequest(M.encodeCpuidRequest(fn, r))).toEqual({ kind: 'cpuid', fn, reg: r });
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), (g) => {
        expect(M.decodeGfn(M.encodeRegisterGpaRequest(g))).toBe(g);
        expect(M.decodeApResetHoldResponse(M.encodeApResetHoldResponse(g))).toBe(g);
        expect(M.decodeHvFeaturesResponse(M.encodeHvFeaturesResponse(g))).toBe(g);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 255 }), (s, c) => {
        expect(M.decodeTermRequest(M.encodeTermRequest(s, c))).toEqual({ reasonSet: s, reasonCode: c });
      }),
    );
  });

  it('decodes any u64 without throwing, and only within the field widths (property)', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const r = M.decodeMsrRequest(v);
        expect(r.kind).toBeTypeOf('string');
        const s = M.decodeSevInfo(v);
        expect(s.maxVersion).toBeLessThanOrEqual(0xffff);
        expect(M.ghcbInfo(v)).toBeLessThanOrEqual(0xfff);
        expect(M.ghcbData(v)).toBeLessThan(1n << 52n);
      }),
    );
  });
});
