// Values pinned against Linux arch/x86/include/uapi/asm/svm.h (exit codes), arch/x86/include/asm/svm.h
// (SVM_IOIO_*) and arch/x86/include/asm/sev-common.h (GHCB_HV_RESP_*, GHCB_ERR_*), which follow the
// GHCB specification (AMD 56421) and APM vol 2 appendix C.
import { describe, expect, it } from 'vitest';
import * as X from './exit-codes.js';

describe('exit codes', () => {
  it('has the hardware exit codes a #VC handler forwards', () => {
    expect(X.SVM_EXIT_READ_DR7).toBe(0x27);
    expect(X.SVM_EXIT_WRITE_DR7).toBe(0x37);
    expect(X.SVM_EXIT_RDTSC).toBe(0x6e);
    expect(X.SVM_EXIT_RDPMC).toBe(0x6f);
    expect(X.SVM_EXIT_CPUID).toBe(0x72);
    expect(X.SVM_EXIT_INVD).toBe(0x76);
    expect(X.SVM_EXIT_IOIO).toBe(0x7b);
    expect(X.SVM_EXIT_MSR).toBe(0x7c);
    expect(X.SVM_EXIT_VMMCALL).toBe(0x81);
    expect(X.SVM_EXIT_RDTSCP).toBe(0x87);
    expect(X.SVM_EXIT_WBINVD).toBe(0x89);
    expect(X.SVM_EXIT_MONITOR).toBe(0x8a);
    expect(X.SVM_EXIT_MWAIT).toBe(0x8b);
    expect(X.SVM_EXIT_NPF).toBe(0x400);
    expect(X.SVM_EXIT_VMGEXIT).toBe(0x403);
  });

  it('has the software VMGEXIT events', () => {
    expect(X.SVM_VMGEXIT_MMIO_READ).toBe(0x80000001);
    expect(X.SVM_VMGEXIT_MMIO_WRITE).toBe(0x80000002);
    expect(X.SVM_VMGEXIT_NMI_COMPLETE).toBe(0x80000003);
    expect(X.SVM_VMGEXIT_AP_HLT_LOOP).toBe(0x80000004);
    expect(X.SVM_VMGEXIT_AP_JUMP_TABLE).toBe(0x80000005);
    expect(X.SVM_VMGEXIT_SET_AP_JUMP_TABLE).toBe(0);
    expect(X.SVM_VMGEXIT_GET_AP_JUMP_TABLE).toBe(1);
    expect(X.SVM_VMGEXIT_PSC).toBe(0x80000010);
    expect(X.SVM_VMGEXIT_GUEST_REQUEST).toBe(0x80000011);
    expect(X.SVM_VMGEXIT_EXT_GUEST_REQUEST).toBe(0x80000012);
    expect(X.SVM_VMGEXIT_AP_CREATION).toBe(0x80000013);
    expect(X.SVM_VMGEXIT_SNP_RUN_VMPL).toBe(0x80000018);
    expect(X.SVM_VMGEXIT_HV_FEATURES).toBe(0x8000fffd);
    expect(X.SVM_VMGEXIT_TERM_REQUEST).toBe(0x8000fffe);
    expect(X.SVM_VMGEXIT_UNSUPPORTED_EVENT).toBe(0x8000ffff);
  });

  it('encodes a termination NAE request like SVM_VMGEXIT_TERM_REASON (spec 4.1.13)', () => {
    expect(X.termRequestInfo1(1, 4)).toBe(0x41n);
    expect(X.termRequestInfo1(0xf, 0xff)).toBe(0xfffn);
    expect(X.termRequestInfo1(0x1f, 0x1ff)).toBe(0xfffn); // out-of-range parts are masked
  });

  it('has the IOIO EXITINFO1 bits', () => {
    expect(X.SVM_IOIO_TYPE_MASK).toBe(1);
    expect(X.SVM_IOIO_STR_MASK).toBe(4);
    expect(X.SVM_IOIO_REP_MASK).toBe(8);
    expect(X.SVM_IOIO_SIZE_MASK).toBe(0x70);
    expect(X.SVM_IOIO_ASIZE_MASK).toBe(0x380);
    expect(X.SVM_IOIO_PORT_SHIFT).toBe(16);
  });

  it('has the answer codes and the malformed-input reasons', () => {
    expect([
      X.GHCB_HV_RESP_NO_ACTION,
      X.GHCB_HV_RESP_ISSUE_EXCEPTION,
      X.GHCB_HV_RESP_MALFORMED_INPUT,
    ]).toEqual([0, 1, 2]);
    expect(X.GHCB_ERR_NOT_REGISTERED).toBe(1);
    expect(X.GHCB_ERR_INVALID_USAGE).toBe(2);
    expect(X.GHCB_ERR_INVALID_SCRATCH_AREA).toBe(3);
    expect(X.GHCB_ERR_MISSING_INPUT).toBe(4);
    expect(X.GHCB_ERR_INVALID_INPUT).toBe(5);
    expect(X.GHCB_ERR_INVALID_EVENT).toBe(6);
    expect(X.GHCB_ERR_NAMES[4]).toBe('GHCB_ERR_MISSING_INPUT');
  });

  it('builds EVENTINJ exceptions as KVM does for #GP and #UD', () => {
    expect(X.exceptionEvent(13)).toBe(0x8000030dn);
    expect(X.exceptionEvent(6)).toBe(0x80000306n);
  });

  it('names codes for trace lines', () => {
    expect(X.exitCodeName(0x72)).toBe('SVM_EXIT_CPUID');
    expect(X.exitCodeName(0x80000004n)).toBe('SVM_VMGEXIT_AP_HLT_LOOP');
    expect(X.exitCodeName(0x1_8000_0004n)).toBe('0x180000004');
    expect(X.exitCodeName(0x78)).toBe('0x78');
  });
});
