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
  VMCB_CONTROL,
  VMCB_SAVE,
  VMCB_SAVE_AREA_OFFSET,
  VMCB_SEGMENTS,
  Vmcb,
  type VmcbSegmentName,
} from '../vmcb-layout.js';
import { SevEsMsrs } from './sev-es-msrs.js';
import { SvmInterceptPort } from './svm-intercepts.js';
import { loadVmsaExtras, saveVmsaExtrasAndScrub, vmsaSaveArea } from './vmsa-layout.js';

/** The segment registers the world switch moves: VMCB record offset and the core's index. */
const SEG_NAMES: VmcbSegmentName[] = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'];
const SEG_INDEX = [ES, CS, SS, DS, FS, GS, LDTR, TR];
const SEG_AT = SEG_NAMES.map((n) => VMCB_SEGMENTS[n]);

// Offsets of the fields the world switch moves. 64-bit fields travel as two 32-bit halves: a BigInt
// per field made VMRUN and #VMEXIT cost microseconds (issue 12).
const C = VMCB_CONTROL;
const V = VMCB_SAVE;
const GDTR = VMCB_SEGMENTS.gdtr;
const IDTR = VMCB_SEGMENTS.idtr;
const TWO32 = 2 ** 32;
const EFER_SVME = 1 << 12;

/** An 8-byte field as a signed number: exact for canonical addresses and magnitudes below 2^53. */
function rdNum(v: DataView, at: number): number {
  return v.getInt32(at + 4, true) * TWO32 + v.getUint32(at, true);
}
/** The 64-bit two's complement of the integer `n`. */
function wrNum(v: DataView, at: number, n: number): void {
  v.setUint32(at, n >>> 0, true);
  v.setUint32(at + 4, Math.floor(n / TWO32) >>> 0, true);
}
function wrHalves(v: DataView, at: number, lo: number, hi: number): void {
  v.setUint32(at, lo >>> 0, true);
  v.setUint32(at + 4, hi >>> 0, true);
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
  const inj = vmcb.view.getUint32(vmcb.offset + C.event_inj.offset, true);
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
    if (bad === null) bad = checkGuestState(vmcb, save);
    if (bad === null) bad = this.checkMachineLimits(vmcb, save);
    if (bad !== null) {
      this.invalidReason = bad;
      this.vmsaPa = -1;
      vmcb.setNum('exit_code', SVM_EXIT_ERR);
      return SVM_EXIT_ERR;
    }
    this.loadGuest(vmcb, save);
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
    return code;
  }

  private loadGuest(vmcb: Vmcb, save: Vmcb): void {
    const cpu = this.cpu;
    const v = this.view;
    const sa = save.offset;
    for (let i = 0; i < 8; i++) {
      const at = sa + SEG_AT[i];
      const seg = SEG_INDEX[i];
      const attrib = v.getUint16(at + 2, true);
      cpu.segSel[seg] = v.getUint16(at, true);
      cpu.segAttr[seg] = attrib & 0x80 ? attrib : attrib | SEG_UNUSABLE;
      cpu.segLimit[seg] = v.getUint32(at + 4, true);
      cpu.segBase[seg] = rdNum(v, at + 8);
    }
    cpu.gdtrBase = rdNum(v, sa + GDTR + 8);
    cpu.gdtrLimit = v.getUint32(sa + GDTR + 4, true) & 0xffff;
    cpu.idtrBase = rdNum(v, sa + IDTR + 8);
    cpu.idtrLimit = v.getUint32(sa + IDTR + 4, true) & 0xffff;
    // The checks passed: CR0, CR4, DR6, DR7 have clear upper halves and CR3 is below 2^52.
    const cr0 = v.getUint32(sa + V.cr0.offset, true);
    const cr3 = rdNum(v, sa + V.cr3.offset);
    const cr4 = v.getUint32(sa + V.cr4.offset, true);
    const efer = v.getUint32(sa + V.efer.offset, true) & 0xffff;
    const pagingChanged =
      cr0 !== cpu.cr0 >>> 0 || cr3 !== cpu.cr3 || cr4 !== cpu.cr4 >>> 0 || efer !== cpu.efer;
    cpu.cr0 = cr0 | 0;
    cpu.cr3 = cr3;
    cpu.cr4 = cr4 | 0;
    // LMA follows LME and CR0.PG (APM 15.5.1: the processor computes it).
    cpu.efer = efer & 0x400 ? efer : efer | (efer & 0x100 && cr0 & 0x80000000 ? 0x400 : 0);
    if (!(efer & 0x100 && cr0 & 0x80000000)) cpu.efer &= ~0x400;
    cpu.cr2 = rdNum(v, sa + V.cr2.offset);
    cpu.dr[6] = v.getUint32(sa + V.dr6.offset, true);
    cpu.dr[7] = v.getUint32(sa + V.dr7.offset, true);
    debugRegsChanged(cpu);
    cpu.eflags = (v.getUint32(sa + V.rflags.offset, true) | 2) >>> 0;
    cpu.lfOp = 0;
    cpu.rip = rdNum(v, sa + V.rip.offset);
    const r = cpu.r32;
    r[8] = v.getInt32(sa + V.rsp.offset, true); // RSP
    r[9] = v.getInt32(sa + V.rsp.offset + 4, true);
    r[0] = v.getInt32(sa + V.rax.offset, true); // RAX
    r[1] = v.getInt32(sa + V.rax.offset + 4, true);
    const starLo = v.getUint32(sa + V.star.offset, true);
    const starHi = v.getUint32(sa + V.star.offset + 4, true);
    if (starLo !== this.starLo || starHi !== this.starHi) {
      this.scratch32[0] = starLo;
      this.scratch32[1] = starHi;
      this.star = this.scratch64[0];
      this.starLo = starLo;
      this.starHi = starHi;
    }
    cpu.star = this.star;
    cpu.lstar = rdNum(v, sa + V.lstar.offset);
    cpu.cstar = rdNum(v, sa + V.cstar.offset);
    cpu.sfmask = v.getUint32(sa + V.sfmask.offset, true);
    cpu.kernelGsBase = rdNum(v, sa + V.kernel_gs_base.offset);
    cpu.sysenterCs = v.getUint32(sa + V.sysenter_cs.offset, true) & 0xffff;
    cpu.sysenterEsp = rdNum(v, sa + V.sysenter_esp.offset);
    cpu.sysenterEip = rdNum(v, sa + V.sysenter_eip.offset);
    cpu.cpl = v.getUint8(sa + V.cpl.offset) & 3;
    const sevEs = save !== vmcb;
    const mem = this.machine.memory;
    mem.syncTlb(cpu);
    cpu.memCrypt = mem.forAsid(this.guestKey);
    if (sevEs) {
      loadVmsaExtras(cpu, this.view, this.vmsaPa);
      cpu.features.sevEs = true;
      this.sevMsrs.active = true;
      this.sevMsrs.ghcbLo = v.getUint32(this.vmcbPa + C.ghcb_gpa.offset, true);
      this.sevMsrs.ghcbHi = v.getUint32(this.vmcbPa + C.ghcb_gpa.offset + 4, true);
    } else this.sevMsrs.active = false;
    this.port.sevEs = sevEs;
    cpu.updateMode();
    for (let s = 0; s < 8; s++) updateSegCheck(cpu, s);
    // Interrupt shadow from the VMCB (MOV SS / STI just before the exit).
    const vp = this.vmcbPa;
    cpu.interruptShadow = (v.getUint32(vp + C.int_state.offset, true) & 1) !== 0;
    // Nested paging and the TLB: flushed when asked, or when the address space changed.
    const np = (v.getUint32(vp + C.nested_ctl.offset, true) & SVM_NESTED_CTL_NP_ENABLE) !== 0;
    const ncr3 = np
      ? (v.getUint32(vp + C.nested_cr3.offset + 4, true) & 0xfffff) * TWO32 +
        ((v.getUint32(vp + C.nested_cr3.offset, true) & ~0xfff) >>> 0)
      : -1;
    cpu.nptRoot = ncr3;
    const asid = v.getUint32(vp + C.asid.offset, true);
    if (
      pagingChanged ||
      asid !== this.lastAsid ||
      ncr3 !== this.lastNcr3 ||
      v.getUint8(vp + C.tlb_ctl.offset) !== TLB_CONTROL_DO_NOTHING
    ) {
      tlbFlushAll(cpu);
    }
    this.lastAsid = asid;
    this.lastNcr3 = ncr3;
    // Intercepts: the port reads the vectors and maps; the mask tells the core what to ask.
    const port = this.port;
    port.vmcb = vmcb;
    // Views of the permission maps, made again only when the hypervisor moves them.
    const iopmPa = pageBase(vmcb, C.iopm_base_pa.offset);
    const msrpmPa = pageBase(vmcb, C.msrpm_base_pa.offset);
    // The processor reads the permission maps with the host's key, like the VMCB.
    for (let off = 0; off < IOPM_SIZE; off += 4096) mem.ensureForm(iopmPa + off, HOST_KEY, cpu);
    for (let off = 0; off < MSRPM_SIZE; off += 4096) mem.ensureForm(msrpmPa + off, HOST_KEY, cpu);
    if (port.iopm.length === 0 || port.iopm.byteOffset !== iopmPa)
      port.iopm = new Uint8Array(this.view.buffer, iopmPa, IOPM_SIZE);
    if (port.msrpm.length === 0 || port.msrpm.byteOffset !== msrpmPa) {
      port.msrpm = new Uint8Array(this.view.buffer, msrpmPa, MSRPM_SIZE);
    }
    cpu.intercept = port;
    cpu.interceptMask = port.maskFor(vmcb, np);
    port.reloadPauseFilter(v.getUint16(vp + C.pause_filter_count.offset, true));
    const vintr = this.vintr;
    vintr.pending = (v.getUint32(vp + C.int_ctl.offset, true) & V_IRQ_MASK) !== 0;
    vintr.vector = v.getUint32(vp + C.int_vector.offset, true) & 0xff;
    cpu.intc = vintr.pending ? vintr : null;
    if (vintr.pending) cpu.attention |= ATT_EVENT;
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

  private saveGuest(vmcb: Vmcb, save: Vmcb, code: number): void {
    const cpu = this.cpu;
    // The guest may have touched these pages with another key (a hypervisor can map them into its
    // nested tables): the state goes back to DRAM with the right key whatever happened.
    const mem = this.machine.memory;
    mem.ensureForm(this.vmcbPa, HOST_KEY, cpu);
    if (this.vmsaPa >= 0) mem.ensureForm(this.vmsaPa, this.guestKey, cpu);
    const v = this.view;
    const sa = save.offset;
    for (let i = 0; i < 8; i++) {
      const at = sa + SEG_AT[i];
      const seg = SEG_INDEX[i];
      const attr = cpu.segAttr[seg];
      v.setUint16(at, cpu.segSel[seg], true);
      v.setUint16(at + 2, attr & SEG_UNUSABLE ? attr & 0xf7f : attr & 0xfff, true);
      v.setUint32(at + 4, cpu.segLimit[seg] >>> 0, true);
      wrNum(v, at + 8, cpu.segBase[seg]);
    }
    v.setUint32(sa + GDTR, 0, true);
    v.setUint32(sa + GDTR + 4, cpu.gdtrLimit >>> 0, true);
    wrNum(v, sa + GDTR + 8, cpu.gdtrBase);
    v.setUint32(sa + IDTR, 0, true);
    v.setUint32(sa + IDTR + 4, cpu.idtrLimit >>> 0, true);
    wrNum(v, sa + IDTR + 8, cpu.idtrBase);
    wrHalves(v, sa + V.cr0.offset, cpu.cr0, 0);
    wrNum(v, sa + V.cr2.offset, cpu.cr2);
    wrNum(v, sa + V.cr3.offset, cpu.cr3);
    wrHalves(v, sa + V.cr4.offset, cpu.cr4, 0);
    wrNum(v, sa + V.efer.offset, cpu.efer);
    wrNum(v, sa + V.dr6.offset, cpu.dr[6]);
    wrNum(v, sa + V.dr7.offset, cpu.dr[7]);
    wrHalves(v, sa + V.rflags.offset, getFlags(cpu), 0);
    wrNum(v, sa + V.rip.offset, cpu.rip);
    const r = cpu.r32;
    wrHalves(v, sa + V.rsp.offset, r[8], r[9]);
    wrHalves(v, sa + V.rax.offset, r[0], r[1]);
    if (cpu.star !== this.star) {
      // WRMSR STAR in the guest: the new value's halves (a typed-array store, no allocation).
      this.scratch64[0] = cpu.star;
      this.star = cpu.star;
      this.starLo = this.scratch32[0];
      this.starHi = this.scratch32[1];
    }
    wrHalves(v, sa + V.star.offset, this.starLo, this.starHi);
    wrNum(v, sa + V.lstar.offset, cpu.lstar);
    wrNum(v, sa + V.cstar.offset, cpu.cstar);
    wrHalves(v, sa + V.sfmask.offset, cpu.sfmask, 0);
    wrNum(v, sa + V.kernel_gs_base.offset, cpu.kernelGsBase);
    wrNum(v, sa + V.sysenter_cs.offset, cpu.sysenterCs);
    wrNum(v, sa + V.sysenter_esp.offset, cpu.sysenterEsp);
    wrNum(v, sa + V.sysenter_eip.offset, cpu.sysenterEip);
    v.setUint8(sa + V.cpl.offset, cpu.cpl);
    const sevEs = save !== vmcb;
    const vp = this.vmcbPa;
    // SEV-ES: for the automatic instruction exits the processor completes the instruction itself
    // (the hypervisor cannot move RIP): VMGEXIT, HLT, PAUSE. A completed instruction ends an STI or
    // MOV SS shadow it sat in, so `sti; hlt` leaves no shadow to block the interrupt that wakes it.
    const completed =
      sevEs && (code === SVM_EXIT_VMGEXIT || code === SVM_EXIT_HLT || code === SVM_EXIT_PAUSE);
    // SEV-ES: the hypervisor sees only whether interrupts are enabled (GUEST_INTERRUPT_MASK), no RIP.
    v.setUint32(
      vp + C.int_state.offset,
      (cpu.interruptShadow && !completed ? 1 : 0) |
        (sevEs && cpu.eflags & 0x200 ? SVM_GUEST_INTERRUPT_MASK : 0),
      true,
    );
    const port = this.port;
    wrNum(v, vp + C.exit_code.offset, code);
    wrNum(v, vp + C.exit_info_1.offset, port.exitInfo1);
    wrNum(v, vp + C.exit_info_2.offset, port.exitInfo2);
    wrNum(v, vp + C.next_rip.offset, sevEs ? 0 : port.nextRip);
    if (sevEs) {
      if (completed) wrNum(v, sa + V.rip.offset, port.nextRip);
      wrHalves(v, vp + C.ghcb_gpa.offset, this.sevMsrs.ghcbLo, this.sevMsrs.ghcbHi);
      saveVmsaExtrasAndScrub(cpu, this.view, this.vmsaPa);
      this.sevMsrs.active = false;
    }
    cpu.memCrypt = mem.forAsid(HOST_KEY);
    this.guestKey = HOST_KEY;
    v.setUint32(vp + C.exit_int_info.offset, 0, true);
    v.setUint32(vp + C.exit_int_info_err.offset, 0, true);
    if (!this.vintr.pending)
      v.setUint32(vp + C.int_ctl.offset, v.getUint32(vp + C.int_ctl.offset, true) & ~V_IRQ_MASK, true);
    cpu.intc = null;
    cpu.intercept = null;
    cpu.interceptMask = 0;
    port.vmcb = null;
  }
}
