// VMCS encodings pinned against Intel SDM vol 3D appendix B "Field Encoding in VMCS" (Tables B-1 to
// B-15, 2016 edition; B-15 read from Linux asm/vmx.h enum vmcs_field, which agrees with every other
// row), the encoding structure of vol 3C 24.11.2 (Table 24-17), appendix C Table C-1 "Basic Exit
// Reasons" and 30.4 Table 30-1 "VM-Instruction Error Numbers".
import { describe, expect, it } from 'vitest';
import * as V from './vmcs-fields.js';
import {
  VM_INSTRUCTION_ERROR_TEXT,
  VMCS_ENCODING_RESERVED_MASK,
  VMCS_FIELD,
  type VmcsFieldName,
  type VmcsType,
  type VmcsWidth,
  vmcsEncode,
  vmcsFieldIndex,
  vmcsFieldIsHigh,
  vmcsFieldName,
  vmcsFieldType,
  vmcsFieldWidth,
  vmcsWidthBytes,
  vmxExitReasonName,
} from './vmcs-fields.js';

const EXPORTS: Readonly<Record<string, unknown>> = { ...V };

// [table, width, type, [name, encoding (full), SDM index]...] as appendix B prints them.
// biome-ignore format: one table per appendix B table
const APPENDIX_B: [string, VmcsWidth, VmcsType, [VmcsFieldName, number, number][]][] = [
  ['B-1', 0, 0, [
    ['VIRTUAL_PROCESSOR_ID', 0x0000, 0b000000000],
    ['POSTED_INTR_NV', 0x0002, 0b000000001],
    ['EPTP_INDEX', 0x0004, 0b000000010],
  ]],
  ['B-2', 0, 2, [
    ['GUEST_ES_SELECTOR', 0x0800, 0],
    ['GUEST_CS_SELECTOR', 0x0802, 1],
    ['GUEST_SS_SELECTOR', 0x0804, 2],
    ['GUEST_DS_SELECTOR', 0x0806, 3],
    ['GUEST_FS_SELECTOR', 0x0808, 4],
    ['GUEST_GS_SELECTOR', 0x080a, 5],
    ['GUEST_LDTR_SELECTOR', 0x080c, 6],
    ['GUEST_TR_SELECTOR', 0x080e, 7],
    ['GUEST_INTR_STATUS', 0x0810, 8],
    ['GUEST_PML_INDEX', 0x0812, 9],
  ]],
  ['B-3', 0, 3, [
    ['HOST_ES_SELECTOR', 0x0c00, 0],
    ['HOST_CS_SELECTOR', 0x0c02, 1],
    ['HOST_SS_SELECTOR', 0x0c04, 2],
    ['HOST_DS_SELECTOR', 0x0c06, 3],
    ['HOST_FS_SELECTOR', 0x0c08, 4],
    ['HOST_GS_SELECTOR', 0x0c0a, 5],
    ['HOST_TR_SELECTOR', 0x0c0c, 6],
  ]],
  ['B-4', 1, 0, [
    ['IO_BITMAP_A', 0x2000, 0],
    ['IO_BITMAP_B', 0x2002, 1],
    ['MSR_BITMAP', 0x2004, 2],
    ['VM_EXIT_MSR_STORE_ADDR', 0x2006, 3],
    ['VM_EXIT_MSR_LOAD_ADDR', 0x2008, 4],
    ['VM_ENTRY_MSR_LOAD_ADDR', 0x200a, 5],
    ['EXECUTIVE_VMCS_POINTER', 0x200c, 6],
    ['PML_ADDRESS', 0x200e, 7],
    ['TSC_OFFSET', 0x2010, 8],
    ['VIRTUAL_APIC_PAGE_ADDR', 0x2012, 9],
    ['APIC_ACCESS_ADDR', 0x2014, 10],
    ['POSTED_INTR_DESC_ADDR', 0x2016, 11],
    ['VM_FUNCTION_CONTROL', 0x2018, 12],
    ['EPT_POINTER', 0x201a, 13],
    ['EOI_EXIT_BITMAP0', 0x201c, 14],
    ['EOI_EXIT_BITMAP1', 0x201e, 15],
    ['EOI_EXIT_BITMAP2', 0x2020, 16],
    ['EOI_EXIT_BITMAP3', 0x2022, 17],
    ['EPTP_LIST_ADDRESS', 0x2024, 18],
    ['VMREAD_BITMAP', 0x2026, 19],
    ['VMWRITE_BITMAP', 0x2028, 20],
    ['VE_INFORMATION_ADDRESS', 0x202a, 21],
    ['XSS_EXIT_BITMAP', 0x202c, 22],
    ['ENCLS_EXITING_BITMAP', 0x202e, 23],
    ['TSC_MULTIPLIER', 0x2032, 25],
  ]],
  ['B-5', 1, 1, [['GUEST_PHYSICAL_ADDRESS', 0x2400, 0]]],
  ['B-6', 1, 2, [
    ['VMCS_LINK_POINTER', 0x2800, 0],
    ['GUEST_IA32_DEBUGCTL', 0x2802, 1],
    ['GUEST_IA32_PAT', 0x2804, 2],
    ['GUEST_IA32_EFER', 0x2806, 3],
    ['GUEST_IA32_PERF_GLOBAL_CTRL', 0x2808, 4],
    ['GUEST_PDPTR0', 0x280a, 5],
    ['GUEST_PDPTR1', 0x280c, 6],
    ['GUEST_PDPTR2', 0x280e, 7],
    ['GUEST_PDPTR3', 0x2810, 8],
    ['GUEST_BNDCFGS', 0x2812, 9],
  ]],
  ['B-7', 1, 3, [
    ['HOST_IA32_PAT', 0x2c00, 0],
    ['HOST_IA32_EFER', 0x2c02, 1],
    ['HOST_IA32_PERF_GLOBAL_CTRL', 0x2c04, 2],
  ]],
  ['B-8', 2, 0, [
    ['PIN_BASED_VM_EXEC_CONTROL', 0x4000, 0],
    ['CPU_BASED_VM_EXEC_CONTROL', 0x4002, 1],
    ['EXCEPTION_BITMAP', 0x4004, 2],
    ['PAGE_FAULT_ERROR_CODE_MASK', 0x4006, 3],
    ['PAGE_FAULT_ERROR_CODE_MATCH', 0x4008, 4],
    ['CR3_TARGET_COUNT', 0x400a, 5],
    ['VM_EXIT_CONTROLS', 0x400c, 6],
    ['VM_EXIT_MSR_STORE_COUNT', 0x400e, 7],
    ['VM_EXIT_MSR_LOAD_COUNT', 0x4010, 8],
    ['VM_ENTRY_CONTROLS', 0x4012, 9],
    ['VM_ENTRY_MSR_LOAD_COUNT', 0x4014, 10],
    ['VM_ENTRY_INTR_INFO_FIELD', 0x4016, 11],
    ['VM_ENTRY_EXCEPTION_ERROR_CODE', 0x4018, 12],
    ['VM_ENTRY_INSTRUCTION_LEN', 0x401a, 13],
    ['TPR_THRESHOLD', 0x401c, 14],
    ['SECONDARY_VM_EXEC_CONTROL', 0x401e, 15],
    ['PLE_GAP', 0x4020, 16],
    ['PLE_WINDOW', 0x4022, 17],
  ]],
  ['B-9', 2, 1, [
    ['VM_INSTRUCTION_ERROR', 0x4400, 0],
    ['VM_EXIT_REASON', 0x4402, 1],
    ['VM_EXIT_INTR_INFO', 0x4404, 2],
    ['VM_EXIT_INTR_ERROR_CODE', 0x4406, 3],
    ['IDT_VECTORING_INFO_FIELD', 0x4408, 4],
    ['IDT_VECTORING_ERROR_CODE', 0x440a, 5],
    ['VM_EXIT_INSTRUCTION_LEN', 0x440c, 6],
    ['VMX_INSTRUCTION_INFO', 0x440e, 7],
  ]],
  ['B-10', 2, 2, [
    ['GUEST_ES_LIMIT', 0x4800, 0],
    ['GUEST_CS_LIMIT', 0x4802, 1],
    ['GUEST_SS_LIMIT', 0x4804, 2],
    ['GUEST_DS_LIMIT', 0x4806, 3],
    ['GUEST_FS_LIMIT', 0x4808, 4],
    ['GUEST_GS_LIMIT', 0x480a, 5],
    ['GUEST_LDTR_LIMIT', 0x480c, 6],
    ['GUEST_TR_LIMIT', 0x480e, 7],
    ['GUEST_GDTR_LIMIT', 0x4810, 8],
    ['GUEST_IDTR_LIMIT', 0x4812, 9],
    ['GUEST_ES_AR_BYTES', 0x4814, 10],
    ['GUEST_CS_AR_BYTES', 0x4816, 11],
    ['GUEST_SS_AR_BYTES', 0x4818, 12],
    ['GUEST_DS_AR_BYTES', 0x481a, 13],
    ['GUEST_FS_AR_BYTES', 0x481c, 14],
    ['GUEST_GS_AR_BYTES', 0x481e, 15],
    ['GUEST_LDTR_AR_BYTES', 0x4820, 16],
    ['GUEST_TR_AR_BYTES', 0x4822, 17],
    ['GUEST_INTERRUPTIBILITY_INFO', 0x4824, 18],
    ['GUEST_ACTIVITY_STATE', 0x4826, 19],
    ['GUEST_SMBASE', 0x4828, 20],
    ['GUEST_SYSENTER_CS', 0x482a, 21],
    ['VMX_PREEMPTION_TIMER_VALUE', 0x482e, 23],
  ]],
  ['B-11', 2, 3, [['HOST_IA32_SYSENTER_CS', 0x4c00, 0]]],
  ['B-12', 3, 0, [
    ['CR0_GUEST_HOST_MASK', 0x6000, 0],
    ['CR4_GUEST_HOST_MASK', 0x6002, 1],
    ['CR0_READ_SHADOW', 0x6004, 2],
    ['CR4_READ_SHADOW', 0x6006, 3],
    ['CR3_TARGET_VALUE0', 0x6008, 4],
    ['CR3_TARGET_VALUE1', 0x600a, 5],
    ['CR3_TARGET_VALUE2', 0x600c, 6],
    ['CR3_TARGET_VALUE3', 0x600e, 7],
  ]],
  ['B-13', 3, 1, [
    ['EXIT_QUALIFICATION', 0x6400, 0],
    ['IO_RCX', 0x6402, 1],
    ['IO_RSI', 0x6404, 2],
    ['IO_RDI', 0x6406, 3],
    ['IO_RIP', 0x6408, 4],
    ['GUEST_LINEAR_ADDRESS', 0x640a, 5],
  ]],
  ['B-14', 3, 2, [
    ['GUEST_CR0', 0x6800, 0],
    ['GUEST_CR3', 0x6802, 1],
    ['GUEST_CR4', 0x6804, 2],
    ['GUEST_ES_BASE', 0x6806, 3],
    ['GUEST_CS_BASE', 0x6808, 4],
    ['GUEST_SS_BASE', 0x680a, 5],
    ['GUEST_DS_BASE', 0x680c, 6],
    ['GUEST_FS_BASE', 0x680e, 7],
    ['GUEST_GS_BASE', 0x6810, 8],
    ['GUEST_LDTR_BASE', 0x6812, 9],
    ['GUEST_TR_BASE', 0x6814, 10],
    ['GUEST_GDTR_BASE', 0x6816, 11],
    ['GUEST_IDTR_BASE', 0x6818, 12],
    ['GUEST_DR7', 0x681a, 13],
    ['GUEST_RSP', 0x681c, 14],
    ['GUEST_RIP', 0x681e, 15],
    ['GUEST_RFLAGS', 0x6820, 16],
    ['GUEST_PENDING_DBG_EXCEPTIONS', 0x6822, 17],
    ['GUEST_SYSENTER_ESP', 0x6824, 18],
    ['GUEST_SYSENTER_EIP', 0x6826, 19],
  ]],
  ['B-15', 3, 3, [
    ['HOST_CR0', 0x6c00, 0],
    ['HOST_CR3', 0x6c02, 1],
    ['HOST_CR4', 0x6c04, 2],
    ['HOST_FS_BASE', 0x6c06, 3],
    ['HOST_GS_BASE', 0x6c08, 4],
    ['HOST_TR_BASE', 0x6c0a, 5],
    ['HOST_GDTR_BASE', 0x6c0c, 6],
    ['HOST_IDTR_BASE', 0x6c0e, 7],
    ['HOST_IA32_SYSENTER_ESP', 0x6c10, 8],
    ['HOST_IA32_SYSENTER_EIP', 0x6c12, 9],
    ['HOST_RSP', 0x6c14, 10],
    ['HOST_RIP', 0x6c16, 11],
  ]],
];

describe('VMCS field encodings (SDM appendix B)', () => {
  for (const [table, width, type, rows] of APPENDIX_B) {
    it.each(rows)(`Table ${table}: %s = %i (index %i)`, (name, encoding, index) => {
      expect(VMCS_FIELD[name]).toBe(encoding);
      expect(vmcsFieldWidth(encoding)).toBe(width);
      expect(vmcsFieldType(encoding)).toBe(type);
      expect(vmcsFieldIndex(encoding)).toBe(index);
      expect(vmcsEncode(width, type, index)).toBe(encoding);
    });
  }

  it('lists every field of the table once, all with full (even) encodings', () => {
    const listed = APPENDIX_B.flatMap(([, , , rows]) => rows.map(([n]) => n)).sort();
    expect(Object.keys(VMCS_FIELD).sort()).toEqual(listed);
    const encodings = Object.values(VMCS_FIELD);
    expect(new Set(encodings).size).toBe(encodings.length);
    for (const e of encodings) {
      expect(e & 1).toBe(0);
      expect(e & VMCS_ENCODING_RESERVED_MASK).toBe(0);
    }
  });
});

describe('encoding structure (SDM 24.11.2)', () => {
  it('decodes width from bits 14:13, type from 11:10, index from 9:1, access type from bit 0', () => {
    expect(vmcsFieldWidth(0x0800)).toBe(V.VMCS_WIDTH_16);
    expect(vmcsFieldWidth(0x2800)).toBe(V.VMCS_WIDTH_64);
    expect(vmcsFieldWidth(0x4826)).toBe(V.VMCS_WIDTH_32);
    expect(vmcsFieldWidth(0x681e)).toBe(V.VMCS_WIDTH_NATURAL);
    expect(vmcsFieldType(0x4002)).toBe(V.VMCS_TYPE_CONTROL);
    expect(vmcsFieldType(0x4402)).toBe(V.VMCS_TYPE_READ_ONLY);
    expect(vmcsFieldType(0x681e)).toBe(V.VMCS_TYPE_GUEST);
    expect(vmcsFieldType(0x6c16)).toBe(V.VMCS_TYPE_HOST);
    expect(vmcsFieldIndex(0x4826)).toBe(19);
    expect(vmcsFieldIsHigh(0x2001)).toBe(true); // I/O bitmap A (high)
    expect(vmcsFieldIsHigh(0x2000)).toBe(false);
    expect(vmcsEncode(1, 2, 3, true)).toBe(0x2807); // Guest IA32_EFER (high)
    expect(VMCS_ENCODING_RESERVED_MASK).toBe(0xffff_9000); // bits 31:15 and 12
  });

  it('gives the byte width of each width class', () => {
    expect([0, 1, 2, 3].map((w) => vmcsWidthBytes(w as VmcsWidth))).toEqual([2, 8, 4, 8]);
  });

  it('names fields for traces, including high halves', () => {
    expect(vmcsFieldName(0x681e)).toBe('GUEST_RIP');
    expect(vmcsFieldName(0x201b)).toBe('EPT_POINTER_HIGH');
    expect(vmcsFieldName(0x4003)).toBe('0x4003'); // no high half of a 32-bit field
    expect(vmcsFieldName(0x6c18)).toBe('0x6c18');
  });
});

describe('basic exit reasons (SDM Table C-1)', () => {
  const TABLE_C1: [string, number][] = [
    ['EXCEPTION_NMI', 0],
    ['EXTERNAL_INTERRUPT', 1],
    ['TRIPLE_FAULT', 2],
    ['INIT_SIGNAL', 3],
    ['SIPI_SIGNAL', 4],
    ['IO_SMI', 5],
    ['OTHER_SMI', 6],
    ['PENDING_INTERRUPT', 7],
    ['NMI_WINDOW', 8],
    ['TASK_SWITCH', 9],
    ['CPUID', 10],
    ['GETSEC', 11],
    ['HLT', 12],
    ['INVD', 13],
    ['INVLPG', 14],
    ['RDPMC', 15],
    ['RDTSC', 16],
    ['RSM', 17],
    ['VMCALL', 18],
    ['VMCLEAR', 19],
    ['VMLAUNCH', 20],
    ['VMPTRLD', 21],
    ['VMPTRST', 22],
    ['VMREAD', 23],
    ['VMRESUME', 24],
    ['VMWRITE', 25],
    ['VMOFF', 26],
    ['VMON', 27],
    ['CR_ACCESS', 28],
    ['DR_ACCESS', 29],
    ['IO_INSTRUCTION', 30],
    ['MSR_READ', 31],
    ['MSR_WRITE', 32],
    ['INVALID_STATE', 33],
    ['MSR_LOAD_FAIL', 34],
    ['MWAIT_INSTRUCTION', 36],
    ['MONITOR_TRAP_FLAG', 37],
    ['MONITOR_INSTRUCTION', 39],
    ['PAUSE_INSTRUCTION', 40],
    ['MCE_DURING_VMENTRY', 41],
    ['TPR_BELOW_THRESHOLD', 43],
    ['APIC_ACCESS', 44],
    ['EOI_INDUCED', 45],
    ['GDTR_IDTR', 46],
    ['LDTR_TR', 47],
    ['EPT_VIOLATION', 48],
    ['EPT_MISCONFIG', 49],
    ['INVEPT', 50],
    ['RDTSCP', 51],
    ['PREEMPTION_TIMER', 52],
    ['INVVPID', 53],
    ['WBINVD', 54],
    ['XSETBV', 55],
    ['APIC_WRITE', 56],
    ['RDRAND', 57],
    ['INVPCID', 58],
    ['VMFUNC', 59],
    ['ENCLS', 60],
    ['RDSEED', 61],
    ['PML_FULL', 62],
    ['XSAVES', 63],
    ['XRSTORS', 64],
  ];

  it.each(TABLE_C1)('EXIT_REASON_%s = %i, named for traces', (name, reason) => {
    expect(EXPORTS[`EXIT_REASON_${name}`]).toBe(reason);
    expect(vmxExitReasonName(reason)).toBe(name);
  });

  it('uses only bits 15:0 for the name, and leaves unassigned numbers unnamed', () => {
    expect(vmxExitReasonName((V.VMX_EXIT_REASONS_FAILED_VMENTRY | 33) >>> 0)).toBe('INVALID_STATE');
    expect(V.VMX_EXIT_REASONS_FAILED_VMENTRY).toBe(2 ** 31);
    expect(V.EXIT_REASON_INVALID_GUEST_STATE).toBe(33);
    expect(vmxExitReasonName(35)).toBe('REASON_35');
    expect(vmxExitReasonName(38)).toBe('REASON_38');
    expect(vmxExitReasonName(42)).toBe('REASON_42');
    expect(vmxExitReasonName(200)).toBe('REASON_200');
  });
});

describe('VM-instruction error numbers (SDM Table 30-1)', () => {
  const TABLE_30_1: [string, number][] = [
    ['VMCALL_IN_VMX_ROOT_OPERATION', 1],
    ['VMCLEAR_INVALID_ADDRESS', 2],
    ['VMCLEAR_VMXON_POINTER', 3],
    ['VMLAUNCH_NONCLEAR_VMCS', 4],
    ['VMRESUME_NONLAUNCHED_VMCS', 5],
    ['VMRESUME_AFTER_VMXOFF', 6],
    ['ENTRY_INVALID_CONTROL_FIELD', 7],
    ['ENTRY_INVALID_HOST_STATE_FIELD', 8],
    ['VMPTRLD_INVALID_ADDRESS', 9],
    ['VMPTRLD_VMXON_POINTER', 10],
    ['VMPTRLD_INCORRECT_VMCS_REVISION_ID', 11],
    ['UNSUPPORTED_VMCS_COMPONENT', 12],
    ['VMWRITE_READ_ONLY_VMCS_COMPONENT', 13],
    ['VMXON_IN_VMX_ROOT_OPERATION', 15],
    ['ENTRY_INVALID_EXECUTIVE_VMCS_POINTER', 16],
    ['ENTRY_NONLAUNCHED_EXECUTIVE_VMCS', 17],
    ['ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER', 18],
    ['VMCALL_NONCLEAR_VMCS', 19],
    ['VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS', 20],
    ['VMCALL_INCORRECT_MSEG_REVISION_ID', 22],
    ['VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM', 23],
    ['VMCALL_INVALID_SMM_MONITOR_FEATURES', 24],
    ['ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS', 25],
    ['ENTRY_EVENTS_BLOCKED_BY_MOV_SS', 26],
    ['INVALID_OPERAND_TO_INVEPT_INVVPID', 28],
  ];

  it.each(TABLE_30_1)('VMXERR_%s = %i, with the SDM text', (name, n) => {
    expect(EXPORTS[`VMXERR_${name}`]).toBe(n);
    expect(VM_INSTRUCTION_ERROR_TEXT.get(n)).toBeTypeOf('string');
  });

  it('quotes the SDM for the errors VMREAD/VMWRITE give, and leaves 14, 21, 27 unassigned', () => {
    expect(VM_INSTRUCTION_ERROR_TEXT.get(12)).toBe('VMREAD/VMWRITE from/to unsupported VMCS component');
    expect(VM_INSTRUCTION_ERROR_TEXT.get(13)).toBe('VMWRITE to read-only VMCS component');
    for (const n of [0, 14, 21, 27, 29]) expect(VM_INSTRUCTION_ERROR_TEXT.has(n)).toBe(false);
  });
});

describe('activity and event formats', () => {
  it('numbers the activity states as SDM 24.4.2 does', () => {
    expect([
      V.GUEST_ACTIVITY_ACTIVE,
      V.GUEST_ACTIVITY_HLT,
      V.GUEST_ACTIVITY_SHUTDOWN,
      V.GUEST_ACTIVITY_WAIT_SIPI,
    ]).toEqual([0, 1, 2, 3]);
  });

  it('lays out interruption information as SDM 24.8.3 / 24.9.2 do', () => {
    const pf =
      (14 | V.INTR_TYPE_HARD_EXCEPTION | V.INTR_INFO_DELIVER_CODE_MASK | V.INTR_INFO_VALID_MASK) >>> 0;
    expect(pf).toBe(0x8000_0b0e);
    expect(V.INTR_TYPE_SOFT_EXCEPTION).toBe(6 << 8);
    expect(V.INTR_TYPE_NMI_INTR | 2).toBe(0x202);
    expect([
      V.GUEST_INTR_STATE_STI,
      V.GUEST_INTR_STATE_MOV_SS,
      V.GUEST_INTR_STATE_SMI,
      V.GUEST_INTR_STATE_NMI,
    ]).toEqual([1, 2, 4, 8]);
  });
});
