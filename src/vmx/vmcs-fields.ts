// VMCS field encodings (Intel SDM vol 3D appendix B "Field Encoding in VMCS", Tables B-1 to B-15),
// the structure of an encoding (SDM vol 3C 24.11.2, Table 24-17 "Structure of VMCS Component
// Encoding"), basic exit reasons (appendix C, Table C-1), VM-instruction error numbers (30.4, Table 30-1)
// and the event-information formats. Names are Linux's (arch/x86/include/asm/vmx.h enum vmcs_field,
// enum vm_instruction_error_number; uapi/asm/vmx.h EXIT_REASON_*). Section and table numbers are those of
// the 2016 edition of the SDM; later editions renumber the chapters (24 -> 25, 30 -> 31) but not the
// values. Imports nothing.

// ---------------------------------------------------------------------------------------------
// Encoding structure: bit 0 access type (1 = high half of a 64-bit field), 9:1 index, 11:10 type,
// 12 reserved, 14:13 width, 31:15 reserved.

export const VMCS_WIDTH_16 = 0;
export const VMCS_WIDTH_64 = 1;
export const VMCS_WIDTH_32 = 2;
export const VMCS_WIDTH_NATURAL = 3; // 64 bits on processors with Intel 64
export type VmcsWidth = 0 | 1 | 2 | 3;

export const VMCS_TYPE_CONTROL = 0;
export const VMCS_TYPE_READ_ONLY = 1; // VM-exit information: VMWRITE fails with error 13
export const VMCS_TYPE_GUEST = 2;
export const VMCS_TYPE_HOST = 3;
export type VmcsType = 0 | 1 | 2 | 3;

/** Bits that must be zero in any encoding: 31:15 and 12. */
export const VMCS_ENCODING_RESERVED_MASK = 0xffff_9000;

export function vmcsFieldWidth(encoding: number): VmcsWidth {
  return ((encoding >>> 13) & 3) as VmcsWidth;
}

export function vmcsFieldType(encoding: number): VmcsType {
  return ((encoding >>> 10) & 3) as VmcsType;
}

export function vmcsFieldIndex(encoding: number): number {
  return (encoding >>> 1) & 0x1ff;
}

/** Access type: the high 32 bits of a 64-bit field. Only 64-bit fields have a high encoding. */
export function vmcsFieldIsHigh(encoding: number): boolean {
  return (encoding & 1) === 1;
}

export function vmcsEncode(width: VmcsWidth, type: VmcsType, index: number, high = false): number {
  return (width << 13) | (type << 10) | ((index & 0x1ff) << 1) | (high ? 1 : 0);
}

/** Bytes a field occupies (natural width is 8 on a 64-bit processor). */
export function vmcsWidthBytes(width: VmcsWidth): 2 | 4 | 8 {
  return width === VMCS_WIDTH_16 ? 2 : width === VMCS_WIDTH_32 ? 4 : 8;
}

// ---------------------------------------------------------------------------------------------
// Field encodings. 64-bit fields are listed by their full encoding; the high one is that | 1.

export const VMCS_FIELD = Object.freeze({
  // Table B-1: 16-bit control fields.
  VIRTUAL_PROCESSOR_ID: 0x0000,
  POSTED_INTR_NV: 0x0002,
  EPTP_INDEX: 0x0004,
  // Table B-2: 16-bit guest-state fields.
  GUEST_ES_SELECTOR: 0x0800,
  GUEST_CS_SELECTOR: 0x0802,
  GUEST_SS_SELECTOR: 0x0804,
  GUEST_DS_SELECTOR: 0x0806,
  GUEST_FS_SELECTOR: 0x0808,
  GUEST_GS_SELECTOR: 0x080a,
  GUEST_LDTR_SELECTOR: 0x080c,
  GUEST_TR_SELECTOR: 0x080e,
  GUEST_INTR_STATUS: 0x0810,
  GUEST_PML_INDEX: 0x0812,
  // Table B-3: 16-bit host-state fields.
  HOST_ES_SELECTOR: 0x0c00,
  HOST_CS_SELECTOR: 0x0c02,
  HOST_SS_SELECTOR: 0x0c04,
  HOST_DS_SELECTOR: 0x0c06,
  HOST_FS_SELECTOR: 0x0c08,
  HOST_GS_SELECTOR: 0x0c0a,
  HOST_TR_SELECTOR: 0x0c0c,
  // Table B-4: 64-bit control fields.
  IO_BITMAP_A: 0x2000,
  IO_BITMAP_B: 0x2002,
  MSR_BITMAP: 0x2004,
  VM_EXIT_MSR_STORE_ADDR: 0x2006,
  VM_EXIT_MSR_LOAD_ADDR: 0x2008,
  VM_ENTRY_MSR_LOAD_ADDR: 0x200a,
  EXECUTIVE_VMCS_POINTER: 0x200c,
  PML_ADDRESS: 0x200e,
  TSC_OFFSET: 0x2010,
  VIRTUAL_APIC_PAGE_ADDR: 0x2012,
  APIC_ACCESS_ADDR: 0x2014,
  POSTED_INTR_DESC_ADDR: 0x2016,
  VM_FUNCTION_CONTROL: 0x2018,
  EPT_POINTER: 0x201a,
  EOI_EXIT_BITMAP0: 0x201c,
  EOI_EXIT_BITMAP1: 0x201e,
  EOI_EXIT_BITMAP2: 0x2020,
  EOI_EXIT_BITMAP3: 0x2022,
  EPTP_LIST_ADDRESS: 0x2024,
  VMREAD_BITMAP: 0x2026,
  VMWRITE_BITMAP: 0x2028,
  VE_INFORMATION_ADDRESS: 0x202a,
  XSS_EXIT_BITMAP: 0x202c,
  ENCLS_EXITING_BITMAP: 0x202e,
  TSC_MULTIPLIER: 0x2032,
  // Table B-5: 64-bit read-only data field.
  GUEST_PHYSICAL_ADDRESS: 0x2400,
  // Table B-6: 64-bit guest-state fields.
  VMCS_LINK_POINTER: 0x2800,
  GUEST_IA32_DEBUGCTL: 0x2802,
  GUEST_IA32_PAT: 0x2804,
  GUEST_IA32_EFER: 0x2806,
  GUEST_IA32_PERF_GLOBAL_CTRL: 0x2808,
  GUEST_PDPTR0: 0x280a,
  GUEST_PDPTR1: 0x280c,
  GUEST_PDPTR2: 0x280e,
  GUEST_PDPTR3: 0x2810,
  GUEST_BNDCFGS: 0x2812,
  // Table B-7: 64-bit host-state fields.
  HOST_IA32_PAT: 0x2c00,
  HOST_IA32_EFER: 0x2c02,
  HOST_IA32_PERF_GLOBAL_CTRL: 0x2c04,
  // Table B-8: 32-bit control fields.
  PIN_BASED_VM_EXEC_CONTROL: 0x4000,
  CPU_BASED_VM_EXEC_CONTROL: 0x4002, // primary processor-based controls
  EXCEPTION_BITMAP: 0x4004,
  PAGE_FAULT_ERROR_CODE_MASK: 0x4006,
  PAGE_FAULT_ERROR_CODE_MATCH: 0x4008,
  CR3_TARGET_COUNT: 0x400a,
  VM_EXIT_CONTROLS: 0x400c,
  VM_EXIT_MSR_STORE_COUNT: 0x400e,
  VM_EXIT_MSR_LOAD_COUNT: 0x4010,
  VM_ENTRY_CONTROLS: 0x4012,
  VM_ENTRY_MSR_LOAD_COUNT: 0x4014,
  VM_ENTRY_INTR_INFO_FIELD: 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE: 0x4018,
  VM_ENTRY_INSTRUCTION_LEN: 0x401a,
  TPR_THRESHOLD: 0x401c,
  SECONDARY_VM_EXEC_CONTROL: 0x401e,
  PLE_GAP: 0x4020,
  PLE_WINDOW: 0x4022,
  // Table B-9: 32-bit read-only data fields.
  VM_INSTRUCTION_ERROR: 0x4400,
  VM_EXIT_REASON: 0x4402,
  VM_EXIT_INTR_INFO: 0x4404,
  VM_EXIT_INTR_ERROR_CODE: 0x4406,
  IDT_VECTORING_INFO_FIELD: 0x4408,
  IDT_VECTORING_ERROR_CODE: 0x440a,
  VM_EXIT_INSTRUCTION_LEN: 0x440c,
  VMX_INSTRUCTION_INFO: 0x440e,
  // Table B-10: 32-bit guest-state fields.
  GUEST_ES_LIMIT: 0x4800,
  GUEST_CS_LIMIT: 0x4802,
  GUEST_SS_LIMIT: 0x4804,
  GUEST_DS_LIMIT: 0x4806,
  GUEST_FS_LIMIT: 0x4808,
  GUEST_GS_LIMIT: 0x480a,
  GUEST_LDTR_LIMIT: 0x480c,
  GUEST_TR_LIMIT: 0x480e,
  GUEST_GDTR_LIMIT: 0x4810,
  GUEST_IDTR_LIMIT: 0x4812,
  GUEST_ES_AR_BYTES: 0x4814,
  GUEST_CS_AR_BYTES: 0x4816,
  GUEST_SS_AR_BYTES: 0x4818,
  GUEST_DS_AR_BYTES: 0x481a,
  GUEST_FS_AR_BYTES: 0x481c,
  GUEST_GS_AR_BYTES: 0x481e,
  GUEST_LDTR_AR_BYTES: 0x4820,
  GUEST_TR_AR_BYTES: 0x4822,
  GUEST_INTERRUPTIBILITY_INFO: 0x4824,
  GUEST_ACTIVITY_STATE: 0x4826,
  GUEST_SMBASE: 0x4828,
  GUEST_SYSENTER_CS: 0x482a,
  VMX_PREEMPTION_TIMER_VALUE: 0x482e,
  // Table B-11: 32-bit host-state field.
  HOST_IA32_SYSENTER_CS: 0x4c00,
  // Table B-12: natural-width control fields.
  CR0_GUEST_HOST_MASK: 0x6000,
  CR4_GUEST_HOST_MASK: 0x6002,
  CR0_READ_SHADOW: 0x6004,
  CR4_READ_SHADOW: 0x6006,
  CR3_TARGET_VALUE0: 0x6008,
  CR3_TARGET_VALUE1: 0x600a,
  CR3_TARGET_VALUE2: 0x600c,
  CR3_TARGET_VALUE3: 0x600e,
  // Table B-13: natural-width read-only data fields.
  EXIT_QUALIFICATION: 0x6400,
  IO_RCX: 0x6402,
  IO_RSI: 0x6404,
  IO_RDI: 0x6406,
  IO_RIP: 0x6408,
  GUEST_LINEAR_ADDRESS: 0x640a,
  // Table B-14: natural-width guest-state fields.
  GUEST_CR0: 0x6800,
  GUEST_CR3: 0x6802,
  GUEST_CR4: 0x6804,
  GUEST_ES_BASE: 0x6806,
  GUEST_CS_BASE: 0x6808,
  GUEST_SS_BASE: 0x680a,
  GUEST_DS_BASE: 0x680c,
  GUEST_FS_BASE: 0x680e,
  GUEST_GS_BASE: 0x6810,
  GUEST_LDTR_BASE: 0x6812,
  GUEST_TR_BASE: 0x6814,
  GUEST_GDTR_BASE: 0x6816,
  GUEST_IDTR_BASE: 0x6818,
  GUEST_DR7: 0x681a,
  GUEST_RSP: 0x681c,
  GUEST_RIP: 0x681e,
  GUEST_RFLAGS: 0x6820,
  GUEST_PENDING_DBG_EXCEPTIONS: 0x6822,
  GUEST_SYSENTER_ESP: 0x6824,
  GUEST_SYSENTER_EIP: 0x6826,
  // Table B-15: natural-width host-state fields.
  HOST_CR0: 0x6c00,
  HOST_CR3: 0x6c02,
  HOST_CR4: 0x6c04,
  HOST_FS_BASE: 0x6c06,
  HOST_GS_BASE: 0x6c08,
  HOST_TR_BASE: 0x6c0a,
  HOST_GDTR_BASE: 0x6c0c,
  HOST_IDTR_BASE: 0x6c0e,
  HOST_IA32_SYSENTER_ESP: 0x6c10,
  HOST_IA32_SYSENTER_EIP: 0x6c12,
  HOST_RSP: 0x6c14,
  HOST_RIP: 0x6c16,
} as const);

export type VmcsFieldName = keyof typeof VMCS_FIELD;

const FIELD_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(VMCS_FIELD).map(([n, e]) => [e, n]));

/** The Linux name of an encoding (NAME_HIGH for the high half of a 64-bit field), or hex. */
export function vmcsFieldName(encoding: number): string {
  const full = FIELD_NAMES.get(encoding & ~1);
  if (full !== undefined && vmcsFieldWidth(encoding) === VMCS_WIDTH_64 && vmcsFieldIsHigh(encoding)) {
    return `${full}_HIGH`;
  }
  if (full !== undefined && !vmcsFieldIsHigh(encoding)) return full;
  return `0x${(encoding >>> 0).toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// Basic exit reasons (Table C-1): bits 15:0 of the exit-reason field. Bit 31 marks a VM-entry failure
// (reasons 33, 34 and 41 only), bit 27 an exit from an enclave.

export const VMX_EXIT_REASONS_FAILED_VMENTRY = 0x8000_0000;
export const VMX_EXIT_REASON_FROM_ENCLAVE = 0x0800_0000;
export const VMX_EXIT_REASON_BASIC_MASK = 0xffff;

export const EXIT_REASON_EXCEPTION_NMI = 0;
export const EXIT_REASON_EXTERNAL_INTERRUPT = 1;
export const EXIT_REASON_TRIPLE_FAULT = 2;
export const EXIT_REASON_INIT_SIGNAL = 3;
export const EXIT_REASON_SIPI_SIGNAL = 4; // SDM "Start-up IPI"; Linux has no name for it
export const EXIT_REASON_IO_SMI = 5; // SDM "I/O SMI"
export const EXIT_REASON_OTHER_SMI = 6; // SDM "Other SMI"
export const EXIT_REASON_PENDING_INTERRUPT = 7; // interrupt window
export const EXIT_REASON_NMI_WINDOW = 8;
export const EXIT_REASON_TASK_SWITCH = 9;
export const EXIT_REASON_CPUID = 10;
export const EXIT_REASON_GETSEC = 11; // SDM name
export const EXIT_REASON_HLT = 12;
export const EXIT_REASON_INVD = 13;
export const EXIT_REASON_INVLPG = 14;
export const EXIT_REASON_RDPMC = 15;
export const EXIT_REASON_RDTSC = 16;
export const EXIT_REASON_RSM = 17; // SDM name
export const EXIT_REASON_VMCALL = 18;
export const EXIT_REASON_VMCLEAR = 19;
export const EXIT_REASON_VMLAUNCH = 20;
export const EXIT_REASON_VMPTRLD = 21;
export const EXIT_REASON_VMPTRST = 22;
export const EXIT_REASON_VMREAD = 23;
export const EXIT_REASON_VMRESUME = 24;
export const EXIT_REASON_VMWRITE = 25;
export const EXIT_REASON_VMOFF = 26;
export const EXIT_REASON_VMON = 27;
export const EXIT_REASON_CR_ACCESS = 28;
export const EXIT_REASON_DR_ACCESS = 29;
export const EXIT_REASON_IO_INSTRUCTION = 30;
export const EXIT_REASON_MSR_READ = 31;
export const EXIT_REASON_MSR_WRITE = 32;
export const EXIT_REASON_INVALID_STATE = 33; // VM-entry failure: invalid guest state
/** The same reason under the SDM's wording ("VM-entry failure due to invalid guest state"). */
export const EXIT_REASON_INVALID_GUEST_STATE = EXIT_REASON_INVALID_STATE;
export const EXIT_REASON_MSR_LOAD_FAIL = 34; // VM-entry failure: MSR loading
export const EXIT_REASON_MWAIT_INSTRUCTION = 36;
export const EXIT_REASON_MONITOR_TRAP_FLAG = 37;
export const EXIT_REASON_MONITOR_INSTRUCTION = 39;
export const EXIT_REASON_PAUSE_INSTRUCTION = 40;
export const EXIT_REASON_MCE_DURING_VMENTRY = 41; // VM-entry failure: machine check
export const EXIT_REASON_TPR_BELOW_THRESHOLD = 43;
export const EXIT_REASON_APIC_ACCESS = 44;
export const EXIT_REASON_EOI_INDUCED = 45;
export const EXIT_REASON_GDTR_IDTR = 46;
export const EXIT_REASON_LDTR_TR = 47;
export const EXIT_REASON_EPT_VIOLATION = 48;
export const EXIT_REASON_EPT_MISCONFIG = 49;
export const EXIT_REASON_INVEPT = 50;
export const EXIT_REASON_RDTSCP = 51;
export const EXIT_REASON_PREEMPTION_TIMER = 52;
export const EXIT_REASON_INVVPID = 53;
export const EXIT_REASON_WBINVD = 54;
export const EXIT_REASON_XSETBV = 55;
export const EXIT_REASON_APIC_WRITE = 56;
export const EXIT_REASON_RDRAND = 57;
export const EXIT_REASON_INVPCID = 58;
export const EXIT_REASON_VMFUNC = 59;
export const EXIT_REASON_ENCLS = 60;
export const EXIT_REASON_RDSEED = 61;
export const EXIT_REASON_PML_FULL = 62;
export const EXIT_REASON_XSAVES = 63;
export const EXIT_REASON_XRSTORS = 64;

// biome-ignore format: indexed by reason
const EXIT_REASON_NAMES: readonly (string | undefined)[] = [
  'EXCEPTION_NMI', 'EXTERNAL_INTERRUPT', 'TRIPLE_FAULT', 'INIT_SIGNAL', 'SIPI_SIGNAL', 'IO_SMI',
  'OTHER_SMI', 'PENDING_INTERRUPT', 'NMI_WINDOW', 'TASK_SWITCH', 'CPUID', 'GETSEC', 'HLT', 'INVD',
  'INVLPG', 'RDPMC', 'RDTSC', 'RSM', 'VMCALL', 'VMCLEAR', 'VMLAUNCH', 'VMPTRLD', 'VMPTRST', 'VMREAD',
  'VMRESUME', 'VMWRITE', 'VMOFF', 'VMON', 'CR_ACCESS', 'DR_ACCESS', 'IO_INSTRUCTION', 'MSR_READ',
  'MSR_WRITE', 'INVALID_STATE', 'MSR_LOAD_FAIL', undefined, 'MWAIT_INSTRUCTION', 'MONITOR_TRAP_FLAG',
  undefined, 'MONITOR_INSTRUCTION', 'PAUSE_INSTRUCTION', 'MCE_DURING_VMENTRY', undefined,
  'TPR_BELOW_THRESHOLD', 'APIC_ACCESS', 'EOI_INDUCED', 'GDTR_IDTR', 'LDTR_TR', 'EPT_VIOLATION',
  'EPT_MISCONFIG', 'INVEPT', 'RDTSCP', 'PREEMPTION_TIMER', 'INVVPID', 'WBINVD', 'XSETBV', 'APIC_WRITE',
  'RDRAND', 'INVPCID', 'VMFUNC', 'ENCLS', 'RDSEED', 'PML_FULL', 'XSAVES', 'XRSTORS',
];

/** Name of a basic exit reason (bits 15:0 of the exit-reason field are used), for traces. */
export function vmxExitReasonName(reason: number): string {
  const basic = reason & VMX_EXIT_REASON_BASIC_MASK;
  return EXIT_REASON_NAMES[basic] ?? `REASON_${basic}`;
}

// ---------------------------------------------------------------------------------------------
// VM-instruction error numbers (Table 30-1). 14, 21 and 27 are not assigned.

export const VMXERR_VMCALL_IN_VMX_ROOT_OPERATION = 1;
export const VMXERR_VMCLEAR_INVALID_ADDRESS = 2;
export const VMXERR_VMCLEAR_VMXON_POINTER = 3;
export const VMXERR_VMLAUNCH_NONCLEAR_VMCS = 4;
export const VMXERR_VMRESUME_NONLAUNCHED_VMCS = 5;
export const VMXERR_VMRESUME_AFTER_VMXOFF = 6;
export const VMXERR_ENTRY_INVALID_CONTROL_FIELD = 7;
export const VMXERR_ENTRY_INVALID_HOST_STATE_FIELD = 8;
export const VMXERR_VMPTRLD_INVALID_ADDRESS = 9;
export const VMXERR_VMPTRLD_VMXON_POINTER = 10;
export const VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID = 11;
export const VMXERR_UNSUPPORTED_VMCS_COMPONENT = 12;
export const VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT = 13;
export const VMXERR_VMXON_IN_VMX_ROOT_OPERATION = 15;
export const VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER = 16;
export const VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS = 17;
export const VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER = 18;
export const VMXERR_VMCALL_NONCLEAR_VMCS = 19;
export const VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS = 20;
export const VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID = 22;
export const VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM = 23;
export const VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES = 24;
export const VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS = 25;
export const VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26;
export const VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID = 28;

/** The SDM's wording of each error number, for traces. */
export const VM_INSTRUCTION_ERROR_TEXT: ReadonlyMap<number, string> = new Map([
  [1, 'VMCALL executed in VMX root operation'],
  [2, 'VMCLEAR with invalid physical address'],
  [3, 'VMCLEAR with VMXON pointer'],
  [4, 'VMLAUNCH with non-clear VMCS'],
  [5, 'VMRESUME with non-launched VMCS'],
  [6, 'VMRESUME after VMXOFF'],
  [7, 'VM entry with invalid control field(s)'],
  [8, 'VM entry with invalid host-state field(s)'],
  [9, 'VMPTRLD with invalid physical address'],
  [10, 'VMPTRLD with VMXON pointer'],
  [11, 'VMPTRLD with incorrect VMCS revision identifier'],
  [12, 'VMREAD/VMWRITE from/to unsupported VMCS component'],
  [13, 'VMWRITE to read-only VMCS component'],
  [15, 'VMXON executed in VMX root operation'],
  [16, 'VM entry with invalid executive-VMCS pointer'],
  [17, 'VM entry with non-launched executive VMCS'],
  [18, 'VM entry with executive-VMCS pointer not VMXON pointer'],
  [19, 'VMCALL with non-clear VMCS'],
  [20, 'VMCALL with invalid VM-exit control fields'],
  [22, 'VMCALL with incorrect MSEG revision identifier'],
  [23, 'VMXOFF under dual-monitor treatment of SMIs and SMM'],
  [24, 'VMCALL with invalid SMM-monitor features'],
  [25, 'VM entry with invalid VM-execution control fields in executive VMCS'],
  [26, 'VM entry with events blocked by MOV SS'],
  [28, 'Invalid operand to INVEPT/INVVPID'],
]);

// ---------------------------------------------------------------------------------------------
// Guest activity state (SDM 24.4.2) and interruptibility state (Table 24-3).

export const GUEST_ACTIVITY_ACTIVE = 0;
export const GUEST_ACTIVITY_HLT = 1;
export const GUEST_ACTIVITY_SHUTDOWN = 2;
export const GUEST_ACTIVITY_WAIT_SIPI = 3;

export const GUEST_INTR_STATE_STI = 1 << 0;
export const GUEST_INTR_STATE_MOV_SS = 1 << 1;
export const GUEST_INTR_STATE_SMI = 1 << 2;
export const GUEST_INTR_STATE_NMI = 1 << 3;
export const GUEST_INTR_STATE_ENCLAVE_INTR = 1 << 4;

// Interruption information: VM-entry interruption-information, VM-exit interruption information and
// IDT-vectoring information share it (SDM 24.8.3, 24.9.2, 24.9.3).
export const INTR_INFO_VECTOR_MASK = 0xff; // 7:0
export const INTR_INFO_INTR_TYPE_SHIFT = 8;
export const INTR_INFO_INTR_TYPE_MASK = 0x700; // 10:8
export const INTR_INFO_DELIVER_CODE_MASK = 0x800; // 11: error code valid
export const INTR_INFO_UNBLOCK_NMI = 0x1000; // 12: NMI unblocking due to IRET (exit information only)
export const INTR_INFO_VALID_MASK = 0x8000_0000; // 31

export const INTR_TYPE_EXT_INTR = 0 << 8;
export const INTR_TYPE_NMI_INTR = 2 << 8;
export const INTR_TYPE_HARD_EXCEPTION = 3 << 8;
export const INTR_TYPE_SOFT_INTR = 4 << 8; // INTn
export const INTR_TYPE_PRIV_SW_EXCEPTION = 5 << 8; // INT1 (ICEBP)
export const INTR_TYPE_SOFT_EXCEPTION = 6 << 8; // INT3, INTO
export const INTR_TYPE_OTHER_EVENT = 7 << 8; // MTF pending
