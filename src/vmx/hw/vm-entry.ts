// VMLAUNCH/VMRESUME and VM exits (Intel SDM vol 3C ch. 26 "VM Entries" and ch. 27 "VM Exits", 2016
// numbering; 27/28 in later editions): the hardware world switch between the hypervisor and a guest.
// A VM entry checks the controls (VMfailValid 7) and the guest state (a VM-entry failure, reason 33),
// loads the guest-state area into the processor, applies the controls through the intercept port and
// EPT, injects the VM-entry event and runs the guest; a VM exit stores the guest state back and
// writes the exit reason and the exit information fields. The hypervisor is host code: the host-state
// area is neither checked nor loaded, and VMLAUNCH takes the VMCS address (VMPTRLD folded in).

import { type Cpu, FAULT, VMEXIT } from '../../cpu/cpu.js';
import { debugRegsChanged } from '../../cpu/debug.js';
import { decode } from '../../cpu/decode.js';
import { ATT_EVENT } from '../../cpu/events.js';
import { memAddr, readRM, regSigned, setReg, writeRM } from '../../cpu/exec/operand.js';
import { writeCr } from '../../cpu/exec/system.js';
import { getFlags } from '../../cpu/flags.js';
import { Insn } from '../../cpu/insn.js';
import {
  deliver,
  deliverException,
  EV_EXCEPTION,
  EV_EXTERNAL,
  EV_NMI,
  EV_SOFTWARE,
} from '../../cpu/interrupts.js';
import { Op } from '../../cpu/ops.js';
import { InterceptKind, type InterruptController } from '../../cpu/ports.js';
import { CR0_TS, CS, ES, FS, GP, GS, IF, SS, VM } from '../../cpu/regs.js';
import { run, Stop } from '../../cpu/run.js';
import { updateSegCheck } from '../../cpu/segment-check.js';
import { fault } from '../../cpu/segments.js';
import { tlbFlushAll } from '../../cpu/tlb.js';
import { coreOf, machineOf } from '../../host/core-access.js';
import type { MemoryController } from '../../host/memory-controller.js';
import { HOST_KEY } from '../../host/memory-controller.js';
import type { PhysicalCpu } from '../../host/physical-cpu.js';
import {
  VMCS_DIRTY_ALL,
  VMCS_DIRTY_CONTROLS,
  VMCS_DIRTY_REGISTERS,
  VMCS_DIRTY_SEGMENTS,
  VMCS_REGION_SIZE,
  VMCS_REVISION_ID,
  Vmcs,
  vmcsSlotOffset,
} from '../vmcs.js';
import {
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_DR_ACCESS,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_INIT_SIGNAL,
  EXIT_REASON_INVALID_STATE,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_SIPI_SIGNAL,
  VMCS_FIELD as F,
  GUEST_ACTIVITY_ACTIVE,
  GUEST_ACTIVITY_HLT,
  GUEST_ACTIVITY_WAIT_SIPI,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_NMI,
  GUEST_INTR_STATE_STI,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_VALID_MASK,
  VMX_EXIT_REASONS_FAILED_VMENTRY,
  VMXERR_ENTRY_INVALID_CONTROL_FIELD,
} from '../vmcs-fields.js';
import { GUEST_SEGMENTS } from './guest-segments.js';
import {
  arToAttr,
  attrToAr,
  CHECKED_SEGMENTS,
  checkControls,
  checkEntryEvent,
  checkGuestState,
  checkVolatileGuestState,
} from './vm-entry-checks.js';
import {
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_USE_TSC_OFFSETTING,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_PAUSE_LOOP_EXITING,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_LOAD_IA32_EFER,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_EXIT_SAVE_IA32_EFER,
  VM_EXIT_SAVE_IA32_PAT,
  VMX_CR0_FIXED0,
  X86_CR4_VMXE,
} from './vmx-controls.js';
import {
  CR_EXIT,
  CR_SHADOW_READ,
  cltsExits,
  crReadValue,
  crWriteExits,
  lmswExits,
  VmxInterceptPort,
} from './vmx-intercepts.js';

/** VMLAUNCH/VMRESUME failed with VMfailValid: the error number is in the VM-instruction error field. */
export const VMX_FAIL_VALID = -1;
/** VMfailInvalid: no usable VMCS at that address (not in host memory, or a wrong revision identifier). */
export const VMX_FAIL_INVALID = -2;

const TWO32 = 4294967296;
const CR3_TARGETS = [F.CR3_TARGET_VALUE0, F.CR3_TARGET_VALUE1, F.CR3_TARGET_VALUE2, F.CR3_TARGET_VALUE3];
/** What a bitmap control that is off leaves the port: nothing set (never written). */
const NO_BITMAP = new Uint8Array(4096);

/**
 * Access rights as a VM exit stores them (SDM 27.3.2). The core keeps the null SS that a 64-bit
 * stack switch loads as a flat segment (limit FFFFFFFFh, G clear): it is stored with G set, as a
 * descriptor with that limit has it, so the next entry's limit/granularity check (26.3.1.2) holds.
 */
function savedAr(attr: number, limit: number): number {
  const ar = attrToAr(attr);
  return !(ar & 0x10000) && limit > 0xfffff && (limit & 0xfff) === 0xfff ? ar | 0x8000 : ar;
}

// Word indices of the fields the VM exit stores, in the region (our layout: vmcs.ts).
const W = (encoding: number): number => vmcsSlotOffset(encoding) / 4;
const SEG_CORE = GUEST_SEGMENTS.map((f) => f.seg);
const SEG_SEL_W = GUEST_SEGMENTS.map((f) => W(f.selector));
const SEG_BASE_W = GUEST_SEGMENTS.map((f) => W(f.base));
const SEG_LIMIT_W = GUEST_SEGMENTS.map((f) => W(f.limit));
const SEG_AR_W = GUEST_SEGMENTS.map((f) => W(f.ar));
const W_GDTR_BASE = W(F.GUEST_GDTR_BASE);
const W_GDTR_LIMIT = W(F.GUEST_GDTR_LIMIT);
const W_IDTR_BASE = W(F.GUEST_IDTR_BASE);
const W_IDTR_LIMIT = W(F.GUEST_IDTR_LIMIT);
const W_CR0 = W(F.GUEST_CR0);
const W_CR3 = W(F.GUEST_CR3);
const W_CR4 = W(F.GUEST_CR4);
const W_DR7 = W(F.GUEST_DR7);
const W_RSP = W(F.GUEST_RSP);
const W_RIP = W(F.GUEST_RIP);
const W_RFLAGS = W(F.GUEST_RFLAGS);
const W_SYSENTER_CS = W(F.GUEST_SYSENTER_CS);
const W_SYSENTER_ESP = W(F.GUEST_SYSENTER_ESP);
const W_SYSENTER_EIP = W(F.GUEST_SYSENTER_EIP);
const W_EFER = W(F.GUEST_IA32_EFER);
const W_PAT = W(F.GUEST_IA32_PAT);
const W_ENTRY_CONTROLS = W(F.VM_ENTRY_CONTROLS);
const W_ACTIVITY = W(F.GUEST_ACTIVITY_STATE);
const W_INTERRUPTIBILITY = W(F.GUEST_INTERRUPTIBILITY_INFO);
const W_PENDING_DBG = W(F.GUEST_PENDING_DBG_EXCEPTIONS);
const W_EXIT_REASON = W(F.VM_EXIT_REASON);
const W_EXIT_QUALIFICATION = W(F.EXIT_QUALIFICATION);
const W_GUEST_LINEAR = W(F.GUEST_LINEAR_ADDRESS);
const W_GUEST_PHYSICAL = W(F.GUEST_PHYSICAL_ADDRESS);
const W_EXIT_INTR_INFO = W(F.VM_EXIT_INTR_INFO);
const W_EXIT_INTR_ERROR = W(F.VM_EXIT_INTR_ERROR_CODE);
const W_IDT_VECTORING_INFO = W(F.IDT_VECTORING_INFO_FIELD);
const W_IDT_VECTORING_ERROR = W(F.IDT_VECTORING_ERROR_CODE);
const W_EXIT_INSTRUCTION_LEN = W(F.VM_EXIT_INSTRUCTION_LEN);
const W_INSTRUCTION_INFO = W(F.VMX_INSTRUCTION_INFO);
const W_ENTRY_INTR_INFO = W(F.VM_ENTRY_INTR_INFO_FIELD);

/** A 64-bit or natural-width slot: the 64-bit two's complement of the integer `n`. */
function put(w: Uint32Array, at: number, n: number): void {
  w[at] = n;
  w[at + 1] = n >= 0 && n < TWO32 ? 0 : Math.floor(n / TWO32);
}
/** A 32-bit field (or a natural-width one whose upper half is zero): the value and a zero upper word. */
function put32(w: Uint32Array, at: number, v: number): void {
  w[at] = v;
  w[at + 1] = 0;
}

/** The VMX unit of one logical processor. */
export class VmxHardware {
  readonly port: VmxInterceptPort;
  /** Why the last VM entry failed (error 7 or reason 33), in the SDM's words, for the trace. */
  failReason = '';
  private lastVpid = -1;
  /** The current VMCS region as 32-bit words (the VM exit stores the guest state through it). */
  private words: Uint32Array = new Uint32Array(0);
  /** The VMCS whose state this processor holds since its last VM exit (-1: none). */
  private held = -1;
  /** The last VMCS entered (VMPTRLD's current VMCS): entering it again allocates no view. */
  private current: Vmcs | null = null;
  private lastEptRoot = -1;
  private pendingInit = false;
  private pendingSipi = -1;
  private readonly insn = new Insn();
  /** GUEST_IA32_PAT as last loaded, in halves and as the core holds it. */
  private patLo = 0;
  private patHi = 0;
  private pat = 0n;
  private readonly scratch64 = new BigUint64Array(1);
  private readonly scratch32 = new Uint32Array(this.scratch64.buffer);
  /** The NMI-window probe is in cpu.nmiPending for this entry. */
  private nmiProbe = false;
  /** The guest-side interrupt controller while the window probe stands in for it. */
  private savedIntc: InterruptController | null = null;
  /** Interrupt-window exiting: makes the core ask at every boundary where IF = 1 (see externalInterrupt). */
  private readonly windowProbe: InterruptController = {
    pendingVector: () => Math.max(0, this.savedIntc?.pendingVector() ?? 0),
    acknowledge: (v) => this.savedIntc?.acknowledge(v),
  };

  private readonly cpu: Cpu;
  /** Every access goes through the machine's memory controller, without a key under VMX. */
  private readonly memory: MemoryController;

  constructor(processor: PhysicalCpu) {
    const cpu = coreOf(processor);
    this.cpu = cpu;
    this.memory = machineOf(cpu).memory;
    this.port = new VmxInterceptPort(cpu);
  }

  /**
   * VMLAUNCH with the VMCS at `vmcsPa`: returns the exit reason, or VMX_FAIL_VALID / VMX_FAIL_INVALID.
   * `emulate` is the hypervisor's instruction emulator (budget 1): the instruction's port I/O and its
   * accesses to guest-physical addresses without an EPT mapping go to the devices instead of exiting.
   */
  vmlaunch(vmcsPa: number, budget: number, emulate = false): number {
    return this.enter(vmcsPa, budget, false, emulate);
  }

  /** VMRESUME: as VMLAUNCH, on a launched VMCS. */
  vmresume(vmcsPa: number, budget: number, emulate = false): number {
    return this.enter(vmcsPa, budget, true, emulate);
  }

  /** An INIT signal: a VM exit (reason 3) at the next entry, blocked in wait-for-SIPI (SDM 25.2). */
  signalInit(): void {
    this.pendingInit = true;
  }

  /** A SIPI: a VM exit (reason 4, qualification = vector) if the guest waits for SIPI, else dropped. */
  signalSipi(vector: number): void {
    this.pendingSipi = vector & 0xff;
  }

  private enter(vmcsPa: number, budget: number, resume: boolean, emulate: boolean): number {
    const cpu = this.cpu;
    if (vmcsPa % 4096 !== 0 || vmcsPa < 0 || vmcsPa + VMCS_REGION_SIZE > cpu.ramBytes)
      return VMX_FAIL_INVALID;
    this.memory.ensureForm(vmcsPa, HOST_KEY, cpu);
    this.memory.syncTlb(cpu);
    let vmcs = this.current;
    if (vmcs === null || vmcs.offset !== vmcsPa || vmcs.view !== cpu.ram) {
      this.words = new Uint32Array(cpu.ram.buffer, cpu.ram.byteOffset + vmcsPa, VMCS_REGION_SIZE / 4);
      vmcs = this.current = new Vmcs(cpu.ram, vmcsPa, this.words);
    }
    if (vmcs.revisionId !== VMCS_REVISION_ID) return VMX_FAIL_INVALID;
    // SDM 26.1: the launch state, then the controls (26.2), then the guest state (26.3).
    if (vmcs.checkLaunchState(resume) !== 0) {
      this.failReason = resume ? 'VMRESUME with non-launched VMCS' : 'VMLAUNCH with non-clear VMCS';
      return VMX_FAIL_VALID;
    }
    // What this processor holds of the VMCS since its last exit with it: only the groups VMWRITE
    // changed since are checked and loaded again (a VMLAUNCH, another VMCS or the hypervisor's
    // instruction emulation, which may put an older copy of the region back, take everything).
    let dirty = vmcs.takeDirty();
    if (!resume || this.held !== vmcsPa || vmcs.lo(F.GUEST_RFLAGS) & VM) dirty = VMCS_DIRTY_ALL;
    this.held = -1;
    const badControl =
      dirty & VMCS_DIRTY_CONTROLS ? checkControls(vmcs, cpu.ramBytes) : checkEntryEvent(vmcs);
    if (badControl !== null) {
      this.failReason = badControl;
      vmcs.fail(VMXERR_ENTRY_INVALID_CONTROL_FIELD);
      return VMX_FAIL_VALID;
    }
    const badGuest = dirty !== 0 ? checkGuestState(vmcs) : checkVolatileGuestState(vmcs);
    if (badGuest !== null) {
      // SDM 26.7: a VM-entry failure; the VMCS stays clear (VMLAUNCH) and nothing is loaded.
      this.failReason = badGuest.why;
      const reason = (VMX_EXIT_REASONS_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE) >>> 0;
      vmcs.write32(F.VM_EXIT_REASON, reason);
      vmcs.write(F.EXIT_QUALIFICATION, BigInt(badGuest.qualification));
      return reason;
    }
    if (!resume) vmcs.markLaunched();
    const port = this.port;
    port.reset();
    const tscOffset = this.loadGuest(vmcs, dirty);
    port.ioPassthrough = emulate;
    cpu.mmioAssist = emulate;
    let reason: number;
    try {
      reason = this.execute(vmcs, budget);
    } finally {
      port.ioPassthrough = false;
      cpu.mmioAssist = false;
    }
    this.saveGuest(vmcs, reason, tscOffset);
    if (!emulate) this.held = vmcsPa;
    return reason;
  }

  /** Injection, pending INIT/SIPI, then the guest until its next VM exit. Returns the exit reason. */
  private execute(vmcs: Vmcs, budget: number): number {
    const cpu = this.cpu;
    const port = this.port;
    const activity = vmcs.read32(F.GUEST_ACTIVITY_STATE);
    if (this.pendingInit && activity !== GUEST_ACTIVITY_WAIT_SIPI) {
      this.pendingInit = false;
      port.hit(EXIT_REASON_INIT_SIGNAL, 0, false);
      return EXIT_REASON_INIT_SIGNAL;
    }
    if (this.pendingSipi >= 0) {
      const vector = this.pendingSipi;
      this.pendingSipi = -1;
      if (activity === GUEST_ACTIVITY_WAIT_SIPI) {
        port.hit(EXIT_REASON_SIPI_SIGNAL, vector, false);
        return EXIT_REASON_SIPI_SIGNAL;
      }
    }
    if (this.inject(vmcs)) return port.reason;
    // Shutdown and wait-for-SIPI: the processor does nothing until a signal; the quantum passes.
    if (activity > GUEST_ACTIVITY_HLT) return this.hostInterrupt();
    const limit = cpu.icount + budget;
    for (;;) {
      const stop = run(cpu, Math.max(0, limit - cpu.icount));
      if (stop !== Stop.VMEXIT) {
        // SHUTDOWN cannot happen (triple faults exit); BUDGET, HALT and STOPPED end the quantum.
        return this.hostInterrupt();
      }
      if (port.reason === EXIT_REASON_CR_ACCESS && port.crAction !== CR_EXIT && this.emulateCr()) continue;
      this.finishQualification();
      return port.reason;
    }
  }

  /** The end of the quantum is the host's timer: an external-interrupt exit with no vector (SDM 27.2.2). */
  private hostInterrupt(): number {
    this.port.reset();
    this.port.hit(EXIT_REASON_EXTERNAL_INTERRUPT, 0, false);
    return EXIT_REASON_EXTERNAL_INTERRUPT;
  }

  // ---------------------------------------------------------------- loading the guest (SDM 26.3.2)

  /**
   * Loads the guest-state area and the controls. Returns the TSC offset applied, to take off at exit.
   * `dirty`: the groups to load (VMCS_DIRTY_*); the others this processor still holds from its last
   * exit with this VMCS, untouched since (the fields loaded at every entry are loaded regardless).
   */
  private loadGuest(vmcs: Vmcs, dirty: number): number {
    const cpu = this.cpu;
    // 64-bit fields move as halves (readNum, lo): no BigInt on the entry path (issue 12).
    const segments = (dirty & VMCS_DIRTY_SEGMENTS) !== 0;
    // The control registers depend on the entry controls too (IA-32e mode guest, load EFER/PAT).
    const registers = (dirty & (VMCS_DIRTY_REGISTERS | VMCS_DIRTY_CONTROLS)) !== 0;
    if (segments) {
      // The segment registers as checkGuestState read them a moment ago (nothing ran in between).
      const sg = CHECKED_SEGMENTS;
      for (let i = 0; i < 8; i++) {
        const seg = GUEST_SEGMENTS[i].seg;
        cpu.segSel[seg] = sg.sel[i];
        cpu.segBase[seg] = (sg.baseHi[i] | 0) * TWO32 + sg.baseLo[i];
        cpu.segLimit[seg] = sg.limit[i];
        cpu.segAttr[seg] = arToAttr(sg.ar[i]);
      }
      cpu.gdtrBase = vmcs.readNum(F.GUEST_GDTR_BASE);
      cpu.gdtrLimit = vmcs.read32(F.GUEST_GDTR_LIMIT);
      cpu.idtrBase = vmcs.readNum(F.GUEST_IDTR_BASE);
      cpu.idtrLimit = vmcs.read32(F.GUEST_IDTR_LIMIT);
    }
    let pagingChanged = false;
    if (registers) {
      const entry = vmcs.read32(F.VM_ENTRY_CONTROLS);
      // The checks passed: CR0 and DR7 have clear upper halves, CR3 is below MAXPHYADDR.
      const cr0 = vmcs.lo(F.GUEST_CR0);
      // CR4.VMXE is required in the VMCS but not modelled for the guest: the core runs without it.
      const cr4 = (vmcs.lo(F.GUEST_CR4) & ~X86_CR4_VMXE) >>> 0;
      const cr3 = vmcs.readNum(F.GUEST_CR3);
      const ia32e = (entry & VM_ENTRY_IA32E_MODE) !== 0;
      let efer = cpu.efer;
      if (entry & VM_ENTRY_LOAD_IA32_EFER) efer = vmcs.lo(F.GUEST_IA32_EFER) & 0xffff;
      else {
        // SDM 26.3.2.1: LMA follows "IA-32e mode guest"; LME too when CR0.PG is loaded as 1.
        efer = ia32e ? efer | 0x400 : efer & ~0x400;
        if (cr0 & 0x8000_0000) efer = ia32e ? efer | 0x100 : efer & ~0x100;
      }
      pagingChanged = cr0 !== cpu.cr0 >>> 0 || cr3 !== cpu.cr3 || cr4 !== cpu.cr4 >>> 0 || efer !== cpu.efer;
      cpu.cr0 = cr0 | 0;
      cpu.cr3 = cr3;
      cpu.cr4 = cr4 | 0;
      cpu.efer = efer;
      cpu.dr[7] = vmcs.lo(F.GUEST_DR7);
      debugRegsChanged(cpu);
      cpu.sysenterCs = vmcs.read32(F.GUEST_SYSENTER_CS) & 0xffff;
      cpu.sysenterEsp = vmcs.readNum(F.GUEST_SYSENTER_ESP);
      cpu.sysenterEip = vmcs.readNum(F.GUEST_SYSENTER_EIP);
      if (entry & VM_ENTRY_LOAD_IA32_PAT) {
        // The core holds PAT as a bigint: one is made only when the VMCS value changed.
        const lo = vmcs.lo(F.GUEST_IA32_PAT);
        const hi = vmcs.hi(F.GUEST_IA32_PAT);
        if (lo !== this.patLo || hi !== this.patHi || cpu.pat !== this.pat) {
          this.scratch32[0] = lo;
          this.scratch32[1] = hi;
          this.pat = this.scratch64[0];
          this.patLo = lo;
          this.patHi = hi;
        }
        cpu.pat = this.pat;
      }
    }
    cpu.r32[8] = vmcs.lo(F.GUEST_RSP);
    cpu.r32[9] = vmcs.hi(F.GUEST_RSP);
    cpu.rip = vmcs.readNum(F.GUEST_RIP);
    cpu.eflags = (vmcs.lo(F.GUEST_RFLAGS) | 2) >>> 0;
    cpu.lfOp = 0;
    if (segments || registers) {
      // CPL is SS.DPL (SDM 26.3.2.2 note); 0 in real mode, 3 in virtual-8086 mode.
      cpu.cpl = !(cpu.cr0 & 1) ? 0 : cpu.eflags & VM ? 3 : (cpu.segAttr[SS] >>> 5) & 3;
      cpu.updateMode();
      for (let s = 0; s < 8; s++) updateSegCheck(cpu, s);
    }
    // Non-register state (26.3.2.5 and 26.6).
    const intr = vmcs.read32(F.GUEST_INTERRUPTIBILITY_INFO);
    cpu.interruptShadow = (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) !== 0;
    cpu.nmiBlocked = (intr & GUEST_INTR_STATE_NMI) !== 0;
    cpu.halted = vmcs.read32(F.GUEST_ACTIVITY_STATE) === GUEST_ACTIVITY_HLT;
    cpu.attention |= ATT_EVENT;
    // Controls.
    const port = this.port;
    if (dirty & VMCS_DIRTY_CONTROLS) this.loadControls(vmcs);
    else {
      // The processor reads the bitmaps with the host's key at every entry, as when it loads them.
      const m = this.memory;
      if (port.ioBitmapA !== NO_BITMAP) {
        m.ensureForm(port.ioBitmapA.byteOffset, HOST_KEY, cpu);
        m.ensureForm(port.ioBitmapB.byteOffset, HOST_KEY, cpu);
      }
      if (port.msrBitmap !== NO_BITMAP) m.ensureForm(port.msrBitmap.byteOffset, HOST_KEY, cpu);
    }
    const proc = port.proc;
    // PAUSE-loop exiting: the first PAUSE at CPL 0 after this entry begins a loop (SDM 25.1.3).
    if (port.proc2 & SECONDARY_EXEC_PAUSE_LOOP_EXITING) port.pauseLoop.enter(this.pleGap, this.pleWindow);
    cpu.intercept = port;
    cpu.interceptMask = this.mask;
    // NMI-window exiting: a probe NMI makes the core ask at the first boundary where one could be
    // taken (nothing else raises NMIs inside the guest: the VMM injects them).
    this.nmiProbe = (proc & CPU_BASED_NMI_WINDOW_EXITING) !== 0 && !cpu.nmiPending;
    if (this.nmiProbe) cpu.nmiPending = true;
    // Interrupt-window exiting: the probe stands in for the interrupt controller (see the port).
    if (proc & CPU_BASED_INTR_WINDOW_EXITING) {
      this.savedIntc = cpu.intc;
      cpu.intc = this.windowProbe;
    }
    const tscOffset = this.tscOffset;
    cpu.tscOffset += tscOffset;
    // EPT and the TLB (SDM 28.3.3.3): without VPIDs every entry invalidates the linear and combined
    // mappings; with them, only a new VPID, a new EPTP or changed guest paging state does.
    cpu.nptRoot = -1;
    const eptRoot = this.eptRoot;
    cpu.eptRoot = eptRoot;
    const vpid = this.vpid;
    if (vpid === 0 || pagingChanged || vpid !== this.lastVpid || eptRoot !== this.lastEptRoot)
      tlbFlushAll(cpu);
    this.lastVpid = vpid;
    this.lastEptRoot = eptRoot;
    return tscOffset;
  }

  /** What the controls give an entry, read when they were written (VMCS_DIRTY_CONTROLS). */
  private pleGap = 0;
  private pleWindow = 0;
  private mask = 0;
  private tscOffset = 0;
  private eptRoot = -1;
  private vpid = 0;

  private loadControls(vmcs: Vmcs): void {
    const port = this.port;
    const proc = vmcs.read32(F.CPU_BASED_VM_EXEC_CONTROL);
    const proc2 = proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? vmcs.read32(F.SECONDARY_VM_EXEC_CONTROL) : 0;
    port.pin = vmcs.read32(F.PIN_BASED_VM_EXEC_CONTROL);
    port.proc = proc;
    port.proc2 = proc2;
    port.exitCtls = vmcs.read32(F.VM_EXIT_CONTROLS);
    port.exceptionBitmap = vmcs.read32(F.EXCEPTION_BITMAP);
    port.pfecMask = vmcs.read32(F.PAGE_FAULT_ERROR_CODE_MASK);
    port.pfecMatch = vmcs.read32(F.PAGE_FAULT_ERROR_CODE_MATCH);
    port.cr0Mask = vmcs.lo(F.CR0_GUEST_HOST_MASK);
    port.cr4Mask = vmcs.lo(F.CR4_GUEST_HOST_MASK);
    port.cr0Shadow = vmcs.lo(F.CR0_READ_SHADOW);
    port.cr4Shadow = vmcs.lo(F.CR4_READ_SHADOW);
    const targets = port.cr3Targets;
    const nTargets = vmcs.read32(F.CR3_TARGET_COUNT); // at most 4 (checkControls)
    if (targets.length !== nTargets) targets.length = nTargets;
    for (let i = 0; i < nTargets; i++) targets[i] = vmcs.hi(CR3_TARGETS[i]) * TWO32 + vmcs.lo(CR3_TARGETS[i]);
    // Bitmap pages (checked in host memory by checkControls when their control is set).
    const io = (proc & CPU_BASED_USE_IO_BITMAPS) !== 0;
    port.ioBitmapA = io ? this.page(port.ioBitmapA, vmcs.readNum(F.IO_BITMAP_A)) : NO_BITMAP;
    port.ioBitmapB = io ? this.page(port.ioBitmapB, vmcs.readNum(F.IO_BITMAP_B)) : NO_BITMAP;
    port.msrBitmap =
      proc & CPU_BASED_USE_MSR_BITMAPS ? this.page(port.msrBitmap, vmcs.readNum(F.MSR_BITMAP)) : NO_BITMAP;
    this.pleGap = vmcs.read32(F.PLE_GAP);
    this.pleWindow = vmcs.read32(F.PLE_WINDOW);
    this.mask = port.mask();
    this.tscOffset = proc & CPU_BASED_USE_TSC_OFFSETTING ? vmcs.readNum(F.TSC_OFFSET) : 0;
    this.eptRoot =
      proc2 & SECONDARY_EXEC_ENABLE_EPT
        ? (vmcs.hi(F.EPT_POINTER) & 0xfffff) * TWO32 + ((vmcs.lo(F.EPT_POINTER) & ~0xfff) >>> 0)
        : -1;
    this.vpid = proc2 & SECONDARY_EXEC_ENABLE_VPID ? vmcs.read32(F.VIRTUAL_PROCESSOR_ID) : 0;
  }

  /** A 4 KiB bitmap page of host memory; the view of the previous entry when it is the same page. */
  private page(previous: Uint8Array, at: number): Uint8Array {
    this.memory.ensureForm(at, HOST_KEY, this.cpu);
    const ram = this.cpu.ram.buffer;
    return previous.buffer === ram && previous.byteOffset === at ? previous : new Uint8Array(ram, at, 4096);
  }

  /**
   * VM-entry event injection (SDM 26.5): delivered through the guest IDT before its first instruction,
   * not subject to the exception bitmap. Returns true if the delivery ended in a VM exit (then the
   * IDT-vectoring information describes the injected event, SDM 27.2.3).
   */
  private inject(vmcs: Vmcs): boolean {
    const info = vmcs.read32(F.VM_ENTRY_INTR_INFO_FIELD);
    if (!(info & INTR_INFO_VALID_MASK)) return false;
    const cpu = this.cpu;
    const port = this.port;
    const type = (info >>> 8) & 7;
    const vector = info & 0xff;
    const hasErr = (info & INTR_INFO_DELIVER_CODE_MASK) !== 0;
    const err = vmcs.read32(F.VM_ENTRY_EXCEPTION_ERROR_CODE);
    const entryRip = cpu.rip;
    const software = type === 4 || type === 5 || type === 6;
    const len = software ? vmcs.read32(F.VM_ENTRY_INSTRUCTION_LEN) : 0;
    if (software) cpu.rip = entryRip + len; // the return address is after the instruction
    const kind =
      type === 0 ? EV_EXTERNAL : type === 2 ? EV_NMI : type === 4 || type === 6 ? EV_SOFTWARE : EV_EXCEPTION;
    if (type === 2) cpu.nmiBlocked = true;
    port.setDelivering(info & ~0x1000, hasErr ? err : 0);
    const mask = cpu.interceptMask;
    cpu.interceptMask &= ~(1 << InterceptKind.EXCEPTION);
    try {
      deliver(cpu, vector, kind, err, hasErr);
      return false;
    } catch (e) {
      if (e === VMEXIT) {
        if (software) {
          cpu.rip = entryRip;
          port.nextRip = entryRip + len;
        }
        return true;
      }
      if (e !== FAULT) throw e;
      cpu.interceptMask = mask;
      return !this.deliverFault();
    } finally {
      cpu.interceptMask = mask;
    }
  }

  /** A fault raised outside run() (injection, an emulated CR access): deliver it as run() would. */
  private deliverFault(): boolean {
    try {
      if (deliverException(this.cpu)) return true;
      this.port.intercept(InterceptKind.SHUTDOWN, 0, 0); // triple fault: always a VM exit
      return false;
    } catch (e) {
      if (e === VMEXIT) return false;
      throw e;
    }
  }

  // ---------------------------------------------------------------- CR accesses (SDM 25.1.3, 25.3)

  /** The instruction at CS:RIP (the one that exited: run() leaves RIP on it). */
  private decodeCurrent(): Insn {
    const cpu = this.cpu;
    const lin = cpu.codeSize === 64 ? cpu.rip : (cpu.segBase[CS] + cpu.rip) >>> 0;
    decode(cpu, lin, this.insn);
    return this.insn;
  }

  /**
   * A MOV to CR0/CR4 under a guest/host mask or to CR3 with CR3-target values, or a read of CR0/CR4
   * under a mask: decides with the operand whether it is a VM exit. If not, executes it here as
   * non-root operation defines (host-owned bits keep their value on writes; reads see the shadow) and
   * returns true to go on running the guest.
   */
  private emulateCr(): boolean {
    const cpu = this.cpu;
    const port = this.port;
    const insn = this.decodeCurrent();
    const n = port.regNumber;
    const mask = n === 0 ? port.cr0Mask : port.cr4Mask;
    const shadow = n === 0 ? port.cr0Shadow : port.cr4Shadow;
    try {
      if (port.crAction === CR_SHADOW_READ) {
        const v = crReadValue(n === 0 ? cpu.cr0 : cpu.cr4, mask, shadow);
        if (insn.op === Op.SMSW) {
          if (insn.mem) writeRM(cpu, insn, 2, v & 0xffff);
          else setReg(cpu, insn.rm, insn.size === 8 ? 4 : insn.size, insn.size === 2 ? v & 0xffff : v);
        } else {
          cpu.r32[insn.rm << 1] = v;
          cpu.r32[(insn.rm << 1) + 1] = 0;
        }
      } else if (insn.op === Op.CLTS) {
        if (cltsExits(mask, shadow)) return false;
        if (!(mask & CR0_TS)) cpu.cr0 &= ~CR0_TS;
      } else if (insn.op === Op.LMSW) {
        const src = readRM(cpu, insn, 2);
        if (lmswExits(mask, shadow, src)) return false;
        const bits = (src & 0xf & ~mask) | (cpu.cr0 & 1); // PE cannot be cleared
        writeCr(cpu, 0, ((cpu.cr0 & ~(0xe & ~mask)) | bits) >>> 0);
      } else {
        const v = insn.size === 8 ? regSigned(cpu, insn.rm) : cpu.r32[insn.rm << 1] >>> 0;
        if (v < 0) fault(cpu, GP, 0);
        if (n === 3) {
          if (!port.cr3Targets.includes(v)) return false;
          writeCr(cpu, 3, v);
        } else {
          if (crWriteExits(mask, shadow, v % TWO32)) return false;
          const real = n === 0 ? cpu.cr0 : cpu.cr4;
          const merged = ((real & mask) | ((v % TWO32) & ~mask)) >>> 0;
          // Guest-owned bits may not leave the VMX fixed settings (SDM 25.3): #GP.
          if (n === 0) {
            const unrestricted = (port.proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST) !== 0;
            const fixed0 = unrestricted ? VMX_CR0_FIXED0 & ~0x8000_0001 : VMX_CR0_FIXED0;
            if ((merged & fixed0) !== (fixed0 | 0)) fault(cpu, GP, 0);
          }
          writeCr(cpu, n, merged + (v - (v % TWO32)));
        }
      }
    } catch (e) {
      if (e === VMEXIT) return false; // the operand access itself exited (an EPT violation)
      if (e !== FAULT) throw e;
      port.reset();
      return this.deliverFault();
    }
    // The instruction retired without an exit: on to the next one.
    cpu.rip = cpu.codeSize === 16 ? port.nextRip & 0xffff : port.nextRip;
    cpu.icount++;
    if (cpu.interruptShadow) {
      cpu.interruptShadow = false;
      cpu.attention |= ATT_EVENT;
    }
    port.reset();
    return true;
  }

  /** Exit qualifications that need the instruction's operands (SDM Tables 27-3, 27-4, 27-5). */
  private finishQualification(): void {
    const port = this.port;
    const reason = port.reason;
    if (
      reason !== EXIT_REASON_CR_ACCESS &&
      reason !== EXIT_REASON_DR_ACCESS &&
      reason !== EXIT_REASON_IO_INSTRUCTION
    )
      return;
    const cpu = this.cpu;
    const insn = this.decodeCurrent();
    if (reason === EXIT_REASON_DR_ACCESS) {
      port.qualification = port.regNumber | (port.drRead ? 0x10 : 0) | (insn.rm << 8);
    } else if (reason === EXIT_REASON_CR_ACCESS) {
      const n = port.regNumber;
      if (insn.op === Op.CLTS) port.qualification = (2 << 4) | n;
      else if (insn.op === Op.LMSW) {
        // The source was read when the exit was decided (emulateCr): this read hits the TLB.
        port.qualification = (3 << 4) | (insn.mem ? 0x40 : 0) | (readRM(cpu, insn, 2) << 16);
        if (insn.mem) port.guestLinear = memAddr(cpu, insn, 2, false);
      } else port.qualification = n | (insn.op === Op.MOV_R_CR ? 0x10 : 0) | (insn.rm << 8);
    } else {
      const imm = insn.op === Op.IN_I || insn.op === Op.OUT_I;
      port.qualification = (port.qualification | (imm ? 0x40 : 0)) >>> 0;
      // String I/O: the guest-linear address of the memory operand (SDM 27.2.1).
      if (port.ioInfo & 4) {
        const into = (port.ioInfo & 1) !== 0;
        const seg = into ? ES : insn.seg;
        const reg = into ? 7 : 6;
        const a =
          insn.asize === 8
            ? regSigned(cpu, reg)
            : insn.asize === 4
              ? cpu.r32[reg << 1] >>> 0
              : cpu.r16[reg << 2];
        port.guestLinear = cpu.codeSize === 64 && seg !== FS && seg !== GS ? a : cpu.segBase[seg] + a;
      }
    }
  }

  // ---------------------------------------------------------------- the VM exit (SDM 27.2, 27.3)

  private saveGuest(vmcs: Vmcs, reason: number, tscOffset: number): void {
    this.memory.ensureForm(vmcs.offset, HOST_KEY, this.cpu); // the guest may have touched it with its own mapping
    const cpu = this.cpu;
    const port = this.port;
    // Stored as words of the region (slots of 8 bytes, little-endian; a 16- or 32-bit field's upper
    // word is zero): one typed-array store per half, no field look-up (issue 12).
    const w = this.words;
    for (let i = 0; i < 8; i++) {
      const seg = SEG_CORE[i];
      const limit = cpu.segLimit[seg] >>> 0;
      w[SEG_SEL_W[i]] = cpu.segSel[seg];
      put(w, SEG_BASE_W[i], cpu.segBase[seg]);
      w[SEG_LIMIT_W[i]] = limit;
      w[SEG_AR_W[i]] = savedAr(cpu.segAttr[seg], limit);
    }
    put(w, W_GDTR_BASE, cpu.gdtrBase);
    put32(w, W_GDTR_LIMIT, cpu.gdtrLimit);
    put(w, W_IDTR_BASE, cpu.idtrBase);
    put32(w, W_IDTR_LIMIT, cpu.idtrLimit);
    put32(w, W_CR0, cpu.cr0);
    put(w, W_CR3, cpu.cr3);
    put32(w, W_CR4, cpu.cr4 | X86_CR4_VMXE);
    put(w, W_DR7, cpu.dr[7]);
    w[W_RSP] = cpu.r32[8];
    w[W_RSP + 1] = cpu.r32[9];
    put(w, W_RIP, cpu.rip);
    put32(w, W_RFLAGS, getFlags(cpu));
    put32(w, W_SYSENTER_CS, cpu.sysenterCs);
    put(w, W_SYSENTER_ESP, cpu.sysenterEsp);
    put(w, W_SYSENTER_EIP, cpu.sysenterEip);
    const exitCtls = port.exitCtls;
    if (exitCtls & VM_EXIT_SAVE_IA32_EFER) put(w, W_EFER, cpu.efer);
    if (exitCtls & VM_EXIT_SAVE_IA32_PAT) {
      if (cpu.pat !== this.pat) {
        // WRMSR PAT in the guest: the new value's halves (a typed-array store, no allocation).
        this.scratch64[0] = cpu.pat;
        this.pat = cpu.pat;
        this.patLo = this.scratch32[0];
        this.patHi = this.scratch32[1];
      }
      w[W_PAT] = this.patLo;
      w[W_PAT + 1] = this.patHi;
    }
    // The "IA-32e mode guest" entry control follows EFER.LMA (SDM 27.2).
    const entry = w[W_ENTRY_CONTROLS];
    w[W_ENTRY_CONTROLS] = cpu.efer & 0x400 ? entry | VM_ENTRY_IA32E_MODE : entry & ~VM_ENTRY_IA32E_MODE;
    // Activity and interruptibility (27.3.4). The core keeps one interrupt shadow: it is reported as
    // blocking by STI when IF is set, else as blocking by MOV SS.
    if (w[W_ACTIVITY] <= GUEST_ACTIVITY_HLT)
      w[W_ACTIVITY] = cpu.halted ? GUEST_ACTIVITY_HLT : GUEST_ACTIVITY_ACTIVE;
    const shadow = cpu.interruptShadow
      ? cpu.eflags & IF
        ? GUEST_INTR_STATE_STI
        : GUEST_INTR_STATE_MOV_SS
      : 0;
    w[W_INTERRUPTIBILITY] = shadow | (cpu.nmiBlocked ? GUEST_INTR_STATE_NMI : 0);
    w[W_PENDING_DBG] = w[W_PENDING_DBG + 1] = 0;
    // Exit information (27.2.1-27.2.4).
    put32(w, W_EXIT_REASON, reason);
    put(w, W_EXIT_QUALIFICATION, port.qualification);
    put(w, W_GUEST_LINEAR, Number.isNaN(port.guestLinear) ? 0 : port.guestLinear);
    put(w, W_GUEST_PHYSICAL, Number.isNaN(port.guestPhysical) ? 0 : port.guestPhysical);
    put32(w, W_EXIT_INTR_INFO, port.intrInfo);
    put32(w, W_EXIT_INTR_ERROR, port.intrError);
    put32(w, W_IDT_VECTORING_INFO, port.idtInfo);
    put32(w, W_IDT_VECTORING_ERROR, port.idtError);
    put32(w, W_EXIT_INSTRUCTION_LEN, Number.isNaN(port.nextRip) ? 0 : port.nextRip - cpu.rip);
    put32(w, W_INSTRUCTION_INFO, 0);
    // VM exits clear the valid bit of the VM-entry interruption information (SDM 27.2).
    w[W_ENTRY_INTR_INFO] &= ~INTR_INFO_VALID_MASK;
    // Back to the host.
    cpu.tscOffset -= tscOffset;
    if (this.nmiProbe) {
      cpu.nmiPending = false;
      this.nmiProbe = false;
    }
    if (cpu.intc === this.windowProbe) {
      cpu.intc = this.savedIntc;
      this.savedIntc = null;
    }
    cpu.intercept = null;
    cpu.interceptMask = 0;
  }
}
