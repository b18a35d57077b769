// A PC with no hypervisor and no firmware: one processor, RAM, the debug console, the debug-exit
// port, port 0x92 and an always-ready COM1. It runs a raw boot-sector image the way a BIOS would
// hand it over (whole file at 0x7C00, CS:IP = 0000:7C00, DL = 0x80), with no BIOS services.
import { Cpu, type Vendor } from '../cpu/cpu.js';
import { ATT_STOP } from '../cpu/events.js';
import { CS } from '../cpu/regs.js';
import { run, Stop } from '../cpu/run.js';
import { updateSegCheck } from '../cpu/segment-check.js';
import { DebugExit } from './devices/debug-exit.js';
import { DebugPort } from './devices/debug-port.js';
import { Port92 } from './devices/port92.js';
import { SerialStub } from './devices/serial-stub.js';
import { OpenBus, PortBus } from './io-bus.js';

export type StopReason =
  | 'exit'
  | 'triple-fault'
  | 'max-instructions'
  | 'halted'
  | 'terminated'
  | 'reset'
  | 'error'
  | 'interrupted';
export interface BootSectorRunResult {
  /** Bytes the guest wrote to debug port 0xE9, decoded as latin1. */
  output: string;
  /** Process exit status as QEMU's isa-debug-exit gives it, (value << 1) | 1; null when the guest never wrote port 0xF4. */
  exitStatus: number | null;
  stop: StopReason;
  /** Human-readable reason for the stop (triple-fault chain, instruction budget, ...). */
  message: string;
  instructions: number;
  /** For stop 'error' in a VM: the KVM exit reason that ended it (KVM_EXIT_FAIL_ENTRY, ...). */
  kvmExitReason?: number;
  /** For stop 'interrupted': where each processor stopped, one line each (no registers of a protected one). */
  where?: string[];
}
export interface BootSectorRunOptions {
  /** Stop after this many guest instructions (default 500 million). */
  maxInstructions?: number;
  /** Guest RAM in bytes (default 64 MiB). */
  memoryBytes?: number;
  /** Called with each byte written to port 0xE9, as it comes. */
  onDebugByte?: (byte: number) => void;
  /** Called with each byte written to COM1. */
  onSerialByte?: (byte: number) => void;
  vendor?: Vendor;
  /** Report undefined opcodes (the #UD still goes to the guest). */
  onUndefined?: (rip: number, bytes: Uint8Array, codeSize: number) => void;
  /**
   * Called between slices of execution (every few thousand instructions) with the instructions run
   * so far; returning true ends the run with stop 'interrupted' (the CLI's SIGINT/SIGTERM).
   */
  checkpoint?: (instructions: number) => boolean;
}

export const BOOT_ADDR = 0x7c00;

/** A malformed or unusable image: refused before anything runs. */
export class ImageError extends Error {}

export class BareMetalPc {
  readonly cpu: Cpu;
  readonly ram: SharedArrayBuffer;
  exitStatus: number | null = null;
  private readonly out: number[] = [];

  constructor(memoryBytes: number, opts: BootSectorRunOptions = {}) {
    this.ram = new SharedArrayBuffer(memoryBytes);
    const ports = new PortBus();
    this.cpu = new Cpu({ ram: this.ram, io: ports, mmio: new OpenBus(), vendor: opts.vendor });
    const cpu = this.cpu;
    ports.register(
      0xe9,
      1,
      new DebugPort((b) => {
        this.out.push(b);
        opts.onDebugByte?.(b);
      }),
    );
    ports.register(
      0xf4,
      1,
      new DebugExit((status) => {
        if (this.exitStatus === null) this.exitStatus = status;
        cpu.attention |= ATT_STOP;
      }),
    );
    ports.register(
      0x92,
      1,
      new Port92(
        (on) => cpu.setA20(on),
        () => cpu.reset(),
      ),
    );
    ports.register(0x3f8, 8, new SerialStub((b) => opts.onSerialByte?.(b)));
    if (opts.onUndefined) cpu.onUndefined = opts.onUndefined;
  }

  get output(): string {
    return Buffer.from(this.out).toString('latin1');
  }

  /** Copy the image to 0x7C00 and put the processor where a BIOS leaves it. */
  loadBootSector(image: Uint8Array): void {
    if (image.length === 0) throw new ImageError('the image is empty');
    const room = Math.min(this.ram.byteLength, 0xa0000) - BOOT_ADDR;
    if (image.length > room) {
      throw new ImageError(
        `the image is ${image.length} bytes; a boot image loaded at 0x7C00 must end below 0xA0000 (at most ${room} bytes)`,
      );
    }
    new Uint8Array(this.ram).set(image, BOOT_ADDR);
    const cpu = this.cpu;
    cpu.reset();
    cpu.loadSegReal(CS, 0);
    cpu.segLimit[CS] = 0xffff;
    updateSegCheck(cpu, CS);
    cpu.updateMode();
    cpu.rip = BOOT_ADDR;
    cpu.r32[2 * 2] = 0x80; // DL: boot drive
  }
}

/** Loads the whole image at 0x7C00 and runs it in real mode from 0000:7C00 with DL = 0x80, no BIOS. */
export function runBootSector(image: Uint8Array, opts: BootSectorRunOptions = {}): BootSectorRunResult {
  const pc = new BareMetalPc(opts.memoryBytes ?? 64 * 1024 * 1024, opts);
  pc.loadBootSector(image);
  const max = opts.maxInstructions ?? 500_000_000;
  const cpu = pc.cpu;
  const result = (stop: StopReason, message: string): BootSectorRunResult => ({
    output: pc.output,
    exitStatus: pc.exitStatus,
    stop,
    message,
    instructions: cpu.icount,
  });
  for (;;) {
    if (opts.checkpoint?.(cpu.icount))
      return {
        ...result('interrupted', `interrupted after ${cpu.icount} instructions`),
        where: [`cpu: ${hex(cpu.segSel[CS])}:${hex(cpu.rip)}`],
      };
    const s = run(cpu, Math.min(max - cpu.icount, opts.checkpoint ? 1 << 16 : 1 << 24));
    if (pc.exitStatus !== null)
      return result('exit', `guest wrote ${((pc.exitStatus - 1) / 2).toString(16)} to port 0xF4`);
    switch (s) {
      case Stop.SHUTDOWN:
        return result(
          'triple-fault',
          `triple fault (shutdown); last exceptions: ${cpu.excHistory.slice(-4).join(' -> ')}`,
        );
      case Stop.HALT:
        // Nothing in this machine raises interrupts, so a halted processor never wakes.
        return result(
          'halted',
          `HLT at ${hex(cpu.segSel[CS])}:${hex(cpu.rip)} with nothing to wake it (no interrupt sources)`,
        );
      case Stop.BUDGET:
        if (cpu.icount >= max)
          return result('max-instructions', `stopped after ${cpu.icount} instructions (--max-instructions)`);
        break;
      default:
        break;
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(4, '0');
}
