// What a VM exit costs the guest in time, so that a guest timing a loop of exits (a PM-timer or
// TSC calibration loop, a polled port) sees time pass as it would under KVM, not one nanosecond
// per exit. Virtual time runs at 1 GHz (vm-clock.ts), so these are also cycles of the guest's TSC.
//
// KVM-like defaults, in the range kvm-unit-tests' vmexit benchmarks report on current x86 hosts:
//   an exit the VMM handles (CPUID, MSR, an in-kernel device's port or MMIO, HLT, PAUSE): 1,000
//   an exit that goes on to userspace (KVM_EXIT_IO, KVM_EXIT_MMIO) adds the return to the VMM's
//   process and back (kvm-unit-tests' inl_from_qemu is several times an in-kernel exit): 5,000
//   an interrupt or exception injected at entry (the event delivery microcode): 200
// The scheduler's own preemption (the end of a quantum) is not the guest's and costs nothing.

export interface ExitCosts {
  /** Nanoseconds (= guest TSC cycles) for an exit handled inside the VMM. */
  exit: number;
  /** Added for an exit that needs userspace. */
  userspace: number;
  /** For each interrupt delivered to the guest. */
  interrupt: number;
}

export const KVM_LIKE_EXIT_COSTS: Readonly<ExitCosts> = { exit: 1000, userspace: 5000, interrupt: 200 };

/** No charge: one nanosecond per instruction only (hvemu's clock before the cost model). */
export const NO_EXIT_COSTS: Readonly<ExitCosts> = { exit: 0, userspace: 0, interrupt: 0 };
