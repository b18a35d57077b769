// Composition root: a boot-sector guest as a VM on one vCPU through a virtualization backend
// (SVM now; VMX next). Userspace's part is KVM's: it owns the debug console (0xE9) and the
// debug-exit port (0xF4) and answers KVM_EXIT_IO for them; the VMM emulates the other devices.

import { SvmBackend } from './svm/backend.js';
import type { BootSectorRunOptions, BootSectorRunResult, StopReason } from './vmm/bare-metal.js';
import { BOOT_ADDR, ImageError } from './vmm/bare-metal.js';
import { Port92 } from './vmm/devices/port92.js';
import { SerialStub } from './vmm/devices/serial-stub.js';
import {
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_NAMES,
  KVM_EXIT_SHUTDOWN,
} from './vmm/kvm-abi.js';
import { Vm } from './vmm/vm.js';

export interface VmBootOptions extends BootSectorRunOptions {
  arch?: 'svm';
  trace?: ((category: string, line: string) => void) | null;
}

/** The scheduler's quantum: the host-timer #VMEXIT comes after this many guest instructions. */
const QUANTUM = 1 << 20;

export function runBootSectorVm(image: Uint8Array, opts: VmBootOptions = {}): BootSectorRunResult {
  const memoryBytes = opts.memoryBytes ?? 64 * 1024 * 1024;
  if (image.length === 0) throw new ImageError('the image is empty');
  const room = Math.min(memoryBytes, 0xa0000) - BOOT_ADDR;
  if (image.length > room)
    throw new ImageError(
      `the image is ${image.length} bytes; it must end below 0xA0000 (at most ${room} bytes)`,
    );
  const vm = new Vm({
    memoryBytes,
    vendor: opts.vendor,
    backend: new SvmBackend(),
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
  const vcpu = vm.createVcpu();
  const b = vcpu.backend;
  b.setSegment('cs', 0, 0, 0xffff, 0x9b);
  const regs = b.getRegs();
  regs.rip = BigInt(BOOT_ADDR);
  regs.gpr[2] = 0x80n; // DL: boot drive
  b.setRegs(regs);
  if (opts.onUndefined) b.cpu.onUndefined = opts.onUndefined;

  const out: number[] = [];
  const max = opts.maxInstructions ?? 500_000_000;
  const cpu = b.cpu;
  const result = (
    stop: StopReason,
    message: string,
    exitStatus: number | null = null,
  ): BootSectorRunResult => ({
    output: Buffer.from(out).toString('latin1'),
    exitStatus,
    stop,
    message,
    instructions: cpu.icount,
  });
  for (;;) {
    const reason = vcpu.kvmRun(Math.min(QUANTUM, max - cpu.icount));
    const run = vcpu.run;
    switch (reason) {
      case KVM_EXIT_IO:
        if (run.ioDirection === KVM_EXIT_IO_OUT && run.ioPort === 0xe9) {
          out.push(run.ioData & 0xff);
          opts.onDebugByte?.(run.ioData & 0xff);
        } else if (run.ioDirection === KVM_EXIT_IO_OUT && run.ioPort === 0xf4) {
          const v = run.ioData >>> 0;
          return result('exit', `guest wrote ${v.toString(16)} to port 0xF4`, ((v << 1) | 1) >>> 0);
        } else if (run.ioPort === 0xe9)
          run.ioData = 0xe9; // the debug console's signature
        else run.ioData = 0xffffffff; // nothing there
        break;
      case KVM_EXIT_HLT:
        return result('halted', 'HLT with nothing to wake it (no interrupt sources)');
      case KVM_EXIT_SHUTDOWN:
        return result('triple-fault', run.explanation);
      case KVM_EXIT_INTR:
        if (cpu.icount >= max)
          return result('max-instructions', `stopped after ${cpu.icount} instructions (--max-instructions)`);
        break;
      case KVM_EXIT_FAIL_ENTRY:
      default:
        return result('error', `${KVM_EXIT_NAMES[reason] ?? reason}: ${run.explanation}`);
    }
  }
}
