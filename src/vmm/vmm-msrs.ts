// MSRs the hypervisor answers itself, as KVM's kvm_get_msr_common/kvm_set_msr_common do for
// registers the guest's processor model does not hold: the backends intercept them (MSR bitmap,
// MSR permission map, or the GHCB's MSR exit) and ask here. An MSR nobody answers gets #GP(0) in
// the guest, KVM's default (ignore_msrs=0), never a stop of the VM.

/**
 * IA32_PLATFORM_ID (17h), read-only: which microcode updates fit the platform (SDM vol 3 9.11.4).
 * KVM's vCPUs read it as 0; OVMF's MP set-up reads it on an Intel vCPU (edk2 MicrocodeLib).
 */
export const MSR_IA32_PLATFORM_ID = 0x17;
/**
 * IA32_BIOS_SIGN_ID (8Bh; AMD's PATCH_LEVEL): the microcode revision in bits 63:32. Linux writes 0
 * and reads it back after CPUID (SDM vol 3 9.11.7.1); KVM's vCPUs report revision 1.
 */
export const MSR_IA32_UCODE_REV = 0x8b;
export const KVM_MICROCODE_VERSION = 0x1_0000_0000n;
/**
 * AMD SYSCFG (C001_0010h) and NB_CFG (C001_001Fh): KVM's vCPUs read both as 0 and take writes to
 * NB_CFG without effect (Linux's AMD set-up reads the one and writes the other).
 */
export const MSR_K8_SYSCFG = 0xc0010010,
  MSR_AMD64_NB_CFG = 0xc001001f;
/** IA32_MISC_ENABLE (Intel SDM vol 4 Table 2-2). */
export const MSR_IA32_MISC_ENABLE = 0x1a0;
/** Bit 11: branch trace storage unavailable; bit 12: PEBS unavailable (what KVM's vCPUs report). */
export const MISC_ENABLE_BTS_UNAVAIL = 1n << 11n,
  MISC_ENABLE_PEBS_UNAVAIL = 1n << 12n;
/** AMD legacy performance counters: PerfEvtSel0-3 at C001_0000h-3h, PerfCtr0-3 at C001_0004h-7h (APM vol 2 13.2.1). */
export const MSR_K7_EVNTSEL0 = 0xc0010000,
  MSR_K7_PERFCTR3 = 0xc0010007;
/** Intel IA32_PMC0/1 (C1h, C2h) and IA32_PERFEVTSEL0/1 (186h, 187h). */
export const MSR_P6_PERFCTR0 = 0xc1,
  MSR_P6_PERFCTR1 = 0xc2,
  MSR_P6_EVNTSEL0 = 0x186,
  MSR_P6_EVNTSEL1 = 0x187;

/** Every MSR a backend must intercept so that VmmMsrs sees it. */
export const VMM_MSRS: readonly number[] = [
  MSR_IA32_PLATFORM_ID,
  MSR_IA32_UCODE_REV,
  MSR_IA32_MISC_ENABLE,
  MSR_K8_SYSCFG,
  MSR_AMD64_NB_CFG,
  MSR_P6_PERFCTR0,
  MSR_P6_PERFCTR1,
  MSR_P6_EVNTSEL0,
  MSR_P6_EVNTSEL1,
  ...Array.from({ length: 8 }, (_, i) => MSR_K7_EVNTSEL0 + i),
];

/**
 * The MTRRs (SDM vol 3 11.11; APM vol 2 7.7): MTRRcap (FEh), the variable ranges (200h-20Fh), the
 * fixed ranges and MTRRdefType (2FFh). KVM emulates them for every guest (kvm_mtrr_get_msr); hvemu's
 * SEV-ES backend does (its guests' processors are not the hypervisor's to set up), the others leave
 * them to the processor.
 */
export const MSR_MTRRCAP = 0xfe,
  MSR_MTRR_DEF_TYPE = 0x2ff;
const MTRR_FIXED = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f];
export const MTRR_MSRS: readonly number[] = [
  MSR_MTRRCAP,
  ...Array.from({ length: 16 }, (_, i) => 0x200 + i),
  ...MTRR_FIXED,
  MSR_MTRR_DEF_TYPE,
];
/** MTRRcap: write-combining, fixed ranges, 8 variable ranges (KVM's 0x508). */
const MTRRCAP_VALUE = 0x508n;
/** MTRRdefType's E (enable) and FE (fixed ranges enable) bits, and the write-back type. */
export const MTRR_DEF_TYPE_E = 1n << 11n,
  MTRR_DEF_TYPE_FE = 1n << 10n,
  MTRR_TYPE_WB = 6n;

/** UC, WC, WT, WP, WB: the memory types an MTRR may hold (2, 3 and 7 and up are reserved). */
function validMtrrType(t: bigint): boolean {
  return t === 0n || t === 1n || t === 4n || t === 5n || t === 6n;
}

/** kvm_mtrr_valid: reserved bits clear and valid types, else the write is #GP. */
function validMtrrWrite(msr: number, v: bigint): boolean {
  if (msr === MSR_MTRR_DEF_TYPE) return (v & ~0xcffn) === 0n && validMtrrType(v & 0xffn);
  if (msr >= 0x200 && msr <= 0x20f) {
    // PHYSBASE: type in 7:0; PHYSMASK: valid in bit 11. Bits at and above MAXPHYADDR (48) are reserved.
    if (v >> 48n !== 0n) return false;
    return msr % 2 === 0 ? (v & 0xf00n) === 0n && validMtrrType(v & 0xffn) : (v & 0x7ffn) === 0n;
  }
  for (let i = 0n; i < 64n; i += 8n) if (!validMtrrType((v >> i) & 0xffn)) return false;
  return true;
}

function isPerfMsr(msr: number): boolean {
  return (
    (msr >= MSR_K7_EVNTSEL0 && msr <= MSR_K7_PERFCTR3) ||
    msr === MSR_P6_PERFCTR0 ||
    msr === MSR_P6_PERFCTR1 ||
    msr === MSR_P6_EVNTSEL0 ||
    msr === MSR_P6_EVNTSEL1
  );
}

/** One vCPU's hypervisor-held MSRs. */
export class VmmMsrs {
  /** KVM's reset value: no BTS, no PEBS (the vCPU has neither). */
  miscEnable = MISC_ENABLE_BTS_UNAVAIL | MISC_ENABLE_PEBS_UNAVAIL;

  /** The MTRRs when this vCPU's backend intercepts them (MTRR_MSRS); 0 at RESET. */
  private readonly mtrrs = new Map<number, bigint>();

  /** RDMSR: the value, or null for an MSR that takes #GP. */
  read(msr: number): bigint | null {
    if (msr === MSR_MTRRCAP) return MTRRCAP_VALUE;
    if (MTRR_MSRS.includes(msr)) return this.mtrrs.get(msr) ?? 0n;
    if (msr === MSR_IA32_MISC_ENABLE) return this.miscEnable;
    if (msr === MSR_IA32_UCODE_REV) return KVM_MICROCODE_VERSION;
    if (msr === MSR_IA32_PLATFORM_ID) return 0n;
    if (msr === MSR_K8_SYSCFG || msr === MSR_AMD64_NB_CFG) return 0n;
    // No virtual PMU (CPUID leaf 0Ah reports version 0): the counters read 0, as KVM's do then.
    if (isPerfMsr(msr)) return 0n;
    return null;
  }

  /**
   * RDMSR as halves (EAX in out[0], EDX in out[1]) for the exit handlers; false for #GP. These MSRs
   * are read at boot, not per exit in a running guest: they keep their 64-bit values.
   */
  readWords(msr: number, out: Int32Array): boolean {
    const v = this.read(msr);
    if (v === null) return false;
    out[0] = Number(v & 0xffffffffn);
    out[1] = Number(v >> 32n);
    return true;
  }

  /** WRMSR of EDX:EAX = hi:lo: true if taken, false for #GP. */
  writeWords(msr: number, lo: number, hi: number): boolean {
    // The common writes with nothing to keep take no BigInt.
    if (msr === MSR_IA32_UCODE_REV || msr === MSR_AMD64_NB_CFG || isPerfMsr(msr)) return true;
    return this.write(msr, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  /** WRMSR: true if taken, false for #GP. */
  write(msr: number, value: bigint): boolean {
    if (msr === MSR_IA32_MISC_ENABLE) {
      this.miscEnable = BigInt.asUintN(64, value);
      return true;
    }
    if (msr === MSR_IA32_UCODE_REV) return true; // a guest's write changes nothing (KVM: host-initiated only)
    if (msr === MSR_AMD64_NB_CFG) return true;
    if (isPerfMsr(msr)) return true; // dropped, as KVM drops writes to a disabled PMU's counters
    if (msr !== MSR_MTRRCAP && MTRR_MSRS.includes(msr)) {
      if (!validMtrrWrite(msr, value)) return false;
      this.mtrrs.set(msr, value);
      return true;
    }
    return false;
  }
}
