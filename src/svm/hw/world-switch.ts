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
  Vmcb,
  type VmcbSegmentName,
} from '../vmcb-layout.js';
import { SevEsMsrs } from './sev-es-msrs.js';
import { SvmInterceptPort } from './svm-intercepts.js';
import { loadVmsaExtras, saveVmsaExtrasAndScrub, vmsaSaveArea } from './vmsa-layout.js';

const SEGS: [VmcbSegmentName, number][] = [
  ['es', ES],
  ['cs', CS],
  ['ss', SS],
  ['ds', DS],
  ['fs', FS],
  ['gs', GS],
  ['ldtr', LDTR],
  ['tr', TR],
];

const EFER_SVME = 1n << 12n;

/** A signed canonical number from a 64-bit field. */
function num(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}
function u64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

/**
 * The consistency checks of VMRUN (APM vol 2 15.5.1 "Canonicalization and Consistency Checks").
 * Returns what is wrong, or null when the state is legal.
 */
export function checkGuestState(vmcb: Vmcb, save: Vmcb = vmcb): string | null {
  const efer = save.get64('efer');
  const cr0 = save.get64('cr0');
  const cr3 = save.get64('cr3');
  const cr4 = save.get64('cr4');
  if (!(efer & EFER_SVME)) return 'EFER.SVME is zero';
  if (!(cr0 & (1n << 30n)) && cr0 & (1n << 29n)) return 'CR0.CD is zero and CR0.NW is set';
  if (cr0 >> 32n) return 'CR0[63:32] are not zero';
  if (cr3 >> 52n) return 'CR3 has MBZ bits set (63:52)';
  if (cr4 >> 32n || cr4 & ~0x7ffffn) return 'CR4 has reserved bits set';
  if (save.get64('dr6') >> 32n) return 'DR6[63:32] are not zero';
  if (save.get64('dr7') >> 32n) return 'DR7[63:32] are not zero';
  if (efer & ~0x5d01n) return 'EFER has reserved bits set';
  const lme = (efer & (1n << 8n)) !== 0n;
  const pg = (cr0 & (1n << 31n)) !== 0n;
  if (lme && pg && !(cr4 & (1n << 5n))) return 'EFER.LME and CR0.PG are set but CR4.PAE is zero';
  if (lme && pg && !(cr0 & 1n)) return 'EFER.LME and CR0.PG are set but CR0.PE is zero';
  const cs = save.getSegment('cs');
  if (lme && pg && cr4 & (1n << 5n) && cs.attrib & (1 << 9) && cs.attrib & (1 << 10)) {
    return 'EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all set';
  }
  if (!vmcb.isIntercepted(INTERCEPT_VMRUN)) return 'the VMRUN intercept bit is clear';
  if (vmcb.get('asid') === 0) return 'ASID is zero';
  const inj = vmcb.get('event_inj');
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
    const ctl = vmcb.get64('nested_ctl');
    if (!(ctl & BigInt(SVM_NESTED_CTL_NP_ENABLE))) return 'SEV needs nested paging';
    if (sevEs && !(ctl & BigInt(SVM_NESTED_CTL_SEV_ENABLE))) return 'SEV-ES is enabled without SEV';
    const asid = vmcb.get('asid');
    if (!sev.memory.hasKey(asid)) return `ASID ${asid} has no SEV key (no ACTIVATE)`;
    if (!sev.psp.runnable(asid)) return `the launch of ASID ${asid} is not finished (LAUNCH_FINISH)`;
    if (!sevEs) return null;
    const pa = Number(vmcb.get64('vmsa_pa'));
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
    const cr4 = Number(save.get64('cr4') & 0xffffffffn);
    const mbz = cr4 & ~cr4Offered(this.cpu);
    if (mbz)
      return `CR4 has MBZ bits set: 0x${(mbz >>> 0).toString(16)} (features this processor does not implement)`;
    const mem = BigInt(this.view.byteLength);
    const iopm = vmcb.get64('iopm_base_pa') & ~0xfffn;
    if (iopm + BigInt(IOPM_SIZE) > mem)
      return `IOPM_BASE_PA 0x${iopm.toString(16)}: the 12 KiB I/O permission map extends past physical memory (0x${mem.toString(16)} bytes)`;
    const msrpm = vmcb.get64('msrpm_base_pa') & ~0xfffn;
    if (msrpm + BigInt(MSRPM_SIZE) > mem)
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
    const ctl = vmcb.get64('nested_ctl');
    const sevEs = (ctl & BigInt(SVM_NESTED_CTL_SEV_ES_ENABLE)) !== 0n;
    const sev = sevEs || (ctl & BigInt(SVM_NESTED_CTL_SEV_ENABLE)) !== 0n;
    let save = vmcb;
    let bad: string | null = sev ? this.checkSev(vmcb, sevEs) : null;
    this.vmsaPa = -1;
    this.guestKey = bad === null && sev ? vmcb.get('asid') : HOST_KEY;
    if (bad === null && sevEs) {
      this.vmsaPa = Number(vmcb.get64('vmsa_pa'));
      mem.ensureForm(this.vmsaPa, this.guestKey, this.cpu);
      save = vmsaSaveArea(this.view, this.vmsaPa);
    }
    if (bad === null) bad = checkGuestState(vmcb, save);
    if (bad === null) bad = this.checkMachineLimits(vmcb, save);
    if (bad !== null) {
      this.invalidReason = bad;
      this.vmsaPa = -1;
      vmcb.set64('exit_code', BigInt.asUintN(64, BigInt(SVM_EXIT_ERR)));
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
    for (const [name, seg] of SEGS) {
      const s = save.getSegment(name);
      cpu.segSel[seg] = s.selector;
      cpu.segAttr[seg] = s.attrib & 0x80 ? s.attrib : s.attrib | SEG_UNUSABLE;
      cpu.segLimit[seg] = s.limit;
      cpu.segBase[seg] = num(s.base);
    }
    const gdtr = save.getSegment('gdtr');
    const idtr = save.getSegment('idtr');
    cpu.gdtrBase = num(gdtr.base);
    cpu.gdtrLimit = gdtr.limit & 0xffff;
    cpu.idtrBase = num(idtr.base);
    cpu.idtrLimit = idtr.limit & 0xffff;
    const cr0 = Number(save.get64('cr0'));
    const cr3 = Number(save.get64('cr3'));
    const cr4 = Number(save.get64('cr4'));
    const efer = Number(save.get64('efer') & 0xffffn);
    const pagingChanged =
      cr0 !== cpu.cr0 >>> 0 || cr3 !== cpu.cr3 || cr4 !== cpu.cr4 >>> 0 || efer !== cpu.efer;
    cpu.cr0 = cr0 | 0;
    cpu.cr3 = cr3;
    cpu.cr4 = cr4 | 0;
    // LMA follows LME and CR0.PG (APM 15.5.1: the processor computes it).
    cpu.efer = efer & 0x400 ? efer : efer | (efer & 0x100 && cr0 & 0x80000000 ? 0x400 : 0);
    if (!(efer & 0x100 && cr0 & 0x80000000)) cpu.efer &= ~0x400;
    cpu.cr2 = num(save.get64('cr2'));
    cpu.dr[6] = Number(save.get64('dr6'));
    cpu.dr[7] = Number(save.get64('dr7'));
    debugRegsChanged(cpu);
    cpu.eflags = (Number(save.get64('rflags') & 0xffffffffn) | 2) >>> 0;
    cpu.lfOp = 0;
    cpu.rip = num(save.get64('rip'));
    cpu.r64[4] = save.get64('rsp');
    cpu.r64[0] = save.get64('rax');
    cpu.star = save.get64('star');
    cpu.lstar = num(save.get64('lstar'));
    cpu.cstar = num(save.get64('cstar'));
    cpu.sfmask = Number(save.get64('sfmask') & 0xffffffffn);
    cpu.kernelGsBase = num(save.get64('kernel_gs_base'));
    cpu.sysenterCs = Number(save.get64('sysenter_cs') & 0xffffn);
    cpu.sysenterEsp = num(save.get64('sysenter_esp'));
    cpu.sysenterEip = num(save.get64('sysenter_eip'));
    cpu.cpl = save.get('cpl') & 3;
    const sevEs = save !== vmcb;
    const mem = this.machine.memory;
    mem.syncTlb(cpu);
    cpu.memCrypt = mem.forAsid(this.guestKey);
    if (sevEs) {
      loadVmsaExtras(cpu, this.view, this.vmsaPa);
      cpu.features.sevEs = true;
      this.sevMsrs.active = true;
      this.sevMsrs.ghcb = vmcb.get64('ghcb_gpa');
    } else this.sevMsrs.active = false;
    this.port.sevEs = sevEs;
    cpu.updateMode();
    for (let s = 0; s < 8; s++) updateSegCheck(cpu, s);
    // Interrupt shadow from the VMCB (MOV SS / STI just before the exit).
    cpu.interruptShadow = (vmcb.get('int_state') & 1) !== 0;
    // Nested paging and the TLB: flushed when asked, or when the address space changed.
    const np = (vmcb.get64('nested_ctl') & BigInt(SVM_NESTED_CTL_NP_ENABLE)) !== 0n;
    const ncr3 = np ? Number(vmcb.get64('nested_cr3') & 0x000ffffffffff000n) : -1;
    cpu.nptRoot = ncr3;
    const asid = vmcb.get('asid');
    if (
      pagingChanged ||
      asid !== this.lastAsid ||
      ncr3 !== this.lastNcr3 ||
      vmcb.get('tlb_ctl') !== TLB_CONTROL_DO_NOTHING
    ) {
      tlbFlushAll(cpu);
    }
    this.lastAsid = asid;
    this.lastNcr3 = ncr3;
    // Intercepts: the port reads the vectors and maps; the mask tells the core what to ask.
    const port = this.port;
    port.vmcb = vmcb;
    // Views of the permission maps, made again only when the hypervisor moves them.
    const iopmPa = Number(vmcb.get64('iopm_base_pa') & ~0xfffn);
    const msrpmPa = Number(vmcb.get64('msrpm_base_pa') & ~0xfffn);
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
    port.reloadPauseFilter();
    const vintr = this.vintr;
    vintr.pending = (vmcb.get('int_ctl') & V_IRQ_MASK) !== 0;
    vintr.vector = vmcb.get('int_vector') & 0xff;
    cpu.intc = vintr.pending ? vintr : null;
    if (vintr.pending) cpu.attention |= ATT_EVENT;
  }

  /** EVENTINJ (APM 15.20): deliver before the first guest instruction. Returns an exit code or -2. */
  private inject(vmcb: Vmcb): number {
    const inj = vmcb.get('event_inj');
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
    for (const [name, seg] of SEGS) {
      save.setSegment(name, {
        selector: cpu.segSel[seg],
        attrib: cpu.segAttr[seg] & SEG_UNUSABLE ? cpu.segAttr[seg] & 0xf7f : cpu.segAttr[seg] & 0xfff,
        limit: cpu.segLimit[seg] >>> 0,
        base: u64(cpu.segBase[seg]),
      });
    }
    save.setSegment('gdtr', { selector: 0, attrib: 0, limit: cpu.gdtrLimit, base: u64(cpu.gdtrBase) });
    save.setSegment('idtr', { selector: 0, attrib: 0, limit: cpu.idtrLimit, base: u64(cpu.idtrBase) });
    save.set64('cr0', BigInt(cpu.cr0 >>> 0));
    save.set64('cr2', u64(cpu.cr2));
    save.set64('cr3', u64(cpu.cr3));
    save.set64('cr4', BigInt(cpu.cr4 >>> 0));
    save.set64('efer', BigInt(cpu.efer));
    save.set64('dr6', u64(cpu.dr[6]));
    save.set64('dr7', u64(cpu.dr[7]));
    save.set64('rflags', BigInt(getFlags(cpu)));
    save.set64('rip', u64(cpu.rip));
    save.set64('rsp', cpu.r64[4]);
    save.set64('rax', cpu.r64[0]);
    save.set64('star', cpu.star);
    save.set64('lstar', u64(cpu.lstar));
    save.set64('cstar', u64(cpu.cstar));
    save.set64('sfmask', BigInt(cpu.sfmask >>> 0));
    save.set64('kernel_gs_base', u64(cpu.kernelGsBase));
    save.set64('sysenter_cs', BigInt(cpu.sysenterCs));
    save.set64('sysenter_esp', u64(cpu.sysenterEsp));
    save.set64('sysenter_eip', u64(cpu.sysenterEip));
    save.set('cpl', cpu.cpl);
    const sevEs = save !== vmcb;
    // SEV-ES: for the automatic instruction exits the processor completes the instruction itself
    // (the hypervisor cannot move RIP): VMGEXIT, HLT, PAUSE. A completed instruction ends an STI or
    // MOV SS shadow it sat in, so `sti; hlt` leaves no shadow to block the interrupt that wakes it.
    const completed =
      sevEs && (code === SVM_EXIT_VMGEXIT || code === SVM_EXIT_HLT || code === SVM_EXIT_PAUSE);
    // SEV-ES: the hypervisor sees only whether interrupts are enabled (GUEST_INTERRUPT_MASK), no RIP.
    vmcb.set(
      'int_state',
      (cpu.interruptShadow && !completed ? 1 : 0) |
        (sevEs && cpu.eflags & 0x200 ? SVM_GUEST_INTERRUPT_MASK : 0),
    );
    const port = this.port;
    vmcb.set64('exit_code', BigInt.asUintN(64, BigInt(code)));
    vmcb.set64('exit_info_1', u64(port.exitInfo1));
    vmcb.set64('exit_info_2', u64(port.exitInfo2));
    vmcb.set64('next_rip', sevEs ? 0n : u64(port.nextRip));
    if (sevEs) {
      if (completed) save.set64('rip', u64(port.nextRip));
      vmcb.set64('ghcb_gpa', this.sevMsrs.ghcb);
      saveVmsaExtrasAndScrub(cpu, this.view, this.vmsaPa);
      this.sevMsrs.active = false;
    }
    cpu.memCrypt = mem.forAsid(HOST_KEY);
    this.guestKey = HOST_KEY;
    vmcb.set('exit_int_info', 0);
    vmcb.set('exit_int_info_err', 0);
    if (!this.vintr.pending) vmcb.set('int_ctl', vmcb.get('int_ctl') & ~V_IRQ_MASK);
    cpu.intc = null;
    cpu.intercept = null;
    cpu.interceptMask = 0;
    port.vmcb = null;
  }
}
