// Exit codes a guest may put in the GHCB's sw_exit_code, and the answers a hypervisor writes back.
// Hardware codes are the #VMEXIT codes of APM vol 2 appendix C, the ones the GHCB spec (AMD 56421,
// "Invoking VMGEXIT", table of supported NAE events) lets a #VC handler forward; software codes are
// the spec's VMGEXIT events. Names and values as Linux arch/x86/include/uapi/asm/svm.h spells them.

// Non-automatic exits a #VC handler forwards unchanged (the #VC error code is this exit code).
export const SVM_EXIT_READ_DR7 = 0x027;
export const SVM_EXIT_WRITE_DR7 = 0x037;
export const SVM_EXIT_RDTSC = 0x06e;
export const SVM_EXIT_RDPMC = 0x06f;
export const SVM_EXIT_CPUID = 0x072;
export const SVM_EXIT_INVD = 0x076;
export const SVM_EXIT_IOIO = 0x07b;
export const SVM_EXIT_MSR = 0x07c;
export const SVM_EXIT_VMMCALL = 0x081;
export const SVM_EXIT_RDTSCP = 0x087;
export const SVM_EXIT_WBINVD = 0x089;
export const SVM_EXIT_MONITOR = 0x08a;
export const SVM_EXIT_MWAIT = 0x08b;
/** #VC(0x400) for an NPF with reserved bits set: the guest turns it into MMIO_READ / MMIO_WRITE. */
export const SVM_EXIT_NPF = 0x400;
/** The automatic exit VMGEXIT itself causes (VMCB EXITCODE, never a sw_exit_code). */
export const SVM_EXIT_VMGEXIT = 0x403;

// Software-defined VMGEXIT events.
export const SVM_VMGEXIT_MMIO_READ = 0x8000_0001;
export const SVM_VMGEXIT_MMIO_WRITE = 0x8000_0002;
export const SVM_VMGEXIT_NMI_COMPLETE = 0x8000_0003;
/** "AP Reset Hold" in the GHCB spec and edk2; Linux kept the uapi name AP_HLT_LOOP. */
export const SVM_VMGEXIT_AP_HLT_LOOP = 0x8000_0004;
export const SVM_VMGEXIT_AP_JUMP_TABLE = 0x8000_0005;
export const SVM_VMGEXIT_SET_AP_JUMP_TABLE = 0; // sw_exit_info_1 of AP_JUMP_TABLE
export const SVM_VMGEXIT_GET_AP_JUMP_TABLE = 1;
// SEV-SNP only (GHCB v2); an SEV-ES guest gets the malformed-input answer for these.
export const SVM_VMGEXIT_PSC = 0x8000_0010;
export const SVM_VMGEXIT_GUEST_REQUEST = 0x8000_0011;
export const SVM_VMGEXIT_EXT_GUEST_REQUEST = 0x8000_0012;
export const SVM_VMGEXIT_AP_CREATION = 0x8000_0013;
export const SVM_VMGEXIT_SNP_RUN_VMPL = 0x8000_0018;
// GHCB v2.
export const SVM_VMGEXIT_HV_FEATURES = 0x8000_fffd;
export const SVM_VMGEXIT_TERM_REQUEST = 0x8000_fffe;
/** The guest met an event it cannot handle (GHCB spec "Unsupported Event"). */
export const SVM_VMGEXIT_UNSUPPORTED_EVENT = 0x8000_ffff;

/** Linux SVM_VMGEXIT_TERM_REASON: sw_exit_info_1 [3:0] reason set, [11:4] reason code (spec 4.1.13). */
export function termRequestInfo1(reasonSet: number, reasonCode: number): bigint {
  return BigInt(reasonSet & 0xf) | (BigInt(reasonCode & 0xff) << 4n);
}

// IOIO sw_exit_info_1, the #VMEXIT IOIO EXITINFO1 format (APM vol 2 15.10.2; Linux SVM_IOIO_*).
export const SVM_IOIO_TYPE_MASK = 1 << 0; // 1 = IN, 0 = OUT
export const SVM_IOIO_STR_MASK = 1 << 2; // INS/OUTS: data in the scratch area, count in sw_exit_info_2
export const SVM_IOIO_REP_MASK = 1 << 3;
export const SVM_IOIO_SIZE_SHIFT = 4; // one-hot 8/16/32-bit operand: 1, 2, 4 bytes
export const SVM_IOIO_SIZE_MASK = 7 << SVM_IOIO_SIZE_SHIFT;
export const SVM_IOIO_ASIZE_SHIFT = 7;
export const SVM_IOIO_ASIZE_MASK = 7 << SVM_IOIO_ASIZE_SHIFT;
export const SVM_IOIO_PORT_SHIFT = 16;

// The hypervisor's answer in sw_exit_info_1[31:0] (spec 4.1 "Invoking VMGEXIT"; Linux sev-common.h).
export const GHCB_HV_RESP_NO_ACTION = 0;
export const GHCB_HV_RESP_ISSUE_EXCEPTION = 1; // sw_exit_info_2 = EVENTINJ-format exception
export const GHCB_HV_RESP_MALFORMED_INPUT = 2; // sw_exit_info_2[31:0] = one of GHCB_ERR_*

// Malformed-input reasons (Linux arch/x86/include/asm/sev-common.h GHCB_ERR_*).
export const GHCB_ERR_NOT_REGISTERED = 1;
export const GHCB_ERR_INVALID_USAGE = 2;
export const GHCB_ERR_INVALID_SCRATCH_AREA = 3;
export const GHCB_ERR_MISSING_INPUT = 4;
export const GHCB_ERR_INVALID_INPUT = 5;
export const GHCB_ERR_INVALID_EVENT = 6;
export type GhcbErr = 1 | 2 | 3 | 4 | 5 | 6;

/** EVENTINJ-format exception for GHCB_HV_RESP_ISSUE_EXCEPTION (APM vol 2 15.20; KVM uses #GP, #UD). */
export function exceptionEvent(vector: number): bigint {
  const SVM_EVTINJ_TYPE_EXEPT = 3 << 8;
  const SVM_EVTINJ_VALID = 2 ** 31;
  return BigInt((vector & 0xff) | SVM_EVTINJ_TYPE_EXEPT) | BigInt(SVM_EVTINJ_VALID);
}

const NAMES: ReadonlyMap<number, string> = new Map([
  [SVM_EXIT_READ_DR7, 'SVM_EXIT_READ_DR7'],
  [SVM_EXIT_WRITE_DR7, 'SVM_EXIT_WRITE_DR7'],
  [SVM_EXIT_RDTSC, 'SVM_EXIT_RDTSC'],
  [SVM_EXIT_RDPMC, 'SVM_EXIT_RDPMC'],
  [SVM_EXIT_CPUID, 'SVM_EXIT_CPUID'],
  [SVM_EXIT_INVD, 'SVM_EXIT_INVD'],
  [SVM_EXIT_IOIO, 'SVM_EXIT_IOIO'],
  [SVM_EXIT_MSR, 'SVM_EXIT_MSR'],
  [SVM_EXIT_VMMCALL, 'SVM_EXIT_VMMCALL'],
  [SVM_EXIT_RDTSCP, 'SVM_EXIT_RDTSCP'],
  [SVM_EXIT_WBINVD, 'SVM_EXIT_WBINVD'],
  [SVM_EXIT_MONITOR, 'SVM_EXIT_MONITOR'],
  [SVM_EXIT_MWAIT, 'SVM_EXIT_MWAIT'],
  [SVM_EXIT_NPF, 'SVM_EXIT_NPF'],
  [SVM_EXIT_VMGEXIT, 'SVM_EXIT_VMGEXIT'],
  [SVM_VMGEXIT_MMIO_READ, 'SVM_VMGEXIT_MMIO_READ'],
  [SVM_VMGEXIT_MMIO_WRITE, 'SVM_VMGEXIT_MMIO_WRITE'],
  [SVM_VMGEXIT_NMI_COMPLETE, 'SVM_VMGEXIT_NMI_COMPLETE'],
  [SVM_VMGEXIT_AP_HLT_LOOP, 'SVM_VMGEXIT_AP_HLT_LOOP'],
  [SVM_VMGEXIT_AP_JUMP_TABLE, 'SVM_VMGEXIT_AP_JUMP_TABLE'],
  [SVM_VMGEXIT_PSC, 'SVM_VMGEXIT_PSC'],
  [SVM_VMGEXIT_GUEST_REQUEST, 'SVM_VMGEXIT_GUEST_REQUEST'],
  [SVM_VMGEXIT_EXT_GUEST_REQUEST, 'SVM_VMGEXIT_EXT_GUEST_REQUEST'],
  [SVM_VMGEXIT_AP_CREATION, 'SVM_VMGEXIT_AP_CREATION'],
  [SVM_VMGEXIT_SNP_RUN_VMPL, 'SVM_VMGEXIT_SNP_RUN_VMPL'],
  [SVM_VMGEXIT_HV_FEATURES, 'SVM_VMGEXIT_HV_FEATURES'],
  [SVM_VMGEXIT_TERM_REQUEST, 'SVM_VMGEXIT_TERM_REQUEST'],
  [SVM_VMGEXIT_UNSUPPORTED_EVENT, 'SVM_VMGEXIT_UNSUPPORTED_EVENT'],
]);

/** For trace lines: the Linux name, or the code in hex. */
export function exitCodeName(code: bigint | number): string {
  const n = typeof code === 'bigint' ? (code <= 0xffff_ffffn && code >= 0n ? Number(code) : -1) : code;
  return NAMES.get(n) ?? `0x${code.toString(16)}`;
}

export const GHCB_ERR_NAMES: Readonly<Record<GhcbErr, string>> = Object.freeze({
  1: 'GHCB_ERR_NOT_REGISTERED',
  2: 'GHCB_ERR_INVALID_USAGE',
  3: 'GHCB_ERR_INVALID_SCRATCH_AREA',
  4: 'GHCB_ERR_MISSING_INPUT',
  5: 'GHCB_ERR_INVALID_INPUT',
  6: 'GHCB_ERR_INVALID_EVENT',
});
