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
import { GUEST_SEGMENTS, type GuestSegmentFields } from './guest-segments.js';
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
const PHYS_LIMIT = 2n ** BigInt(VMX_MAXPHYADDR);

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

function canonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === 0x1ffffn;
}

function physOk(pa: bigint, ramBytes: number, bytes: number): boolean {
  return (pa & 0xfffn) === 0n && pa < PHYS_LIMIT && pa + BigInt(bytes) <= BigInt(ramBytes);
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
    if (
      !physOk(vmcs.read(F.IO_BITMAP_A), ramBytes, 4096) ||
      !physOk(vmcs.read(F.IO_BITMAP_B), ramBytes, 4096)
    )
      return 'I/O bitmap address not 4-KByte aligned or beyond the physical-address width';
  }
  if (proc & CPU_BASED_USE_MSR_BITMAPS && !physOk(vmcs.read(F.MSR_BITMAP), ramBytes, 4096))
    return 'MSR bitmap address not 4-KByte aligned or beyond the physical-address width';
  if (proc2 & SECONDARY_EXEC_ENABLE_VPID && vmcs.read32(F.VIRTUAL_PROCESSOR_ID) === 0)
    return '"enable VPID" with VPID 0000H';
  if (proc2 & SECONDARY_EXEC_ENABLE_EPT) {
    const eptp = vmcs.read(F.EPT_POINTER);
    const mt = Number(eptp & BigInt(VMX_EPTP_MT_MASK));
    if (mt !== VMX_EPTP_MT_UC && mt !== VMX_EPTP_MT_WB) return 'EPTP memory type not UC or WB';
    if (Number(eptp & BigInt(VMX_EPTP_PWL_MASK)) !== VMX_EPTP_PWL_4) return 'EPTP page-walk length not 4';
    if (eptp & BigInt(VMX_EPTP_AD_ENABLE_BIT))
      return 'EPTP enables accessed/dirty flags, which are not supported';
    if (eptp & 0xf80n || !physOk(eptp & ~0xfffn, ramBytes, 4096)) return 'EPTP reserved bits set';
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
  if (info & INTR_INFO_DELIVER_CODE_MASK) {
    const pe =
      (Number(vmcs.read(F.GUEST_CR0) & 1n) | (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST ? 0 : 1)) !== 0;
    if (!pe) return 'error code delivered into real mode';
    if (type !== 3 || !(vector === 8 || (vector >= 10 && vector <= 14) || vector === 17))
      return 'error code delivered with an event that has none';
    if (vmcs.read32(F.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff_8000) return 'error code bits 31:15 not 0';
  }
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

type SegName = GuestSegmentFields['name'];
interface SegState {
  sel: number;
  base: bigint;
  limit: number;
  ar: number;
}

/** The eight segment registers of the guest-state area, read once per check. */
function readSegments(vmcs: Vmcs): Record<SegName, SegState> {
  const out = {} as Record<SegName, SegState>;
  for (const f of GUEST_SEGMENTS)
    out[f.name] = {
      sel: vmcs.read32(f.selector),
      base: vmcs.read(f.base),
      limit: vmcs.read32(f.limit),
      ar: vmcs.read32(f.ar),
    };
  return out;
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
  const cr0 = vmcs.read(F.GUEST_CR0);
  const cr4 = vmcs.read(F.GUEST_CR4);
  const fixed0 = BigInt(unrestricted ? VMX_CR0_FIXED0 & ~0x8000_0001 : VMX_CR0_FIXED0);
  if ((cr0 & fixed0) !== fixed0)
    return fail('CR0 does not have the bits IA32_VMX_CR0_FIXED0 requires (PE, NE, PG)');
  if (cr0 >> 32n) return fail('CR0 bits 63:32 are not 0');
  const pg = (cr0 & 0x8000_0000n) !== 0n;
  const pe = (cr0 & 1n) !== 0n;
  if (pg && !pe) return fail('CR0.PG is set and CR0.PE is clear');
  if ((cr4 & BigInt(VMX_CR4_FIXED0)) !== BigInt(VMX_CR4_FIXED0)) return fail('CR4.VMXE is clear');
  if (cr4 & ~BigInt(VMX_CR4_FIXED1)) return fail('CR4 has bits set outside IA32_VMX_CR4_FIXED1');
  if (vmcs.read(F.GUEST_CR3) >= PHYS_LIMIT) return fail('CR3 has bits set beyond the physical-address width');
  if (vmcs.read(F.GUEST_DR7) >> 32n) return fail('DR7 bits 63:32 are not 0');
  if (!canonical(vmcs.read(F.GUEST_SYSENTER_ESP)) || !canonical(vmcs.read(F.GUEST_SYSENTER_EIP)))
    return fail('IA32_SYSENTER_ESP or IA32_SYSENTER_EIP is not canonical');
  if (ia32e && (!pg || !(cr4 & 0x20n))) return fail('IA-32e mode guest without CR0.PG and CR4.PAE');
  if (!ia32e && cr4 & 0x20000n) return fail('CR4.PCIDE set outside IA-32e mode');
  if (entry & VM_ENTRY_LOAD_IA32_EFER) {
    const efer = vmcs.read(F.GUEST_IA32_EFER);
    if (efer & ~0xd01n) return fail('IA32_EFER has reserved bits set');
    const lma = (efer & 0x400n) !== 0n;
    if (lma !== ia32e) return fail('IA32_EFER.LMA differs from the "IA-32e mode guest" control');
    if (pg && lma !== ((efer & 0x100n) !== 0n))
      return fail('CR0.PG is set and IA32_EFER.LME differs from LMA');
  }
  // 26.3.1.2: segment registers.
  const rflags = vmcs.read(F.GUEST_RFLAGS);
  const v86 = (rflags & 0x20000n) !== 0n;
  const s = readSegments(vmcs);
  if (s.TR.sel & 4) return fail('TR selector has TI set');
  if (!(s.LDTR.ar & VMX_AR_UNUSABLE) && s.LDTR.sel & 4) return fail('LDTR selector has TI set');
  if (!v86 && !unrestricted && (s.SS.sel & 3) !== (s.CS.sel & 3)) return fail('SS.RPL differs from CS.RPL');
  if (v86) {
    for (const n of ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'] as const) {
      const x = s[n];
      if (x.base !== BigInt(x.sel << 4) || x.limit !== 0xffff || x.ar !== 0xf3)
        return fail(`${n} does not hold a virtual-8086 segment`);
    }
  } else {
    const cs = s.CS;
    const csType = cs.ar & 0xf;
    const csDpl = (cs.ar >>> 5) & 3;
    const ssDpl = (s.SS.ar >>> 5) & 3;
    if (cs.ar & VMX_AR_UNUSABLE) return fail('CS is unusable');
    if (![9, 11, 13, 15].includes(csType) && !(unrestricted && csType === 3))
      return fail('CS type is not an accessed code segment');
    if (csType === 3 && csDpl !== 0) return fail('CS is a data segment with DPL not 0');
    if ((csType === 9 || csType === 11) && csDpl !== ssDpl)
      return fail('non-conforming CS.DPL differs from SS.DPL');
    if ((csType === 13 || csType === 15) && csDpl > ssDpl) return fail('conforming CS.DPL above SS.DPL');
    if (ia32e && cs.ar & VMX_AR_L && cs.ar & VMX_AR_DB)
      return fail('CS.L and CS.D are both set in IA-32e mode');
    if (!(s.SS.ar & VMX_AR_UNUSABLE)) {
      const t = s.SS.ar & 0xf;
      if (t !== 3 && t !== 7) return fail('SS type is not a read/write accessed data segment');
      if (!unrestricted && ssDpl !== (s.SS.sel & 3)) return fail('SS.DPL differs from SS.RPL');
    }
    if ((!pe || csType === 3) && ssDpl !== 0) return fail('SS.DPL is not 0 in real mode or with a data CS');
    for (const n of ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'] as const) {
      const x = s[n];
      if (x.ar & VMX_AR_UNUSABLE) continue;
      if (!(x.ar & 1)) return fail(`${n} type is not accessed`);
      if (x.ar & 8 && !(x.ar & 2) && n !== 'CS') return fail(`${n} is an execute-only code segment`);
      if (!(x.ar & VMX_AR_S)) return fail(`${n} is a system segment`);
      if (!(x.ar & VMX_AR_P)) return fail(`${n} is usable but not present`);
      if (x.ar & VMX_AR_RESERVED) return fail(`${n} access rights have reserved bits set`);
      if (!granularityOk(x.limit, x.ar)) return fail(`${n} limit and granularity disagree`);
    }
  }
  const tr = s.TR;
  const trType = tr.ar & 0xf;
  if (tr.ar & VMX_AR_UNUSABLE) return fail('TR is unusable');
  if (!(trType === 11 || (!ia32e && trType === 3))) return fail('TR type is not a busy TSS');
  if (tr.ar & VMX_AR_S || !(tr.ar & VMX_AR_P) || tr.ar & VMX_AR_RESERVED)
    return fail('TR access rights invalid');
  if (!granularityOk(tr.limit, tr.ar)) return fail('TR limit and granularity disagree');
  if (!(s.LDTR.ar & VMX_AR_UNUSABLE)) {
    const l = s.LDTR.ar;
    if ((l & 0xf) !== 2 || l & VMX_AR_S || !(l & VMX_AR_P) || l & VMX_AR_RESERVED)
      return fail('LDTR access rights invalid');
    if (!granularityOk(s.LDTR.limit, l)) return fail('LDTR limit and granularity disagree');
  }
  for (const n of ['FS', 'GS', 'LDTR', 'TR'] as const)
    if (!canonical(s[n].base)) return fail(`${n} base is not canonical`);
  if (!ia32e && s.CS.base >> 32n) return fail('CS base bits 63:32 are not 0');
  // 26.3.1.3: descriptor-table registers.
  if (!canonical(vmcs.read(F.GUEST_GDTR_BASE)) || !canonical(vmcs.read(F.GUEST_IDTR_BASE)))
    return fail('GDTR or IDTR base is not canonical');
  if (vmcs.read32(F.GUEST_GDTR_LIMIT) >>> 16 || vmcs.read32(F.GUEST_IDTR_LIMIT) >>> 16)
    return fail('GDTR or IDTR limit bits 31:16 are not 0');
  // 26.3.1.4: RIP and RFLAGS.
  const rip = vmcs.read(F.GUEST_RIP);
  const long = ia32e && (s.CS.ar & VMX_AR_L) !== 0;
  if (!long && rip >> 32n) return fail('RIP bits 63:32 are not 0 outside 64-bit mode');
  if (long && !canonical(rip)) return fail('RIP is not canonical');
  if (rflags & ~0x3f7fd7n || !(rflags & 2n)) return fail('RFLAGS reserved bits are not 0 or bit 1 is not 1');
  if (v86 && (ia32e || !pe)) return fail('RFLAGS.VM set in IA-32e mode or with CR0.PE clear');
  const intInfo = vmcs.read32(F.VM_ENTRY_INTR_INFO_FIELD);
  const injecting = (intInfo & INTR_INFO_VALID_MASK) !== 0;
  const injType = (intInfo >>> 8) & 7;
  if (injecting && injType === 0 && !(rflags & 0x200n))
    return fail('external interrupt injected with RFLAGS.IF clear');
  // 26.3.1.5: non-register state.
  const activity = vmcs.read32(F.GUEST_ACTIVITY_STATE);
  const intr = vmcs.read32(F.GUEST_INTERRUPTIBILITY_INFO);
  if (activity > GUEST_ACTIVITY_WAIT_SIPI) return fail('activity state is not 0-3');
  if (activity === GUEST_ACTIVITY_HLT && ssDplOf(s.SS.ar) !== 0)
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
  if (intr & GUEST_INTR_STATE_STI && !(rflags & 0x200n)) return fail('blocking by STI with RFLAGS.IF clear');
  if (injecting && injType === 0 && intr & 3)
    return fail('external interrupt injected with blocking by STI or MOV SS');
  if (injecting && injType === 2 && intr & GUEST_INTR_STATE_MOV_SS)
    return fail('NMI injected with blocking by MOV SS');
  // 26.3.1.5: the VMCS link pointer (no shadow VMCS here) must be all ones.
  if (vmcs.read(F.VMCS_LINK_POINTER) !== 0xffff_ffff_ffff_ffffn)
    return fail('VMCS link pointer is not FFFFFFFF_FFFFFFFFH', ENTRY_FAIL_VMCS_LINK_PTR);
  return null;
}

function ssDplOf(ar: number): number {
  return (ar >>> 5) & 3;
}
