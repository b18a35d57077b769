// VMRUN and #VMEXIT (AMD APM vol 2 15.5-15.7): the hardware world switch between the hypervisor
// and a guest. VMRUN checks the guest state in the VMCB, loads it into the processor, applies the
// intercepts and nested paging, injects EVENTINJ and runs the guest; #VMEXIT stores the guest
// state back and writes EXITCODE, EXITINFO1/2, EXITINTINFO and nRIP. The hypervisor here is host
// code, so VMRUN also does what VMLOAD would (FS, GS, TR, LDTR, KernelGSBase, STAR/LSTAR/...).

import { type Cpu, FAULT, SEG_UNUSABLE, VMEXIT } from '../../cpu/cpu.js';
import { debugRegsChanged } from '../../cpu/debug.js';
import { ATT_EVENT } from '../../cpu/events.js';
import { cr4Offered } from '../../cpu/exec/system.js';
import { getFlags } from '../../cpu/flags.js';
import {
  deliver,
  deliverException,
  EV_EXCEPTION,
  EV_EXTERNAL,
  EV_NMI,
  EV_SOFTWARE,
} from '../../cpu/interrupts.js';
import type { InterruptController } from '../../cpu/ports.js';
import { CS, DS, ES, FS, GS, LDTR, SS, TR } from '../../cpu/regs.js';
import { run, Stop } from '../../cpu/run.js';
import { updateSegCheck } from '../../cpu/segment-check.js';
import { tlbFlushAll } from '../../cpu/tlb.js';
import { coreOf, type MachineHardware, machineOf } from '../../host/core-access.js';
import { HOST_KEY } from '../../host/memory-controller.js';
import type { PhysicalCpu } from '../../host/physical-cpu.js';
import {
  INTERCEPT_VMRUN,
  IOPM_SIZE,
  MSRPM_SIZE,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_MASK,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_TYPE_SOFT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EXIT_ERR,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_PAUSE,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VMGEXIT,
  SVM_GUEST_INTERRUPT_MASK,
  SVM_NESTED_CTL_NP_ENABLE,
  SVM_NESTED_CTL_SEV_ENABLE,
  SVM_NESTED_CTL_SEV_ES_ENABLE,
  TLB_CONTROL_DO_NOTHING,
  V_IRQ_MASK,
  VMCB_CLEAN_ASID,
  VMCB_CLEAN_CR2,
  VMCB_CLEAN_CRX,
  VMCB_CLEAN_DRX,
  VMCB_CLEAN_DT,
  VMCB_CLEAN_I,
  VMCB_CLEAN_IOPM,
  VMCB_CLEAN_NP,
  VMCB_CLEAN_SEG,
  VMCB_CONTROL,
  VMCB_SAVE,
  VMCB_SAVE_AREA_OFFSET,
  VMCB_SEGMENTS,
  Vmcb,
  type VmcbSegmentName,
} from '../vmcb-layout.js';
import { SevEsMsrs } from './sev-es-msrs.js';
import { SvmInterceptPort } from './svm-intercepts.js';
import { fpuWords, loadVmsaExtras, saveVmsaExtrasAndScrub, vmsaSaveArea } from './vmsa-layout.js';

/** The segment registers the world switch moves: VMCB record offset and the core's index. */
const SEG_NAMES: VmcbSegmentName[] = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'];
const SEG_INDEX = [ES, CS, SS, DS, FS, GS, LDTR, TR];

// The world switch reads and writes the VMCB and VMSA as 32-bit words of memory (the host is
// little-endian, as x86): a 64-bit field is two words, no BigInt and no DataView call per field
// (issue 12). Word indices below are from the start of the page (VMCB_SAVE offsets are absolute).
const C = VMCB_CONTROL;
const V = VMCB_SAVE;
const SEG_W = SEG_NAMES.map((n) => VMCB_SEGMENTS[n] / 4);
const W_GDTR = VMCB_SEGMENTS.gdtr / 4;
const W_IDTR = VMCB_SEGMENTS.idtr / 4;
const V_CR0 = V.cr0.offset / 4;
const V_CR2 = V.cr2.offset / 4;
const V_CR3 = V.cr3.offset / 4;
const V_CR4 = V.cr4.offset / 4;
const V_EFER = V.efer.offset / 4;
const V_DR6 = V.dr6.offset / 4;
const V_DR7 = V.dr7.offset / 4;
const V_RFLAGS = V.rflags.offset / 4;
const V_RIP = V.rip.offset / 4;
const V_RSP = V.rsp.offset / 4;
const V_RAX = V.rax.offset / 4;
const V_STAR = V.star.offset / 4;
const V_LSTAR = V.lstar.offset / 4;
const V_CSTAR = V.cstar.offset / 4;
const V_SFMASK = V.sfmask.offset / 4;
const V_KGSBASE = V.kernel_gs_base.offset / 4;
const V_SYSENTER_CS = V.sysenter_cs.offset / 4;
const V_SYSENTER_ESP = V.sysenter_esp.offset / 4;
const V_SYSENTER_EIP = V.sysenter_eip.offset / 4;
/** CPL is byte 3 of its word. */
const V_CPL_WORD = V.cpl.offset >>> 2;
const V_CPL_SHIFT = (V.cpl.offset & 3) * 8;
const W_INT_STATE = C.int_state.offset / 4;
const W_INT_CTL = C.int_ctl.offset / 4;
const W_INT_VECTOR = C.int_vector.offset / 4;
const W_NESTED_CTL = C.nested_ctl.offset / 4;
const W_NESTED_CR3 = C.nested_cr3.offset / 4;
const W_ASID = C.asid.offset / 4;
/** TLB_CONTROL is the low byte of its word. */
const W_TLB_CTL = C.tlb_ctl.offset / 4;
/** PAUSE_FILTER_THRESHOLD is bits 15:0 of this word, PAUSE_FILTER_COUNT bits 31:16. */
const W_PAUSE_FILTER = C.pause_filter_thresh.offset / 4;
const W_GHCB_GPA = C.ghcb_gpa.offset / 4;
const W_EXIT_CODE = C.exit_code.offset / 4;
const W_EXIT_INFO_1 = C.exit_info_1.offset / 4;
const W_EXIT_INFO_2 = C.exit_info_2.offset / 4;
const W_EXIT_INT_INFO = C.exit_int_info.offset / 4;
const W_NEXT_RIP = C.next_rip.offset / 4;
const W_CLEAN = C.clean.offset / 4;
const W_EVENT_INJ = C.event_inj.offset / 4;
/**
 * The save-area words of the state #VMEXIT leaves in the processor for an SEV-ES guest (the scrub
 * takes the GPRs, x87/SSE, CR2, DR0-3, RIP, RFLAGS): word ranges [from, to) of the page: the
 * segment and descriptor-table registers, CPL, EFER, CR4 CR3 CR0 DR7 DR6, STAR ... SYSENTER_EIP.
 */
const HELD_RANGES = [
  VMCB_SEGMENTS.es / 4,
  (VMCB_SEGMENTS.tr + 16) / 4,
  V_CPL_WORD,
  V_CPL_WORD + 1,
  V_EFER,
  V_EFER + 2,
  V_CR4,
  V_DR6 + 2,
  V_STAR,
  V_SYSENTER_EIP + 2,
];
let HELD_WORDS = 0;
for (let r = 0; r < HELD_RANGES.length; r += 2) HELD_WORDS += HELD_RANGES[r + 1] - HELD_RANGES[r];
/** What those words are, as clean bits. */
const VMSA_HELD_GROUPS = VMCB_CLEAN_SEG | VMCB_CLEAN_DT | VMCB_CLEAN_CRX | VMCB_CLEAN_DRX;

/** The groups of what saveRegisters stores. */
const SAVED_GROUPS = VMCB_CLEAN_SEG | VMCB_CLEAN_DT | VMCB_CLEAN_CRX | VMCB_CLEAN_DRX | VMCB_CLEAN_CR2;

/** The groups the VMRUN checks read besides EVENTINJ. */
const CHECKED_GROUPS =
  VMCB_CLEAN_I | VMCB_CLEAN_IOPM | VMCB_CLEAN_ASID | VMCB_CLEAN_CRX | VMCB_CLEAN_DRX | VMCB_CLEAN_SEG;
const TWO32 = 2 ** 32;
const EFER_SVME = 1 << 12;

/** An 8-byte field at word `at` as a signed number: exact for canonical addresses and magnitudes below 2^53. */
function num(w: Int32Array, at: number): number {
  return w[at + 1] * TWO32 + (w[at] >>> 0);
}
/** Store the 64-bit two's complement of the integer `n` at word `at`. */
function put(w: Int32Array, at: number, n: number): void {
  w[at] = n;
  w[at + 1] = n >= 0 && n < TWO32 ? 0 : Math.floor(n / TWO32);
}

/** A page address field with bits 11:0 ignored, unsigned (above 2^53 it rounds, still past memory). */
function pageBase(vmcb: Vmcb, field: number): number {
  const at = vmcb.offset + field;
  return vmcb.view.getUint32(at + 4, true) * TWO32 + ((vmcb.view.getUint32(at, true) & ~0xfff) >>> 0);
}

/**
 * The consistency checks of VMRUN (APM vol 2 15.5.1 "Canonicalization and Consistency Checks").
 * Returns what is wrong, or null when the state is legal.
 */
export function checkGuestState(vmcb: Vmcb, save: Vmcb = vmcb): string | null {
  // Field offsets straight from the layout: this runs at every VMRUN.
  const sv = save.view;
  const sa = save.offset;
  const efer = sv.getUint32(sa + V.efer.offset, true);
  const eferHi = sv.getUint32(sa + V.efer.offset + 4, true);
  const cr0 = sv.getUint32(sa + V.cr0.offset, true);
  const cr4 = sv.getUint32(sa + V.cr4.offset, true);
  if (!(efer & EFER_SVME)) return 'EFER.SVME is zero';
  if (!(cr0 & (1 << 30)) && cr0 & (1 << 29)) return 'CR0.CD is zero and CR0.NW is set';
  if (sv.getUint32(sa + V.cr0.offset + 4, true) !== 0) return 'CR0[63:32] are not zero';
  if (sv.getUint32(sa + V.cr3.offset + 4, true) >>> 20 !== 0) return 'CR3 has MBZ bits set (63:52)';
  if (sv.getUint32(sa + V.cr4.offset + 4, true) !== 0 || cr4 & ~0x7ffff) return 'CR4 has reserved bits set';
  if (sv.getUint32(sa + V.dr6.offset + 4, true) !== 0) return 'DR6[63:32] are not zero';
  if (sv.getUint32(sa + V.dr7.offset + 4, true) !== 0) return 'DR7[63:32] are not zero';
  if (eferHi !== 0 || efer & ~0x5d01) return 'EFER has reserved bits set';
  const lme = (efer & (1 << 8)) !== 0;
  const pg = (cr0 & (1 << 31)) !== 0;
  if (lme && pg && !(cr4 & (1 << 5))) return 'EFER.LME and CR0.PG are set but CR4.PAE is zero';
  if (lme && pg && !(cr0 & 1)) return 'EFER.LME and CR0.PG are set but CR0.PE is zero';
  const csAttrib = sv.getUint16(sa + VMCB_SEGMENTS.cs + 2, true);
  if (lme && pg && cr4 & (1 << 5) && csAttrib & (1 << 9) && csAttrib & (1 << 10)) {
    return 'EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all set';
  }
  if (!vmcb.isIntercepted(INTERCEPT_VMRUN)) return 'the VMRUN intercept bit is clear';
  if (vmcb.view.getUint32(vmcb.offset + C.asid.offset, true) === 0) return 'ASID is zero';
  return checkEventInj(vmcb.view.getUint32(vmcb.offset + C.event_inj.offset, true));
}

/** The checks of EVENTINJ, a field no clean bit covers: made at every VMRUN. */
function checkEventInj(inj: number): string | null {
  if (inj & SVM_EVTINJ_VALID) {
    const type = inj & SVM_EVTINJ_TYPE_MASK;
    if (
      type !== 0 &&
      type !== SVM_EVTINJ_TYPE_NMI &&
      type !== SVM_EVTINJ_TYPE_EXEPT &&
      type !== SVM_EVTINJ_TYPE_SOFT
    ) {
      return 'EVENTINJ has a reserved event type';
    }
    if (type === SVM_EVTINJ_TYPE_EXEPT && ((inj & 0xff) === 2 || (inj & 0xff) > 31)) {
      return 'EVENTINJ injects an exception with vector 2 or above 31';
    }
  }
  return null;
}

/**
 * Virtual interrupts (APM vol 2 15.21.4): while V_IRQ is set the guest takes V_INTR_VECTOR like an
 * external interrupt as soon as RFLAGS.IF allows; taking it clears V_IRQ.
 */
class VirtualInterrupt implements InterruptController {
  pending = false;
  vector = 0;
  pendingVector(): number {
    return this.pending ? this.vector : -1;
  }
  acknowledge(): void {
    this.pending = false;
  }
}

/** The hardware SVM unit of one processor: VMRUN runs a guest until its next #VMEXIT. */
export class SvmHardware {
  private readonly vintr = new VirtualInterrupt();
  readonly port: SvmInterceptPort;
  private readonly cpu: Cpu;
  private readonly view: DataView;
  private lastAsid = -1;
  private vmcb: Vmcb | null = null;
  private vmcbPa = -1;
  /** The save-area accessor of the last SEV-ES guest's VMSA (made again when the VMSA moves). */
  private vmsa: Vmcb | null = null;
  /** STAR as last loaded, in halves and as the core holds it (a bigint made only when it changes). */
  private starLo = 0;
  private starHi = 0;
  private star = 0n;
  private readonly scratch64 = new BigUint64Array(1);
  private readonly scratch32 = new Uint32Array(this.scratch64.buffer);
  private lastNcr3 = -1;
  /** Guest memory as 32-bit words: the VMCB and VMSA fields the world switch moves. */
  private readonly words: Int32Array;
  /** The core's x87 and SSE registers as words (the VMSA keeps them in the same order). */
  private readonly fpu: Int32Array;
  /** The VMCB whose guest state this processor holds since its last #VMEXIT (-1: none). */
  private heldVmcb = -1;
  /** The VMSA of the SEV-ES guest whose unscrubbed state this processor holds (-1: none). */
  private heldVmsa = -1;
  /**
   * The segment registers (selector, attributes, limit, base each) and the other registers
   * saveRegisters stores, as the last #VMEXIT stored them into the VMCB, and whether the VMCB still
   * holds them (no VMRUN has loaded their groups since, so the hypervisor has not written them).
   */
  private readonly segShadow = new Float64Array(32);
  private readonly regShadow = new Float64Array(19);
  private segsKnown = false;
  private regsKnown = false;
  /** The words of HELD_RANGES as the last #VMEXIT stored them in that VMSA. */
  private readonly vmsaShadow = new Int32Array(HELD_WORDS);
  /** What the groups the clean bits cover gave at the last full load of them. */
  private ncr3 = -1;
  private iopmPa = 0;
  private msrpmPa = 0;
  private mask = 0;
  private maskNcr3 = -2;
  private pauseFilterCount = 0;
  /** Why the last VMRUN failed its checks (VMEXIT_INVALID), for the trace. */
  invalidReason = '';
  /** The memory controller (every access goes through it) and the secure processor of this machine. */
  private readonly machine: MachineHardware;
  private readonly sevMsrs: SevEsMsrs;
  private vmsaPa = -1;
  /** The key the guest's private accesses carry: its ASID under SEV, HOST_KEY otherwise. */
  private guestKey = HOST_KEY;

  constructor(processor: PhysicalCpu) {
    const cpu = coreOf(processor);
    this.cpu = cpu;
    this.machine = machineOf(cpu);
    this.port = new SvmInterceptPort(cpu);
    this.view = cpu.ram;
    this.words = cpu.ram32;
    this.fpu = fpuWords(cpu);
    this.sevMsrs = new SevEsMsrs(cpu);
    cpu.msrHandlers.push(this.sevMsrs);
  }

  /**
   * SEV and SEV-ES VMRUN checks (APM vol 2 15.34.4, 15.35.4): null when the guest may be entered
   * with ASID's key. The VMSA is whatever DRAM holds there, decrypted with that key: a VMSA the
   * secure processor did not encrypt decrypts to garbage, as on hardware.
   */
  private checkSev(vmcb: Vmcb, sevEs: boolean): string | null {
    const sev = this.machine;
    const ctl = vmcb.lo('nested_ctl');
    if (!(ctl & SVM_NESTED_CTL_NP_ENABLE)) return 'SEV needs nested paging';
    if (sevEs && !(ctl & SVM_NESTED_CTL_SEV_ENABLE)) return 'SEV-ES is enabled without SEV';
    const asid = vmcb.get('asid');
    if (!sev.memory.hasKey(asid)) return `ASID ${asid} has no SEV key (no ACTIVATE)`;
    if (!sev.psp.runnable(asid)) return `the launch of ASID ${asid} is not finished (LAUNCH_FINISH)`;
    if (!sevEs) return null;
    const pa = vmcb.getNum('vmsa_pa');
    if (pa % 4096 !== 0 || pa + 4096 > this.view.byteLength)
      return `VMSA_PA 0x${pa.toString(16)} is not a page of memory`;
    return null;
  }

  /**
   * The checks of APM 15.5.1 that depend on this processor: CR4 bits it does not implement are MBZ,
   * and the permission maps must lie in physical memory (the APM's bound is MAXPHYADDR; here it is
   * the machine's memory, since nothing past it can be read).
   */
  private checkMachineLimits(vmcb: Vmcb, save: Vmcb): string | null {
    const cr4 = this.view.getUint32(save.offset + V.cr4.offset, true);
    const mbz = cr4 & ~cr4Offered(this.cpu);
    if (mbz)
      return `CR4 has MBZ bits set: 0x${(mbz >>> 0).toString(16)} (features this processor does not implement)`;
    const mem = this.view.byteLength;
    const iopm = pageBase(vmcb, C.iopm_base_pa.offset);
    if (iopm + IOPM_SIZE > mem)
      return `IOPM_BASE_PA 0x${iopm.toString(16)}: the 12 KiB I/O permission map extends past physical memory (0x${mem.toString(16)} bytes)`;
    const msrpm = pageBase(vmcb, C.msrpm_base_pa.offset);
    if (msrpm + MSRPM_SIZE > mem)
      return `MSRPM_BASE_PA 0x${msrpm.toString(16)}: the 8 KiB MSR permission map extends past physical memory (0x${mem.toString(16)} bytes)`;
    return null;
  }

  /**
   * VMRUN with the VMCB at host-physical `vmcbPa`: the guest runs for at most `budget`
   * instructions (the end of the quantum is a host interrupt: #VMEXIT INTR). Returns EXITCODE.
   * `emulate` is the hypervisor's instruction emulator (budget 1): the instruction's port I/O and
   * its accesses to unmapped guest-physical addresses go to the devices instead of exiting.
   */
  vmrun(vmcbPa: number, budget: number, emulate = false): number {
    const mem = this.machine.memory;
    // The VMCB is read and written with the host's key (APM 15.34.8: C-bit clear in its address).
    if (vmcbPa % 4096 !== 0 || vmcbPa + 4096 > this.view.byteLength)
      throw new RangeError(`VMRUN with a VMCB address 0x${vmcbPa.toString(16)} outside host memory`);
    mem.ensureForm(vmcbPa, HOST_KEY, this.cpu);
    if (this.vmcb === null || this.vmcbPa !== vmcbPa) {
      this.vmcb = new Vmcb(this.view, vmcbPa);
      this.vmcbPa = vmcbPa;
    }
    const vmcb = this.vmcb;
    const ctl = this.view.getUint32(vmcbPa + C.nested_ctl.offset, true);
    const sevEs = (ctl & SVM_NESTED_CTL_SEV_ES_ENABLE) !== 0;
    const sev = sevEs || (ctl & SVM_NESTED_CTL_SEV_ENABLE) !== 0;
    let save = vmcb;
    let bad: string | null = sev ? this.checkSev(vmcb, sevEs) : null;
    this.vmsaPa = -1;
    this.guestKey = bad === null && sev ? vmcb.get('asid') : HOST_KEY;
    if (bad === null && sevEs) {
      this.vmsaPa = vmcb.getNum('vmsa_pa');
      mem.ensureForm(this.vmsaPa, this.guestKey, this.cpu);
      if (this.vmsa === null || this.vmsa.offset !== this.vmsaPa - VMCB_SAVE_AREA_OFFSET)
        this.vmsa = vmsaSaveArea(this.view, this.vmsaPa);
      save = this.vmsa;
    }
    // The clean bits count only for the VMCB whose state this processor still holds (not SEV).
    let clean = !sev && this.heldVmcb === vmcbPa ? this.words[vmcbPa / 4 + W_CLEAN] : 0;
    // SEV-ES: no clean bits cover the VMSA (the hypervisor cannot write it), but the processor
    // still holds the segment, descriptor-table, control and debug registers #VMEXIT left in it
    // (it scrubs the rest): when the VMSA holds what that exit stored, they need no loading.
    if (sevEs && bad === null && this.heldVmsa === this.vmsaPa && this.vmsaAsSaved())
      clean = VMSA_HELD_GROUPS;
    this.heldVmcb = -1;
    // What the checks read is held state when its groups are clean: it passed them when it was
    // loaded, and the processor kept it legal since. EVENTINJ is checked at every VMRUN.
    if ((clean & CHECKED_GROUPS) === CHECKED_GROUPS)
      bad = checkEventInj(this.words[vmcbPa / 4 + W_EVENT_INJ]);
    else {
      if (bad === null) bad = checkGuestState(vmcb, save);
      if (bad === null) bad = this.checkMachineLimits(vmcb, save);
    }
    if (bad !== null) {
      this.invalidReason = bad;
      this.vmsaPa = -1;
      vmcb.setNum('exit_code', SVM_EXIT_ERR);
      return SVM_EXIT_ERR;
    }
    this.loadGuest(vmcb, save, clean);
    const cpu = this.cpu;
    const port = this.port;
    port.exitCode = -2;
    let code: number;
    const injected = this.inject(vmcb);
    if (injected !== -2) code = injected;
    else {
      // Emulation of one instruction for the hypervisor: its I/O and MMIO reach the devices.
      port.ioPassthrough = emulate;
      cpu.mmioAssist = emulate;
      // No debugging hook sees an SEV-ES guest's instruction bytes or RIP.
      const onUndefined = cpu.onUndefined;
      if (sevEs) cpu.onUndefined = null;
      let stop: Stop;
      try {
        stop = run(cpu, budget);
      } finally {
        port.ioPassthrough = false;
        cpu.mmioAssist = false;
        cpu.onUndefined = onUndefined;
      }
      code =
        stop === Stop.VMEXIT ? port.exitCode : stop === Stop.SHUTDOWN ? SVM_EXIT_SHUTDOWN : SVM_EXIT_INTR;
      if (stop !== Stop.VMEXIT) {
        port.exitInfo1 = 0;
        port.exitInfo2 = 0;
      }
    }
    this.saveGuest(vmcb, save, code);
    // The processor now holds this VMCB's state, unless the hypervisor's instruction emulation may
    // put an older copy of the page back (mmio-emulation.ts): then the next VMRUN loads everything.
    if (!sev && !emulate) this.heldVmcb = vmcbPa;
    this.heldVmsa = -1;
    if (sevEs && !emulate && !this.cpu.dataBreakpoints) {
      // What the exit stored of the state the processor keeps, to compare at the next VMRUN.
      const w = this.words;
      const v = this.vmsaPa / 4;
      const shadow = this.vmsaShadow;
      for (let r = 0, k = 0; r < HELD_RANGES.length; r += 2)
        for (let i = HELD_RANGES[r]; i < HELD_RANGES[r + 1]; i++) shadow[k++] = w[v + i];
      this.heldVmsa = this.vmsaPa;
    }
    return code;
  }

  /**
   * Load the guest state. `clean`: the VMCB clean bits that apply (APM 15.15.3): for a group whose
   * bit is set the processor still holds the VMCB's values from this VMCB's last #VMEXIT, and skips
   * it (and what depends on it: mode, segment checks, TLB, intercept mask). 0 loads everything.
   */
  private loadGuest(vmcb: Vmcb, save: Vmcb, clean: number): void {
    const cpu = this.cpu;
    const w = this.words;
    const s = save.offset / 4; // the save area and the VMCB as 32-bit words (VMCB_SAVE offsets are absolute)
    const c = this.vmcbPa / 4;
    const segClean = (clean & VMCB_CLEAN_SEG) !== 0;
    const crClean = (clean & VMCB_CLEAN_CRX) !== 0;
    // A group loaded may hold what the hypervisor wrote: the next #VMEXIT stores it whole.
    if (!segClean) this.segsKnown = false;
    if ((clean & SAVED_GROUPS) !== SAVED_GROUPS) this.regsKnown = false;
    if (!segClean) {
      for (let i = 0; i < 8; i++) {
        const at = s + SEG_W[i];
        const seg = SEG_INDEX[i];
        const selAttr = w[at];
        const attrib = selAttr >>> 16;
        cpu.segSel[seg] = selAttr & 0xffff;
        cpu.segAttr[seg] = attrib & 0x80 ? attrib : attrib | SEG_UNUSABLE;
        cpu.segLimit[seg] = w[at + 1] >>> 0;
        cpu.segBase[seg] = w[at + 3] * TWO32 + (w[at + 2] >>> 0);
      }
      cpu.star = this.starOf(w[s + V_STAR] >>> 0, w[s + V_STAR + 1] >>> 0);
      cpu.lstar = num(w, s + V_LSTAR);
      cpu.cstar = num(w, s + V_CSTAR);
      cpu.sfmask = w[s + V_SFMASK] >>> 0;
      cpu.kernelGsBase = num(w, s + V_KGSBASE);
      cpu.sysenterCs = w[s + V_SYSENTER_CS] & 0xffff;
      cpu.sysenterEsp = num(w, s + V_SYSENTER_ESP);
      cpu.sysenterEip = num(w, s + V_SYSENTER_EIP);
      cpu.cpl = (w[s + V_CPL_WORD] >>> V_CPL_SHIFT) & 3;
    }
    if (!(clean & VMCB_CLEAN_DT)) {
      cpu.gdtrBase = num(w, s + W_GDTR + 2);
      cpu.gdtrLimit = w[s + W_GDTR + 1] & 0xffff;
      cpu.idtrBase = num(w, s + W_IDTR + 2);
      cpu.idtrLimit = w[s + W_IDTR + 1] & 0xffff;
    }
    let pagingChanged = false;
    if (!crClean) {
      // The checks passed: CR0, CR4, DR6, DR7 have clear upper halves and CR3 is below 2^52.
      const cr0 = w[s + V_CR0] >>> 0;
      const cr3 = num(w, s + V_CR3);
      const cr4 = w[s + V_CR4] >>> 0;
      const efer = w[s + V_EFER] & 0xffff;
      pagingChanged = cr0 !== cpu.cr0 >>> 0 || cr3 !== cpu.cr3 || cr4 !== cpu.cr4 >>> 0 || efer !== cpu.efer;
      cpu.cr0 = cr0 | 0;
      cpu.cr3 = cr3;
      cpu.cr4 = cr4 | 0;
      // LMA follows LME and CR0.PG (APM 15.5.1: the processor computes it).
      cpu.efer = efer & 0x100 && cr0 & 0x80000000 ? efer | 0x400 : efer & ~0x400;
    }
    if (!(clean & VMCB_CLEAN_CR2)) cpu.cr2 = num(w, s + V_CR2);
    if (!(clean & VMCB_CLEAN_DRX)) {
      cpu.dr[6] = w[s + V_DR6] >>> 0;
      cpu.dr[7] = w[s + V_DR7] >>> 0;
      debugRegsChanged(cpu);
    }
    // Never covered by a clean bit: RFLAGS, RIP, RSP, RAX.
    cpu.eflags = (w[s + V_RFLAGS] | 2) >>> 0;
    cpu.lfOp = 0;
    cpu.rip = num(w, s + V_RIP);
    const r = cpu.r32;
    r[8] = w[s + V_RSP]; // RSP
    r[9] = w[s + V_RSP + 1];
    r[0] = w[s + V_RAX]; // RAX
    r[1] = w[s + V_RAX + 1];
    const sevEs = save !== vmcb;
    const mem = this.machine.memory;
    mem.syncTlb(cpu);
    cpu.memCrypt = mem.forAsid(this.guestKey);
    if (sevEs) {
      loadVmsaExtras(cpu, w, this.vmsaPa, this.fpu);
      cpu.features.sevEs = true;
      this.sevMsrs.active = true;
      this.sevMsrs.ghcbLo = w[c + W_GHCB_GPA] >>> 0;
      this.sevMsrs.ghcbHi = w[c + W_GHCB_GPA + 1] >>> 0;
    } else this.sevMsrs.active = false;
    this.port.sevEs = sevEs;
    if (!segClean || !crClean) {
      cpu.updateMode();
      for (let i = 0; i < 8; i++) updateSegCheck(cpu, i);
    }
    // Interrupt shadow from the VMCB (MOV SS / STI just before the exit).
    cpu.interruptShadow = (w[c + W_INT_STATE] & 1) !== 0;
    // Nested paging and the TLB: flushed when asked, or when the address space changed.
    if (!(clean & VMCB_CLEAN_NP)) {
      this.ncr3 =
        w[c + W_NESTED_CTL] & SVM_NESTED_CTL_NP_ENABLE
          ? (w[c + W_NESTED_CR3 + 1] & 0xfffff) * TWO32 + ((w[c + W_NESTED_CR3] & ~0xfff) >>> 0)
          : -1;
    }
    const ncr3 = this.ncr3;
    cpu.nptRoot = ncr3;
    const asid = clean & VMCB_CLEAN_ASID ? this.lastAsid : w[c + W_ASID];
    if (
      pagingChanged ||
      asid !== this.lastAsid ||
      ncr3 !== this.lastNcr3 ||
      (w[c + W_TLB_CTL] & 0xff) !== TLB_CONTROL_DO_NOTHING
    ) {
      tlbFlushAll(cpu);
    }
    this.lastAsid = asid;
    this.lastNcr3 = ncr3;
    // Intercepts: the port reads the vectors and maps; the mask tells the core what to ask.
    const port = this.port;
    port.vmcb = vmcb;
    // The processor reads the permission maps with the host's key, like the VMCB (their form is
    // checked at every VMRUN: they may have been written with another key meanwhile).
    if (!(clean & VMCB_CLEAN_IOPM)) {
      this.iopmPa = pageBase(vmcb, C.iopm_base_pa.offset);
      this.msrpmPa = pageBase(vmcb, C.msrpm_base_pa.offset);
    }
    const iopmPa = this.iopmPa;
    const msrpmPa = this.msrpmPa;
    for (let off = 0; off < IOPM_SIZE; off += 4096) mem.ensureForm(iopmPa + off, HOST_KEY, cpu);
    for (let off = 0; off < MSRPM_SIZE; off += 4096) mem.ensureForm(msrpmPa + off, HOST_KEY, cpu);
    if (!(clean & VMCB_CLEAN_IOPM)) {
      // Views of the permission maps, made again only when the hypervisor moves them.
      if (port.iopm.length === 0 || port.iopm.byteOffset !== iopmPa)
        port.iopm = new Uint8Array(this.view.buffer, iopmPa, IOPM_SIZE);
      if (port.msrpm.length === 0 || port.msrpm.byteOffset !== msrpmPa)
        port.msrpm = new Uint8Array(this.view.buffer, msrpmPa, MSRPM_SIZE);
    }
    cpu.intercept = port;
    if (!(clean & VMCB_CLEAN_I) || ncr3 !== this.maskNcr3) {
      this.mask = port.maskFor(vmcb, ncr3 >= 0);
      this.pauseFilterCount = w[c + W_PAUSE_FILTER] >>> 16;
      this.maskNcr3 = ncr3;
    }
    cpu.interceptMask = this.mask;
    port.reloadPauseFilter(this.pauseFilterCount);
    const vintr = this.vintr;
    vintr.pending = (w[c + W_INT_CTL] & V_IRQ_MASK) !== 0;
    vintr.vector = w[c + W_INT_VECTOR] & 0xff;
    cpu.intc = vintr.pending ? vintr : null;
    if (vintr.pending) cpu.attention |= ATT_EVENT;
  }

  /** Does the VMSA hold, in the words the processor keeps across an exit, what the last exit stored? */
  private vmsaAsSaved(): boolean {
    const w = this.words;
    const v = this.vmsaPa / 4;
    const shadow = this.vmsaShadow;
    for (let r = 0, k = 0; r < HELD_RANGES.length; r += 2)
      for (let i = HELD_RANGES[r]; i < HELD_RANGES[r + 1]; i++) if (shadow[k++] !== w[v + i]) return false;
    return true;
  }

  /** STAR as the core holds it (a bigint), made only when the halves change. */
  private starOf(lo: number, hi: number): bigint {
    if (lo !== this.starLo || hi !== this.starHi) {
      this.scratch32[0] = lo;
      this.scratch32[1] = hi;
      this.star = this.scratch64[0];
      this.starLo = lo;
      this.starHi = hi;
    }
    return this.star;
  }

  /** EVENTINJ (APM 15.20): deliver before the first guest instruction. Returns an exit code or -2. */
  private inject(vmcb: Vmcb): number {
    const inj = this.view.getUint32(this.vmcbPa + C.event_inj.offset, true);
    if (!(inj & SVM_EVTINJ_VALID)) return -2;
    const cpu = this.cpu;
    const vector = inj & 0xff;
    const type = inj & SVM_EVTINJ_TYPE_MASK;
    const hasErr = (inj & SVM_EVTINJ_VALID_ERR) !== 0;
    const kind =
      type === SVM_EVTINJ_TYPE_NMI
        ? EV_NMI
        : type === SVM_EVTINJ_TYPE_SOFT
          ? EV_SOFTWARE
          : type === SVM_EVTINJ_TYPE_EXEPT
            ? EV_EXCEPTION
            : EV_EXTERNAL;
    try {
      // Injected events are not subject to exception intercepts (APM 15.20).
      const mask = cpu.interceptMask;
      cpu.interceptMask = 0;
      try {
        deliver(cpu, type === SVM_EVTINJ_TYPE_NMI ? 2 : vector, kind, vmcb.get('event_inj_err'), hasErr);
      } finally {
        cpu.interceptMask = mask;
      }
    } catch (e) {
      if (e === VMEXIT) return this.port.exitCode;
      if (e !== FAULT) throw e;
      try {
        if (!deliverException(cpu)) return SVM_EXIT_SHUTDOWN;
      } catch (e2) {
        if (e2 === VMEXIT) return this.port.exitCode;
        throw e2;
      }
    }
    return -2;
  }

  /** Store the descriptor-table, control, debug and SYSCALL/SYSENTER registers and CPL; remember them. */
  private saveRegisters(w: Int32Array, s: number): void {
    const cpu = this.cpu;
    w[s + W_GDTR] = 0;
    w[s + W_GDTR + 1] = cpu.gdtrLimit;
    put(w, s + W_GDTR + 2, cpu.gdtrBase);
    w[s + W_IDTR] = 0;
    w[s + W_IDTR + 1] = cpu.idtrLimit;
    put(w, s + W_IDTR + 2, cpu.idtrBase);
    w[s + V_CR0] = cpu.cr0;
    w[s + V_CR0 + 1] = 0;
    put(w, s + V_CR2, cpu.cr2);
    put(w, s + V_CR3, cpu.cr3);
    w[s + V_CR4] = cpu.cr4;
    w[s + V_CR4 + 1] = 0;
    w[s + V_EFER] = cpu.efer;
    w[s + V_EFER + 1] = 0;
    put(w, s + V_DR6, cpu.dr[6]);
    put(w, s + V_DR7, cpu.dr[7]);
    w[s + V_STAR] = this.starLo;
    w[s + V_STAR + 1] = this.starHi;
    put(w, s + V_LSTAR, cpu.lstar);
    put(w, s + V_CSTAR, cpu.cstar);
    w[s + V_SFMASK] = cpu.sfmask;
    w[s + V_SFMASK + 1] = 0;
    put(w, s + V_KGSBASE, cpu.kernelGsBase);
    w[s + V_SYSENTER_CS] = cpu.sysenterCs;
    w[s + V_SYSENTER_CS + 1] = 0;
    put(w, s + V_SYSENTER_ESP, cpu.sysenterEsp);
    put(w, s + V_SYSENTER_EIP, cpu.sysenterEip);
    w[s + V_CPL_WORD] = (w[s + V_CPL_WORD] & ~(0xff << V_CPL_SHIFT)) | (cpu.cpl << V_CPL_SHIFT);
    const rs = this.regShadow;
    rs[0] = cpu.gdtrBase;
    rs[1] = cpu.gdtrLimit;
    rs[2] = cpu.idtrBase;
    rs[3] = cpu.idtrLimit;
    rs[4] = cpu.cr0;
    rs[5] = cpu.cr2;
    rs[6] = cpu.cr3;
    rs[7] = cpu.cr4;
    rs[8] = cpu.efer;
    rs[9] = cpu.dr[6];
    rs[10] = cpu.dr[7];
    rs[11] = cpu.lstar;
    rs[12] = cpu.cstar;
    rs[13] = cpu.sfmask;
    rs[14] = cpu.kernelGsBase;
    rs[15] = cpu.sysenterCs;
    rs[16] = cpu.sysenterEsp;
    rs[17] = cpu.sysenterEip;
    rs[18] = cpu.cpl;
  }

  private saveGuest(vmcb: Vmcb, save: Vmcb, code: number): void {
    const cpu = this.cpu;
    // The guest may have touched these pages with another key (a hypervisor can map them into its
    // nested tables): the state goes back to DRAM with the right key whatever happened.
    const mem = this.machine.memory;
    mem.ensureForm(this.vmcbPa, HOST_KEY, cpu);
    if (this.vmsaPa >= 0) mem.ensureForm(this.vmsaPa, this.guestKey, cpu);
    const w = this.words;
    const s = save.offset / 4;
    const c = this.vmcbPa / 4;
    const sevEs = save !== vmcb;
    // What the last #VMEXIT stored and the VMCB still holds (no group reloaded since) is not
    // stored again unless the guest changed it: the shadows hold what was stored.
    const segsKnown = this.segsKnown && !sevEs;
    const sh = this.segShadow;
    for (let i = 0; i < 8; i++) {
      const seg = SEG_INDEX[i];
      const sel = cpu.segSel[seg];
      const attr = cpu.segAttr[seg];
      const limit = cpu.segLimit[seg];
      const base = cpu.segBase[seg];
      const k = 4 * i;
      if (segsKnown && sh[k] === sel && sh[k + 1] === attr && sh[k + 2] === limit && sh[k + 3] === base)
        continue;
      const at = s + SEG_W[i];
      w[at] = sel | ((attr & SEG_UNUSABLE ? attr & 0xf7f : attr & 0xfff) << 16);
      w[at + 1] = limit;
      put(w, at + 2, base);
      sh[k] = sel;
      sh[k + 1] = attr;
      sh[k + 2] = limit;
      sh[k + 3] = base;
    }
    this.segsKnown = !sevEs;
    if (cpu.star !== this.star) {
      // WRMSR STAR in the guest: the new value's halves (a typed-array store, no allocation).
      this.scratch64[0] = cpu.star;
      this.star = cpu.star;
      this.starLo = this.scratch32[0];
      this.starHi = this.scratch32[1];
      this.regsKnown = false;
    }
    const rs = this.regShadow;
    if (
      !this.regsKnown ||
      sevEs ||
      rs[0] !== cpu.gdtrBase ||
      rs[1] !== cpu.gdtrLimit ||
      rs[2] !== cpu.idtrBase ||
      rs[3] !== cpu.idtrLimit ||
      rs[4] !== cpu.cr0 ||
      rs[5] !== cpu.cr2 ||
      rs[6] !== cpu.cr3 ||
      rs[7] !== cpu.cr4 ||
      rs[8] !== cpu.efer ||
      rs[9] !== cpu.dr[6] ||
      rs[10] !== cpu.dr[7] ||
      rs[11] !== cpu.lstar ||
      rs[12] !== cpu.cstar ||
      rs[13] !== cpu.sfmask ||
      rs[14] !== cpu.kernelGsBase ||
      rs[15] !== cpu.sysenterCs ||
      rs[16] !== cpu.sysenterEsp ||
      rs[17] !== cpu.sysenterEip ||
      rs[18] !== cpu.cpl
    ) {
      this.saveRegisters(w, s);
      this.regsKnown = !sevEs;
    }
    w[s + V_RFLAGS] = getFlags(cpu);
    w[s + V_RFLAGS + 1] = 0;
    put(w, s + V_RIP, cpu.rip);
    const r = cpu.r32;
    w[s + V_RSP] = r[8];
    w[s + V_RSP + 1] = r[9];
    w[s + V_RAX] = r[0];
    w[s + V_RAX + 1] = r[1];
    // SEV-ES: for the automatic instruction exits the processor completes the instruction itself
    // (the hypervisor cannot move RIP): VMGEXIT, HLT, PAUSE. A completed instruction ends an STI or
    // MOV SS shadow it sat in, so `sti; hlt` leaves no shadow to block the interrupt that wakes it.
    const completed =
      sevEs && (code === SVM_EXIT_VMGEXIT || code === SVM_EXIT_HLT || code === SVM_EXIT_PAUSE);
    // SEV-ES: the hypervisor sees only whether interrupts are enabled (GUEST_INTERRUPT_MASK), no RIP.
    w[c + W_INT_STATE] =
      (cpu.interruptShadow && !completed ? 1 : 0) |
      (sevEs && cpu.eflags & 0x200 ? SVM_GUEST_INTERRUPT_MASK : 0);
    const port = this.port;
    w[c + W_EXIT_CODE] = code;
    w[c + W_EXIT_CODE + 1] = code < 0 ? -1 : 0;
    put(w, c + W_EXIT_INFO_1, port.exitInfo1);
    put(w, c + W_EXIT_INFO_2, port.exitInfo2);
    put(w, c + W_NEXT_RIP, sevEs ? 0 : port.nextRip);
    if (sevEs) {
      if (completed) put(w, s + V_RIP, port.nextRip);
      w[c + W_GHCB_GPA] = this.sevMsrs.ghcbLo;
      w[c + W_GHCB_GPA + 1] = this.sevMsrs.ghcbHi;
      saveVmsaExtrasAndScrub(cpu, w, this.vmsaPa, this.fpu);
      this.sevMsrs.active = false;
    }
    cpu.memCrypt = mem.forAsid(HOST_KEY);
    this.guestKey = HOST_KEY;
    w[c + W_EXIT_INT_INFO] = 0;
    w[c + W_EXIT_INT_INFO + 1] = 0;
    if (!this.vintr.pending) w[c + W_INT_CTL] &= ~V_IRQ_MASK;
    cpu.intc = null;
    cpu.intercept = null;
    cpu.interceptMask = 0;
    port.vmcb = null;
  }
}
