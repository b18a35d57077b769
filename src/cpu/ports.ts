// The ports the processor core needs from whoever builds a machine around it. src/cpu never imports
// a device, the VMM or a hypervisor module: those implement these interfaces.
import type { Cpu } from './cpu.js';

/** Port I/O space (IN/OUT/INS/OUTS). Values are zero-extended, size is 1, 2 or 4. */
export interface IoBus {
  portRead(port: number, size: number): number;
  portWrite(port: number, size: number, value: number): void;
}

/**
 * Memory-mapped I/O: every physical access outside RAM comes here (size 1, 2 or 4; 8-byte
 * accesses are split). A PC answers unbacked reads with all ones and drops unbacked writes.
 */
export interface MmioBus {
  mmioRead(addr: number, size: number): number;
  mmioWrite(addr: number, size: number, value: number): void;
}

/**
 * Points where a hypervisor may intercept (AMD APM vol 2 15.9-15.13; Intel SDM vol 3 25.1-25.3).
 * The core asks `intercept(kind, info1, info2)` only for kinds whose bit is set in
 * `Cpu.interceptMask` (NPF, EPT_VIOLATION and EPT_MISCONFIG are always asked); a true answer means the port recorded an exit and the core must stop
 * with the instruction not executed (fault-like, as VMEXIT is).
 */
export const enum InterceptKind {
  CPUID = 0,
  HLT = 1,
  IO = 2, // info1 = port | size << 16 | (in ? 1 << 24 : 0) | string/rep bits, info2 = next rip
  MSR_READ = 3, // info1 = msr
  MSR_WRITE = 4,
  CR_READ = 5, // info1 = cr number
  CR_WRITE = 6,
  DR_READ = 7,
  DR_WRITE = 8,
  EXCEPTION = 9, // info1 = vector, info2 = error code
  INVLPG = 10,
  RDTSC = 11,
  RDTSCP = 12,
  INTR = 13, // an external interrupt is about to be taken
  NMI = 14,
  SHUTDOWN = 15, // triple fault
  VMMCALL = 16,
  VMGEXIT = 17,
  WBINVD = 18,
  INVD = 19,
  PAUSE = 20,
  MONITOR = 21,
  MWAIT = 22,
  XSETBV = 23,
  INIT = 24,
  IRET = 25,
  RSM = 26,
  VMRUN = 27,
  VMCALL = 28,
  TASK_SWITCH = 29,
  INTERRUPT_WINDOW = 30,
  /**
   * Nested page fault (always reported when nested paging is on: it is how the hypervisor learns
   * of MMIO and unmapped guest memory). info1 = the #NPF error code with bit 32 (final guest-physical
   * translation) or bit 33 (guest page-table walk), as a number; info2 = the guest-physical address.
   */
  NPF = 31,
  /**
   * EPT violation (Intel SDM vol 3C 28.2.3.2; 29.3.3.2 in later editions): info1 = the exit
   * qualification (Table 27-7), info2 = the guest-physical address; `Cpu.eptLinear` holds the
   * guest-linear address. Like NPF it is always reported while EPT is on, and it has no bit in
   * `Cpu.interceptMask` (kinds from 32 on do not fit a 32-bit mask).
   */
  EPT_VIOLATION = 32,
  /** EPT misconfiguration (SDM 28.2.3.1): info1 = 0, info2 = the guest-physical address. */
  EPT_MISCONFIG = 33,
}

export interface InterceptPort {
  intercept(kind: InterceptKind, info1: number, info2: number): boolean;
}

/** Source of external interrupts (the local APIC, or the 8259 in a plain PC). */
export interface InterruptController {
  /** Highest-priority deliverable vector, or -1. Called only when RFLAGS.IF allows it. */
  pendingVector(): number;
  /** The core has started delivering `vector` (moves it from IRR to ISR). */
  acknowledge(vector: number): void;
}

/**
 * The memory controller's encryption (AMD SEV, APM vol 2 15.34): set on a processor while it runs
 * an SEV guest. Guest-physical addresses then carry the C-bit (bit `cBit` of a page-table entry's
 * address): set means private (encrypted with the guest's key), clear means shared. The core strips
 * the bit before nested paging and tells the controller which view each page is accessed with.
 */
export interface MemoryEncryption {
  /** 2 ** (the C-bit position). */
  readonly cBitValue: number;
  /**
   * Before an access to the page at host-physical `hpa`: make RAM hold what an access with the
   * C-bit `priv` sees there (the decrypted page for a private access, the raw bytes for a shared one).
   * `cpu` is the processor making the access: its stale translations go at once, the others' when
   * they next enter the guest.
   */
  access(cpu: Cpu, hpa: number, priv: boolean): void;
}
