// What the run loop (vm-boot.ts runPcVm) offers a debugger: a look before and after each vCPU's
// turn. The hot path pays one call per turn (a quantum of thousands of instructions); the debugger
// asks for one-instruction turns only while it single-steps or has breakpoints set.
import type { BootSectorRunResult } from './bare-metal.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

export interface VmDebugHook {
  /**
   * Before vCPU `v` runs a turn. May block while the debugger holds the VM stopped (the GDB stub
   * serves its client there). `runnable`: whether `v` will run now (a waiting vCPU gets no turn).
   * Returns true when the turn must be one instruction long.
   */
  beforeTurn(vm: Vm, v: Vcpu, runnable: boolean): boolean;
  /** After `v`'s turn: a single step that completed stops the VM here. */
  afterTurn(vm: Vm, v: Vcpu): void;
  /** The run ended (the guest exited, halted for good, or was stopped). */
  ended(vm: Vm, result: BootSectorRunResult): void;
}
