// VM-execution, VM-exit and VM-entry control bits (Intel SDM vol 3C 24.6-24.8, names from Linux
// arch/x86/include/asm/vmx.h) and what this processor supports: the allowed-0 and allowed-1 settings
// its IA32_VMX_*_CTLS capability MSRs would report (appendix A.3-A.5). A VM entry whose controls set a
// bit outside allowed-1, or clear a bit of allowed-0 ("default1"), fails with VM-instruction error 7.
// Sections are the 2016 edition's (see vmcs-fields.ts); later editions number the chapters one higher.

// Pin-based VM-execution controls (Table 24-5).
export const PIN_BASED_EXT_INTR_MASK = 1 << 0;
export const PIN_BASED_NMI_EXITING = 1 << 3;
export const PIN_BASED_VIRTUAL_NMIS = 1 << 5;
export const PIN_BASED_VMX_PREEMPTION_TIMER = 1 << 6;
export const PIN_BASED_POSTED_INTR = 1 << 7;

// Primary processor-based VM-execution controls (Table 24-6).
export const CPU_BASED_INTR_WINDOW_EXITING = 1 << 2;
export const CPU_BASED_USE_TSC_OFFSETTING = 1 << 3;
export const CPU_BASED_HLT_EXITING = 1 << 7;
export const CPU_BASED_INVLPG_EXITING = 1 << 9;
export const CPU_BASED_MWAIT_EXITING = 1 << 10;
export const CPU_BASED_RDPMC_EXITING = 1 << 11;
export const CPU_BASED_RDTSC_EXITING = 1 << 12;
export const CPU_BASED_CR3_LOAD_EXITING = 1 << 15;
export const CPU_BASED_CR3_STORE_EXITING = 1 << 16;
export const CPU_BASED_CR8_LOAD_EXITING = 1 << 19;
export const CPU_BASED_CR8_STORE_EXITING = 1 << 20;
export const CPU_BASED_TPR_SHADOW = 1 << 21;
export const CPU_BASED_NMI_WINDOW_EXITING = 1 << 22;
export const CPU_BASED_MOV_DR_EXITING = 1 << 23;
export const CPU_BASED_UNCOND_IO_EXITING = 1 << 24;
export const CPU_BASED_USE_IO_BITMAPS = 1 << 25;
export const CPU_BASED_MONITOR_TRAP_FLAG = 1 << 27;
export const CPU_BASED_USE_MSR_BITMAPS = 1 << 28;
export const CPU_BASED_MONITOR_EXITING = 1 << 29;
export const CPU_BASED_PAUSE_EXITING = 1 << 30;
export const CPU_BASED_ACTIVATE_SECONDARY_CONTROLS = 1 << 31;

// Secondary processor-based VM-execution controls (Table 24-7).
export const SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES = 1 << 0;
export const SECONDARY_EXEC_ENABLE_EPT = 1 << 1;
export const SECONDARY_EXEC_DESC = 1 << 2;
export const SECONDARY_EXEC_ENABLE_RDTSCP = 1 << 3;
export const SECONDARY_EXEC_ENABLE_VPID = 1 << 5;
export const SECONDARY_EXEC_WBINVD_EXITING = 1 << 6;
export const SECONDARY_EXEC_UNRESTRICTED_GUEST = 1 << 7;
export const SECONDARY_EXEC_PAUSE_LOOP_EXITING = 1 << 10;

// VM-exit controls (Table 24-10).
export const VM_EXIT_SAVE_DEBUG_CONTROLS = 1 << 2;
export const VM_EXIT_HOST_ADDR_SPACE_SIZE = 1 << 9;
export const VM_EXIT_ACK_INTR_ON_EXIT = 1 << 15;
export const VM_EXIT_SAVE_IA32_PAT = 1 << 18;
export const VM_EXIT_LOAD_IA32_PAT = 1 << 19;
export const VM_EXIT_SAVE_IA32_EFER = 1 << 20;
export const VM_EXIT_LOAD_IA32_EFER = 1 << 21;

// VM-entry controls (Table 24-12).
export const VM_ENTRY_LOAD_DEBUG_CONTROLS = 1 << 2;
export const VM_ENTRY_IA32E_MODE = 1 << 9;
export const VM_ENTRY_SMM = 1 << 10;
export const VM_ENTRY_DEACT_DUAL_MONITOR = 1 << 11;
export const VM_ENTRY_LOAD_IA32_PAT = 1 << 14;
export const VM_ENTRY_LOAD_IA32_EFER = 1 << 15;

/** One control's capability: bits that must be 1 (allowed-0 clear) and bits that may be 1 (allowed-1). */
export interface ControlCap {
  readonly must1: number;
  readonly may1: number;
}

// The default1 classes of appendix A.2: reserved bits a VMM must set (as IA32_VMX_TRUE_*_CTLS on
// current processors report them).
const PIN_DEFAULT1 = 0x16;
const PROC_DEFAULT1 = 0x0400_6172;
const EXIT_DEFAULT1 = 0x0003_6dfb;
const ENTRY_DEFAULT1 = 0x0000_11fb;

/**
 * What this processor implements. Not offered (their bits are outside allowed-1): the
 * preemption timer, posted interrupts, RDPMC exiting, TPR shadow, the monitor trap
 * flag, APIC virtualization, descriptor-table exiting, SMM controls and the MSR-load/store areas'
 * companions (their counts must be 0: see vm-entry-checks.ts).
 */
export const VMX_CAPS = Object.freeze({
  pin: {
    must1: PIN_DEFAULT1,
    may1: PIN_DEFAULT1 | PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING | PIN_BASED_VIRTUAL_NMIS,
  },
  proc: {
    must1: PROC_DEFAULT1,
    may1:
      (PROC_DEFAULT1 |
        CPU_BASED_INTR_WINDOW_EXITING |
        CPU_BASED_USE_TSC_OFFSETTING |
        CPU_BASED_HLT_EXITING |
        CPU_BASED_INVLPG_EXITING |
        CPU_BASED_MWAIT_EXITING |
        CPU_BASED_RDTSC_EXITING |
        CPU_BASED_CR3_LOAD_EXITING |
        CPU_BASED_CR3_STORE_EXITING |
        CPU_BASED_CR8_LOAD_EXITING |
        CPU_BASED_CR8_STORE_EXITING |
        CPU_BASED_NMI_WINDOW_EXITING |
        CPU_BASED_MOV_DR_EXITING |
        CPU_BASED_UNCOND_IO_EXITING |
        CPU_BASED_USE_IO_BITMAPS |
        CPU_BASED_USE_MSR_BITMAPS |
        CPU_BASED_MONITOR_EXITING |
        CPU_BASED_PAUSE_EXITING |
        CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) >>>
      0,
  },
  proc2: {
    must1: 0,
    may1:
      SECONDARY_EXEC_ENABLE_EPT |
      SECONDARY_EXEC_ENABLE_RDTSCP |
      SECONDARY_EXEC_ENABLE_VPID |
      SECONDARY_EXEC_WBINVD_EXITING |
      SECONDARY_EXEC_UNRESTRICTED_GUEST |
      SECONDARY_EXEC_PAUSE_LOOP_EXITING,
  },
  exit: {
    must1: EXIT_DEFAULT1,
    may1:
      EXIT_DEFAULT1 |
      VM_EXIT_SAVE_DEBUG_CONTROLS |
      VM_EXIT_HOST_ADDR_SPACE_SIZE |
      VM_EXIT_ACK_INTR_ON_EXIT |
      VM_EXIT_SAVE_IA32_PAT |
      VM_EXIT_LOAD_IA32_PAT |
      VM_EXIT_SAVE_IA32_EFER |
      VM_EXIT_LOAD_IA32_EFER,
  },
  entry: {
    must1: ENTRY_DEFAULT1,
    may1:
      ENTRY_DEFAULT1 |
      VM_ENTRY_LOAD_DEBUG_CONTROLS |
      VM_ENTRY_IA32E_MODE |
      VM_ENTRY_LOAD_IA32_PAT |
      VM_ENTRY_LOAD_IA32_EFER,
  },
} satisfies Record<string, ControlCap>);

/** Whether `value` respects a capability (SDM 26.2.1.1, appendix A.3). */
export function controlsAllowed(value: number, cap: ControlCap): boolean {
  return (value & cap.must1) >>> 0 === cap.must1 >>> 0 && (value & ~cap.may1) === 0;
}

/** What a VMM does with the capability MSRs (Linux adjust_vmx_controls): default1 bits in, unsupported out. */
export function adjustControls(wanted: number, cap: ControlCap): number {
  return ((wanted | cap.must1) & cap.may1) >>> 0;
}

// CR0/CR4 bits fixed in VMX operation (IA32_VMX_CR0_FIXED0/1, IA32_VMX_CR4_FIXED0/1, appendix A.7/A.8).
/** PE, NE, PG; PE and PG may be 0 with "unrestricted guest". */
export const VMX_CR0_FIXED0 = 0x8000_0021;
/** VMXE: the guest's CR4 holds it (the VMM hides it with the CR4 guest/host mask and read shadow). */
export const VMX_CR4_FIXED0 = 0x2000;
export const X86_CR4_VMXE = 0x2000;
/** CR4 bits the processor implements (CR4.FIXED1): VME..OSXMMEXCPT, VMXE, FSGSBASE, OSXSAVE. */
export const VMX_CR4_FIXED1 = 0x7ff | X86_CR4_VMXE | (1 << 16) | (1 << 18);

// EPT pointer (SDM 24.6.11, Table 24-8).
export const VMX_EPTP_MT_UC = 0;
export const VMX_EPTP_MT_WB = 6;
export const VMX_EPTP_MT_MASK = 7;
export const VMX_EPTP_PWL_4 = 3 << 3; // page-walk length - 1
export const VMX_EPTP_PWL_MASK = 7 << 3;
export const VMX_EPTP_AD_ENABLE_BIT = 1 << 6;
