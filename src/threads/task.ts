// What the main thread hands each vCPU worker, and what the worker hands back.
import type { Vendor } from '../cpu/cpu.js';
import type { DramShare } from '../host/host-machine.js';
import type { Regs } from '../vmm/backend-api.js';

export interface VcpuTask {
  /** The VM's DRAM (HostMachine.share()) and its size. */
  dram: DramShare;
  dramBytes: number;
  /** RunPages.shared and IpiMailbox.shared. */
  control: SharedArrayBuffer;
  mailbox: SharedArrayBuffer;
  /** The vCPU this worker runs, of `cpus`. */
  id: number;
  cpus: number;
  memoryBytes: number;
  arch: 'svm' | 'vmx';
  vendor: Vendor;
  /** For the BSP: the registers the loader set (CS:RIP in real mode, the GPRs). */
  bsp: { regs: Regs; csSelector: number; csBase: number } | null;
  /** The VM clock's origin: host ms (timeOrigin + now) at virtual time 0. */
  originMs: number;
  /** Instructions per KVM_RUN call: how late a running vCPU may look at its mail. */
  quantum: number;
  /** Tests of the clean ends: make this worker throw, or stop answering, after `afterRuns` KVM_RUNs. */
  fault?: { kind: 'throw' | 'hang'; afterRuns: number };
}

/** How a vCPU's run ended, as its worker saw it. */
/** 'hung': the main thread terminated the worker (no progress); the report is the main thread's. */
export type VcpuEnd = 'stopped' | 'triple-fault' | 'terminated' | 'error' | 'exception' | 'hung';

export interface VcpuReport {
  id: number;
  end: VcpuEnd;
  message: string;
  instructions: number;
  /** KVM_EXIT_* that ended it (end 'error'). */
  kvmExitReason?: number;
  /** Where it stopped: RIP, or that the registers are protected. */
  where: string;
}
