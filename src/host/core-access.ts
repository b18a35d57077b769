// Hardware only: the processor core behind a PhysicalCpu handle, for the virtualization hardware
// (src/svm/hw, src/vmx/hw) and the machine itself. src/architecture.test.ts keeps every hypervisor
// file from importing this module: a Cpu holds the processor's direct view of DRAM.
import type { Cpu } from '../cpu/cpu.js';
import type { MemoryController } from './memory-controller.js';
import type { SecureProcessor } from './secure-processor.js';

const cores = new WeakMap<object, Cpu>();
const drams = new WeakMap<object, { dram: Uint8Array; memory: MemoryController }>();
const machines = new WeakMap<Cpu, MachineHardware>();

/** What a processor's virtualization hardware reaches besides its core. */
export interface MachineHardware {
  readonly memory: MemoryController;
  readonly psp: SecureProcessor;
}

export function registerCore(handle: object, cpu: Cpu): void {
  cores.set(handle, cpu);
}

export function registerMachine(cpu: Cpu, hw: MachineHardware): void {
  machines.set(cpu, hw);
}

export function coreOf(handle: object): Cpu {
  const cpu = cores.get(handle);
  if (cpu === undefined) throw new TypeError('not a processor of a host machine');
  return cpu;
}

export function machineOf(cpu: Cpu): MachineHardware {
  const hw = machines.get(cpu);
  if (hw === undefined) throw new TypeError('this processor belongs to no host machine');
  return hw;
}

export function registerDram(machine: object, dram: Uint8Array, memory: MemoryController): void {
  drams.set(machine, { dram, memory });
}

function hardwareOf(machine: object): { dram: Uint8Array; memory: MemoryController } {
  const d = drams.get(machine);
  if (d === undefined) throw new TypeError('not a host machine');
  return d;
}

/** What DRAM cells hold in hvemu's representation (private pages decrypted): for tests of the hardware. */
export function dramOf(machine: object): Uint8Array {
  return hardwareOf(machine).dram;
}

/** The machine's memory controller: for tests that stand in for a processor's access. */
export function memoryControllerOf(machine: object): MemoryController {
  return hardwareOf(machine).memory;
}
