// The GHCB MSR protocol (GHCB spec AMD 56421, "GHCB MSR Protocol"): before it has a GHCB page, or
// when it cannot use one, the guest writes a request into MSR C001_0130 (GHCBInfo in bits 11:0,
// GHCBData in 63:12), executes VMGEXIT and reads the response back from the same MSR. The hypervisor
// sees the value in the VMCB's GHCB GPA field (0x0A0). Encodings follow Linux
// arch/x86/include/asm/sev-common.h, which both the guest and KVM use. Values are u64 bigints:
// these run once per exit, not per instruction.

export const MSR_AMD64_SEV_ES_GHCB = 0xc001_0130;

export const GHCB_MSR_INFO_MASK = 0xfffn;
/** GHCBData[63:12] as a 52-bit field (Linux GENMASK_ULL(51, 0) at position 12). */
const DATA_MASK = (1n << 52n) - 1n;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

// GHCBInfo request/response codes.
export const GHCB_MSR_SEV_INFO_RESP = 0x001;
export const GHCB_MSR_SEV_INFO_REQ = 0x002;
export const GHCB_MSR_CPUID_REQ = 0x004;
export const GHCB_MSR_CPUID_RESP = 0x005;
export const GHCB_MSR_AP_RESET_HOLD_REQ = 0x006; // GHCB v2
export const GHCB_MSR_AP_RESET_HOLD_RESP = 0x007;
export const GHCB_MSR_PREF_GPA_REQ = 0x010; // SNP
export const GHCB_MSR_PREF_GPA_RESP = 0x011;
export const GHCB_MSR_REG_GPA_REQ = 0x012;
export const GHCB_MSR_REG_GPA_RESP = 0x013;
export const GHCB_MSR_PSC_REQ = 0x014; // SNP
export const GHCB_MSR_PSC_RESP = 0x015;
export const GHCB_MSR_HV_FT_REQ = 0x080; // GHCB v2
export const GHCB_MSR_HV_FT_RESP = 0x081;
export const GHCB_MSR_TERM_REQ = 0x100;

/** GHCB protocol versions: v1 (SEV-ES), v2 (adds MSR AP Reset Hold, HV features, termination NAE). */
export const GHCB_VERSION_MIN = 1;
export const GHCB_VERSION_MAX = 2;

// CPUID register selector, GHCBData[31:30].
export const GHCB_CPUID_REQ_EAX = 0;
export const GHCB_CPUID_REQ_EBX = 1;
export const GHCB_CPUID_REQ_ECX = 2;
export const GHCB_CPUID_REQ_EDX = 3;
export type CpuidReg = 0 | 1 | 2 | 3;

// Hypervisor feature bits (GHCBData of 0x081, sw_exit_info_2 of HV_FEATURES).
export const GHCB_HV_FT_SNP = 1n << 0n;
export const GHCB_HV_FT_SNP_AP_CREATION = 1n << 1n;
export const GHCB_HV_FT_SNP_MULTI_VMPL = 1n << 5n;

// Termination reasons, GHCBData[15:12] set and [23:16] code.
export const SEV_TERM_SET_GEN = 0;
export const GHCB_SEV_ES_GEN_REQ = 0;
export const GHCB_SEV_ES_PROT_UNSUPPORTED = 1;
export const GHCB_SNP_UNSUPPORTED = 2;
export const SEV_TERM_SET_LINUX = 1; // Linux-specific codes (GHCB_TERM_REGISTER = 0, ...)

/** Low 12 bits. Zero means the MSR holds a GHCB GPA (page mode), not an MSR-protocol request. */
export function ghcbInfo(msr: bigint): number {
  return Number(msr & GHCB_MSR_INFO_MASK);
}

/** Linux GHCB_DATA: bits 63:12 shifted down. */
export function ghcbData(msr: bigint): bigint {
  return u64(msr) >> 12n;
}

// 0x001 / 0x002: SEV information. Also the MSR's value at vCPU RESET (KVM sev_es_init_vmcb).
export interface SevInfo {
  readonly maxVersion: number;
  readonly minVersion: number;
  readonly cbitPos: number;
}

export function encodeSevInfo(info: SevInfo): bigint {
  return (
    (BigInt(info.maxVersion & 0xffff) << 48n) |
    (BigInt(info.minVersion & 0xffff) << 32n) |
    (BigInt(info.cbitPos & 0xff) << 24n) |
    BigInt(GHCB_MSR_SEV_INFO_RESP)
  );
}

export function decodeSevInfo(msr: bigint): SevInfo {
  const v = u64(msr);
  return {
    maxVersion: Number((v >> 48n) & 0xffffn),
    minVersion: Number((v >> 32n) & 0xffffn),
    cbitPos: Number((v >> 24n) & 0xffn),
  };
}

// 0x004 / 0x005: one CPUID register per round trip; the subleaf is implicitly 0.
export function encodeCpuidRequest(fn: number, reg: CpuidReg): bigint {
  return (BigInt(fn >>> 0) << 32n) | (BigInt(reg & 3) << 30n) | BigInt(GHCB_MSR_CPUID_REQ);
}

export function decodeCpuidRequest(msr: bigint): { fn: number; reg: CpuidReg } {
  const v = u64(msr);
  return { fn: Number(v >> 32n), reg: Number((v >> 30n) & 3n) as CpuidReg };
}

export function encodeCpuidResponse(value: number, reg: CpuidReg): bigint {
  return (BigInt(value >>> 0) << 32n) | (BigInt(reg & 3) << 30n) | BigInt(GHCB_MSR_CPUID_RESP);
}

export function decodeCpuidResponse(msr: bigint): { value: number; reg: CpuidReg } {
  const v = u64(msr);
  return { value: Number(v >> 32n), reg: Number((v >> 30n) & 3n) as CpuidReg };
}

// 0x006 / 0x007: AP Reset Hold. Result 0 = woken by something else (re-issue), non-zero = released by
// INIT-SIPI-SIPI (KVM writes 1).
export const AP_RESET_HOLD_REQUEST = BigInt(GHCB_MSR_AP_RESET_HOLD_REQ);

export function encodeApResetHoldResponse(result: bigint): bigint {
  return ((result & DATA_MASK) << 12n) | BigInt(GHCB_MSR_AP_RESET_HOLD_RESP);
}

export function decodeApResetHoldResponse(msr: bigint): bigint {
  return ghcbData(msr);
}

// 0x012 / 0x013: GHCB GPA registration; GHCBData is the GFN, echoed back on success (spec 2.3.2).
export function encodeRegisterGpaRequest(gfn: bigint): bigint {
  return ((gfn & DATA_MASK) << 12n) | BigInt(GHCB_MSR_REG_GPA_REQ);
}

export function encodeRegisterGpaResponse(gfn: bigint): bigint {
  return ((gfn & DATA_MASK) << 12n) | BigInt(GHCB_MSR_REG_GPA_RESP);
}

export function decodeGfn(msr: bigint): bigint {
  return ghcbData(msr);
}

// 0x080 / 0x081: hypervisor features bitmap in GHCBData.
export const HV_FEATURES_REQUEST = BigInt(GHCB_MSR_HV_FT_REQ);

export function encodeHvFeaturesResponse(features: bigint): bigint {
  return ((features & DATA_MASK) << 12n) | BigInt(GHCB_MSR_HV_FT_RESP);
}

export function decodeHvFeaturesResponse(msr: bigint): bigint {
  return ghcbData(msr);
}

// 0x100: termination request.
export function encodeTermRequest(reasonSet: number, reasonCode: number): bigint {
  return (BigInt(reasonSet & 0xf) << 12n) | (BigInt(reasonCode & 0xff) << 16n) | BigInt(GHCB_MSR_TERM_REQ);
}

export function decodeTermRequest(msr: bigint): { reasonSet: number; reasonCode: number } {
  const v = u64(msr);
  return { reasonSet: Number((v >> 12n) & 0xfn), reasonCode: Number((v >> 16n) & 0xffn) };
}

/** What the guest asked for, decided by GHCBInfo alone (as KVM sev_handle_vmgexit_msr_protocol). */
export type MsrRequest =
  | { readonly kind: 'ghcb-gpa'; readonly gpa: bigint } // info 0: page mode, not the MSR protocol
  | { readonly kind: 'sev-info' }
  | { readonly kind: 'cpuid'; readonly fn: number; readonly reg: CpuidReg }
  | { readonly kind: 'ap-reset-hold' }
  | { readonly kind: 'preferred-gpa' }
  | { readonly kind: 'register-gpa'; readonly gfn: bigint }
  | { readonly kind: 'psc'; readonly gfn: bigint; readonly op: number }
  | { readonly kind: 'hv-features' }
  | { readonly kind: 'terminate'; readonly reasonSet: number; readonly reasonCode: number }
  | { readonly kind: 'unknown'; readonly info: number }; // KVM leaves the MSR unchanged and resumes

export function decodeMsrRequest(msr: bigint): MsrRequest {
  const v = u64(msr);
  const info = ghcbInfo(v);
  switch (info) {
    case 0:
      return { kind: 'ghcb-gpa', gpa: v };
    case GHCB_MSR_SEV_INFO_REQ:
      return { kind: 'sev-info' };
    case GHCB_MSR_CPUID_REQ:
      return { kind: 'cpuid', ...decodeCpuidRequest(v) };
    case GHCB_MSR_AP_RESET_HOLD_REQ:
      return { kind: 'ap-reset-hold' };
    case GHCB_MSR_PREF_GPA_REQ:
      return { kind: 'preferred-gpa' };
    case GHCB_MSR_REG_GPA_REQ:
      return { kind: 'register-gpa', gfn: ghcbData(v) };
    case GHCB_MSR_PSC_REQ: // GHCBData[51:12] GFN, [55:52] operation
      return { kind: 'psc', gfn: (v >> 12n) & ((1n << 40n) - 1n), op: Number((v >> 52n) & 0xfn) };
    case GHCB_MSR_HV_FT_REQ:
      return { kind: 'hv-features' };
    case GHCB_MSR_TERM_REQ:
      return { kind: 'terminate', ...decodeTermRequest(v) };
    default:
      return { kind: 'unknown', info };
  }
}
