// One local APIC (SDM vol 3 ch. 11, AMD APM vol 2 ch. 16): the register file behind the xAPIC page
// and the x2APIC MSRs, interrupt acceptance, priorities, EOI, errors, LVTs and the timer. It does not
// touch the processor: INIT, SIPI, NMI, SMI and ExtINT are latched in `pendingEvents` for the VMM to
// act on before the next entry (KVM's kvm_apic_accept_events), and `kick()` wakes the owner.
import type { InterruptController } from '../cpu/ports.js';
import { type ApicClock, ApicTimer } from './apic-timer.js';
import {
  APIC_APR,
  APIC_BASE_BSP,
  APIC_BASE_DEFAULT,
  APIC_BASE_EN,
  APIC_BASE_EXTD,
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HIGH,
  APIC_ICR_LOW,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVT_CMCI,
  APIC_LVT_ERROR,
  APIC_LVT_LINT0,
  APIC_LVT_LINT1,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_RRD,
  APIC_SELF_IPI,
  APIC_SVR,
  APIC_TIMER_CCR,
  APIC_TIMER_DCR,
  APIC_TIMER_ICR,
  APIC_TMR,
  APIC_TPR,
  APIC_VERSION,
  APIC_VERSION_VALUE,
  DFR_FLAT,
  DM_EXTINT,
  DM_FIXED,
  DM_INIT,
  DM_LOWEST,
  DM_NMI,
  DM_RESERVED,
  DM_SMI,
  DM_STARTUP,
  ESR_ILLEGAL_REGISTER_ADDRESS,
  ESR_RECEIVE_ILLEGAL_VECTOR,
  ESR_REDIRECTABLE_IPI,
  ESR_SEND_ACCEPT,
  ESR_SEND_ILLEGAL_VECTOR,
  ICR_DELIVERY_STATUS,
  ICR_LOW_MASK,
  ICR_SHORTHAND_SHIFT,
  LVT_MASKED,
  LVT_REMOTE_IRR,
  LVT_TIMER_MODE_SHIFT,
  LVT_TRIGGER_LEVEL,
  MSR_IA32_APIC_BASE,
  MSR_IA32_TSC_DEADLINE,
  MSR_X2APIC_ICR,
  SH_SELF,
  SVR_APIC_ENABLE,
  X2APIC_BROADCAST,
  X2APIC_MSR_BASE,
  X2APIC_MSR_LAST,
} from './registers.js';
import { clearVector, hasVector, highestVector, setVector } from './vector-set.js';
import { ApicGpError, checkX2apicRead, checkX2apicWrite } from './x2apic.js';

// IA32_APIC_BASE[11:10] as KVM names the combinations (SDM 11.12.5 figure 11-27).
export const LAPIC_MODE_DISABLED = 0;
export const LAPIC_MODE_INVALID = APIC_BASE_EXTD;
export const LAPIC_MODE_XAPIC = APIC_BASE_EN;
export const LAPIC_MODE_X2APIC = APIC_BASE_EN | APIC_BASE_EXTD;

// pendingEvents bits: what the VMM must act on before the vCPU's next entry.
export const EV_INIT = 1;
export const EV_SIPI = 2;
export const EV_NMI = 4;
export const EV_SMI = 8;
export const EV_EXTINT = 16;

/** Where a local APIC sends the IPIs its ICR writes ask for (the ApicBus). */
export interface IpiRouter {
  /** Deliver what the ICR low dword says to `dest` (8-bit xAPIC or 32-bit x2APIC destination). */
  sendIpi(from: LocalApic, icrLow: number, dest: number): void;
  /** An ICR or SELF IPI write logged `esrBits` in the sender's ESR; `sent` if the IPI still went. */
  icrError(from: LocalApic, esrBits: number, icrLow: number, sent: boolean): void;
}

export interface LocalApicOptions {
  /** Initial APIC ID: the xAPIC ID after reset and the (read-only) x2APIC ID. */
  apicId: number;
  clock: ApicClock;
  bsp?: boolean;
  /** Whether IA32_APIC_BASE.EXTD may be set (CPUID.1:ECX.x2APIC). Default true. */
  x2apic?: boolean;
  /** MAXPHYADDR: APIC_BASE bits at and above it are reserved. Default 40. */
  physAddrBits?: number;
  /** TSC ticks per timer input clock, before the divider. Default 1. */
  ticksPerBusClock?: number;
  /** Called whenever something became pending, so the owner can wake the vCPU. */
  kick?: () => void;
  /** Called on EOI of a level-triggered vector (the EOI broadcast to the I/O APICs, SDM 11.8.5). */
  eoiBroadcast?: (vector: number) => void;
}

const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];
/** LVT slots: (offset - 0x320) / 16 for timer..error, then CMCI. */
const LINT0_SLOT = 3;
const LINT1_SLOT = 4;
const ERROR_SLOT = 5;
const LVT_CMCI_SLOT = 6;
/** Writable LVT bits through MMIO, per slot (SDM figure 11-8; delivery status and remote IRR are RO). */
const LVT_WRITABLE = [0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff, 0x107ff];
const NOOP = (): void => {};

function lvtSlot(offset: number): number {
  if (offset === APIC_LVT_CMCI) return LVT_CMCI_SLOT;
  if (offset >= APIC_LVT_TIMER && offset <= APIC_LVT_ERROR) return (offset - APIC_LVT_TIMER) >>> 4;
  return -1;
}

/**
 * IRR, ISR and TMR (8 words each) and the 7 LVT entries live in one buffer: a typed array of its own
 * for each costs more memory than the registers it holds.
 */
const REG_WORDS = 3 * 8 + 7;

export class LocalApic implements InterruptController {
  readonly apicId: number;
  private readonly regs = new Uint32Array(REG_WORDS);
  readonly irr = this.regs.subarray(0, 8);
  readonly isr = this.regs.subarray(8, 16);
  readonly tmr = this.regs.subarray(16, 24);
  /** EV_* bits latched by accept(); the VMM reads and clears them with takeEvents(). */
  pendingEvents = 0;
  /** Vector of the last STARTUP IPI (valid while EV_SIPI is pending). */
  sipiVector = 0;
  router: IpiRouter | null = null;
  kick: () => void;
  eoiBroadcast: (vector: number) => void;
  readonly timer: ApicTimer;

  private readonly x2apicSupported: boolean;
  private readonly physAddrLimit: number;
  private base = APIC_BASE_DEFAULT;
  private baseFlags: number;
  private xapicId: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = DFR_FLAT;
  private svr = 0xff;
  private icrLow = 0;
  private icrHigh = 0;
  private esr = 0;
  /** Errors detected since the last ESR write; a write moves them into `esr` (SDM 11.5.3). */
  private esrPending = 0;
  private readonly lvt = this.regs.subarray(24, 31);

  constructor(opts: LocalApicOptions) {
    // FFFFFFFFh is the x2APIC broadcast and no processor may have it (SDM 11.12.1.3).
    if (!Number.isInteger(opts.apicId) || opts.apicId < 0 || opts.apicId >= X2APIC_BROADCAST)
      throw new RangeError(`APIC ID ${opts.apicId} is not a 32-bit x2APIC ID below FFFFFFFFh`);
    this.apicId = opts.apicId >>> 0;
    this.xapicId = this.apicId & 0xff;
    this.x2apicSupported = opts.x2apic ?? true;
    this.physAddrLimit = 2 ** (opts.physAddrBits ?? 40);
    this.baseFlags = APIC_BASE_EN | (opts.bsp ? APIC_BASE_BSP : 0);
    this.kick = opts.kick ?? NOOP;
    this.eoiBroadcast = opts.eoiBroadcast ?? NOOP;
    this.timer = new ApicTimer(opts.clock, opts.ticksPerBusClock ?? 1);
    this.lvt.fill(LVT_MASKED);
  }

  // ---- mode and IA32_APIC_BASE (SDM 11.4.4, 11.12.5) ----

  /** One of LAPIC_MODE_DISABLED, LAPIC_MODE_XAPIC, LAPIC_MODE_X2APIC. */
  get mode(): number {
    return this.baseFlags & (APIC_BASE_EN | APIC_BASE_EXTD);
  }

  get x2apicMode(): boolean {
    return this.mode === LAPIC_MODE_X2APIC;
  }

  /** Hardware enabled (IA32_APIC_BASE.EN). */
  get hwEnabled(): boolean {
    return (this.baseFlags & APIC_BASE_EN) !== 0;
  }

  /** Software enabled (SVR bit 8, SDM 11.4.7.2). */
  get swEnabled(): boolean {
    return (this.svr & SVR_APIC_ENABLE) !== 0;
  }

  get isBsp(): boolean {
    return (this.baseFlags & APIC_BASE_BSP) !== 0;
  }

  /** Physical address of the xAPIC page. */
  get mmioBase(): number {
    return this.base;
  }

  /** Whether the xAPIC page answers (in x2APIC mode it behaves as if globally disabled, 11.12.1.2). */
  get mmioActive(): boolean {
    return this.mode === LAPIC_MODE_XAPIC;
  }

  get apicBase(): bigint {
    return BigInt(this.base) | BigInt(this.baseFlags);
  }

  /**
   * WRMSR IA32_APIC_BASE. Throws ApicGpError for reserved bits and the illegal transitions of SDM
   * figure 11-27 (EXTD without EN; x2APIC → xAPIC; disabled → x2APIC). A host (the VMM restoring
   * state) may make any legal-looking combination.
   */
  setApicBase(value: bigint, hostInitiated = false): void {
    const v = BigInt.asUintN(64, value);
    const lo = Number(v & 0xfffn);
    const addr = Number(v & ~0xfffn);
    let reserved = 0xff | (1 << 9);
    if (!this.x2apicSupported) reserved |= APIC_BASE_EXTD;
    if (lo & reserved || addr >= this.physAddrLimit)
      throw new ApicGpError(MSR_IA32_APIC_BASE, 'reserved bits set');
    const next = lo & (APIC_BASE_EN | APIC_BASE_EXTD);
    const prev = this.mode;
    if (next === LAPIC_MODE_INVALID) throw new ApicGpError(MSR_IA32_APIC_BASE, 'EXTD set without EN');
    if (!hostInitiated) {
      if (prev === LAPIC_MODE_X2APIC && next === LAPIC_MODE_XAPIC)
        throw new ApicGpError(MSR_IA32_APIC_BASE, 'x2APIC to xAPIC is an illegal transition');
      if (prev === LAPIC_MODE_DISABLED && next === LAPIC_MODE_X2APIC)
        throw new ApicGpError(MSR_IA32_APIC_BASE, 'disabled to x2APIC is an illegal transition');
    }
    this.base = addr;
    this.baseFlags = lo & (APIC_BASE_BSP | APIC_BASE_EN | APIC_BASE_EXTD);
    // Clearing EN returns the APIC to its power-up state (SDM 11.4.3, 11.12.5.1).
    if (next === LAPIC_MODE_DISABLED && prev !== LAPIC_MODE_DISABLED) {
      this.resetRegisters(false);
      this.pendingEvents = 0;
    }
  }

  /**
   * Power-up reset (initEvent false: IA32_APIC_BASE back to its default) or INIT reset (initEvent
   * true: APIC ID and IA32_APIC_BASE kept, SDM 11.4.7.3).
   */
  reset(initEvent: boolean): void {
    if (!initEvent) {
      this.base = APIC_BASE_DEFAULT;
      this.baseFlags = APIC_BASE_EN | (this.baseFlags & APIC_BASE_BSP);
      this.pendingEvents = 0;
    }
    this.resetRegisters(initEvent);
  }

  private resetRegisters(keepId: boolean): void {
    if (!keepId) this.xapicId = this.apicId & 0xff;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = DFR_FLAT;
    this.svr = 0xff;
    this.icrLow = 0;
    this.icrHigh = 0;
    this.esr = 0;
    this.esrPending = 0;
    this.lvt.fill(LVT_MASKED);
    this.timer.reset();
  }

  // ---- identity, as the bus matches destinations (SDM 11.6.2) ----

  /** The ID physical destinations compare with: 8-bit xAPIC ID or 32-bit x2APIC ID. */
  get physicalId(): number {
    return this.x2apicMode ? this.apicId : this.xapicId;
  }

  /** LDR: xAPIC bits 31:24 as written; x2APIC derived from the ID (SDM 11.12.10.2). */
  get logicalId(): number {
    if (this.x2apicMode) return (((this.apicId >>> 4) << 16) | (1 << (this.apicId & 15))) >>> 0;
    return this.ldr;
  }

  get destinationFormat(): number {
    return this.dfr;
  }

  // ---- priorities (SDM 11.8.3.1) ----

  /** PPR: TPR if its class is at least the highest in-service class, else that class. */
  get ppr(): number {
    const isrv = highestVector(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  /** APR (SDM 11.6.2.4): the priority this APIC arbitrates with for lowest-priority delivery. */
  get apr(): number {
    const irrv = Math.max(highestVector(this.irr), 0) & 0xf0;
    const isrv = Math.max(highestVector(this.isr), 0) & 0xf0;
    const tprClass = this.tpr & 0xf0;
    if (tprClass >= irrv && tprClass > isrv) return this.tpr;
    return Math.max(tprClass, isrv, irrv);
  }

  get taskPriority(): number {
    return this.tpr;
  }

  /** MOV to CR8 writes TPR[7:4] (SDM 11.8.6); the VMM calls this when it virtualizes CR8. */
  set taskPriority(v: number) {
    this.tpr = v & 0xff;
  }

  // ---- InterruptController ----

  /**
   * The 8259 pair behind an ExtINT delivery (LINT0 in virtual-wire mode): its vector comes from the
   * INTA cycle, not from the IRR, and it bypasses the APIC's priorities (SDM 10.5.1, KVM's
   * kvm_cpu_has_extint).
   */
  extIntSource: { pendingVector(): number; inta(): number } | null = null;
  private extIntPending = false;

  pendingVector(): number {
    if (this.extIntPending) {
      const x = this.extIntSource?.pendingVector() ?? -1;
      if (x >= 0) return x;
      this.extIntPending = false; // the request went away before it was taken
    }
    if ((this.baseFlags & APIC_BASE_EN) === 0) return -1;
    const v = highestVector(this.irr);
    if (v < 0 || (v & 0xf0) <= (this.ppr & 0xf0)) return -1;
    return v;
  }

  /** Interrupts acknowledged (delivered to the processor) so far, for the VMM's time accounting. */
  acknowledged = 0;

  /** `--trace irq`: acceptance into the IRR, delivery to the processor, EOI; null when off. */
  irqTrace: ((line: string) => void) | null = null;

  private traceIrq(what: string): void {
    this.irqTrace?.(`APIC 0x${this.physicalId.toString(16)}: ${what}`);
  }

  acknowledge(vector: number): void {
    this.acknowledged++;
    if (this.extIntPending && this.extIntSource !== null) {
      this.extIntPending = false;
      const v = this.extIntSource.inta();
      if (this.irqTrace !== null) this.traceIrq(`ExtINT: INTA cycle to the 8259, vector 0x${v.toString(16)}`);
      return;
    }
    clearVector(this.irr, vector);
    setVector(this.isr, vector);
    if (this.irqTrace !== null)
      this.traceIrq(`vector 0x${vector.toString(16)} IRR -> ISR (delivered to the processor)`);
  }

  /** Read and clear the latched INIT/SIPI/NMI/SMI/ExtINT events (KVM's xchg of pending_events). */
  takeEvents(): number {
    const e = this.pendingEvents;
    this.pendingEvents = 0;
    return e;
  }

  /**
   * Accept an interrupt message from the bus (KVM's __apic_accept_irq). Returns whether this APIC
   * took it. Fixed and lowest priority need a software-enabled APIC; NMI, SMI, INIT and SIPI are
   * accepted even when software-disabled (SDM 11.4.7.2).
   */
  accept(deliveryMode: number, vector: number, triggerLevel: boolean, assert: boolean): boolean {
    if ((this.baseFlags & APIC_BASE_EN) === 0) return false;
    switch (deliveryMode) {
      case DM_FIXED:
      case DM_LOWEST:
        if ((this.svr & SVR_APIC_ENABLE) === 0) return false;
        return this.setIrr(vector, triggerLevel);
      case DM_NMI:
        this.pendingEvents |= EV_NMI;
        break;
      case DM_SMI:
        this.pendingEvents |= EV_SMI;
        break;
      case DM_INIT:
        // INIT level de-assert is not supported by modern processors (SDM 11.6.1); KVM ignores it.
        if (triggerLevel && !assert) return false;
        // A new INIT discards a SIPI not yet acted on, as KVM's pending_events = INIT does.
        this.pendingEvents = (this.pendingEvents & ~EV_SIPI) | EV_INIT;
        break;
      case DM_STARTUP:
        // Only latched: the VMM drops it unless the vCPU is waiting for SIPI (INIT_RECEIVED).
        this.sipiVector = vector & 0xff;
        this.pendingEvents |= EV_SIPI;
        break;
      case DM_EXTINT:
        this.pendingEvents |= EV_EXTINT;
        if (this.extIntSource !== null) this.extIntPending = true;
        break;
      default:
        return false;
    }
    this.kick();
    return true;
  }

  /** Put `vector` in the IRR (TMR set for level, cleared for edge: SDM 11.8.4). */
  private setIrr(vector: number, level: boolean): boolean {
    if (vector < 16) {
      // Vectors 0-15 are never set in the IRR; only Receive Illegal Vector is logged (11.5.3).
      this.recordError(ESR_RECEIVE_ILLEGAL_VECTOR);
      return false;
    }
    setVector(this.irr, vector);
    if (level) setVector(this.tmr, vector);
    else clearVector(this.tmr, vector);
    if (this.irqTrace !== null)
      this.traceIrq(`vector 0x${vector.toString(16)} accepted into the IRR (${level ? 'level' : 'edge'})`);
    this.kick();
    return true;
  }

  /** EOI (SDM 11.8.5): retire the highest in-service vector; broadcast it if it was level-triggered. */
  eoi(): void {
    const v = highestVector(this.isr);
    if (v < 0) return;
    clearVector(this.isr, v);
    if (this.irqTrace !== null)
      this.traceIrq(
        `EOI: vector 0x${v.toString(16)} leaves the ISR${hasVector(this.tmr, v) ? ' (level: EOI broadcast to the I/O APIC)' : ''}`,
      );
    if (!hasVector(this.tmr, v)) return;
    this.clearRemoteIrr(LINT0_SLOT, v);
    this.clearRemoteIrr(LINT1_SLOT, v);
    this.eoiBroadcast(v);
  }

  /** A level-triggered fixed LINT entry keeps remote IRR from acceptance until the EOI (11.5.1). */
  private clearRemoteIrr(slot: number, vector: number): void {
    const e = this.lvt[slot];
    if (e & LVT_REMOTE_IRR && (e & 0xff) === vector) this.lvt[slot] = e & ~LVT_REMOTE_IRR;
  }

  // ---- local interrupts: LVT entries and the timer (SDM 11.5.1) ----

  /** Signal a local interrupt source (LINT0/LINT1 pin, thermal, PMC, CMCI, timer, error) by LVT offset. */
  localInterrupt(lvtOffset: number): boolean {
    if ((this.baseFlags & APIC_BASE_EN) === 0) return false;
    const slot = lvtSlot(lvtOffset);
    if (slot < 0) return false;
    const e = this.lvt[slot];
    if (e & LVT_MASKED) return false;
    const vector = e & 0xff;
    const mode = lvtOffset === APIC_LVT_TIMER || lvtOffset === APIC_LVT_ERROR ? DM_FIXED : (e >>> 8) & 7;
    if (mode === DM_FIXED) {
      const level =
        (lvtOffset === APIC_LVT_LINT0 || lvtOffset === APIC_LVT_LINT1) && (e & LVT_TRIGGER_LEVEL) !== 0;
      if (level) {
        if (e & LVT_REMOTE_IRR) return false; // still in service
        if (vector >= 16) this.lvt[slot] = e | LVT_REMOTE_IRR;
      }
      return this.setIrr(vector, level);
    }
    return this.accept(mode, vector, false, true);
  }

  /** Tick at which the timer next fires, or -1: a scheduler may let the vCPU sleep until then. */
  nextTimerDeadline(): number {
    return this.timer.nextDeadline();
  }

  /** Fire the timer if the clock has reached its deadline. Returns whether an interrupt was raised. */
  pollTimer(): boolean {
    if (!this.timer.expire()) return false;
    return this.localInterrupt(APIC_LVT_TIMER);
  }

  /** Log an error in the ESR and raise the LVT error interrupt (SDM 11.5.3). */
  private recordError(bits: number): void {
    this.esrPending |= bits;
    const e = this.lvt[ERROR_SLOT];
    if (e & LVT_MASKED) return;
    const vector = e & 0xff;
    if (vector < 16) this.esrPending |= ESR_RECEIVE_ILLEGAL_VECTOR;
    else {
      setVector(this.irr, vector);
      clearVector(this.tmr, vector);
      this.kick();
    }
  }

  // ---- register file, shared by both access paths ----

  /** Value of the register at `offset`, or -1 if there is none (an illegal register address). */
  private readReg(offset: number): number {
    switch (offset) {
      case APIC_ID:
        return this.x2apicMode ? this.apicId : (this.xapicId << 24) >>> 0;
      case APIC_VERSION:
        return APIC_VERSION_VALUE;
      case APIC_TPR:
        return this.tpr;
      case APIC_APR:
        return this.apr;
      case APIC_PPR:
        return this.ppr;
      case APIC_EOI:
      case APIC_RRD:
        return 0;
      case APIC_LDR:
        return this.logicalId;
      case APIC_DFR:
        return this.dfr;
      case APIC_SVR:
        return this.svr;
      case APIC_ESR:
        return this.esr;
      case APIC_ICR_LOW:
        return this.icrLow; // delivery status always idle: delivery is immediate
      case APIC_ICR_HIGH:
        return this.icrHigh;
      case APIC_TIMER_ICR:
        return this.timer.initial;
      case APIC_TIMER_CCR:
        return this.timer.currentCount();
      case APIC_TIMER_DCR:
        return this.timer.divideConfig;
    }
    if (offset >= APIC_ISR && offset < APIC_IRR + 0x80) {
      const set = offset < APIC_TMR ? this.isr : offset < APIC_IRR ? this.tmr : this.irr;
      return set[(offset >>> 4) & 7];
    }
    const slot = lvtSlot(offset);
    return slot < 0 ? -1 : this.lvt[slot];
  }

  /** Write a register; false if there is none at `offset`. Read-only registers ignore writes. */
  private writeReg(offset: number, value: number): boolean {
    value >>>= 0;
    switch (offset) {
      case APIC_ID:
        this.xapicId = value >>> 24;
        return true;
      case APIC_TPR:
        this.tpr = value & 0xff;
        return true;
      case APIC_EOI:
        this.eoi();
        return true;
      case APIC_LDR:
        this.ldr = (value & 0xff000000) >>> 0;
        return true;
      case APIC_DFR:
        this.dfr = (value | 0x0fffffff) >>> 0;
        return true;
      case APIC_SVR:
        this.svr = value & 0x3ff;
        // Software disable sets every LVT mask bit (SDM 11.4.7.2).
        if ((value & SVR_APIC_ENABLE) === 0) for (let i = 0; i < 7; i++) this.lvt[i] |= LVT_MASKED;
        return true;
      case APIC_ESR:
        // The write latches the errors seen since the previous write and clears the collector.
        this.esr = this.esrPending;
        this.esrPending = 0;
        return true;
      case APIC_ICR_LOW:
        this.icrLow = value & ICR_LOW_MASK;
        this.sendIcr();
        return true;
      case APIC_ICR_HIGH:
        this.icrHigh = (value & 0xff000000) >>> 0;
        return true;
      case APIC_TIMER_ICR:
        this.timer.writeInitialCount(value);
        return true;
      case APIC_TIMER_DCR:
        this.timer.writeDivideConfig(value);
        return true;
      case APIC_VERSION:
      case APIC_APR:
      case APIC_PPR:
      case APIC_RRD:
      case APIC_TIMER_CCR:
        return true;
    }
    if (offset >= APIC_ISR && offset < APIC_IRR + 0x80) return true;
    const slot = lvtSlot(offset);
    if (slot < 0) return false;
    const keep = this.lvt[slot] & LVT_REMOTE_IRR;
    let e = (value & LVT_WRITABLE[slot]) | keep;
    // While software-disabled the mask bits cannot be cleared (SDM 11.4.7.2).
    if ((this.svr & SVR_APIC_ENABLE) === 0) e |= LVT_MASKED;
    this.lvt[slot] = e;
    if (offset === APIC_LVT_TIMER) this.timer.setMode((e >>> LVT_TIMER_MODE_SHIFT) & 3);
    return true;
  }

  /** Send what the ICR holds (SDM 11.6.1); delivery completes before this returns. */
  private sendIcr(): void {
    const lo = this.icrLow;
    const mode = (lo >>> 8) & 7;
    if (mode === DM_LOWEST && this.x2apicMode) {
      // 001b is reserved in x2APIC mode: "Re-directible IPI" is set and nothing is sent (11.12.9, 11.5.3).
      this.icrError(ESR_REDIRECTABLE_IPI, lo, false);
      return;
    }
    if (mode === DM_RESERVED) {
      // 011b is reserved (figure 11-12) and neither manual names an ESR bit for it (11.5.3 defines
      // Send Illegal Vector for vectors 0-15 and Illegal Register Address for reserved offsets only).
      // No APIC can accept such a message, which is what Send Accept Error reports (bit 2, the APM's
      // SAE); it is not sent.
      this.icrError(ESR_SEND_ACCEPT, lo, false);
      return;
    }
    if ((mode === DM_FIXED || mode === DM_LOWEST) && (lo & 0xff) < 16)
      this.icrError(ESR_SEND_ILLEGAL_VECTOR, lo, true); // still sent: each receiver logs it too
    // xAPIC: ICR bits 63:56 (8-bit IDs, FFh = broadcast); x2APIC: bits 63:32 (11.12.9).
    this.send(lo, this.x2apicMode ? this.icrHigh : this.icrHigh >>> 24);
  }

  private send(icrLow: number, dest: number): void {
    if (this.router) this.router.sendIpi(this, icrLow, dest);
    else if (((icrLow >>> ICR_SHORTHAND_SHIFT) & 3) === SH_SELF)
      this.accept((icrLow >>> 8) & 7, icrLow & 0xff, false, true);
  }

  private icrError(esrBits: number, icrLow: number, sent: boolean): void {
    this.recordError(esrBits);
    this.router?.icrError(this, esrBits, icrLow, sent);
  }

  // ---- xAPIC: the MMIO page (SDM 11.4.1) ----

  mmioRead(offset: number, size: number): number {
    if (this.mode !== LAPIC_MODE_XAPIC) return ONES[size] ?? 0xffffffff;
    offset &= 0xfff;
    const byte = offset & 0xf;
    const slot = offset & 0xff0;
    const r = slot === APIC_SELF_IPI ? -1 : this.readReg(slot);
    if (r === -1) {
      this.recordError(ESR_ILLEGAL_REGISTER_ADDRESS);
      return 0;
    }
    // Registers sit in the low 4 bytes of each 16-byte slot; narrower reads take their bytes.
    if (byte >= 4) return 0;
    const v = r >>> (byte * 8);
    return size >= 4 ? v >>> 0 : v & ONES[size];
  }

  mmioWrite(offset: number, size: number, value: number): void {
    if (this.mode !== LAPIC_MODE_XAPIC) return;
    offset &= 0xfff;
    // Only aligned 32-bit stores are architectural (11.4.1); narrower ones are dropped, as KVM does.
    if (size !== 4 || (offset & 0xf) !== 0) return;
    if (offset === APIC_SELF_IPI || !this.writeReg(offset, value))
      this.recordError(ESR_ILLEGAL_REGISTER_ADDRESS);
  }

  // ---- x2APIC and the other MSRs (SDM 11.12.1) ----

  /** Whether RDMSR/WRMSR of `msr` belongs to this APIC. */
  owns(msr: number): boolean {
    return (
      msr === MSR_IA32_APIC_BASE ||
      msr === MSR_IA32_TSC_DEADLINE ||
      (msr >= X2APIC_MSR_BASE && msr <= X2APIC_MSR_LAST)
    );
  }

  /** RDMSR. Throws ApicGpError where the processor raises #GP(0). */
  msrRead(msr: number): bigint {
    if (msr === MSR_IA32_APIC_BASE) return this.apicBase;
    if (msr === MSR_IA32_TSC_DEADLINE) return this.timer.readTscDeadline();
    const w = this.words;
    this.msrReadWords(msr, w);
    return (BigInt(w[1] >>> 0) << 32n) | BigInt(w[0] >>> 0);
  }

  /** Scratch for msrRead's halves. */
  private readonly words = new Int32Array(2);

  /**
   * RDMSR as halves for the exit handlers (issue 12): EAX in out[0], EDX in out[1]. The x2APIC
   * registers take no BigInt; APIC_BASE and TSC_DEADLINE are held as 64-bit values and convert.
   */
  msrReadWords(msr: number, out: Int32Array): void {
    if (msr === MSR_IA32_APIC_BASE || msr === MSR_IA32_TSC_DEADLINE) {
      const v = msr === MSR_IA32_APIC_BASE ? this.apicBase : this.timer.readTscDeadline();
      out[0] = Number(v & 0xffffffffn);
      out[1] = Number((v >> 32n) & 0xffffffffn);
      return;
    }
    this.checkX2apicMsr(msr);
    if (msr === MSR_X2APIC_ICR) {
      out[0] = this.icrLow;
      out[1] = this.icrHigh;
      return;
    }
    const offset = (msr - X2APIC_MSR_BASE) << 4;
    checkX2apicRead(msr, offset);
    out[0] = this.readReg(offset);
    out[1] = 0;
  }

  /** WRMSR. Throws ApicGpError where the processor raises #GP(0); nothing changes then. */
  msrWrite(msr: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    if (msr === MSR_IA32_APIC_BASE) {
      this.setApicBase(v);
      return;
    }
    if (msr === MSR_IA32_TSC_DEADLINE) {
      this.timer.writeTscDeadline(v);
      return;
    }
    this.msrWriteWords(msr, Number(v & 0xffffffffn), Number(v >> 32n));
  }

  /** WRMSR of EDX:EAX = hi:lo, as msrWrite; the x2APIC registers take no BigInt (issue 12). */
  msrWriteWords(msr: number, lo: number, hi: number): void {
    lo >>>= 0;
    hi >>>= 0;
    if (msr === MSR_IA32_APIC_BASE || msr === MSR_IA32_TSC_DEADLINE) {
      this.msrWrite(msr, (BigInt(hi) << 32n) | BigInt(lo));
      return;
    }
    this.checkX2apicMsr(msr);
    if (msr === MSR_X2APIC_ICR) {
      // One 64-bit write sends the IPI; bit 12 is ignored (11.12.9), other reserved bits fault.
      if (lo & ~(ICR_LOW_MASK | ICR_DELIVERY_STATUS)) throw new ApicGpError(msr, 'reserved ICR bits set');
      this.icrHigh = hi;
      this.icrLow = lo & ICR_LOW_MASK;
      this.sendIcr();
      return;
    }
    const offset = (msr - X2APIC_MSR_BASE) << 4;
    checkX2apicWrite(msr, offset, lo, hi);
    if (offset === APIC_SELF_IPI) this.selfIpi(lo & 0xff);
    else this.writeReg(offset, lo);
  }

  private checkX2apicMsr(msr: number): void {
    if (msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_LAST) throw new ApicGpError(msr, 'not a local APIC MSR');
    // The MSR interface exists only in x2APIC mode (11.12.1.2).
    if (this.mode !== LAPIC_MODE_X2APIC) throw new ApicGpError(msr, 'APIC is not in x2APIC mode');
  }

  /** SELF IPI (11.12.11): a fixed, edge-triggered IPI to this APIC, as the Self shorthand sends it. */
  private selfIpi(vector: number): void {
    const icrLow = vector | (SH_SELF << ICR_SHORTHAND_SHIFT);
    if (vector < 16) this.icrError(ESR_SEND_ILLEGAL_VECTOR, icrLow, true);
    this.send(icrLow, 0);
  }
}
