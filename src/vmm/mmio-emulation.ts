// KVM_EXIT_MMIO for the backends: the instruction that touched unclaimed guest-physical memory is
// emulated with its device accesses collected by UserspaceMmio. A read userspace has not answered
// undoes the attempt (the guest state page and the GPRs are put back) and exits; after the answer
// the instruction runs again. Writes complete the instruction and are reported one exit each.
import type { HostMemory } from '../host/host-memory.js';
import type { PhysicalCpu } from '../host/physical-cpu.js';
import { RESUME, type RunState } from './backend-api.js';
import { KVM_EXIT_MMIO } from './kvm-abi.js';
import type { MmioAccess, UserspaceMmio } from './userspace-mmio.js';

export class MmioEmulation {
  private redo = false;
  /** Writes of the completed instruction not yet reported. */
  private readonly writes: MmioAccess[] = [];

  constructor(
    private readonly user: UserspaceMmio,
    private readonly cpu: PhysicalCpu,
    private readonly memory: HostMemory,
    /** The page that holds the guest's state between runs (the VMCB, the VMCS region). */
    private readonly statePage: number,
    /**
     * Run the exiting instruction once with MMIO reaching the buses: -1 when it completed, else
     * the handler's answer for an exit it ended in (a triple fault: TO_USER with KVM_EXIT_SHUTDOWN).
     */
    private readonly emulate: (run: RunState) => number,
  ) {}

  /** Emulate the instruction at an MMIO exit: RESUME, or TO_USER with KVM_EXIT_MMIO. */
  run(run: RunState): number {
    const page = this.memory.read(this.statePage, 4096);
    const regs = this.cpu.saveRegisters();
    const user = this.user;
    user.beginAttempt();
    const stopped = this.emulate(run);
    if (stopped >= 0) {
      // The instruction ended the guest (a triple fault): nothing of it reaches userspace.
      user.finish();
      return stopped;
    }
    const read = user.unansweredRead;
    if (read !== null) {
      // Not answered yet: undo the attempt; it runs again once userspace has answered.
      this.memory.write(this.statePage, page);
      this.cpu.restoreRegisters(regs);
      this.redo = true;
      return run.exitMmio(read.gpa, read.size, false, 0);
    }
    this.writes.push(...user.writes);
    user.finish();
    return this.nextWrite(run);
  }

  /** Before the next guest entry: more of an instruction that waits on userspace, or -1. */
  resume(run: RunState): number {
    if (this.redo) {
      this.redo = false;
      return this.run(run);
    }
    return this.writes.length > 0 ? this.nextWrite(run) : -1;
  }

  /** complete_userspace_io for MMIO: a read's answer is kept for the next attempt. */
  complete(run: RunState): void {
    if (run.exitReason === KVM_EXIT_MMIO && !run.mmioIsWrite && this.redo) this.user.answer(run.mmioData);
  }

  private nextWrite(run: RunState): number {
    const w = this.writes.shift();
    return w === undefined ? RESUME : run.exitMmio(w.gpa, w.size, true, w.data);
  }
}
