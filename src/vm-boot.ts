// Composition root: a boot-sector guest as a VM on one vCPU through a virtualization backend
// (AMD SVM or Intel VMX). Userspace's part is KVM's: it owns the debug console (0xE9) and the
// debug-exit port (0xF4) and answers KVM_EXIT_IO for them; the VMM emulates the other devices.

import { SvmBackend } from './svm/backend.js';
import type { BootSectorRunOptions, BootSectorRunResult, StopReason } from './vmm/bare-metal.js';
import { BOOT_ADDR, ImageError } from './vmm/bare-metal.js';
import { Port92 } from './vmm/devices/port92.js';
import { SerialStub } from './vmm/devices/serial-stub.js';
import {
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_NAMES,
  KVM_EXIT_SHUTDOWN,
} from './vmm/kvm-abi.js';
import { Vm } from './vmm/vm.js';
import { VmxBackend } from './vmx/backend.js';

export interface VmBootOptions extends BootSectorRunOptions {
  /** The backend (default svm); vmx defaults the guest CPU's vendor to GenuineIntel. */
  arch?: 'svm' | 'vmx';
  /** vCPUs (default 1): vCPU 0 is the BSP, the others wait for INIT-SIPI-SIPI. */
  cpus?: number;
  trace?: ((category: string, line: string) => void) | null;
}

/**
 * The deterministic scheduler's quantum: each runnable vCPU in turn runs this many instructions
 * (the host-timer #VMEXIT ends it). Small enough that an IPI reaches its target promptly.
 */
const QUANTUM = 1 << 14;

export function runBootSectorVm(image: Uint8Array, opts: VmBootOptions = {}): BootSectorRunResult {
  const memoryBytes = opts.memoryBytes ?? 64 * 1024 * 1024;
  if (image.length === 0) throw new ImageError('the image is empty');
  const room = Math.min(memoryBytes, 0xa0000) - BOOT_ADDR;
  if (image.length > room)
    throw new ImageError(
      `the image is ${image.length} bytes; it must end below 0xA0000 (at most ${room} bytes)`,
    );
  const vmx = opts.arch === 'vmx';
  const vm = new Vm({
    memoryBytes,
    vendor: opts.vendor ?? (vmx ? 'GenuineIntel' : undefined),
    backend: vmx ? new VmxBackend() : new SvmBackend(),
    trace: opts.trace ?? null,
  });
  vm.ports.register(
    0x92,
    1,
    new Port92(
      () => {},
      () => {},
    ),
  );
  vm.ports.register(0x3f8, 8, new SerialStub((b) => opts.onSerialByte?.(b)));
  vm.guestRam().set(image, BOOT_ADDR);
  const ncpus = opts.cpus ?? 1;
  for (let i = 0; i < ncpus; i++) vm.createVcpu();
  const vcpu = vm.vcpus[0];
  const b = vcpu.backend;
  b.setSegment('cs', 0, 0, 0xffff, 0x9b);
  const regs = b.getRegs();
  regs.rip = BigInt(BOOT_ADDR);
  regs.gpr[2] = 0x80n; // DL: boot drive
  b.setRegs(regs);
  if (opts.onUndefined) for (const v of vm.vcpus) v.backend.cpu.onUndefined = opts.onUndefined;

  const out: number[] = [];
  const max = opts.maxInstructions ?? 500_000_000;
  const total = () => vm.vcpus.reduce((n, v) => n + v.backend.cpu.icount, 0);
  const result = (
    stop: StopReason,
    message: string,
    exitStatus: number | null = null,
  ): BootSectorRunResult => ({
    output: Buffer.from(out).toString('latin1'),
    exitStatus,
    stop,
    message,
    instructions: total(),
  });
  // Round robin over the runnable vCPUs, one quantum each: the same run gives the same trace.
  for (;;) {
    let ran = false;
    for (const v of vm.vcpus) {
      if (!v.runnable()) continue;
      ran = true;
      // One turn: the quantum, across userspace I/O exits (userspace calls KVM_RUN again at once).
      const turnEnd = v.backend.cpu.icount + QUANTUM;
      for (;;) {
        const reason = v.kvmRun(Math.max(1, Math.min(turnEnd - v.backend.cpu.icount, max - total())));
        const run = v.run;
        if (reason === KVM_EXIT_IO) {
          if (run.ioDirection === KVM_EXIT_IO_OUT && run.ioPort === 0xe9) {
            out.push(run.ioData & 0xff);
            opts.onDebugByte?.(run.ioData & 0xff);
          } else if (run.ioDirection === KVM_EXIT_IO_OUT && run.ioPort === 0xf4) {
            const val = run.ioData >>> 0;
            return result('exit', `guest wrote ${val.toString(16)} to port 0xF4`, ((val << 1) | 1) >>> 0);
          } else if (run.ioPort === 0xe9)
            run.ioData = 0xe9; // the debug console's signature
          else run.ioData = 0xffffffff; // nothing there
          if (v.backend.cpu.icount < turnEnd && total() < max) continue;
          break;
        }
        if (reason === KVM_EXIT_HLT || reason === KVM_EXIT_INTR) break;
        if (reason === KVM_EXIT_SHUTDOWN) return result('triple-fault', `vcpu ${v.id}: ${run.explanation}`);
        return result('error', `vcpu ${v.id}: ${KVM_EXIT_NAMES[reason] ?? reason}: ${run.explanation}`);
      }
      if (total() >= max)
        return result('max-instructions', `stopped after ${total()} instructions (--max-instructions)`);
    }
    // Nothing can run and nothing in this machine raises interrupts: it will never wake.
    if (!ran) return result('halted', 'every vCPU is halted or waiting for SIPI, with nothing to wake it');
  }
}
