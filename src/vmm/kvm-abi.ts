// The userspace ABI hvemu's VMM mirrors: exit reasons and MP states with KVM's names and numbers
// (Linux include/uapi/linux/kvm.h), so a trace reads like KVM's.

/** kvm_run.exit_reason */
export const KVM_EXIT_UNKNOWN = 0;
export const KVM_EXIT_EXCEPTION = 1;
export const KVM_EXIT_IO = 2;
export const KVM_EXIT_HYPERCALL = 3;
export const KVM_EXIT_DEBUG = 4;
export const KVM_EXIT_HLT = 5;
export const KVM_EXIT_MMIO = 6;
export const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
export const KVM_EXIT_SHUTDOWN = 8;
export const KVM_EXIT_FAIL_ENTRY = 9;
export const KVM_EXIT_INTR = 10;
export const KVM_EXIT_NMI = 16;
export const KVM_EXIT_INTERNAL_ERROR = 17;
export const KVM_EXIT_SYSTEM_EVENT = 24;
export const KVM_EXIT_X86_RDMSR = 29;
export const KVM_EXIT_X86_WRMSR = 30;
export const KVM_EXIT_AP_RESET_HOLD = 32;

export const KVM_EXIT_NAMES: Record<number, string> = {
  0: 'KVM_EXIT_UNKNOWN',
  1: 'KVM_EXIT_EXCEPTION',
  2: 'KVM_EXIT_IO',
  3: 'KVM_EXIT_HYPERCALL',
  4: 'KVM_EXIT_DEBUG',
  5: 'KVM_EXIT_HLT',
  6: 'KVM_EXIT_MMIO',
  7: 'KVM_EXIT_IRQ_WINDOW_OPEN',
  8: 'KVM_EXIT_SHUTDOWN',
  9: 'KVM_EXIT_FAIL_ENTRY',
  10: 'KVM_EXIT_INTR',
  16: 'KVM_EXIT_NMI',
  17: 'KVM_EXIT_INTERNAL_ERROR',
  24: 'KVM_EXIT_SYSTEM_EVENT',
  29: 'KVM_EXIT_X86_RDMSR',
  30: 'KVM_EXIT_X86_WRMSR',
  32: 'KVM_EXIT_AP_RESET_HOLD',
};

/** kvm_run.io.direction */
export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

/** kvm_run.system_event.type */
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
export const KVM_SYSTEM_EVENT_RESET = 2;
export const KVM_SYSTEM_EVENT_CRASH = 3;
/** SEV-ES/SNP guest asked to be terminated (GHCB termination request); data[0] = the GHCB MSR. */
export const KVM_SYSTEM_EVENT_SEV_TERM = 6;

/** kvm_run.internal.suberror */
export const KVM_INTERNAL_ERROR_EMULATION = 1;
export const KVM_INTERNAL_ERROR_SIMUL_EX = 2;
export const KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;

/** struct kvm_mp_state */
export const KVM_MP_STATE_RUNNABLE = 0;
export const KVM_MP_STATE_UNINITIALIZED = 1;
export const KVM_MP_STATE_INIT_RECEIVED = 2;
export const KVM_MP_STATE_HALTED = 3;
export const KVM_MP_STATE_SIPI_RECEIVED = 4;
export const KVM_MP_STATE_STOPPED = 5;
export const KVM_MP_STATE_CHECK_STOP = 6;
export const KVM_MP_STATE_OPERATING = 7;
export const KVM_MP_STATE_LOAD = 8;
export const KVM_MP_STATE_AP_RESET_HOLD = 9;
export const KVM_MP_STATE_SUSPENDED = 10;

export const MP_STATE_NAMES: Record<number, string> = {
  0: 'RUNNABLE',
  1: 'UNINITIALIZED',
  2: 'INIT_RECEIVED',
  3: 'HALTED',
  4: 'SIPI_RECEIVED',
  5: 'STOPPED',
  6: 'CHECK_STOP',
  7: 'OPERATING',
  8: 'LOAD',
  9: 'AP_RESET_HOLD',
  10: 'SUSPENDED',
};
