// The VMCB: one 4 KiB page of host memory the hypervisor fills and VMRUN reads. Offsets follow AMD APM
// vol 2 (rev 3.44) appendix B, Table B-1 "VMCB Layout, Control Area" and Table B-2 "VMCB Layout, State
// Save Area"; field names are Linux's (arch/x86/include/asm/svm.h struct vmcb_control_area and struct
// vmcb_save_area, whose size checks pin the same numbers). Exit codes: APM appendix C Table C-1 "SVM
// Intercept Codes", named as Linux arch/x86/include/uapi/asm/svm.h. The permission maps: APM 15.10.1
// (IOPM) and 15.11 Table 15-8 "MSR Ranges Covered by MSRPM".
// Imports only the memory interface it is read through. 64-bit fields are bigint: none of this is
// per-instruction.

import { type ControlBlockMemory, fillControlBlock } from '../host/host-memory.js';

const TWO32 = 2 ** 32;

export const VMCB_SIZE = 0x1000;
/** Table B-1: "the control area ... is padded to 1024 bytes" (Linux EXPECTED_VMCB_CONTROL_AREA_SIZE). */
export const VMCB_CONTROL_AREA_SIZE = 0x400;
/** Table B-2 offsets are relative to this when SEV-ES is off; with SEV-ES the guest state is the VMSA. */
export const VMCB_SAVE_AREA_OFFSET = 0x400;
/** Up to and including SPEC_CTRL at save+0x2E0 (Linux EXPECTED_VMCB_SAVE_AREA_SIZE = 744). */
export const VMCB_SAVE_AREA_SIZE = 0x2e8;

/** A scalar VMCB field: absolute byte offset in the page and width in bytes. */
export interface VmcbField {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
}

/** Control area (Table B-1). EXITINTINFO and EVENTINJ are split into info and error code, as in Linux. */
export const VMCB_CONTROL = Object.freeze({
  intercept_cr: { offset: 0x000, size: 4 }, // vector 0: 15:0 CR reads, 31:16 CR writes
  intercept_dr: { offset: 0x004, size: 4 }, // vector 1: 15:0 DR reads, 31:16 DR writes
  intercept_exceptions: { offset: 0x008, size: 4 }, // vector 2: bit n = exception vector n
  intercept_word3: { offset: 0x00c, size: 4 }, // INTR ... SHUTDOWN
  intercept_word4: { offset: 0x010, size: 4 }, // VMRUN ... CR write traps
  intercept_word5: { offset: 0x014, size: 4 }, // INVLPGB ... IDLE_HLT
  pause_filter_thresh: { offset: 0x03c, size: 2 },
  pause_filter_count: { offset: 0x03e, size: 2 },
  iopm_base_pa: { offset: 0x040, size: 8 }, // bits 11:0 ignored
  msrpm_base_pa: { offset: 0x048, size: 8 }, // bits 11:0 ignored
  tsc_offset: { offset: 0x050, size: 8 },
  asid: { offset: 0x058, size: 4 },
  tlb_ctl: { offset: 0x05c, size: 1 }, // Table B-1 058h bits 39:32
  int_ctl: { offset: 0x060, size: 4 }, // V_TPR, V_IRQ, V_GIF, V_NMI, V_INTR_PRIO, ... AVIC enable
  int_vector: { offset: 0x064, size: 4 }, // Table B-1 060h bits 39:32 V_INTR_VECTOR
  int_state: { offset: 0x068, size: 4 }, // bit 0 INTERRUPT_SHADOW, bit 1 GUEST_INTERRUPT_MASK
  exit_code: { offset: 0x070, size: 8 },
  exit_info_1: { offset: 0x078, size: 8 },
  exit_info_2: { offset: 0x080, size: 8 },
  exit_int_info: { offset: 0x088, size: 4 }, // EXITINTINFO bits 31:0
  exit_int_info_err: { offset: 0x08c, size: 4 }, // EXITINTINFO bits 63:32 (error code)
  nested_ctl: { offset: 0x090, size: 8 }, // NP_ENABLE, SEV, SEV-ES
  avic_vapic_bar: { offset: 0x098, size: 8 },
  ghcb_gpa: { offset: 0x0a0, size: 8 }, // SEV-ES: image of the guest's GHCB MSR
  event_inj: { offset: 0x0a8, size: 4 }, // EVENTINJ bits 31:0
  event_inj_err: { offset: 0x0ac, size: 4 }, // EVENTINJ bits 63:32 (error code)
  nested_cr3: { offset: 0x0b0, size: 8 }, // N_CR3
  virt_ext: { offset: 0x0b8, size: 8 }, // bit 0 LBR virtualization, bit 1 virtual VMLOAD/VMSAVE
  clean: { offset: 0x0c0, size: 4 }, // VMCB clean bits
  next_rip: { offset: 0x0c8, size: 8 }, // nRIP
  insn_len: { offset: 0x0d0, size: 1 }, // number of guest instruction bytes fetched (bytes at 0x0D1)
  avic_backing_page: { offset: 0x0e0, size: 8 },
  avic_logical_id: { offset: 0x0f0, size: 8 },
  avic_physical_id: { offset: 0x0f8, size: 8 },
  vmsa_pa: { offset: 0x108, size: 8 }, // SEV-ES: VMSA pointer, bits 51:12
  bus_lock_counter: { offset: 0x120, size: 2 },
  allowed_sev_features: { offset: 0x138, size: 8 },
  guest_sev_features: { offset: 0x140, size: 8 },
} as const satisfies Record<string, VmcbField>);

// VMCB clean bits (APM vol 2 15.15.3, Table 15-9 "VMCB Clean Field"): a set bit tells VMRUN that the
// hypervisor has not written that group since this VMCB last ran on this processor, so the processor
// may keep what it holds instead of loading the group again. The processor ignores them for another
// VMCB, and anything it has not cached it loads anyway. The Vmcb accessor below clears a group's bit
// when the hypervisor writes one of its fields (KVM's vmcb_mark_dirty done for every write).
export const VMCB_CLEAN_I = 1 << 0; // intercept vectors, TSC_OFFSET, pause filter
export const VMCB_CLEAN_IOPM = 1 << 1; // IOPM_BASE_PA, MSRPM_BASE_PA
export const VMCB_CLEAN_ASID = 1 << 2;
export const VMCB_CLEAN_TPR = 1 << 3; // V_TPR, V_IRQ, ... V_INTR_VECTOR (60h-67h)
export const VMCB_CLEAN_NP = 1 << 4; // N_CR3, G_PAT (and, here, NP_ENABLE)
export const VMCB_CLEAN_CRX = 1 << 5; // CR0, CR3, CR4, EFER
export const VMCB_CLEAN_DRX = 1 << 6; // DR6, DR7
export const VMCB_CLEAN_DT = 1 << 7; // GDTR, IDTR
/**
 * CS, DS, SS, ES and CPL; here also the state VMLOAD would load (FS, GS, TR, LDTR, KernelGsBase,
 * STAR, LSTAR, CSTAR, SFMASK, SYSENTER_*), since hvemu's VMRUN does VMLOAD's work (world-switch.ts).
 */
export const VMCB_CLEAN_SEG = 1 << 8;
export const VMCB_CLEAN_CR2 = 1 << 9;
export const VMCB_CLEAN_LBR = 1 << 10;
export const VMCB_CLEAN_AVIC = 1 << 11;
export const VMCB_CLEAN_CET = 1 << 12;
/** Every group the clean field defines: what a hypervisor sets after a VMRUN (KVM's vmcb_mark_all_clean). */
export const VMCB_CLEAN_ALL = (1 << 13) - 1;

/** Guest instruction bytes (up to 15) that decode assists store after insn_len. */
export const VMCB_INSN_BYTES_OFFSET = 0x0d1;
export const VMCB_INSN_BYTES_MAX = 15;
/** Table B-1 3E0h–3FFh: reserved for the host's own use; the processor never touches it. */
export const VMCB_RESERVED_SW_OFFSET = 0x3e0;
export const VMCB_RESERVED_SW_SIZE = 0x20;

const S = VMCB_SAVE_AREA_OFFSET;

/** State save area scalars (Table B-2), as absolute offsets in the page (save-area offset + 0x400). */
export const VMCB_SAVE = Object.freeze({
  cpl: { offset: S + 0x0cb, size: 1 },
  efer: { offset: S + 0x0d0, size: 8 },
  cr4: { offset: S + 0x148, size: 8 },
  cr3: { offset: S + 0x150, size: 8 },
  cr0: { offset: S + 0x158, size: 8 },
  dr7: { offset: S + 0x160, size: 8 },
  dr6: { offset: S + 0x168, size: 8 },
  rflags: { offset: S + 0x170, size: 8 },
  rip: { offset: S + 0x178, size: 8 },
  rsp: { offset: S + 0x1d8, size: 8 },
  s_cet: { offset: S + 0x1e0, size: 8 },
  ssp: { offset: S + 0x1e8, size: 8 },
  isst_addr: { offset: S + 0x1f0, size: 8 },
  rax: { offset: S + 0x1f8, size: 8 },
  star: { offset: S + 0x200, size: 8 },
  lstar: { offset: S + 0x208, size: 8 },
  cstar: { offset: S + 0x210, size: 8 },
  sfmask: { offset: S + 0x218, size: 8 },
  kernel_gs_base: { offset: S + 0x220, size: 8 },
  sysenter_cs: { offset: S + 0x228, size: 8 },
  sysenter_esp: { offset: S + 0x230, size: 8 },
  sysenter_eip: { offset: S + 0x238, size: 8 },
  cr2: { offset: S + 0x240, size: 8 },
  g_pat: { offset: S + 0x268, size: 8 }, // used only with nested paging
  dbgctl: { offset: S + 0x270, size: 8 }, // the LBR fields are used only with LBR virtualization
  br_from: { offset: S + 0x278, size: 8 },
  br_to: { offset: S + 0x280, size: 8 },
  last_excp_from: { offset: S + 0x288, size: 8 },
  last_excp_to: { offset: S + 0x290, size: 8 },
  spec_ctrl: { offset: S + 0x2e0, size: 8 },
} as const satisfies Record<string, VmcbField>);

export const VMCB_FIELDS = Object.freeze({ ...VMCB_CONTROL, ...VMCB_SAVE });
export type VmcbFieldName = keyof typeof VMCB_FIELDS;
type FieldsOfSize<W> = {
  [K in VmcbFieldName]: (typeof VMCB_FIELDS)[K]['size'] extends W ? K : never;
}[VmcbFieldName];
/** Fields of 1, 2 or 4 bytes: read and written as numbers. */
export type VmcbSmallFieldName = FieldsOfSize<1 | 2 | 4>;
/** 8-byte fields: read and written as bigint. */
export type Vmcb64FieldName = FieldsOfSize<8>;

/** Segment records (Table B-2, 16 bytes each): +0 selector u16, +2 attrib u16, +4 limit u32, +8 base u64. */
export const VMCB_SEGMENTS = Object.freeze({
  es: S + 0x000,
  cs: S + 0x010,
  ss: S + 0x020,
  ds: S + 0x030,
  fs: S + 0x040,
  gs: S + 0x050,
  gdtr: S + 0x060, // selector and attrib reserved; limit 15:0 only
  ldtr: S + 0x070,
  idtr: S + 0x080, // selector and attrib reserved; limit 15:0 only
  tr: S + 0x090,
} as const);
export type VmcbSegmentName = keyof typeof VMCB_SEGMENTS;
export const VMCB_SEGMENT_SIZE = 16;

export interface VmcbSegment {
  selector: number;
  attrib: number;
  limit: number;
  base: bigint;
}

// Segment attrib: descriptor bits 8-11 and 20-23 packed into 12 bits (Linux SVM_SELECTOR_*).
export const SVM_SELECTOR_TYPE_MASK = 0xf;
export const SVM_SELECTOR_S_MASK = 1 << 4;
export const SVM_SELECTOR_DPL_SHIFT = 5;
export const SVM_SELECTOR_DPL_MASK = 3 << 5;
export const SVM_SELECTOR_P_MASK = 1 << 7;
export const SVM_SELECTOR_AVL_MASK = 1 << 8;
export const SVM_SELECTOR_L_MASK = 1 << 9;
export const SVM_SELECTOR_DB_MASK = 1 << 10;
export const SVM_SELECTOR_G_MASK = 1 << 11;

// TLB_CONTROL values (Table B-1 058h bits 39:32; all other encodings are reserved).
export const TLB_CONTROL_DO_NOTHING = 0;
export const TLB_CONTROL_FLUSH_ALL_ASID = 1; // legacy hypervisors only
export const TLB_CONTROL_FLUSH_ASID = 3;
export const TLB_CONTROL_FLUSH_ASID_LOCAL = 7; // this guest's non-global entries

// int_ctl (Table B-1 060h; Linux V_*_MASK). Bit 10 is not listed by the APM.
export const V_TPR_MASK = 0x0f;
export const V_IRQ_MASK = 1 << 8;
export const V_GIF_MASK = 1 << 9;
export const V_NMI_PENDING_MASK = 1 << 11;
export const V_NMI_BLOCKING_MASK = 1 << 12;
export const V_INTR_PRIO_SHIFT = 16;
export const V_INTR_PRIO_MASK = 0xf << 16;
export const V_IGN_TPR_MASK = 1 << 20;
export const V_INTR_MASKING_MASK = 1 << 24;
export const V_GIF_ENABLE_MASK = 1 << 25;
export const V_NMI_ENABLE_MASK = 1 << 26;
export const X2APIC_MODE_MASK = 1 << 30;
export const AVIC_ENABLE_MASK = 0x8000_0000;

// int_state (Table B-1 068h).
export const SVM_INTERRUPT_SHADOW_MASK = 1 << 0;
export const SVM_GUEST_INTERRUPT_MASK = 1 << 1; // SEV-ES: RFLAGS.IF, written back on #VMEXIT

// nested_ctl (Table B-1 090h).
export const SVM_NESTED_CTL_NP_ENABLE = 1 << 0;
export const SVM_NESTED_CTL_SEV_ENABLE = 1 << 1;
export const SVM_NESTED_CTL_SEV_ES_ENABLE = 1 << 2;

// virt_ext (Table B-1 0B8h).
export const LBR_CTL_ENABLE_MASK = 1 << 0;
export const VIRTUAL_VMLOAD_VMSAVE_ENABLE_MASK = 1 << 1;

// ---------------------------------------------------------------------------------------------
// Intercept bits, numbered as Linux's enum does: bit n lives in the 32-bit intercept vector at
// offset 4 * (n >> 5), bit n & 31 (Table B-1 vectors 0-5 at 000h-014h). Numbered this way, an
// intercept's bit is also its exit code (Table C-1: "Intercept exit codes are equal to the bit
// position of the corresponding flag"): INTERCEPT_CPUID = 114 = SVM_EXIT_CPUID.

export const INTERCEPT_CR0_READ = 0; // + n for CRn, n = 0..15
export const INTERCEPT_CR3_READ = 3;
export const INTERCEPT_CR4_READ = 4;
export const INTERCEPT_CR8_READ = 8;
export const INTERCEPT_CR0_WRITE = 16; // + n for CRn
export const INTERCEPT_CR3_WRITE = 16 + 3;
export const INTERCEPT_CR4_WRITE = 16 + 4;
export const INTERCEPT_CR8_WRITE = 16 + 8;
export const INTERCEPT_DR0_READ = 32; // + n for DRn
export const INTERCEPT_DR0_WRITE = 48; // + n for DRn
export const INTERCEPT_EXCEPTION_OFFSET = 64; // + vector
// Vector 3 (00Ch).
export const INTERCEPT_INTR = 96;
export const INTERCEPT_NMI = 97;
export const INTERCEPT_SMI = 98;
export const INTERCEPT_INIT = 99;
export const INTERCEPT_VINTR = 100;
export const INTERCEPT_SELECTIVE_CR0 = 101; // CR0 writes changing bits other than TS and MP
export const INTERCEPT_STORE_IDTR = 102; // reads of IDTR
export const INTERCEPT_STORE_GDTR = 103;
export const INTERCEPT_STORE_LDTR = 104;
export const INTERCEPT_STORE_TR = 105;
export const INTERCEPT_LOAD_IDTR = 106; // writes of IDTR
export const INTERCEPT_LOAD_GDTR = 107;
export const INTERCEPT_LOAD_LDTR = 108;
export const INTERCEPT_LOAD_TR = 109;
export const INTERCEPT_RDTSC = 110;
export const INTERCEPT_RDPMC = 111;
export const INTERCEPT_PUSHF = 112;
export const INTERCEPT_POPF = 113;
export const INTERCEPT_CPUID = 114;
export const INTERCEPT_RSM = 115;
export const INTERCEPT_IRET = 116;
export const INTERCEPT_INTn = 117;
export const INTERCEPT_INVD = 118;
export const INTERCEPT_PAUSE = 119;
export const INTERCEPT_HLT = 120;
export const INTERCEPT_INVLPG = 121;
export const INTERCEPT_INVLPGA = 122;
export const INTERCEPT_IOIO_PROT = 123;
export const INTERCEPT_MSR_PROT = 124;
export const INTERCEPT_TASK_SWITCH = 125;
export const INTERCEPT_FERR_FREEZE = 126;
export const INTERCEPT_SHUTDOWN = 127;
// Vector 4 (010h).
export const INTERCEPT_VMRUN = 128;
export const INTERCEPT_VMMCALL = 129;
export const INTERCEPT_VMLOAD = 130;
export const INTERCEPT_VMSAVE = 131;
export const INTERCEPT_STGI = 132;
export const INTERCEPT_CLGI = 133;
export const INTERCEPT_SKINIT = 134;
export const INTERCEPT_RDTSCP = 135;
export const INTERCEPT_ICEBP = 136;
export const INTERCEPT_WBINVD = 137; // and WBNOINVD
export const INTERCEPT_MONITOR = 138;
export const INTERCEPT_MWAIT = 139; // unconditional
export const INTERCEPT_MWAIT_COND = 140; // only if the monitor hardware is armed
export const INTERCEPT_XSETBV = 141;
export const INTERCEPT_RDPRU = 142;
export const TRAP_EFER_WRITE = 143; // after the guest instruction finishes
export const TRAP_CR0_WRITE = 144; // + n for CRn, n = 0..15 (after the instruction finishes)
// Vector 5 (014h).
export const INTERCEPT_INVLPGB = 160;
export const INTERCEPT_INVLPGB_ILLEGAL = 161;
export const INTERCEPT_INVPCID = 162;
export const INTERCEPT_MCOMMIT = 163;
export const INTERCEPT_TLBSYNC = 164;
export const INTERCEPT_BUSLOCK = 165;
export const INTERCEPT_IDLE_HLT = 166; // HLT when no virtual interrupt is pending
/** Six 32-bit intercept vectors (Linux MAX_INTERCEPT). */
export const INTERCEPT_VECTORS = 6;

/** Byte offset in the VMCB of the intercept vector holding `bit`. */
export function interceptVectorOffset(bit: number): number {
  return (bit >>> 5) * 4;
}

// ---------------------------------------------------------------------------------------------
// EVENTINJ and EXITINTINFO share one format (APM 15.20 and Figure 15-1; Table 15-1 for the types).

export const SVM_EVTINJ_VEC_MASK = 0xff;
export const SVM_EVTINJ_TYPE_SHIFT = 8;
export const SVM_EVTINJ_TYPE_MASK = 7 << 8;
export const SVM_EVTINJ_TYPE_INTR = 0 << 8; // external or virtual interrupt
export const SVM_EVTINJ_TYPE_NMI = 2 << 8; // vector ignored
export const SVM_EVTINJ_TYPE_EXEPT = 3 << 8; // exception (fault or trap), including INT1/INT3/INTO
export const SVM_EVTINJ_TYPE_SOFT = 4 << 8; // INTn
export const SVM_EVTINJ_VALID_ERR = 1 << 11; // EV: the error code (bits 63:32) is pushed
export const SVM_EVTINJ_VALID = 0x8000_0000; // V

export type SvmEventType = 0 | 2 | 3 | 4;
export interface SvmEvent {
  vector: number;
  type: SvmEventType;
  /** Present when EV is set. */
  errorCode?: number;
}

/** The low dword (vector, type, EV, V) of an EVENTINJ/EXITINTINFO; the error code goes in the high one. */
export function encodeEventInfo(ev: SvmEvent): number {
  const ev11 = ev.errorCode === undefined ? 0 : SVM_EVTINJ_VALID_ERR;
  return ((ev.vector & 0xff) | (ev.type << SVM_EVTINJ_TYPE_SHIFT) | ev11 | SVM_EVTINJ_VALID) >>> 0;
}

/** Undefined when V is clear (nothing to inject, or the exit did not interrupt an event delivery). */
export function decodeEventInfo(info: number, errorCode: number): SvmEvent | undefined {
  if ((info & SVM_EVTINJ_VALID) === 0) return undefined;
  const ev: SvmEvent = {
    vector: info & SVM_EVTINJ_VEC_MASK,
    type: ((info & SVM_EVTINJ_TYPE_MASK) >>> SVM_EVTINJ_TYPE_SHIFT) as SvmEventType,
  };
  if (info & SVM_EVTINJ_VALID_ERR) ev.errorCode = errorCode >>> 0;
  return ev;
}

// ---------------------------------------------------------------------------------------------
// Exit codes (APM Table C-1; Linux uapi names). EXITCODE is 64 bits; the negative codes are stored
// sign-extended, so VMEXIT_INVALID reads back as all ones.

export const SVM_EXIT_READ_CR0 = 0x000; // + n for CRn
export const SVM_EXIT_READ_CR3 = 0x003;
export const SVM_EXIT_READ_CR4 = 0x004;
export const SVM_EXIT_READ_CR8 = 0x008;
export const SVM_EXIT_WRITE_CR0 = 0x010; // + n
export const SVM_EXIT_WRITE_CR3 = 0x013;
export const SVM_EXIT_WRITE_CR4 = 0x014;
export const SVM_EXIT_WRITE_CR8 = 0x018;
export const SVM_EXIT_READ_DR0 = 0x020; // + n
export const SVM_EXIT_WRITE_DR0 = 0x030; // + n
export const SVM_EXIT_EXCP_BASE = 0x040; // + vector
export const SVM_EXIT_LAST_EXCP = 0x05f;
export const SVM_EXIT_INTR = 0x060;
export const SVM_EXIT_NMI = 0x061;
export const SVM_EXIT_SMI = 0x062;
export const SVM_EXIT_INIT = 0x063;
export const SVM_EXIT_VINTR = 0x064;
export const SVM_EXIT_CR0_SEL_WRITE = 0x065;
export const SVM_EXIT_IDTR_READ = 0x066;
export const SVM_EXIT_GDTR_READ = 0x067;
export const SVM_EXIT_LDTR_READ = 0x068;
export const SVM_EXIT_TR_READ = 0x069;
export const SVM_EXIT_IDTR_WRITE = 0x06a;
export const SVM_EXIT_GDTR_WRITE = 0x06b;
export const SVM_EXIT_LDTR_WRITE = 0x06c;
export const SVM_EXIT_TR_WRITE = 0x06d;
export const SVM_EXIT_RDTSC = 0x06e;
export const SVM_EXIT_RDPMC = 0x06f;
export const SVM_EXIT_PUSHF = 0x070;
export const SVM_EXIT_POPF = 0x071;
export const SVM_EXIT_CPUID = 0x072;
export const SVM_EXIT_RSM = 0x073;
export const SVM_EXIT_IRET = 0x074;
export const SVM_EXIT_SWINT = 0x075;
export const SVM_EXIT_INVD = 0x076;
export const SVM_EXIT_PAUSE = 0x077;
export const SVM_EXIT_HLT = 0x078;
export const SVM_EXIT_INVLPG = 0x079;
export const SVM_EXIT_INVLPGA = 0x07a;
export const SVM_EXIT_IOIO = 0x07b; // EXITINFO1 per APM Figure 15-2, EXITINFO2 = next RIP
export const SVM_EXIT_MSR = 0x07c; // EXITINFO1 0 = RDMSR, 1 = WRMSR
export const SVM_EXIT_TASK_SWITCH = 0x07d;
export const SVM_EXIT_FERR_FREEZE = 0x07e;
export const SVM_EXIT_SHUTDOWN = 0x07f;
export const SVM_EXIT_VMRUN = 0x080;
export const SVM_EXIT_VMMCALL = 0x081;
export const SVM_EXIT_VMLOAD = 0x082;
export const SVM_EXIT_VMSAVE = 0x083;
export const SVM_EXIT_STGI = 0x084;
export const SVM_EXIT_CLGI = 0x085;
export const SVM_EXIT_SKINIT = 0x086;
export const SVM_EXIT_RDTSCP = 0x087;
export const SVM_EXIT_ICEBP = 0x088;
export const SVM_EXIT_WBINVD = 0x089;
export const SVM_EXIT_MONITOR = 0x08a;
export const SVM_EXIT_MWAIT = 0x08b;
export const SVM_EXIT_MWAIT_COND = 0x08c;
export const SVM_EXIT_XSETBV = 0x08d;
export const SVM_EXIT_RDPRU = 0x08e;
export const SVM_EXIT_EFER_WRITE_TRAP = 0x08f; // EXITINFO1 = the new EFER
export const SVM_EXIT_CR0_WRITE_TRAP = 0x090; // + n, EXITINFO1 = the new value
export const SVM_EXIT_INVLPGB = 0x0a0;
export const SVM_EXIT_INVLPGB_ILLEGAL = 0x0a1;
export const SVM_EXIT_INVPCID = 0x0a2;
export const SVM_EXIT_MCOMMIT = 0x0a3;
export const SVM_EXIT_TLBSYNC = 0x0a4;
export const SVM_EXIT_BUS_LOCK = 0x0a5;
export const SVM_EXIT_IDLE_HLT = 0x0a6;
export const SVM_EXIT_NPF = 0x400; // EXITINFO1 = #PF-style error code, EXITINFO2 = guest-physical address
export const SVM_EXIT_AVIC_INCOMPLETE_IPI = 0x401;
export const SVM_EXIT_AVIC_UNACCELERATED_ACCESS = 0x402;
export const SVM_EXIT_VMGEXIT = 0x403;
/** Reserved for the host: hardware never writes it (Linux SVM_EXIT_SW). */
export const SVM_EXIT_SW = 0xf000_0000;
/** VMEXIT_INVALID: VMRUN found illegal guest state. */
export const SVM_EXIT_ERR = -1;
export const SVM_EXIT_BUSY = -2; // SEV-SNP: BUSY set in the VMSA
export const SVM_EXIT_IDLE_REQUIRED = -3; // SEV-SNP side-channel protection
export const SVM_EXIT_INVALID_PMC = -4;

// biome-ignore format: one row per 16 vectors
const EXCEPTION_MNEMONICS = [
  'DE', 'DB', 'NMI', 'BP', 'OF', 'BR', 'UD', 'NM', 'DF', '09', 'TS', 'NP', 'SS', 'GP', 'PF', '15',
  'MF', 'AC', 'MC', 'XM', 'VE', 'CP', '22', '23', '24', '25', '26', '27', 'HV', 'VC', 'SX', '31',
];

const SINGLE_EXIT_NAMES: ReadonlyMap<number, string> = new Map([
  [SVM_EXIT_INTR, 'INTR'],
  [SVM_EXIT_NMI, 'NMI'],
  [SVM_EXIT_SMI, 'SMI'],
  [SVM_EXIT_INIT, 'INIT'],
  [SVM_EXIT_VINTR, 'VINTR'],
  [SVM_EXIT_CR0_SEL_WRITE, 'CR0_SEL_WRITE'],
  [SVM_EXIT_IDTR_READ, 'IDTR_READ'],
  [SVM_EXIT_GDTR_READ, 'GDTR_READ'],
  [SVM_EXIT_LDTR_READ, 'LDTR_READ'],
  [SVM_EXIT_TR_READ, 'TR_READ'],
  [SVM_EXIT_IDTR_WRITE, 'IDTR_WRITE'],
  [SVM_EXIT_GDTR_WRITE, 'GDTR_WRITE'],
  [SVM_EXIT_LDTR_WRITE, 'LDTR_WRITE'],
  [SVM_EXIT_TR_WRITE, 'TR_WRITE'],
  [SVM_EXIT_RDTSC, 'RDTSC'],
  [SVM_EXIT_RDPMC, 'RDPMC'],
  [SVM_EXIT_PUSHF, 'PUSHF'],
  [SVM_EXIT_POPF, 'POPF'],
  [SVM_EXIT_CPUID, 'CPUID'],
  [SVM_EXIT_RSM, 'RSM'],
  [SVM_EXIT_IRET, 'IRET'],
  [SVM_EXIT_SWINT, 'SWINT'],
  [SVM_EXIT_INVD, 'INVD'],
  [SVM_EXIT_PAUSE, 'PAUSE'],
  [SVM_EXIT_HLT, 'HLT'],
  [SVM_EXIT_INVLPG, 'INVLPG'],
  [SVM_EXIT_INVLPGA, 'INVLPGA'],
  [SVM_EXIT_IOIO, 'IOIO'],
  [SVM_EXIT_MSR, 'MSR'],
  [SVM_EXIT_TASK_SWITCH, 'TASK_SWITCH'],
  [SVM_EXIT_FERR_FREEZE, 'FERR_FREEZE'],
  [SVM_EXIT_SHUTDOWN, 'SHUTDOWN'],
  [SVM_EXIT_VMRUN, 'VMRUN'],
  [SVM_EXIT_VMMCALL, 'VMMCALL'],
  [SVM_EXIT_VMLOAD, 'VMLOAD'],
  [SVM_EXIT_VMSAVE, 'VMSAVE'],
  [SVM_EXIT_STGI, 'STGI'],
  [SVM_EXIT_CLGI, 'CLGI'],
  [SVM_EXIT_SKINIT, 'SKINIT'],
  [SVM_EXIT_RDTSCP, 'RDTSCP'],
  [SVM_EXIT_ICEBP, 'ICEBP'],
  [SVM_EXIT_WBINVD, 'WBINVD'],
  [SVM_EXIT_MONITOR, 'MONITOR'],
  [SVM_EXIT_MWAIT, 'MWAIT'],
  [SVM_EXIT_MWAIT_COND, 'MWAIT_COND'],
  [SVM_EXIT_XSETBV, 'XSETBV'],
  [SVM_EXIT_RDPRU, 'RDPRU'],
  [SVM_EXIT_EFER_WRITE_TRAP, 'EFER_WRITE_TRAP'],
  [SVM_EXIT_INVLPGB, 'INVLPGB'],
  [SVM_EXIT_INVLPGB_ILLEGAL, 'INVLPGB_ILLEGAL'],
  [SVM_EXIT_INVPCID, 'INVPCID'],
  [SVM_EXIT_MCOMMIT, 'MCOMMIT'],
  [SVM_EXIT_TLBSYNC, 'TLBSYNC'],
  [SVM_EXIT_BUS_LOCK, 'BUS_LOCK'],
  [SVM_EXIT_IDLE_HLT, 'IDLE_HLT'],
  [SVM_EXIT_NPF, 'NPF'],
  [SVM_EXIT_AVIC_INCOMPLETE_IPI, 'AVIC_INCOMPLETE_IPI'],
  [SVM_EXIT_AVIC_UNACCELERATED_ACCESS, 'AVIC_UNACCELERATED_ACCESS'],
  [SVM_EXIT_VMGEXIT, 'VMGEXIT'],
  [SVM_EXIT_SW, 'SW'],
  [SVM_EXIT_ERR, 'ERR'],
  [SVM_EXIT_BUSY, 'BUSY'],
  [SVM_EXIT_IDLE_REQUIRED, 'IDLE_REQUIRED'],
  [SVM_EXIT_INVALID_PMC, 'INVALID_PMC'],
]);

/** The Linux name without SVM_EXIT_ (READ_CR3, EXCP_PF, IOIO, ERR, ...), for traces; hex if unknown. */
export function svmExitName(code: number): string {
  const single = SINGLE_EXIT_NAMES.get(code);
  if (single !== undefined) return single;
  if (code >= 0x000 && code <= 0x00f) return `READ_CR${code}`;
  if (code >= 0x010 && code <= 0x01f) return `WRITE_CR${code - 0x010}`;
  if (code >= 0x020 && code <= 0x02f) return `READ_DR${code - 0x020}`;
  if (code >= 0x030 && code <= 0x03f) return `WRITE_DR${code - 0x030}`;
  if (code >= 0x040 && code <= 0x05f) return `EXCP_${EXCEPTION_MNEMONICS[code - 0x040]}`;
  if (code >= 0x090 && code <= 0x09f) return `CR${code - 0x090}_WRITE_TRAP`;
  return `0x${(code >>> 0).toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// I/O permission map (APM 15.10.1): 12 KiB, a linear array of 64K+3 bits, bit n = port n. The three
// bits past port FFFFh exist so a 2- or 4-byte access at the top of the port space has bits to test.

export const IOPM_SIZE = 0x3000;
export const IOPM_BITS = 0x10000 + 3;

/** APM 15.10.2: an access of several bytes is intercepted if any of its ports' bits is set. */
export function ioIntercepted(iopm: Uint8Array, port: number, size: 1 | 2 | 4): boolean {
  if (iopm.length < IOPM_SIZE) throw new RangeError(`IOPM is ${iopm.length} bytes, needs ${IOPM_SIZE}`);
  const first = port & 0xffff;
  for (let p = first; p < first + size; p++) if ((iopm[p >>> 3] >>> (p & 7)) & 1) return true;
  return false;
}

export function setIoIntercept(iopm: Uint8Array, port: number, intercept: boolean): void {
  const p = port & 0xffff;
  if (intercept) iopm[p >>> 3] |= 1 << (p & 7);
  else iopm[p >>> 3] &= ~(1 << (p & 7));
}

// MSR permission map (APM 15.11, Table 15-8): 8 KiB, three 2 KiB vectors of 8K MSRs, two bits per MSR
// (lsb = read, msb = write); the fourth 2 KiB is reserved. Any other MSR is always intercepted.

export const MSRPM_SIZE = 0x2000;
/** First MSR of each vector; vector i starts at byte i * MSRPM_VECTOR_BYTES. */
export const MSRPM_RANGES: readonly number[] = Object.freeze([0x0000_0000, 0xc000_0000, 0xc001_0000]);
export const MSRPM_MSRS_PER_RANGE = 0x2000;
export const MSRPM_VECTOR_BYTES = 0x800;

/** Bit number in the map of the MSR's read bit (the write bit follows it), or -1 if not covered. */
export function msrpmBit(msr: number): number {
  const m = msr >>> 0;
  for (let i = 0; i < MSRPM_RANGES.length; i++) {
    const base = MSRPM_RANGES[i];
    if (m >= base && m < base + MSRPM_MSRS_PER_RANGE) return i * MSRPM_VECTOR_BYTES * 8 + (m - base) * 2;
  }
  return -1;
}

export function msrIntercepted(msrpm: Uint8Array, msr: number, write: boolean): boolean {
  if (msrpm.length < MSRPM_SIZE) throw new RangeError(`MSRPM is ${msrpm.length} bytes, needs ${MSRPM_SIZE}`);
  const read = msrpmBit(msr);
  if (read < 0) return true;
  const bit = write ? read + 1 : read;
  return ((msrpm[bit >>> 3] >>> (bit & 7)) & 1) === 1;
}

/** An MSR outside the three ranges cannot be passed through: asking to is a host bug. */
export function setMsrIntercept(msrpm: Uint8Array, msr: number, read: boolean, write: boolean): void {
  const bit = msrpmBit(msr);
  if (bit < 0) throw new RangeError(`MSR 0x${(msr >>> 0).toString(16)} is not covered by the MSRPM`);
  const byte = bit >>> 3;
  const shift = bit & 7; // even: both bits of one MSR share a byte
  msrpm[byte] = (msrpm[byte] & ~(3 << shift)) | ((read ? 1 : 0) << shift) | ((write ? 2 : 0) << shift);
}

// ---------------------------------------------------------------------------------------------

/** The clean bit of the group each 4-byte word of the page belongs to (0: none; always loaded). */
const CLEAN_GROUP_OF_WORD = (() => {
  const t = new Uint16Array(VMCB_SIZE / 4);
  const mark = (at: number, bytes: number, bit: number) => {
    for (let o = at; o < at + bytes; o += 4) t[o >>> 2] = bit;
  };
  const c = VMCB_CONTROL;
  mark(0, 0x18, VMCB_CLEAN_I); // intercept vectors 0-5
  mark(c.pause_filter_thresh.offset, 4, VMCB_CLEAN_I); // threshold and count share a word
  mark(c.tsc_offset.offset, 8, VMCB_CLEAN_I);
  mark(c.iopm_base_pa.offset, 16, VMCB_CLEAN_IOPM);
  mark(c.asid.offset, 4, VMCB_CLEAN_ASID);
  mark(c.int_ctl.offset, 8, VMCB_CLEAN_TPR);
  mark(c.nested_ctl.offset, 8, VMCB_CLEAN_NP);
  mark(c.nested_cr3.offset, 8, VMCB_CLEAN_NP);
  const v = VMCB_SAVE;
  mark(v.g_pat.offset, 8, VMCB_CLEAN_NP);
  for (const f of [v.cr0, v.cr3, v.cr4, v.efer]) mark(f.offset, 8, VMCB_CLEAN_CRX);
  for (const f of [v.dr6, v.dr7]) mark(f.offset, 8, VMCB_CLEAN_DRX);
  mark(VMCB_SEGMENTS.gdtr, 16, VMCB_CLEAN_DT);
  mark(VMCB_SEGMENTS.idtr, 16, VMCB_CLEAN_DT);
  for (const seg of ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const)
    mark(VMCB_SEGMENTS[seg], 16, VMCB_CLEAN_SEG);
  mark(v.cpl.offset & ~3, 4, VMCB_CLEAN_SEG);
  mark(v.star.offset, 0x40, VMCB_CLEAN_SEG); // STAR ... SYSENTER_EIP
  mark(v.cr2.offset, 8, VMCB_CLEAN_CR2);
  mark(v.dbgctl.offset, 0x28, VMCB_CLEAN_LBR);
  return t;
})();

/** The clean bits a write of `bytes` bytes at page offset `at` makes stale. */
export function vmcbCleanGroups(at: number, bytes: number): number {
  let m = 0;
  for (let o = at & ~3; o < at + bytes; o += 4) m |= CLEAN_GROUP_OF_WORD[(o >>> 2) & 0x3ff];
  return m;
}

/** Typed access to a VMCB that lives at `offset` in a view of host memory. Little-endian, as x86. */
export class Vmcb {
  /**
   * `saveAreaOnly`: an accessor for a bare save area (the SEV-ES VMSA, a page whose layout starts
   * like the VMCB's save area), placed so that save-area offsets land in it; control fields are off limits.
   */
  constructor(
    readonly view: ControlBlockMemory,
    readonly offset: number,
    private readonly saveAreaOnly = false,
  ) {
    const first = saveAreaOnly ? offset + VMCB_SAVE_AREA_OFFSET : offset;
    if (first < 0 || offset + VMCB_SIZE > view.byteLength) {
      throw new RangeError(`VMCB at 0x${offset.toString(16)} does not fit in ${view.byteLength} bytes`);
    }
  }

  /** A write at page offset `at`: its group is no longer clean (a VMSA accessor has no clean field). */
  private dirty(at: number, bytes: number): void {
    if (this.saveAreaOnly) return;
    const m = CLEAN_GROUP_OF_WORD[at >>> 2] | (bytes > 4 ? CLEAN_GROUP_OF_WORD[(at >>> 2) + 1] : 0);
    if (m === 0) return;
    const c = this.offset + VMCB_CONTROL.clean.offset;
    const bits = this.view.getUint32(c, true);
    if (bits & m) this.view.setUint32(c, (bits & ~m) >>> 0, true);
  }

  /** After a VMRUN: the processor holds every group as the VMCB has it (KVM's vmcb_mark_all_clean). */
  markAllClean(): void {
    const at = this.offset + VMCB_CONTROL.clean.offset;
    if (this.view.getUint32(at, true) !== VMCB_CLEAN_ALL) this.view.setUint32(at, VMCB_CLEAN_ALL, true);
  }

  // By page offset (VMCB_CONTROL.x.offset, VMCB_SAVE.x.offset: constants the caller hoists), for the
  // exit handlers' hot paths: no field look-up by name (issue 12). `at` is 4-byte aligned.

  /** The 32-bit word at page offset `at` (a 4-byte field, or half of an 8-byte one). */
  word(at: number): number {
    return this.view.getUint32(this.offset + at, true);
  }

  /** Store the 32-bit word at page offset `at`; its clean bit is cleared as by the named setters. */
  setWord(at: number, value: number): void {
    if (CLEAN_GROUP_OF_WORD[at >>> 2] !== 0) this.dirty(at, 4);
    this.view.setUint32(this.offset + at, value >>> 0, true);
  }

  get(name: VmcbSmallFieldName): number {
    const f: VmcbField = VMCB_FIELDS[name];
    const at = this.offset + f.offset;
    if (f.size === 1) return this.view.getUint8(at);
    if (f.size === 2) return this.view.getUint16(at, true);
    return this.view.getUint32(at, true);
  }

  /** Truncates to the field's width. */
  set(name: VmcbSmallFieldName, value: number): void {
    const f: VmcbField = VMCB_FIELDS[name];
    const at = this.offset + f.offset;
    this.dirty(f.offset, f.size);
    if (f.size === 1) this.view.setUint8(at, value & 0xff);
    else if (f.size === 2) this.view.setUint16(at, value & 0xffff, true);
    else this.view.setUint32(at, value >>> 0, true);
  }

  get64(name: Vmcb64FieldName): bigint {
    return this.view.getBigUint64(this.offset + VMCB_FIELDS[name].offset, true);
  }

  set64(name: Vmcb64FieldName, value: bigint): void {
    this.dirty(VMCB_FIELDS[name].offset, 8);
    this.view.setBigUint64(this.offset + VMCB_FIELDS[name].offset, BigInt.asUintN(64, value), true);
  }

  /** Bits 31:0 of an 8-byte field. The world switch and the exit handlers use halves: no BigInt. */
  lo(name: Vmcb64FieldName): number {
    return this.view.getUint32(this.offset + VMCB_FIELDS[name].offset, true);
  }

  /** Bits 63:32 of an 8-byte field. */
  hi(name: Vmcb64FieldName): number {
    return this.view.getUint32(this.offset + VMCB_FIELDS[name].offset + 4, true);
  }

  /** An 8-byte field as a signed number: exact for canonical addresses and for magnitudes below 2^53. */
  getNum(name: Vmcb64FieldName): number {
    const at = this.offset + VMCB_FIELDS[name].offset;
    return (this.view.getUint32(at + 4, true) | 0) * TWO32 + this.view.getUint32(at, true);
  }

  /** Stores the 64-bit two's complement of the integer `n` (a register value, a canonical address). */
  setNum(name: Vmcb64FieldName, n: number): void {
    this.dirty(VMCB_FIELDS[name].offset, 8);
    const at = this.offset + VMCB_FIELDS[name].offset;
    this.view.setUint32(at, n >>> 0, true);
    this.view.setUint32(at + 4, Math.floor(n / TWO32) >>> 0, true);
  }

  /** Stores an 8-byte field from its halves. */
  setHalves(name: Vmcb64FieldName, lo: number, hi: number): void {
    this.dirty(VMCB_FIELDS[name].offset, 8);
    const at = this.offset + VMCB_FIELDS[name].offset;
    this.view.setUint32(at, lo >>> 0, true);
    this.view.setUint32(at + 4, hi >>> 0, true);
  }

  getSegment(seg: VmcbSegmentName): VmcbSegment {
    const at = this.offset + VMCB_SEGMENTS[seg];
    return {
      selector: this.view.getUint16(at, true),
      attrib: this.view.getUint16(at + 2, true),
      limit: this.view.getUint32(at + 4, true),
      base: this.view.getBigUint64(at + 8, true),
    };
  }

  setSegment(seg: VmcbSegmentName, s: VmcbSegment): void {
    this.dirty(VMCB_SEGMENTS[seg], 16);
    const at = this.offset + VMCB_SEGMENTS[seg];
    this.view.setUint16(at, s.selector & 0xffff, true);
    this.view.setUint16(at + 2, s.attrib & 0xffff, true);
    this.view.setUint32(at + 4, s.limit >>> 0, true);
    this.view.setBigUint64(at + 8, BigInt.asUintN(64, s.base), true);
  }

  isIntercepted(bit: number): boolean {
    const word = this.view.getUint32(this.offset + interceptVectorOffset(bit), true);
    return ((word >>> (bit & 31)) & 1) === 1;
  }

  setIntercept(bit: number, on: boolean): void {
    this.dirty(interceptVectorOffset(bit), 4);
    const at = this.offset + interceptVectorOffset(bit);
    const mask = 1 << (bit & 31);
    const word = this.view.getUint32(at, true);
    this.view.setUint32(at, (on ? word | mask : word & ~mask) >>> 0, true);
  }

  /** EXITCODE as a signed number: -1 for VMEXIT_INVALID. */
  get exitCode(): number {
    return Number(BigInt.asIntN(64, this.get64('exit_code')));
  }

  set exitCode(code: number) {
    this.set64('exit_code', BigInt(code));
  }

  get eventInj(): SvmEvent | undefined {
    return decodeEventInfo(this.get('event_inj'), this.get('event_inj_err'));
  }

  set eventInj(ev: SvmEvent | undefined) {
    this.set('event_inj', ev === undefined ? 0 : encodeEventInfo(ev));
    this.set('event_inj_err', ev?.errorCode ?? 0);
  }

  get exitIntInfo(): SvmEvent | undefined {
    return decodeEventInfo(this.get('exit_int_info'), this.get('exit_int_info_err'));
  }

  set exitIntInfo(ev: SvmEvent | undefined) {
    this.set('exit_int_info', ev === undefined ? 0 : encodeEventInfo(ev));
    this.set('exit_int_info_err', ev?.errorCode ?? 0);
  }

  /** Guest instruction bytes fetched for decode assists (insn_len of them). */
  insnBytes(): Uint8Array {
    const n = Math.min(this.get('insn_len'), VMCB_INSN_BYTES_MAX);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.view.getUint8(this.offset + VMCB_INSN_BYTES_OFFSET + i);
    return out;
  }

  /** Zeroes the whole page (a fresh VMCB, as KVM allocates them). */
  clear(): void {
    fillControlBlock(this.view, this.offset, VMCB_SIZE);
  }
}
