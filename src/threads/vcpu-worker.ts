// A vCPU thread (KVM's vCPU thread, as userspace runs one per vCPU): a piscina worker that builds
// the VM's vCPUs over the shared DRAM, runs its own one in a KVM_RUN loop, and sleeps in
// Atomics.wait while that vCPU is halted, waits for SIPI or is in AP Reset Hold. Port and MMIO
// exits go to the main thread's devices through the run page; IPIs to other vCPUs go to their
// mailboxes (apic-bridge.ts). The other vCPUs built here never run: their VMCBs or VMCSs are
// written once, before the start barrier, with what every thread writes there.
import { IpiMailbox } from '../apic/ipi-mailbox.js';
import { HostMachine } from '../host/host-machine.js';
import { SvmBackend } from '../svm/backend.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_EXIT_NAMES,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
} from '../vmm/kvm-abi.js';
import type { Vcpu } from '../vmm/vcpu.js';
import { Vm } from '../vmm/vm.js';
import { VmxBackend } from '../vmx/backend.js';
import { Mail, standIn } from './apic-bridge.js';
import { KIND_IO, KIND_MMIO, RunPages, VCPU_DONE, VCPU_PARKED, VCPU_RUNNING } from './run-page.js';
import type { VcpuReport, VcpuTask } from './task.js';

/** A read's answer once the VM is over (the run loop stops at its next look). */
const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];
/** The longest a parked vCPU sleeps before it looks at the stop word again (a lost stop costs this). */
const PARK_SLICE_MS = 1000;

export default function runVcpu(task: VcpuTask): VcpuReport {
  const pages = new RunPages(task.cpus, task.control);
  const mailbox = new IpiMailbox(task.cpus, task.mailbox);
  let v: Vcpu | null = null;
  try {
    v = buildVcpu(task, mailbox, pages);
    pages.ready();
    pages.waitGo();
    // After the barrier: until then another worker may still be writing this vCPU's control page.
    if (task.bsp !== null) {
      v.setSegment('cs', task.bsp.csSelector, task.bsp.csBase, 0xffff, 0x9b);
      v.setRegs(task.bsp.regs);
    }
    return runLoop(task, v, pages, mailbox);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return {
      id: task.id,
      end: 'exception',
      message: `vcpu ${task.id}: ${err.name} in its worker: ${err.message}`,
      instructions: v?.backend.clock.icount ?? 0,
      where: v === null ? 'not built' : where(v),
    };
  } finally {
    pages.setState(task.id, VCPU_DONE);
    pages.ring();
  }
}

function buildVcpu(task: VcpuTask, mailbox: IpiMailbox, pages: RunPages): Vcpu {
  const host = new HostMachine({ bytes: task.dramBytes, vendor: task.vendor, dram: task.dram });
  const vm = new Vm({
    memoryBytes: task.memoryBytes,
    host,
    vendor: task.vendor,
    maxVcpus: task.cpus,
    backend: task.arch === 'vmx' ? new VmxBackend() : new SvmBackend(),
  });
  // Every port is the main thread's (its devices, and userspace's debug consoles and exit port):
  // one device here forwards each access through the run page, so the backend completes string
  // I/O and port accesses inside the exit as it does for its own devices.
  const id = task.id;
  vm.ports.register(0, 0x10000, {
    name: 'main thread',
    read: (port, size) =>
      pages.call(id, { kind: KIND_IO, addr: port, size, isWrite: false, data: 0 }) ?? ONES[size],
    write: (port, size, value) => {
      pages.call(id, { kind: KIND_IO, addr: port, size, isWrite: true, data: value });
    },
  });
  for (let i = 0; i < task.cpus; i++) vm.createVcpu();
  vm.commitLoadedRam(); // nothing staged here: the main thread loaded RAM
  for (const other of vm.vcpus)
    if (other.id !== task.id) standIn(other.apic, other.id, mailbox, pages.routing(other.id));
  const v = vm.vcpus[task.id];
  pages.publishApic(id, v.apic); // before the start barrier: every stand-in sees a real state
  // One clock for every thread: host time since the origin, 1 ns per tick (the 1 GHz TSC).
  const origin = task.originMs;
  v.now = () => (performance.timeOrigin + performance.now() - origin) * 1e6;
  // At every VM exit the TSC catches up with the clock: between exits it counts instructions.
  const cpu = v.backend.clock;
  v.charge = () => {
    if (cpu.tscOffset !== undefined) cpu.tscOffset = Math.round(v.now()) - cpu.icount;
  };
  return v;
}

function runLoop(task: VcpuTask, v: Vcpu, pages: RunPages, mailbox: IpiMailbox): VcpuReport {
  const id = task.id;
  const mail = new Mail(mailbox, id, v.apic);
  const cpu = v.backend.clock;
  const run = v.run;
  const report = (end: VcpuReport['end'], message: string, kvmExitReason?: number): VcpuReport => ({
    id,
    end,
    message,
    instructions: cpu.icount,
    kvmExitReason,
    where: where(v),
  });
  pages.setState(id, VCPU_RUNNING);
  let runs = 0;
  const fault = task.fault;
  for (;;) {
    if (pages.stopRequested()) return report('stopped', `vcpu ${id}: stopped`);
    mail.take();
    v.apic.pollTimer();
    v.charge(0); // RDTSC reads the shared clock at entry, then counts the instructions of this run
    const reason = v.kvmRun(task.quantum);
    pages.progress(id, cpu.icount);
    pages.publishApic(id, v.apic); // an LDR, SVR, TPR or mode the guest wrote in this run
    if (fault !== undefined && ++runs >= fault.afterRuns) {
      if (fault.kind === 'throw') throw new Error('fault injected by the test');
      for (;;); // a worker that never returns: the main thread's hang check must end it
    }
    switch (reason) {
      case KVM_EXIT_IO: {
        const out = run.ioDirection === KVM_EXIT_IO_OUT;
        const answer = pages.call(id, {
          kind: KIND_IO,
          addr: run.ioPort,
          size: run.ioSize,
          isWrite: out,
          data: run.ioData,
        });
        if (answer === null) return report('stopped', `vcpu ${id}: stopped at a port access`);
        if (!out) run.ioData = answer;
        break;
      }
      case KVM_EXIT_MMIO: {
        const answer = pages.call(id, {
          kind: KIND_MMIO,
          addr: run.mmioPhysAddr,
          size: run.mmioLen,
          isWrite: run.mmioIsWrite,
          data: run.mmioData,
        });
        if (answer === null) return report('stopped', `vcpu ${id}: stopped at an MMIO access`);
        if (!run.mmioIsWrite) run.mmioData = answer;
        break;
      }
      case KVM_EXIT_HLT:
      case KVM_EXIT_AP_RESET_HOLD:
        park(v, mail, pages, id);
        break;
      case KVM_EXIT_INTR:
        break;
      case KVM_EXIT_SHUTDOWN:
        return report('triple-fault', `vcpu ${id}: ${run.explanation}`);
      case KVM_EXIT_SYSTEM_EVENT:
        return report('terminated', run.explanation);
      default:
        return report('error', `vcpu ${id}: ${KVM_EXIT_NAMES[reason] ?? reason}: ${run.explanation}`, reason);
    }
  }
}

/**
 * The vCPU waits (HLT, wait-for-SIPI, AP Reset Hold): sleep on the mailbox until a post, the
 * APIC timer's deadline or the stop request. The sequence word is read before the last look, so a
 * post between the look and the sleep makes the sleep return at once.
 */
function park(v: Vcpu, mail: Mail, pages: RunPages, id: number): void {
  for (;;) {
    const seq = mail.seq();
    mail.take();
    v.apic.pollTimer();
    const runnable = v.runnable();
    pages.publishApic(id, v.apic); // an INIT taken here reset the APIC
    if (runnable || pages.stopRequested()) return;
    const deadline = v.apic.nextTimerDeadline();
    const ms =
      deadline < 0 ? PARK_SLICE_MS : Math.max(0, Math.min(PARK_SLICE_MS, (deadline - v.now()) / 1e6));
    pages.setState(id, VCPU_PARKED);
    mail.park(seq, ms);
    pages.setState(id, VCPU_RUNNING);
  }
}

/** Where the vCPU is, for a report: its RIP, unless its registers are the guest's secret. */
function where(v: Vcpu): string {
  if (v.backend.guestStateProtected) return `vcpu ${v.id}: registers protected (SEV-ES)`;
  try {
    return `vcpu ${v.id}: RIP 0x${v.getRegs().rip.toString(16)}`;
  } catch {
    return `vcpu ${v.id}: RIP unknown`;
  }
}
