// The processor side of VMX non-root operation (Intel SDM vol 3C ch. 25; 2016 numbering): the core asks
// at every interceptable point and this port answers from the VM-execution controls, the exception
// bitmap, the I/O and MSR bitmaps and the CR guest/host masks, recording the basic exit reason and
// exit information the world switch (vm-entry.ts) writes to the VMCS. Instructions that exit are
// fault-like: RIP stays at the instruction, the port keeps the next RIP for the instruction length.
// Exit qualifications that need the instruction's operands (CR access GPR, MOV DR GPR, the I/O operand
// encoding) are finished by the world switch, which decodes the instruction once RIP is back on it.
import { type Cpu, FAULT } from '../../cpu/cpu.js';
import { hasErrorCode } from '../../cpu/interrupts.js';
import { InterceptKind, type InterceptPort } from '../../cpu/ports.js';
import { CS, UD } from '../../cpu/regs.js';
import {
  EXIT_REASON_CPUID,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_DR_ACCESS,
  EXIT_REASON_EPT_MISCONFIG,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_HLT,
  EXIT_REASON_INVD,
  EXIT_REASON_INVLPG,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_MONITOR_INSTRUCTION,
  EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE,
  EXIT_REASON_MWAIT_INSTRUCTION,
  EXIT_REASON_NMI_WINDOW,
  EXIT_REASON_PAUSE_INSTRUCTION,
  EXIT_REASON_PENDING_INTERRUPT,
  EXIT_REASON_RDTSC,
  EXIT_REASON_RDTSCP,
  EXIT_REASON_TRIPLE_FAULT,
  EXIT_REASON_VMCALL,
  EXIT_REASON_WBINVD,
  EXIT_REASON_XSETBV,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_VALID_MASK,
  INTR_TYPE_EXT_INTR,
  INTR_TYPE_HARD_EXCEPTION,
  INTR_TYPE_NMI_INTR,
} from '../vmcs-fields.js';
import { PauseLoopDetector } from './pause-loop.js';
import {
  CPU_BASED_CR3_LOAD_EXITING,
  CPU_BASED_CR3_STORE_EXITING,
  CPU_BASED_CR8_LOAD_EXITING,
  CPU_BASED_CR8_STORE_EXITING,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_INVLPG_EXITING,
  CPU_BASED_MONITOR_EXITING,
  CPU_BASED_MOV_DR_EXITING,
  CPU_BASED_MWAIT_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_PAUSE_EXITING,
  CPU_BASED_RDTSC_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  SECONDARY_EXEC_ENABLE_RDTSCP,
  SECONDARY_EXEC_PAUSE_LOOP_EXITING,
  SECONDARY_EXEC_WBINVD_EXITING,
  VM_EXIT_ACK_INTR_ON_EXIT,
} from './vmx-controls.js';

/** `nextRip` when the exit has no instruction length (events, EPT, triple fault). */
export const NO_NEXT_RIP = Number.NaN;

/** What the world switch still has to do with a CR-access exit (the core's CR kinds carry no operand). */
export const CR_EXIT = 0,
  /** MOV to CR0/CR4 under a mask, or to CR3 with targets: exits only if the value says so. */
  CR_DECIDE = 1,
  /** MOV from CR0/CR4 (or SMSW) under a mask: never exits, reads the shadow for host-owned bits. */
  CR_SHADOW_READ = 2;

/** I/O bitmap test (SDM 25.1.3): any bit of the accessed ports set, or a wrap past FFFFh, exits. */
export function ioBitmapExits(a: Uint8Array, b: Uint8Array, port: number, size: number): boolean {
  if (port + size > 0x10000) return true;
  for (let p = port; p < port + size; p++) {
    const map = p < 0x8000 ? a : b;
    const bit = p & 0x7fff;
    if (map[bit >>> 3] & (1 << (bit & 7))) return true;
  }
  return false;
}

/**
 * MSR bitmap test (SDM 24.6.9): read bitmaps for 0-1FFFh at 0 and C0000000h-C0001FFFh at 1024, write
 * bitmaps at 2048 and 3072. An MSR outside both ranges always exits.
 */
export function msrBitmapExits(map: Uint8Array, msr: number, write: boolean): boolean {
  let base: number;
  if (msr <= 0x1fff) base = 0;
  else if (msr >= 0xc000_0000 && msr <= 0xc000_1fff) base = 1024;
  else return true;
  if (write) base += 2048;
  const i = msr & 0x1fff;
  return (map[base + (i >>> 3)] & (1 << (i & 7))) !== 0;
}

/** Whether a #PF with error code `pfec` exits (SDM 25.2): bit 14 of the bitmap picks match or mismatch. */
export function pageFaultExits(bitmap: number, mask: number, match: number, pfec: number): boolean {
  const equal = (pfec & mask) >>> 0 === match >>> 0;
  return (bitmap & (1 << 14)) !== 0 ? equal : !equal;
}

/**
 * MOV to CR0/CR4 exits when a bit owned by the host (set in the guest/host mask) would get a value
 * different from the read shadow (SDM 25.1.3).
 */
export function crWriteExits(mask: number, shadow: number, value: number): boolean {
  return ((value ^ shadow) & mask) !== 0;
}

/** CLTS exits when TS (bit 3) is set in both the CR0 mask and the read shadow (SDM 25.1.3). */
export function cltsExits(mask: number, shadow: number): boolean {
  return (mask & shadow & 8) !== 0;
}

/** LMSW exits when it would set a host-owned PE the shadow has clear, or change a host-owned MP/EM/TS. */
export function lmswExits(mask: number, shadow: number, src: number): boolean {
  if (mask & 1 && !(shadow & 1) && src & 1) return true;
  return ((src ^ shadow) & mask & 0xe) !== 0;
}

/** The guest's view of CR0/CR4: host-owned bits come from the read shadow (SDM 25.3). */
export function crReadValue(real: number, mask: number, shadow: number): number {
  return ((real & ~mask) | (shadow & mask)) >>> 0;
}

export class VmxInterceptPort implements InterceptPort {
  active = false;
  // The controls of the current VM entry (vm-entry.ts loads them).
  pin = 0;
  proc = 0;
  /** Secondary controls, 0 unless "activate secondary controls". */
  proc2 = 0;
  exitCtls = 0;
  exceptionBitmap = 0;
  pfecMask = 0;
  pfecMatch = 0;
  cr0Mask = 0;
  cr4Mask = 0;
  cr0Shadow = 0;
  cr4Shadow = 0;
  cr3Targets: number[] = [];
  ioBitmapA: Uint8Array = new Uint8Array(0);
  ioBitmapB: Uint8Array = new Uint8Array(0);
  msrBitmap: Uint8Array = new Uint8Array(0);
  /** While the hypervisor emulates an instruction, its port I/O goes to the devices (no I/O exit). */
  ioPassthrough = false;
  /** PAUSE-loop exiting: PLE_Gap, PLE_Window and the loop being timed (vm-entry.ts loads them). */
  readonly pauseLoop = new PauseLoopDetector();

  // ---- the recorded exit: reason -1 while none is pending ----
  reason = -1;
  qualification = 0;
  /** NaN when the exit has no instruction length; else RIP after the instruction. */
  nextRip = NO_NEXT_RIP;
  /** Guest-linear / guest-physical address fields, NaN when not written. */
  guestLinear = Number.NaN;
  guestPhysical = Number.NaN;
  intrInfo = 0;
  intrError = 0;
  idtInfo = 0;
  idtError = 0;
  /** CR_EXIT, CR_DECIDE or CR_SHADOW_READ for a CR-access record. */
  crAction = CR_EXIT;
  /** The CR number of a CR-access or MOV DR record (the core's info1). */
  regNumber = 0;
  /** DR access: 1 for MOV from DR (the qualification's direction bit). */
  drRead = false;
  /** I/O: the core's SVM-style info1 (port, size, string, REP, IN). */
  ioInfo = 0;

  /**
   * The event the core is delivering, to report as IDT-vectoring information if delivery ends in a VM
   * exit (SDM 27.2.3). The core says when it starts an exception, NMI or external interrupt (through
   * the EXCEPTION/NMI/INTR asks) but not when it is done; delivery is over once an instruction retired
   * or RIP/CS moved to the handler, so the record is kept with that point.
   */
  private delivering = 0;
  private deliveringError = 0;
  private deliveringIcount = -1;
  private deliveringRip = 0;
  private deliveringCs = 0;

  constructor(private readonly cpu: Cpu) {}

  /** Which core kinds are worth asking about under the current controls (Cpu.interceptMask). */
  mask(): number {
    const p = this.proc;
    let m =
      (1 << InterceptKind.CPUID) |
      (1 << InterceptKind.VMCALL) |
      (1 << InterceptKind.XSETBV) |
      (1 << InterceptKind.INVD) |
      (1 << InterceptKind.SHUTDOWN) |
      (1 << InterceptKind.CR_READ) |
      (1 << InterceptKind.CR_WRITE) |
      // Always asked: the exception bitmap and IDT-vectoring bookkeeping (see `delivering`).
      (1 << InterceptKind.EXCEPTION) |
      (1 << InterceptKind.NMI) |
      (1 << InterceptKind.INTR) |
      // RDTSCP is #UD unless "enable RDTSCP".
      (1 << InterceptKind.RDTSCP);
    if (p & CPU_BASED_HLT_EXITING) m |= 1 << InterceptKind.HLT;
    if (p & CPU_BASED_INVLPG_EXITING) m |= 1 << InterceptKind.INVLPG;
    if (p & CPU_BASED_MWAIT_EXITING) m |= 1 << InterceptKind.MWAIT;
    if (p & CPU_BASED_RDTSC_EXITING) m |= 1 << InterceptKind.RDTSC;
    if (p & CPU_BASED_MOV_DR_EXITING) m |= (1 << InterceptKind.DR_READ) | (1 << InterceptKind.DR_WRITE);
    if (p & (CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_USE_IO_BITMAPS)) m |= 1 << InterceptKind.IO;
    m |= (1 << InterceptKind.MSR_READ) | (1 << InterceptKind.MSR_WRITE);
    if (p & CPU_BASED_MONITOR_EXITING) m |= 1 << InterceptKind.MONITOR;
    if (p & CPU_BASED_PAUSE_EXITING || this.proc2 & SECONDARY_EXEC_PAUSE_LOOP_EXITING)
      m |= 1 << InterceptKind.PAUSE;
    if (this.proc2 & SECONDARY_EXEC_WBINVD_EXITING) m |= 1 << InterceptKind.WBINVD;
    return m;
  }

  /** Forget any recorded exit (VM entry). */
  reset(): void {
    this.reason = -1;
    this.qualification = 0;
    this.nextRip = NO_NEXT_RIP;
    this.guestLinear = Number.NaN;
    this.guestPhysical = Number.NaN;
    this.intrInfo = 0;
    this.intrError = 0;
    this.idtInfo = 0;
    this.idtError = 0;
    this.crAction = CR_EXIT;
    this.delivering = 0;
    this.deliveringIcount = -1;
  }

  /** Record an exit. Instruction exits keep the next RIP for the instruction length. */
  hit(reason: number, qualification: number, instruction: boolean): boolean {
    this.reason = reason;
    this.qualification = qualification;
    this.nextRip = instruction ? this.cpu.rip : NO_NEXT_RIP;
    this.noteVectoring();
    return true;
  }

  /** The world switch's own event: an injected event is being delivered (SDM 27.2.3). */
  setDelivering(info: number, error: number): void {
    this.delivering = info;
    this.deliveringError = error;
    this.deliveringIcount = this.cpu.icount;
    this.deliveringRip = this.cpu.rip;
    this.deliveringCs = this.cpu.segSel[CS];
  }

  private noteVectoring(): void {
    const cpu = this.cpu;
    if (
      this.delivering !== 0 &&
      cpu.icount === this.deliveringIcount &&
      cpu.rip === this.deliveringRip &&
      cpu.segSel[CS] === this.deliveringCs
    ) {
      this.idtInfo = this.delivering;
      this.idtError = this.deliveringError;
    }
  }

  intercept(kind: InterceptKind, info1: number, info2: number): boolean {
    const cpu = this.cpu;
    switch (kind) {
      case InterceptKind.CPUID:
        return this.hit(EXIT_REASON_CPUID, 0, true);
      case InterceptKind.VMCALL:
        return this.hit(EXIT_REASON_VMCALL, 0, true);
      case InterceptKind.XSETBV:
        return this.hit(EXIT_REASON_XSETBV, 0, true);
      case InterceptKind.INVD:
        return this.hit(EXIT_REASON_INVD, 0, true);
      case InterceptKind.HLT:
        return this.hit(EXIT_REASON_HLT, 0, true);
      case InterceptKind.INVLPG:
        return this.hit(EXIT_REASON_INVLPG, info1, true); // qualification: the linear address
      case InterceptKind.MWAIT:
        return this.hit(EXIT_REASON_MWAIT_INSTRUCTION, 0, true);
      case InterceptKind.MONITOR:
        return this.hit(EXIT_REASON_MONITOR_INSTRUCTION, 0, true);
      case InterceptKind.PAUSE:
        return this.pause();
      case InterceptKind.WBINVD:
        return this.hit(EXIT_REASON_WBINVD, 0, true);
      case InterceptKind.RDTSC:
        return this.hit(EXIT_REASON_RDTSC, 0, true);
      case InterceptKind.RDTSCP:
        // SDM 25.3: without "enable RDTSCP" the instruction is #UD (raised here, before it executes).
        if (!(this.proc2 & SECONDARY_EXEC_ENABLE_RDTSCP)) {
          cpu.excVector = UD;
          cpu.excHasError = false;
          throw FAULT;
        }
        return (this.proc & CPU_BASED_RDTSC_EXITING) !== 0 && this.hit(EXIT_REASON_RDTSCP, 0, true);
      case InterceptKind.IO:
        return this.io(info1);
      case InterceptKind.MSR_READ:
      case InterceptKind.MSR_WRITE: {
        const write = kind === InterceptKind.MSR_WRITE;
        if (this.proc & CPU_BASED_USE_MSR_BITMAPS && !msrBitmapExits(this.msrBitmap, info1, write))
          return false;
        return this.hit(write ? EXIT_REASON_MSR_WRITE : EXIT_REASON_MSR_READ, 0, true);
      }
      case InterceptKind.CR_WRITE:
        return this.crWrite(info1);
      case InterceptKind.CR_READ:
        return this.crRead(info1);
      case InterceptKind.DR_READ:
      case InterceptKind.DR_WRITE:
        this.regNumber = info1;
        this.drRead = kind === InterceptKind.DR_READ;
        return this.hit(EXIT_REASON_DR_ACCESS, 0, true);
      case InterceptKind.EXCEPTION:
        return this.exception(info1, info2);
      case InterceptKind.NMI:
        // NMI-window exiting (SDM 25.2): no virtual-NMI blocking and no STI/MOV SS blocking at this
        // boundary (the core asks only then); the world switch's probe NMI makes it ask.
        if (this.proc & CPU_BASED_NMI_WINDOW_EXITING) return this.hit(EXIT_REASON_NMI_WINDOW, 0, false);
        if (this.pin & PIN_BASED_NMI_EXITING) {
          cpu.nmiPending = false; // the NMI caused the exit; the VMM injects it if it wants (SDM 25.2)
          this.intrInfo = (INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2) >>> 0;
          return this.hit(EXIT_REASON_EXCEPTION_NMI, 0, false);
        }
        this.setDelivering((INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2) >>> 0, 0);
        return false;
      case InterceptKind.INTR:
        return this.externalInterrupt(info1);
      case InterceptKind.SHUTDOWN:
        return this.hit(EXIT_REASON_TRIPLE_FAULT, 0, false);
      case InterceptKind.EPT_VIOLATION:
        this.guestPhysical = info2;
        this.guestLinear = cpu.eptLinear;
        return this.hit(EXIT_REASON_EPT_VIOLATION, info1, false);
      case InterceptKind.EPT_MISCONFIG:
        this.guestPhysical = info2;
        return this.hit(EXIT_REASON_EPT_MISCONFIG, 0, false);
    }
    return false;
  }

  /**
   * PAUSE (SDM 25.1.3): "PAUSE exiting" exits at any CPL; otherwise "PAUSE-loop exiting" applies at
   * CPL 0 only, and exits when the loop has run longer than PLE_Window (pause-loop.ts).
   */
  private pause(): boolean {
    if (this.proc & CPU_BASED_PAUSE_EXITING) return this.hit(EXIT_REASON_PAUSE_INSTRUCTION, 0, true);
    if (!(this.proc2 & SECONDARY_EXEC_PAUSE_LOOP_EXITING) || this.cpu.cpl !== 0) return false;
    return this.pauseLoop.pause(this.cpu.icount) && this.hit(EXIT_REASON_PAUSE_INSTRUCTION, 0, true);
  }

  /** Unconditional I/O exiting, or the I/O bitmaps when "use I/O bitmaps" is set (SDM 25.1.3). */
  private io(info: number): boolean {
    const port = info >>> 16;
    const size = (info >>> 4) & 7; // SVM-style SZ8/SZ16/SZ32 bits: 1, 2 or 4
    if (this.ioPassthrough) return false;
    if (this.proc & CPU_BASED_USE_IO_BITMAPS) {
      if (!ioBitmapExits(this.ioBitmapA, this.ioBitmapB, port, size)) return false;
    } else if (!(this.proc & CPU_BASED_UNCOND_IO_EXITING)) return false;
    this.ioInfo = info;
    // Table 27-5 without the operand encoding (bit 6), which the world switch adds after decoding.
    const qual = (size - 1) | (info & 1 ? 8 : 0) | (info & 4 ? 16 : 0) | (info & 8 ? 32 : 0) | (port << 16);
    return this.hit(EXIT_REASON_IO_INSTRUCTION, qual >>> 0, true);
  }

  private crWrite(cr: number): boolean {
    this.regNumber = cr;
    const p = this.proc;
    switch (cr) {
      case 0:
      case 4:
        if ((cr === 0 ? this.cr0Mask : this.cr4Mask) === 0) return false;
        this.hit(EXIT_REASON_CR_ACCESS, 0, true);
        this.crAction = CR_DECIDE;
        return true;
      case 3:
        if (!(p & CPU_BASED_CR3_LOAD_EXITING)) return false;
        this.hit(EXIT_REASON_CR_ACCESS, 0, true);
        this.crAction = this.cr3Targets.length > 0 ? CR_DECIDE : CR_EXIT;
        return true;
      case 8:
        return (p & CPU_BASED_CR8_LOAD_EXITING) !== 0 && this.crExit();
    }
    return false;
  }

  private crRead(cr: number): boolean {
    this.regNumber = cr;
    switch (cr) {
      case 0:
      case 4:
        if ((cr === 0 ? this.cr0Mask : this.cr4Mask) === 0) return false;
        this.hit(EXIT_REASON_CR_ACCESS, 0, true);
        this.crAction = CR_SHADOW_READ;
        return true;
      case 3:
        return (this.proc & CPU_BASED_CR3_STORE_EXITING) !== 0 && this.crExit();
      case 8:
        return (this.proc & CPU_BASED_CR8_STORE_EXITING) !== 0 && this.crExit();
    }
    return false;
  }

  private crExit(): boolean {
    this.hit(EXIT_REASON_CR_ACCESS, 0, true);
    this.crAction = CR_EXIT;
    return true;
  }

  /** Exception bitmap, with the #PF error-code mask/match rule (SDM 25.2). */
  private exception(vector: number, error: number): boolean {
    const cpu = this.cpu;
    const hasErr = hasErrorCode(vector);
    const info =
      (INTR_INFO_VALID_MASK |
        INTR_TYPE_HARD_EXCEPTION |
        (hasErr ? INTR_INFO_DELIVER_CODE_MASK : 0) |
        vector) >>>
      0;
    const exits =
      vector === 14
        ? pageFaultExits(this.exceptionBitmap, this.pfecMask, this.pfecMatch, error)
        : (this.exceptionBitmap & (1 << vector)) !== 0;
    if (!exits) {
      this.setDelivering(info, hasErr ? error : 0);
      return false;
    }
    this.intrInfo = info;
    this.intrError = hasErr ? error : 0;
    // Qualification: #PF the linear address, #DB the DR6-style bits B3-B0, BD, BS (Table 27-1).
    const qual = vector === 14 ? cpu.cr2 : vector === 1 ? cpu.dr[6] & 0x600f : 0;
    return this.hit(EXIT_REASON_EXCEPTION_NMI, qual, false);
  }

  /**
   * An external interrupt with IF = 1 (SDM 25.2): interrupt-window exiting comes first (a window is
   * open), then external-interrupt exiting, which acknowledges the interrupt when "acknowledge
   * interrupt on exit" is set and reports its vector.
   */
  private externalInterrupt(vector: number): boolean {
    // The world switch's window probe (vm-entry.ts) makes the core ask even with nothing pending.
    if (this.proc & CPU_BASED_INTR_WINDOW_EXITING) return this.hit(EXIT_REASON_PENDING_INTERRUPT, 0, false);
    if (this.pin & PIN_BASED_EXT_INTR_MASK) {
      if (this.exitCtls & VM_EXIT_ACK_INTR_ON_EXIT) {
        this.cpu.intc?.acknowledge(vector);
        this.intrInfo = (INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | vector) >>> 0;
      }
      return this.hit(EXIT_REASON_EXTERNAL_INTERRUPT, 0, false);
    }
    this.setDelivering((INTR_INFO_VALID_MASK | INTR_TYPE_EXT_INTR | vector) >>> 0, 0);
    return false;
  }
}
