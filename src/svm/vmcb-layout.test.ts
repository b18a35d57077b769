// The VMCB layout pinned against AMD APM vol 2 rev 3.44: appendix B Table B-1 "VMCB Layout, Control
// Area", Table B-2 "VMCB Layout, State Save Area" (relative to 400h), appendix C Table C-1 "SVM Intercept
// Codes", 15.20 / Figure 15-1 / Table 15-1 (EVENTINJ, EXITINTINFO), 15.10.1 (IOPM) and 15.11 Table 15-8
// (MSRPM). Field names and the split of 64-bit fields into halves follow Linux asm/svm.h.
import { describe, expect, it } from 'vitest';
import * as L from './vmcb-layout.js';
import {
  decodeEventInfo,
  encodeEventInfo,
  INTERCEPT_VECTORS,
  IOPM_BITS,
  IOPM_SIZE,
  interceptVectorOffset,
  ioIntercepted,
  MSRPM_SIZE,
  msrIntercepted,
  msrpmBit,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_TYPE_SOFT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EXIT_ERR,
  setIoIntercept,
  setMsrIntercept,
  svmExitName,
  VMCB_CONTROL,
  VMCB_CONTROL_AREA_SIZE,
  VMCB_FIELDS,
  VMCB_INSN_BYTES_OFFSET,
  VMCB_RESERVED_SW_OFFSET,
  VMCB_SAVE,
  VMCB_SAVE_AREA_OFFSET,
  VMCB_SAVE_AREA_SIZE,
  VMCB_SEGMENT_SIZE,
  VMCB_SEGMENTS,
  VMCB_SIZE,
  Vmcb,
} from './vmcb-layout.js';

/** The module's exports by name, for the tables keyed by constant name. */
const EXPORTS: Readonly<Record<string, unknown>> = { ...L };

describe('VMCB control area (APM Table B-1)', () => {
  // [field, byte offset, bytes] as Table B-1 lists them; halves of a 64-bit row are Linux's split.
  const TABLE_B1: [keyof typeof VMCB_CONTROL, number, number][] = [
    ['intercept_cr', 0x000, 4], // vector 0
    ['intercept_dr', 0x004, 4], // vector 1
    ['intercept_exceptions', 0x008, 4], // vector 2
    ['intercept_word3', 0x00c, 4], // vector 3
    ['intercept_word4', 0x010, 4], // vector 4
    ['intercept_word5', 0x014, 4], // vector 5
    ['pause_filter_thresh', 0x03c, 2],
    ['pause_filter_count', 0x03e, 2],
    ['iopm_base_pa', 0x040, 8],
    ['msrpm_base_pa', 0x048, 8],
    ['tsc_offset', 0x050, 8],
    ['asid', 0x058, 4], // 058h bits 31:0
    ['tlb_ctl', 0x05c, 1], // 058h bits 39:32
    ['int_ctl', 0x060, 4], // 060h bits 31:0
    ['int_vector', 0x064, 4], // 060h bits 39:32 V_INTR_VECTOR
    ['int_state', 0x068, 4],
    ['exit_code', 0x070, 8],
    ['exit_info_1', 0x078, 8],
    ['exit_info_2', 0x080, 8],
    ['exit_int_info', 0x088, 4],
    ['exit_int_info_err', 0x08c, 4],
    ['nested_ctl', 0x090, 8],
    ['avic_vapic_bar', 0x098, 8],
    ['ghcb_gpa', 0x0a0, 8],
    ['event_inj', 0x0a8, 4],
    ['event_inj_err', 0x0ac, 4],
    ['nested_cr3', 0x0b0, 8],
    ['virt_ext', 0x0b8, 8],
    ['clean', 0x0c0, 4],
    ['next_rip', 0x0c8, 8],
    ['insn_len', 0x0d0, 1],
    ['avic_backing_page', 0x0e0, 8],
    ['avic_logical_id', 0x0f0, 8],
    ['avic_physical_id', 0x0f8, 8],
    ['vmsa_pa', 0x108, 8],
    ['bus_lock_counter', 0x120, 2],
    ['allowed_sev_features', 0x138, 8],
    ['guest_sev_features', 0x140, 8],
  ];

  it('places every control field at its Table B-1 offset', () => {
    const actual = Object.entries(VMCB_CONTROL).map(([n, f]) => [n, f.offset, f.size]);
    expect(actual).toEqual(TABLE_B1);
  });

  it('keeps the control area inside its 1024 bytes', () => {
    expect(VMCB_CONTROL_AREA_SIZE).toBe(0x400);
    for (const f of Object.values(VMCB_CONTROL)) expect(f.offset + f.size).toBeLessThanOrEqual(0x400);
    expect(VMCB_INSN_BYTES_OFFSET).toBe(0x0d1); // 0D0h bits 127:8
    expect(VMCB_RESERVED_SW_OFFSET).toBe(0x3e0);
  });
});

describe('VMCB state save area (APM Table B-2, offsets + 400h)', () => {
  const TABLE_B2: [keyof typeof VMCB_SAVE, number][] = [
    ['cpl', 0x0cb],
    ['efer', 0x0d0],
    ['cr4', 0x148],
    ['cr3', 0x150],
    ['cr0', 0x158],
    ['dr7', 0x160],
    ['dr6', 0x168],
    ['rflags', 0x170],
    ['rip', 0x178],
    ['rsp', 0x1d8],
    ['s_cet', 0x1e0],
    ['ssp', 0x1e8],
    ['isst_addr', 0x1f0],
    ['rax', 0x1f8],
    ['star', 0x200],
    ['lstar', 0x208],
    ['cstar', 0x210],
    ['sfmask', 0x218],
    ['kernel_gs_base', 0x220],
    ['sysenter_cs', 0x228],
    ['sysenter_esp', 0x230],
    ['sysenter_eip', 0x238],
    ['cr2', 0x240],
    ['g_pat', 0x268],
    ['dbgctl', 0x270],
    ['br_from', 0x278],
    ['br_to', 0x280],
    ['last_excp_from', 0x288],
    ['last_excp_to', 0x290],
    ['spec_ctrl', 0x2e0],
  ];

  it('places every save-area scalar at 400h + its Table B-2 offset', () => {
    const actual = Object.entries(VMCB_SAVE).map(([n, f]) => [n, f.offset - VMCB_SAVE_AREA_OFFSET]);
    expect(actual).toEqual(TABLE_B2);
    expect(VMCB_SAVE.cpl.size).toBe(1); // byte
    for (const [n, f] of Object.entries(VMCB_SAVE)) if (n !== 'cpl') expect(f.size).toBe(8); // qwords
  });

  it('places the ten segment records every 16 bytes from 000h', () => {
    const rel = Object.entries(VMCB_SEGMENTS).map(([n, o]) => [n, o - VMCB_SAVE_AREA_OFFSET]);
    expect(rel).toEqual([
      ['es', 0x000],
      ['cs', 0x010],
      ['ss', 0x020],
      ['ds', 0x030],
      ['fs', 0x040],
      ['gs', 0x050],
      ['gdtr', 0x060],
      ['ldtr', 0x070],
      ['idtr', 0x080],
      ['tr', 0x090],
    ]);
    expect(VMCB_SEGMENT_SIZE).toBe(16);
  });

  it('sizes the save area as Linux does (744 bytes) and the page as 4 KiB', () => {
    expect(VMCB_SAVE_AREA_SIZE).toBe(744);
    expect(VMCB_SAVE_AREA_OFFSET + VMCB_SAVE_AREA_SIZE).toBeLessThanOrEqual(VMCB_SIZE);
    expect(VMCB_SIZE).toBe(0x1000);
    for (const f of Object.values(VMCB_SAVE)) {
      expect(f.offset + f.size).toBeLessThanOrEqual(VMCB_SAVE_AREA_OFFSET + VMCB_SAVE_AREA_SIZE);
    }
  });

  it('has no two fields overlapping', () => {
    const spans = [
      ...Object.values(VMCB_FIELDS).map((f) => [f.offset, f.offset + f.size]),
      ...Object.values(VMCB_SEGMENTS).map((o) => [o, o + VMCB_SEGMENT_SIZE]),
    ].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  });
});

describe('intercept bits (APM Table B-1 vectors 0-5; Linux enum numbering)', () => {
  // [constant, vector offset, bit within the vector] from Table B-1.
  const BITS: [keyof typeof L, number, number][] = [
    ['INTERCEPT_CR0_READ', 0x000, 0],
    ['INTERCEPT_CR3_READ', 0x000, 3],
    ['INTERCEPT_CR4_READ', 0x000, 4],
    ['INTERCEPT_CR8_READ', 0x000, 8],
    ['INTERCEPT_CR0_WRITE', 0x000, 16],
    ['INTERCEPT_CR3_WRITE', 0x000, 19],
    ['INTERCEPT_CR4_WRITE', 0x000, 20],
    ['INTERCEPT_CR8_WRITE', 0x000, 24],
    ['INTERCEPT_DR0_READ', 0x004, 0],
    ['INTERCEPT_DR0_WRITE', 0x004, 16],
    ['INTERCEPT_EXCEPTION_OFFSET', 0x008, 0],
    ['INTERCEPT_INTR', 0x00c, 0],
    ['INTERCEPT_NMI', 0x00c, 1],
    ['INTERCEPT_SMI', 0x00c, 2],
    ['INTERCEPT_INIT', 0x00c, 3],
    ['INTERCEPT_VINTR', 0x00c, 4],
    ['INTERCEPT_SELECTIVE_CR0', 0x00c, 5],
    ['INTERCEPT_STORE_IDTR', 0x00c, 6],
    ['INTERCEPT_STORE_GDTR', 0x00c, 7],
    ['INTERCEPT_STORE_LDTR', 0x00c, 8],
    ['INTERCEPT_STORE_TR', 0x00c, 9],
    ['INTERCEPT_LOAD_IDTR', 0x00c, 10],
    ['INTERCEPT_LOAD_GDTR', 0x00c, 11],
    ['INTERCEPT_LOAD_LDTR', 0x00c, 12],
    ['INTERCEPT_LOAD_TR', 0x00c, 13],
    ['INTERCEPT_RDTSC', 0x00c, 14],
    ['INTERCEPT_RDPMC', 0x00c, 15],
    ['INTERCEPT_PUSHF', 0x00c, 16],
    ['INTERCEPT_POPF', 0x00c, 17],
    ['INTERCEPT_CPUID', 0x00c, 18],
    ['INTERCEPT_RSM', 0x00c, 19],
    ['INTERCEPT_IRET', 0x00c, 20],
    ['INTERCEPT_INTn', 0x00c, 21],
    ['INTERCEPT_INVD', 0x00c, 22],
    ['INTERCEPT_PAUSE', 0x00c, 23],
    ['INTERCEPT_HLT', 0x00c, 24],
    ['INTERCEPT_INVLPG', 0x00c, 25],
    ['INTERCEPT_INVLPGA', 0x00c, 26],
    ['INTERCEPT_IOIO_PROT', 0x00c, 27],
    ['INTERCEPT_MSR_PROT', 0x00c, 28],
    ['INTERCEPT_TASK_SWITCH', 0x00c, 29],
    ['INTERCEPT_FERR_FREEZE', 0x00c, 30],
    ['INTERCEPT_SHUTDOWN', 0x00c, 31],
    ['INTERCEPT_VMRUN', 0x010, 0],
    ['INTERCEPT_VMMCALL', 0x010, 1],
    ['INTERCEPT_VMLOAD', 0x010, 2],
    ['INTERCEPT_VMSAVE', 0x010, 3],
    ['INTERCEPT_STGI', 0x010, 4],
    ['INTERCEPT_CLGI', 0x010, 5],
    ['INTERCEPT_SKINIT', 0x010, 6],
    ['INTERCEPT_RDTSCP', 0x010, 7],
    ['INTERCEPT_ICEBP', 0x010, 8],
    ['INTERCEPT_WBINVD', 0x010, 9],
    ['INTERCEPT_MONITOR', 0x010, 10],
    ['INTERCEPT_MWAIT', 0x010, 11],
    ['INTERCEPT_MWAIT_COND', 0x010, 12],
    ['INTERCEPT_XSETBV', 0x010, 13],
    ['INTERCEPT_RDPRU', 0x010, 14],
    ['TRAP_EFER_WRITE', 0x010, 15],
    ['TRAP_CR0_WRITE', 0x010, 16],
    ['INTERCEPT_INVLPGB', 0x014, 0],
    ['INTERCEPT_INVLPGB_ILLEGAL', 0x014, 1],
    ['INTERCEPT_INVPCID', 0x014, 2],
    ['INTERCEPT_MCOMMIT', 0x014, 3],
    ['INTERCEPT_TLBSYNC', 0x014, 4],
    ['INTERCEPT_BUSLOCK', 0x014, 5],
    ['INTERCEPT_IDLE_HLT', 0x014, 6],
  ];

  it.each(BITS)('%s is vector %i bit %i', (name, vector, bit) => {
    const n = EXPORTS[name] as number;
    expect(interceptVectorOffset(n)).toBe(vector);
    expect(n & 31).toBe(bit);
  });

  it('has six vectors', () => {
    expect(INTERCEPT_VECTORS).toBe(6);
    expect(interceptVectorOffset(L.INTERCEPT_IDLE_HLT)).toBeLessThan(INTERCEPT_VECTORS * 4);
  });

  it('sets and clears bits in the right vector of the page', () => {
    const mem = new DataView(new ArrayBuffer(0x3000));
    const vmcb = new Vmcb(mem, 0x1000);
    vmcb.setIntercept(L.INTERCEPT_CPUID, true);
    vmcb.setIntercept(L.INTERCEPT_SHUTDOWN, true);
    vmcb.setIntercept(L.INTERCEPT_VMRUN, true);
    expect(mem.getUint32(0x1000 + 0x00c, true)).toBe(((1 << 18) | 0x8000_0000) >>> 0);
    expect(vmcb.get('intercept_word4')).toBe(1);
    expect(vmcb.isIntercepted(L.INTERCEPT_CPUID)).toBe(true);
    expect(vmcb.isIntercepted(L.INTERCEPT_HLT)).toBe(false);
    vmcb.setIntercept(L.INTERCEPT_SHUTDOWN, false);
    expect(vmcb.get('intercept_word3')).toBe(1 << 18);
    vmcb.setIntercept(L.INTERCEPT_EXCEPTION_OFFSET + 14, true); // #PF
    expect(vmcb.get('intercept_exceptions')).toBe(1 << 14);
  });
});

describe('exit codes (APM Table C-1; Linux uapi asm/svm.h)', () => {
  const TABLE_C1: [keyof typeof L, number][] = [
    ['SVM_EXIT_READ_CR0', 0x000],
    ['SVM_EXIT_READ_CR3', 0x003],
    ['SVM_EXIT_READ_CR4', 0x004],
    ['SVM_EXIT_READ_CR8', 0x008],
    ['SVM_EXIT_WRITE_CR0', 0x010],
    ['SVM_EXIT_WRITE_CR3', 0x013],
    ['SVM_EXIT_WRITE_CR4', 0x014],
    ['SVM_EXIT_WRITE_CR8', 0x018],
    ['SVM_EXIT_READ_DR0', 0x020],
    ['SVM_EXIT_WRITE_DR0', 0x030],
    ['SVM_EXIT_EXCP_BASE', 0x040],
    ['SVM_EXIT_LAST_EXCP', 0x05f],
    ['SVM_EXIT_INTR', 0x060],
    ['SVM_EXIT_NMI', 0x061],
    ['SVM_EXIT_SMI', 0x062],
    ['SVM_EXIT_INIT', 0x063],
    ['SVM_EXIT_VINTR', 0x064],
    ['SVM_EXIT_CR0_SEL_WRITE', 0x065],
    ['SVM_EXIT_IDTR_READ', 0x066],
    ['SVM_EXIT_GDTR_READ', 0x067],
    ['SVM_EXIT_LDTR_READ', 0x068],
    ['SVM_EXIT_TR_READ', 0x069],
    ['SVM_EXIT_IDTR_WRITE', 0x06a],
    ['SVM_EXIT_GDTR_WRITE', 0x06b],
    ['SVM_EXIT_LDTR_WRITE', 0x06c],
    ['SVM_EXIT_TR_WRITE', 0x06d],
    ['SVM_EXIT_RDTSC', 0x06e],
    ['SVM_EXIT_RDPMC', 0x06f],
    ['SVM_EXIT_PUSHF', 0x070],
    ['SVM_EXIT_POPF', 0x071],
    ['SVM_EXIT_CPUID', 0x072],
    ['SVM_EXIT_RSM', 0x073],
    ['SVM_EXIT_IRET', 0x074],
    ['SVM_EXIT_SWINT', 0x075],
    ['SVM_EXIT_INVD', 0x076],
    ['SVM_EXIT_PAUSE', 0x077],
    ['SVM_EXIT_HLT', 0x078],
    ['SVM_EXIT_INVLPG', 0x079],
    ['SVM_EXIT_INVLPGA', 0x07a],
    ['SVM_EXIT_IOIO', 0x07b],
    ['SVM_EXIT_MSR', 0x07c],
    ['SVM_EXIT_TASK_SWITCH', 0x07d],
    ['SVM_EXIT_FERR_FREEZE', 0x07e],
    ['SVM_EXIT_SHUTDOWN', 0x07f],
    ['SVM_EXIT_VMRUN', 0x080],
    ['SVM_EXIT_VMMCALL', 0x081],
    ['SVM_EXIT_VMLOAD', 0x082],
    ['SVM_EXIT_VMSAVE', 0x083],
    ['SVM_EXIT_STGI', 0x084],
    ['SVM_EXIT_CLGI', 0x085],
    ['SVM_EXIT_SKINIT', 0x086],
    ['SVM_EXIT_RDTSCP', 0x087],
    ['SVM_EXIT_ICEBP', 0x088],
    ['SVM_EXIT_WBINVD', 0x089],
    ['SVM_EXIT_MONITOR', 0x08a],
    ['SVM_EXIT_MWAIT', 0x08b],
    ['SVM_EXIT_MWAIT_COND', 0x08c],
    ['SVM_EXIT_XSETBV', 0x08d],
    ['SVM_EXIT_RDPRU', 0x08e],
    ['SVM_EXIT_EFER_WRITE_TRAP', 0x08f],
    ['SVM_EXIT_CR0_WRITE_TRAP', 0x090],
    ['SVM_EXIT_INVLPGB', 0x0a0],
    ['SVM_EXIT_INVLPGB_ILLEGAL', 0x0a1],
    ['SVM_EXIT_INVPCID', 0x0a2],
    ['SVM_EXIT_MCOMMIT', 0x0a3],
    ['SVM_EXIT_TLBSYNC', 0x0a4],
    ['SVM_EXIT_BUS_LOCK', 0x0a5],
    ['SVM_EXIT_IDLE_HLT', 0x0a6],
    ['SVM_EXIT_NPF', 0x400],
    ['SVM_EXIT_AVIC_INCOMPLETE_IPI', 0x401],
    ['SVM_EXIT_AVIC_UNACCELERATED_ACCESS', 0x402],
    ['SVM_EXIT_VMGEXIT', 0x403],
    ['SVM_EXIT_SW', 0xf000_0000],
    ['SVM_EXIT_ERR', -1],
    ['SVM_EXIT_BUSY', -2],
    ['SVM_EXIT_IDLE_REQUIRED', -3],
    ['SVM_EXIT_INVALID_PMC', -4],
  ];

  it.each(TABLE_C1)('%s = %i', (name, code) => {
    expect(EXPORTS[name]).toBe(code);
  });

  it('equals the intercept bit position (Table C-1 preamble), counted from vector 0', () => {
    const pairs: [number, number][] = [
      [L.INTERCEPT_CR3_READ, L.SVM_EXIT_READ_CR3],
      [L.INTERCEPT_CR8_WRITE, L.SVM_EXIT_WRITE_CR8],
      [L.INTERCEPT_DR0_READ + 7, 0x027],
      [L.INTERCEPT_DR0_WRITE + 7, 0x037],
      [L.INTERCEPT_EXCEPTION_OFFSET + 14, L.SVM_EXIT_EXCP_BASE + 14],
      [L.INTERCEPT_INTR, L.SVM_EXIT_INTR],
      [L.INTERCEPT_SELECTIVE_CR0, L.SVM_EXIT_CR0_SEL_WRITE],
      [L.INTERCEPT_CPUID, L.SVM_EXIT_CPUID],
      [L.INTERCEPT_IOIO_PROT, L.SVM_EXIT_IOIO],
      [L.INTERCEPT_MSR_PROT, L.SVM_EXIT_MSR],
      [L.INTERCEPT_SHUTDOWN, L.SVM_EXIT_SHUTDOWN],
      [L.INTERCEPT_VMRUN, L.SVM_EXIT_VMRUN],
      [L.INTERCEPT_XSETBV, L.SVM_EXIT_XSETBV],
      [L.TRAP_EFER_WRITE, L.SVM_EXIT_EFER_WRITE_TRAP],
      [L.TRAP_CR0_WRITE + 4, 0x094],
      [L.INTERCEPT_INVLPGB, L.SVM_EXIT_INVLPGB],
      [L.INTERCEPT_IDLE_HLT, L.SVM_EXIT_IDLE_HLT],
    ];
    for (const [bit, code] of pairs) expect(bit).toBe(code);
  });

  it('names exits for traces', () => {
    expect(svmExitName(0x072)).toBe('CPUID');
    expect(svmExitName(0x003)).toBe('READ_CR3');
    expect(svmExitName(0x018)).toBe('WRITE_CR8');
    expect(svmExitName(0x027)).toBe('READ_DR7');
    expect(svmExitName(0x04e)).toBe('EXCP_PF');
    expect(svmExitName(0x04d)).toBe('EXCP_GP');
    expect(svmExitName(0x05d)).toBe('EXCP_VC');
    expect(svmExitName(0x094)).toBe('CR4_WRITE_TRAP');
    expect(svmExitName(0x07b)).toBe('IOIO');
    expect(svmExitName(0x400)).toBe('NPF');
    expect(svmExitName(0x403)).toBe('VMGEXIT');
    expect(svmExitName(SVM_EXIT_ERR)).toBe('ERR');
    expect(svmExitName(0x0a7)).toBe('0xa7');
  });

  it('stores EXITCODE sign-extended, so VMEXIT_INVALID is all ones in the page', () => {
    const mem = new DataView(new ArrayBuffer(VMCB_SIZE));
    const vmcb = new Vmcb(mem, 0);
    vmcb.exitCode = SVM_EXIT_ERR;
    expect(mem.getBigUint64(0x070, true)).toBe(0xffff_ffff_ffff_ffffn);
    expect(vmcb.exitCode).toBe(-1);
    vmcb.exitCode = L.SVM_EXIT_NPF;
    expect(vmcb.get64('exit_code')).toBe(0x400n);
    expect(vmcb.exitCode).toBe(0x400);
  });
});

describe('EVENTINJ / EXITINTINFO (APM 15.20, Figure 15-1, Table 15-1)', () => {
  it('uses the manual bit positions and type values', () => {
    expect([SVM_EVTINJ_TYPE_INTR, SVM_EVTINJ_TYPE_NMI, SVM_EVTINJ_TYPE_EXEPT, SVM_EVTINJ_TYPE_SOFT]).toEqual([
      0 << 8,
      2 << 8,
      3 << 8,
      4 << 8,
    ]);
    expect(SVM_EVTINJ_VALID_ERR).toBe(1 << 11);
    expect(SVM_EVTINJ_VALID).toBe(2 ** 31);
  });

  it('encodes #GP(0x18) with its error code in bits 63:32', () => {
    const mem = new DataView(new ArrayBuffer(VMCB_SIZE));
    const vmcb = new Vmcb(mem, 0);
    vmcb.eventInj = { vector: 13, type: 3, errorCode: 0x18 };
    expect(mem.getBigUint64(0x0a8, true)).toBe((0x18n << 32n) | 0x8000_0b0dn);
    expect(vmcb.eventInj).toEqual({ vector: 13, type: 3, errorCode: 0x18 });
    vmcb.eventInj = undefined;
    expect(mem.getBigUint64(0x0a8, true)).toBe(0n);
    expect(vmcb.eventInj).toBeUndefined();
  });

  it('round-trips an NMI and an external interrupt without error code', () => {
    expect(encodeEventInfo({ vector: 2, type: 2 })).toBe(0x8000_0202);
    expect(encodeEventInfo({ vector: 0x30, type: 0 })).toBe(0x8000_0030);
    expect(decodeEventInfo(0x8000_0030, 0xdead)).toEqual({ vector: 0x30, type: 0 });
    expect(decodeEventInfo(0x0000_0b0e, 4)).toBeUndefined(); // V clear
  });

  it('reads EXITINTINFO from 088h/08Ch', () => {
    const mem = new DataView(new ArrayBuffer(VMCB_SIZE));
    const vmcb = new Vmcb(mem, 0);
    mem.setUint32(0x088, 0x8000_0b0e, true);
    mem.setUint32(0x08c, 2, true);
    expect(vmcb.exitIntInfo).toEqual({ vector: 14, type: 3, errorCode: 2 });
  });
});

describe('Vmcb accessors', () => {
  it('reads and writes each width at the field offset, little-endian', () => {
    const mem = new DataView(new ArrayBuffer(0x2000));
    const vmcb = new Vmcb(mem, 0x1000);
    vmcb.set('tlb_ctl', 0x103);
    expect(mem.getUint8(0x1000 + 0x05c)).toBe(3);
    vmcb.set('pause_filter_count', 0x12345);
    expect(mem.getUint16(0x1000 + 0x03e, true)).toBe(0x2345);
    vmcb.set('asid', 7);
    expect(vmcb.get('asid')).toBe(7);
    vmcb.set('int_ctl', L.AVIC_ENABLE_MASK | L.V_INTR_MASKING_MASK);
    expect(vmcb.get('int_ctl')).toBe(0x8100_0000);
    vmcb.set64('rip', 0xffff_ffff_8000_1234n);
    expect(mem.getBigUint64(0x1000 + 0x578, true)).toBe(0xffff_ffff_8000_1234n);
    vmcb.set64('rax', -1n);
    expect(vmcb.get64('rax')).toBe(0xffff_ffff_ffff_ffffn);
    vmcb.set('cpl', 3);
    expect(mem.getUint8(0x1000 + 0x4cb)).toBe(3);
  });

  it('reads and writes segment records', () => {
    const mem = new DataView(new ArrayBuffer(VMCB_SIZE));
    const vmcb = new Vmcb(mem, 0);
    const cs = { selector: 0xf000, attrib: 0x9b, limit: 0xffff, base: 0xffff_0000n };
    vmcb.setSegment('cs', cs);
    expect(mem.getUint16(0x410, true)).toBe(0xf000);
    expect(mem.getUint16(0x412, true)).toBe(0x9b);
    expect(mem.getUint32(0x414, true)).toBe(0xffff);
    expect(mem.getBigUint64(0x418, true)).toBe(0xffff_0000n);
    expect(vmcb.getSegment('cs')).toEqual(cs);
    expect(vmcb.getSegment('tr')).toEqual({ selector: 0, attrib: 0, limit: 0, base: 0n });
  });

  it('returns the fetched instruction bytes', () => {
    const mem = new DataView(new ArrayBuffer(VMCB_SIZE));
    const vmcb = new Vmcb(mem, 0);
    vmcb.set('insn_len', 2);
    mem.setUint8(0x0d1, 0x0f);
    mem.setUint8(0x0d2, 0xa2);
    expect([...vmcb.insnBytes()]).toEqual([0x0f, 0xa2]);
  });

  it('refuses a VMCB that does not fit in the view, and clears the page', () => {
    const mem = new DataView(new ArrayBuffer(0x1800));
    expect(() => new Vmcb(mem, 0x1000)).toThrow(RangeError);
    const vmcb = new Vmcb(mem, 0x800);
    mem.setUint8(0x800 + 0xfff, 0xaa);
    mem.setUint8(0x7ff, 0x55);
    vmcb.clear();
    expect(mem.getUint8(0x800 + 0xfff)).toBe(0);
    expect(mem.getUint8(0x7ff)).toBe(0x55);
  });
});

describe('I/O permission map (APM 15.10.1-15.10.2)', () => {
  it('is 12 KiB holding 64K+3 bits', () => {
    expect(IOPM_SIZE).toBe(12 * 1024);
    expect(IOPM_BITS).toBe(65539);
    expect(Math.ceil(IOPM_BITS / 8)).toBeLessThanOrEqual(IOPM_SIZE);
  });

  it('maps port n to bit n: byte n/8, bit n%8', () => {
    const iopm = new Uint8Array(IOPM_SIZE);
    setIoIntercept(iopm, 0x3f8, true);
    expect(iopm[0x7f]).toBe(1 << 0); // 0x3F8 / 8 = 0x7F, 0x3F8 % 8 = 0
    setIoIntercept(iopm, 0x71, true);
    expect(iopm[0x0e]).toBe(1 << 1);
    expect(ioIntercepted(iopm, 0x3f8, 1)).toBe(true);
    expect(ioIntercepted(iopm, 0x3f9, 1)).toBe(false);
    setIoIntercept(iopm, 0x3f8, false);
    expect(iopm[0x7f]).toBe(0);
  });

  it('checks every byte of a wider access, across a byte of the map', () => {
    const iopm = new Uint8Array(IOPM_SIZE);
    setIoIntercept(iopm, 0xcfb, true); // last bit of byte 0x19F
    expect(ioIntercepted(iopm, 0xcf8, 4)).toBe(true);
    expect(ioIntercepted(iopm, 0xcf8, 2)).toBe(false);
    expect(ioIntercepted(iopm, 0xcfa, 2)).toBe(true);
    setIoIntercept(iopm, 0xcfb, false);
    setIoIntercept(iopm, 0xd00, true); // first bit of byte 0x1A0
    expect(ioIntercepted(iopm, 0xcfe, 4)).toBe(true); // ports CFE..D01 span two map bytes
    expect(ioIntercepted(iopm, 0xcfe, 2)).toBe(false);
  });

  it('uses the three extra bits for an access that runs past port FFFFh', () => {
    const iopm = new Uint8Array(IOPM_SIZE);
    iopm[0x2000] = 0b100; // bit 65538: "port" 0x10002
    expect(ioIntercepted(iopm, 0xffff, 4)).toBe(true); // FFFF, 10000, 10001, 10002
    expect(ioIntercepted(iopm, 0xffff, 2)).toBe(false);
    expect(ioIntercepted(iopm, 0xfffd, 4)).toBe(false); // stays below bit 65537
  });
});

describe('MSR permission map (APM 15.11, Table 15-8)', () => {
  it('is 8 KiB with vectors at 000h, 800h and 1000h', () => {
    expect(MSRPM_SIZE).toBe(0x2000);
    // Byte offset = vector base + (msr - range base) * 2 / 8; read bit = lsb, write bit = msb.
    expect(msrpmBit(0x0000_0000)).toBe(0);
    expect(msrpmBit(0x0000_1fff)).toBe(0x7ff * 8 + 6); // last MSR of the first vector: byte 7FFh
    expect(msrpmBit(0xc000_0000)).toBe(0x800 * 8);
    expect(msrpmBit(0xc000_0080)).toBe(0x820 * 8); // EFER: byte 820h, bits 0 (read) and 1 (write)
    expect(msrpmBit(0xc001_0000)).toBe(0x1000 * 8);
    expect(msrpmBit(0xc001_0117)).toBe((0x1000 + 0x45) * 8 + 6); // VM_HSAVE_PA: 0x117 * 2 = bit 0x22E
    expect(msrpmBit(0xc001_1fff)).toBe(0x17ff * 8 + 6);
  });

  it('leaves MSRs outside the three ranges uncovered', () => {
    for (const msr of [
      0x0000_2000, 0x4000_0000, 0xbfff_ffff, 0xc000_2000, 0xc000_ffff, 0xc001_2000, 0xffff_ffff,
    ]) {
      expect(msrpmBit(msr)).toBe(-1);
    }
  });

  it('intercepts reads and writes separately, and uncovered MSRs always', () => {
    const msrpm = new Uint8Array(MSRPM_SIZE);
    expect(msrIntercepted(msrpm, 0x1b, false)).toBe(false);
    setMsrIntercept(msrpm, 0xc000_0080, false, true); // EFER: writes only
    expect(msrpm[0x820]).toBe(0b10);
    expect(msrIntercepted(msrpm, 0xc000_0080, false)).toBe(false);
    expect(msrIntercepted(msrpm, 0xc000_0080, true)).toBe(true);
    setMsrIntercept(msrpm, 0xc000_0081, true, false); // STAR: bits 2 (read) and 3 (write)
    expect(msrpm[0x820]).toBe(0b0110);
    setMsrIntercept(msrpm, 0x0000_0010, true, true); // TSC: byte 4, bits 0-1
    expect(msrpm[4]).toBe(0b11);
    setMsrIntercept(msrpm, 0x0000_0010, false, false);
    expect(msrpm[4]).toBe(0);
    expect(msrIntercepted(msrpm, 0x4000_0000, false)).toBe(true);
    expect(msrIntercepted(msrpm, 0x4000_0000, true)).toBe(true);
    expect(() => setMsrIntercept(msrpm, 0x4000_0000, false, false)).toThrow(RangeError);
  });
});
