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

  /** RDMSR: the value, or null for an MSR that takes #GP. */
  read(msr: number): bigint | null {
    if (msr === MSR_IA32_MISC_ENABLE) return this.miscEnable;
    if (msr === MSR_IA32_UCODE_REV) return KVM_MICROCODE_VERSION;
    if (msr === MSR_IA32_PLATFORM_ID) return 0n;
    if (msr === MSR_K8_SYSCFG || msr === MSR_AMD64_NB_CFG) return 0n;
    // No virtual PMU (CPUID leaf 0Ah reports version 0): the counters read 0, as KVM's do then.
    if (isPerfMsr(msr)) return 0n;
    return null;
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
    return false;
  }
}
