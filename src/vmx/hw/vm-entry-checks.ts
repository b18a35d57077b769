// The checks of a VM entry (Intel SDM vol 3C 26.2 and 26.3; 27.2/27.3 in later editions). Control-field
// failures make VMLAUNCH/VMRESUME fail with VMfailValid(7) and leave the guest untouched; guest-state
// failures are a "VM-entry failure" VM exit (basic reason 33 with bit 31 set). Each check returns what is
// wrong in the SDM's words, for the trace, or null. This is a selection: the checks an emulated processor
// can get wrong in a way that matters (see docs/vmx.md for what is left out). Host-state checks (26.2.2,
// error 8) are not made: the host is the emulator itself, and VM exits do not load the host-state area.
import { SEG_UNUSABLE } from '../../cpu/cpu.js';
import type { Vmcs } from '../vmcs.js';
import {
  VMCS_FIELD as F,
  GUEST_ACTIVITY_HLT,
  GUEST_ACTIVITY_SHUTDOWN,
  GUEST_ACTIVITY_WAIT_SIPI,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_STI,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_VALID_MASK,
} from '../vmcs-fields.js';
import { GUEST_SEGMENTS } from './guest-segments.js';
import {
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  controlsAllowed,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_VIRTUAL_NMIS,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_LOAD_IA32_EFER,
  VMX_CAPS,
  VMX_CR0_FIXED0,
  VMX_CR4_FIXED0,
  VMX_CR4_FIXED1,
  VMX_EPTP_AD_ENABLE_BIT,
  VMX_EPTP_MT_MASK,
  VMX_EPTP_MT_UC,
  VMX_EPTP_MT_WB,
  VMX_EPTP_PWL_4,
  VMX_EPTP_PWL_MASK,
} from './vmx-controls.js';

/** MAXPHYADDR of this processor (CPUID 80000008h): physical addresses in the VMCS must fit. */
export const VMX_MAXPHYADDR = 48;
/** Bits 63:32 of a physical address must be below this (MAXPHYADDR - 32 bits). */
const PHYS_LIMIT_HI = 2 ** (VMX_MAXPHYADDR - 32);
const TWO32 = 2 ** 32;

/** Exit qualification of a VM-entry failure: 4 = the VMCS link pointer (SDM 26.8). */
export const ENTRY_FAIL_DEFAULT = 0;
export const ENTRY_FAIL_VMCS_LINK_PTR = 4;

// VMX access-rights layout (SDM 24.4.1, Table 24-2): type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13,
// D/B 14, G 15, unusable 16; 11:8 and 31:17 reserved.
export const VMX_AR_S = 1 << 4,
  VMX_AR_P = 1 << 7,
  VMX_AR_L = 1 << 13,
  VMX_AR_DB = 1 << 14,
  VMX_AR_G = 1 << 15,
  VMX_AR_UNUSABLE = 1 << 16;
const VMX_AR_RESERVED = 0xfffe_0f00 | 0;

/** VMX access rights to the Cpu's 12-bit VMCB-style packing (AVL/L/DB/G move from 15:12 to 11:8). */
export function arToAttr(ar: number): number {
  return (ar & 0xff) | ((ar >>> 4) & 0xf00) | (ar & VMX_AR_UNUSABLE ? SEG_UNUSABLE : 0);
}

/** The Cpu's packing back to VMX access rights. */
export function attrToAr(attr: number): number {
  return (attr & 0xff) | ((attr & 0xf00) << 4) | (attr & SEG_UNUSABLE ? VMX_AR_UNUSABLE : 0);
}

// 64-bit fields are checked through their halves: no BigInt on the entry path (issue 12).

/** Bits 63:47 all equal, from the upper half. */
function canonicalHi(hi: number): boolean {
  const top = hi >>> 15;
  return top === 0 || top === 0x1ffff;
}

function canonical(vmcs: Vmcs, encoding: number): boolean {
  return canonicalHi(vmcs.hi(encoding));
}

/** A 4-KByte aligned page below MAXPHYADDR and inside host memory (`lo` may carry low flag bits). */
function physOk(lo: number, hi: number, ramBytes: number, bytes: number): boolean {
  return (lo & 0xfff) === 0 && hi < PHYS_LIMIT_HI && hi * TWO32 + (lo >>> 0) + bytes <= ramBytes;
}

function physFieldOk(vmcs: Vmcs, encoding: number, ramBytes: number): boolean {
  return physOk(vmcs.lo(encoding), vmcs.hi(encoding), ramBytes, 4096);
}

/**
 * VM-execution, exit and entry control checks (SDM 26.2.1). `ramBytes` bounds the bitmap and EPT
 * addresses: a page outside host memory is as invalid as one beyond MAXPHYADDR.
 */
export function checkControls(vmcs: Vmcs, ramBytes: number): string | null {
  const pin = vmcs.read32(F.PIN_BASED_VM_EXEC_CONTROL);
  const proc = vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL);
  const proc2 = proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? vmcs.read32(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  if (!controlsAllowed(pin, VMX_CAPS.pin)) return 'pin-based controls outside IA32_VMX_PINBASED_CTLS';
  if (!controlsAllowed(proc, VMX_CAPS.proc))
    return 'processor-based controls outside IA32_VMX_PROCBASED_CTLS';
  if (!controlsAllowed(proc2, VMX_CAPS.proc2)) return 'secondary controls outside IA32_VMX_PROCBASED_CTLS2';
  if (!controlsAllowed(vmcs.read32(F.VM_EXIT_CONTROLS), VMX_CAPS.exit))
    return 'VM-exit controls outside IA32_VMX_EXIT_CTLS';
  const entry = vmcs.read32(F.VM_ENTRY_CONTROLS);
  if (!controlsAllowed(entry, VMX_CAPS.entry)) return 'VM-entry controls outside IA32_VMX_ENTRY_CTLS';
  if (vmcs.read32(F.CR3_TARGET_COUNT) > 4) return 'CR3-target count greater than 4';
  if (pin & PIN_BASED_VIRTUAL_NMIS && !(pin & PIN_BASED_NMI_EXITING))
    return 'virtual NMIs without NMI exiting';
  if (proc & CPU_BASED_NMI_WINDOW_EXITING && !(pin & PIN_BASED_VIRTUAL_NMIS))
    return 'NMI-window exiting without virtual NMIs';
  if (proc & CPU_BASED_USE_IO_BITMAPS) {
    if (!physFieldOk(vmcs, F.IO_BITMAP_A, ramBytes) || !physFieldOk(vmcs, F.IO_BITMAP_B, ramBytes))
      return 'I/O bitmap address not 4-KByte aligned or beyond the physical-address width';
  }
  if (proc & CPU_BASED_USE_MSR_BITMAPS && !physFieldOk(vmcs, F.MSR_BITMAP, ramBytes))
    return 'MSR bitmap address not 4-KByte aligned or beyond the physical-address width';
  if (proc2 & SECONDARY_EXEC_ENABLE_VPID && vmcs.read32(F.VIRTUAL_PROCESSOR_ID) === 0)
    return '"enable VPID" with VPID 0000H';
  if (proc2 & SECONDARY_EXEC_ENABLE_EPT) {
    const eptp = vmcs.lo(F.EPT_POINTER);
    const eptpHi = vmcs.hi(F.EPT_POINTER);
    const mt = eptp & VMX_EPTP_MT_MASK;
    if (mt !== VMX_EPTP_MT_UC && mt !== VMX_EPTP_MT_WB) return 'EPTP memory type not UC or WB';
    if ((eptp & VMX_EPTP_PWL_MASK) !== VMX_EPTP_PWL_4) return 'EPTP page-walk length not 4';
    if (eptp & VMX_EPTP_AD_ENABLE_BIT) return 'EPTP enables accessed/dirty flags, which are not supported';
    if (eptp & 0xf80 || !physOk(eptp & ~0xfff, eptpHi, ramBytes, 4096)) return 'EPTP reserved bits set';
  }
  if (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST && !(proc2 & SECONDARY_EXEC_ENABLE_EPT))
    return '"unrestricted guest" without "enable EPT"';
  // The MSR-load and MSR-store areas are not implemented: their counts must be zero.
  if (
    vmcs.read32(F.VM_EXIT_MSR_STORE_COUNT) !== 0 ||
    vmcs.read32(F.VM_EXIT_MSR_LOAD_COUNT) !== 0 ||
    vmcs.read32(F.VM_ENTRY_MSR_LOAD_COUNT) !== 0
  )
    return 'MSR-load/store areas are not supported (counts must be 0)';
  return checkEventInjection(vmcs, proc2, entry);
}

/** VM-entry event injection (SDM 26.2.1.3). */
function checkEventInjection(vmcs: Vmcs, proc2: number, entry: number): string | null {
  const info = vmcs.read32(F.VM_ENTRY_INTR_INFO_FIELD);
  if (!(info & INTR_INFO_VALID_MASK)) return null;
  const type = (info >>> 8) & 7;
  const vector = info & 0xff;
  if (info & 0x7fff_f000) return 'VM-entry interruption information has reserved bits set';
  if (type === 1) return 'VM-entry interruption type 1 is reserved';
  if (type === 2 && vector !== 2) return 'NMI injection with a vector other than 2';
  if (type === 3 && vector > 31) return 'hardware exception with a vector above 31';
  if (type === 7 && vector !== 0) return 'other event (MTF) with a vector other than 0';
  if (type === 7) return 'other-event injection needs the monitor trap flag, which is not supported';
  // Deliver-error-code is 1 if and only if: protected mode (or no unrestricted guest), a hardware
  // exception, and a vector that pushes an error code (KVM's nested check compares the two the same way).
  const pe = ((vmcs.lo(F.GUEST_CR0) & 1) | (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST ? 0 : 1)) !== 0;
  const pushesCode = type === 3 && (vector === 8 || (vector >= 10 && vector <= 14) || vector === 17);
  if (info & INTR_INFO_DELIVER_CODE_MASK) {
    if (!pe) return 'error code delivered into real mode';
    if (!pushesCode) return 'error code delivered with an event that has none';
    if (vmcs.read32(F.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff_8000) return 'error code bits 31:15 not 0';
  } else if (pe && pushesCode)
    return `exception ${vector} injected without its error code (deliver-error-code clear)`;
  if (type === 4 || type === 5 || type === 6) {
    const len = vmcs.read32(F.VM_ENTRY_INSTRUCTION_LEN);
    if (len < 1 || len > 15) return 'software event with an instruction length outside 1-15';
  }
  void entry;
  return null;
}

export interface GuestStateFailure {
  readonly why: string;
  readonly qualification: number;
}

function fail(why: string, qualification = ENTRY_FAIL_DEFAULT): GuestStateFailure {
  return { why, qualification };
}

// The eight segment registers of the guest-state area, read once per check into reused arrays
// (index as GUEST_SEGMENTS: ES CS SS DS FS GS LDTR TR).
const SEG_ES = 0,
  SEG_CS = 1,
  SEG_SS = 2,
  SEG_LDTR = 6,
  SEG_TR = 7;
const segSel = new Int32Array(8);
const segLimit = new Uint32Array(8);
const segAr = new Int32Array(8);
const segBaseLo = new Uint32Array(8);
const segBaseHi = new Uint32Array(8);

/**
 * The segment registers the last checkGuestState read (GUEST_SEGMENTS order): a VM entry that passed
 * the checks loads these instead of reading the 32 fields again.
 */
export const CHECKED_SEGMENTS = Object.freeze({
  sel: segSel as Readonly<Int32Array>,
  limit: segLimit as Readonly<Uint32Array>,
  ar: segAr as Readonly<Int32Array>,
  baseLo: segBaseLo as Readonly<Uint32Array>,
  baseHi: segBaseHi as Readonly<Uint32Array>,
});
const SEG_NAMES = GUEST_SEGMENTS.map((f) => f.name);

function readSegments(vmcs: Vmcs): void {
  for (let i = 0; i < 8; i++) {
    const f = GUEST_SEGMENTS[i];
    segSel[i] = vmcs.read32(f.selector);
    segLimit[i] = vmcs.read32(f.limit);
    segAr[i] = vmcs.read32(f.ar);
    segBaseLo[i] = vmcs.lo(f.base);
    segBaseHi[i] = vmcs.hi(f.base);
  }
}

/** G must agree with the limit (SDM 26.3.1.2): 11:0 not all ones -> G = 0; 31:20 not 0 -> G = 1. */
function granularityOk(limit: number, ar: number): boolean {
  if ((limit & 0xfff) !== 0xfff && ar & VMX_AR_G) return false;
  if (limit >>> 20 !== 0 && !(ar & VMX_AR_G)) return false;
  return true;
}

/** Checks on the guest-state area (SDM 26.3.1). */
export function checkGuestState(vmcs: Vmcs): GuestStateFailure | null {
  const proc = vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL);
  const proc2 = proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? vmcs.read32(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  const unrestricted = (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST) !== 0;
  const entry = vmcs.read32(F.VM_ENTRY_CONTROLS);
  const ia32e = (entry & VM_ENTRY_IA32E_MODE) !== 0;
  // 26.3.1.1: control registers, debug registers and MSRs.
  const cr0 = vmcs.lo(F.GUEST_CR0);
  const cr4 = vmcs.lo(F.GUEST_CR4);
  const fixed0 = (unrestricted ? VMX_CR0_FIXED0 & ~0x8000_0001 : VMX_CR0_FIXED0) >>> 0;
  if ((cr0 & fixed0) >>> 0 !== fixed0)
    return fail('CR0 does not have the bits IA32_VMX_CR0_FIXED0 requires (PE, NE, PG)');
  if (vmcs.hi(F.GUEST_CR0) !== 0) return fail('CR0 bits 63:32 are not 0');
  const pg = (cr0 & 0x8000_0000) !== 0;
  const pe = (cr0 & 1) !== 0;
  if (pg && !pe) return fail('CR0.PG is set and CR0.PE is clear');
  if ((cr4 & VMX_CR4_FIXED0) >>> 0 !== VMX_CR4_FIXED0 >>> 0) return fail('CR4.VMXE is clear');
  if (vmcs.hi(F.GUEST_CR4) !== 0 || cr4 & ~VMX_CR4_FIXED1)
    return fail('CR4 has bits set outside IA32_VMX_CR4_FIXED1');
  if (vmcs.hi(F.GUEST_CR3) >= PHYS_LIMIT_HI)
    return fail('CR3 has bits set beyond the physical-address width');
  if (vmcs.hi(F.GUEST_DR7) !== 0) return fail('DR7 bits 63:32 are not 0');
  if (!canonical(vmcs, F.GUEST_SYSENTER_ESP) || !canonical(vmcs, F.GUEST_SYSENTER_EIP))
    return fail('IA32_SYSENTER_ESP or IA32_SYSENTER_EIP is not canonical');
  if (ia32e && (!pg || !(cr4 & 0x20))) return fail('IA-32e mode guest without CR0.PG and CR4.PAE');
  if (!ia32e && cr4 & 0x20000) return fail('CR4.PCIDE set outside IA-32e mode');
  if (entry & VM_ENTRY_LOAD_IA32_EFER) {
    const efer = vmcs.lo(F.GUEST_IA32_EFER);
    if (vmcs.hi(F.GUEST_IA32_EFER) !== 0 || efer & ~0xd01) return fail('IA32_EFER has reserved bits set');
    const lma = (efer & 0x400) !== 0;
    if (lma !== ia32e) return fail('IA32_EFER.LMA differs from the "IA-32e mode guest" control');
    if (pg && lma !== ((efer & 0x100) !== 0)) return fail('CR0.PG is set and IA32_EFER.LME differs from LMA');
  }
  // 26.3.1.2: segment registers.
  const rflags = vmcs.lo(F.GUEST_RFLAGS);
  const rflagsHi = vmcs.hi(F.GUEST_RFLAGS);
  const v86 = (rflags & 0x20000) !== 0;
  readSegments(vmcs);
  if (segSel[SEG_TR] & 4) return fail('TR selector has TI set');
  if (!(segAr[SEG_LDTR] & VMX_AR_UNUSABLE) && segSel[SEG_LDTR] & 4) return fail('LDTR selector has TI set');
  if (!v86 && !unrestricted && (segSel[SEG_SS] & 3) !== (segSel[SEG_CS] & 3))
    return fail('SS.RPL differs from CS.RPL');
  const csAr = segAr[SEG_CS];
  const ssAr = segAr[SEG_SS];
  if (v86) {
    for (let i = SEG_ES; i < SEG_LDTR; i++) {
      if (
        segBaseHi[i] !== 0 ||
        segBaseLo[i] !== segSel[i] << 4 ||
        segLimit[i] !== 0xffff ||
        segAr[i] !== 0xf3
      )
        return fail(`${SEG_NAMES[i]} does not hold a virtual-8086 segment`);
    }
  } else {
    const csType = csAr & 0xf;
    const csDpl = (csAr >>> 5) & 3;
    const ssDpl = (ssAr >>> 5) & 3;
    if (csAr & VMX_AR_UNUSABLE) return fail('CS is unusable');
    if (!(csType === 9 || csType === 11 || csType === 13 || csType === 15) && !(unrestricted && csType === 3))
      return fail('CS type is not an accessed code segment');
    if (csType === 3 && csDpl !== 0) return fail('CS is a data segment with DPL not 0');
    if ((csType === 9 || csType === 11) && csDpl !== ssDpl)
      return fail('non-conforming CS.DPL differs from SS.DPL');
    if ((csType === 13 || csType === 15) && csDpl > ssDpl) return fail('conforming CS.DPL above SS.DPL');
    if (ia32e && csAr & VMX_AR_L && csAr & VMX_AR_DB)
      return fail('CS.L and CS.D are both set in IA-32e mode');
    if (!(ssAr & VMX_AR_UNUSABLE)) {
      const t = ssAr & 0xf;
      if (t !== 3 && t !== 7) return fail('SS type is not a read/write accessed data segment');
      if (!unrestricted && ssDpl !== (segSel[SEG_SS] & 3)) return fail('SS.DPL differs from SS.RPL');
    }
    if ((!pe || csType === 3) && ssDpl !== 0) return fail('SS.DPL is not 0 in real mode or with a data CS');
    for (let i = SEG_ES; i < SEG_LDTR; i++) {
      const ar = segAr[i];
      const n = SEG_NAMES[i];
      if (ar & VMX_AR_UNUSABLE) continue;
      if (!(ar & 1)) return fail(`${n} type is not accessed`);
      if (ar & 8 && !(ar & 2) && i !== SEG_CS) return fail(`${n} is an execute-only code segment`);
      if (!(ar & VMX_AR_S)) return fail(`${n} is a system segment`);
      if (!(ar & VMX_AR_P)) return fail(`${n} is usable but not present`);
      if (ar & VMX_AR_RESERVED) return fail(`${n} access rights have reserved bits set`);
      if (!granularityOk(segLimit[i], ar)) return fail(`${n} limit and granularity disagree`);
    }
  }
  const trAr = segAr[SEG_TR];
  const trType = trAr & 0xf;
  if (trAr & VMX_AR_UNUSABLE) return fail('TR is unusable');
  if (!(trType === 11 || (!ia32e && trType === 3))) return fail('TR type is not a busy TSS');
  if (trAr & VMX_AR_S || !(trAr & VMX_AR_P) || trAr & VMX_AR_RESERVED)
    return fail('TR access rights invalid');
  if (!granularityOk(segLimit[SEG_TR], trAr)) return fail('TR limit and granularity disagree');
  if (!(segAr[SEG_LDTR] & VMX_AR_UNUSABLE)) {
    const l = segAr[SEG_LDTR];
    if ((l & 0xf) !== 2 || l & VMX_AR_S || !(l & VMX_AR_P) || l & VMX_AR_RESERVED)
      return fail('LDTR access rights invalid');
    if (!granularityOk(segLimit[SEG_LDTR], l)) return fail('LDTR limit and granularity disagree');
  }
  for (const i of CANONICAL_BASES)
    if (!canonicalHi(segBaseHi[i])) return fail(`${SEG_NAMES[i]} base is not canonical`);
  if (!ia32e && segBaseHi[SEG_CS] !== 0) return fail('CS base bits 63:32 are not 0');
  // 26.3.1.3: descriptor-table registers.
  if (!canonical(vmcs, F.GUEST_GDTR_BASE) || !canonical(vmcs, F.GUEST_IDTR_BASE))
    return fail('GDTR or IDTR base is not canonical');
  if (vmcs.read32(F.GUEST_GDTR_LIMIT) >>> 16 || vmcs.read32(F.GUEST_IDTR_LIMIT) >>> 16)
    return fail('GDTR or IDTR limit bits 31:16 are not 0');
  return checkEveryEntry(vmcs, ia32e, pe, v86, csAr, ssAr, rflags, rflagsHi);
}

/**
 * The checks of a VM entry with a VMCS whose controls, segment and control registers the processor
 * holds unchanged since its last exit (vm-entry.ts): they passed when loaded and the processor kept
 * them legal, so only the fields loaded at every entry are checked, as checkGuestState checks them.
 * Virtual-8086 mode (RFLAGS.VM) is not for this path: its segments are checked whole.
 */
export function checkVolatileGuestState(vmcs: Vmcs): GuestStateFailure | null {
  const ia32e = (vmcs.read32(F.VM_ENTRY_CONTROLS) & VM_ENTRY_IA32E_MODE) !== 0;
  const pe = (vmcs.lo(F.GUEST_CR0) & 1) !== 0;
  const csAr = vmcs.read32(F.GUEST_CS_AR_BYTES);
  const ssAr = vmcs.read32(F.GUEST_SS_AR_BYTES);
  const rflags = vmcs.lo(F.GUEST_RFLAGS);
  return checkEveryEntry(vmcs, ia32e, pe, false, csAr, ssAr, rflags, vmcs.hi(F.GUEST_RFLAGS));
}

/** The event-injection checks alone (SDM 26.2.1.3), for an entry whose other controls are held. */
export function checkEntryEvent(vmcs: Vmcs): string | null {
  const proc = vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL);
  const proc2 = proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? vmcs.read32(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  return checkEventInjection(vmcs, proc2, vmcs.read32(F.VM_ENTRY_CONTROLS));
}

/** 26.3.1.4 and 26.3.1.5: RIP, RFLAGS, the non-register state and the link pointer. */
function checkEveryEntry(
  vmcs: Vmcs,
  ia32e: boolean,
  pe: boolean,
  v86: boolean,
  csAr: number,
  ssAr: number,
  rflags: number,
  rflagsHi: number,
): GuestStateFailure | null {
  // 26.3.1.4: RIP and RFLAGS.
  const ripHi = vmcs.hi(F.GUEST_RIP);
  const long = ia32e && (csAr & VMX_AR_L) !== 0;
  if (!long && ripHi !== 0) return fail('RIP bits 63:32 are not 0 outside 64-bit mode');
  if (long && !canonicalHi(ripHi)) return fail('RIP is not canonical');
  if (rflagsHi !== 0 || rflags & ~0x3f7fd7 || !(rflags & 2))
    return fail('RFLAGS reserved bits are not 0 or bit 1 is not 1');
  if (v86 && (ia32e || !pe)) return fail('RFLAGS.VM set in IA-32e mode or with CR0.PE clear');
  const intInfo = vmcs.read32(F.VM_ENTRY_INTR_INFO_FIELD);
  const injecting = (intInfo & INTR_INFO_VALID_MASK) !== 0;
  const injType = (intInfo >>> 8) & 7;
  if (injecting && injType === 0 && !(rflags & 0x200))
    return fail('external interrupt injected with RFLAGS.IF clear');
  // 26.3.1.5: non-register state.
  const activity = vmcs.read32(F.GUEST_ACTIVITY_STATE);
  const intr = vmcs.read32(F.GUEST_INTERRUPTIBILITY_INFO);
  if (activity > GUEST_ACTIVITY_WAIT_SIPI) return fail('activity state is not 0-3');
  if (activity === GUEST_ACTIVITY_HLT && ssDplOf(ssAr) !== 0)
    return fail('HLT activity state with SS.DPL not 0');
  if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS) && activity !== 0)
    return fail('activity state not active with blocking by STI or MOV SS');
  if (injecting) {
    const v = intInfo & 0xff;
    const ok =
      activity === 0 ||
      (activity === GUEST_ACTIVITY_HLT &&
        (injType === 0 || injType === 2 || (injType === 3 && (v === 1 || v === 18)))) ||
      (activity === GUEST_ACTIVITY_SHUTDOWN && (injType === 2 || (injType === 3 && v === 18)));
    if (!ok) return fail('event injected into an activity state that cannot take it');
  }
  if (intr & 0xffff_ffe0) return fail('interruptibility state reserved bits set');
  if ((intr & 3) === 3) return fail('blocking by STI and by MOV SS both set');
  if (intr & GUEST_INTR_STATE_STI && !(rflags & 0x200)) return fail('blocking by STI with RFLAGS.IF clear');
  if (injecting && injType === 0 && intr & 3)
    return fail('external interrupt injected with blocking by STI or MOV SS');
  if (injecting && injType === 2 && intr & GUEST_INTR_STATE_MOV_SS)
    return fail('NMI injected with blocking by MOV SS');
  // 26.3.1.5: the VMCS link pointer (no shadow VMCS here) must be all ones.
  if (vmcs.lo(F.VMCS_LINK_POINTER) !== 0xffff_ffff || vmcs.hi(F.VMCS_LINK_POINTER) !== 0xffff_ffff)
    return fail('VMCS link pointer is not FFFFFFFF_FFFFFFFFH', ENTRY_FAIL_VMCS_LINK_PTR);
  return null;
}

/** FS, GS, LDTR and TR: the bases that must be canonical in any mode. */
const CANONICAL_BASES = [4, 5, SEG_LDTR, SEG_TR];

function ssDplOf(ar: number): number {
  return (ar >>> 5) & 3;
}
