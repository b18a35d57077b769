// A processor of the host machine as the hypervisor holds it: an opaque handle. The hypervisor runs
// guests on it through the virtualization hardware (src/svm/hw, src/vmx/hw, which alone may open
// the handle: core-access.ts) and sees what a hypervisor sees of a processor after an exit: its
// general registers (scrubbed after an SEV-ES guest), its instruction count and TSC offset, CPUID.
// It holds no view of DRAM: a processor's memory path is the memory controller's business.
import type { Cpu } from '../cpu/cpu.js';
import { cpuid } from '../cpu/cpuid.js';
import { registerCore } from './core-access.js';

export class PhysicalCpu {
  readonly #cpu: Cpu;
  /** The general registers (RAX..R15) as the last #VMEXIT left them. */
  readonly r32: Int32Array;
  readonly r64: BigUint64Array;

  constructor(cpu: Cpu) {
    this.#cpu = cpu;
    this.r32 = cpu.r32;
    this.r64 = cpu.r64;
    registerCore(this, cpu);
  }

  /** Instructions retired (the deterministic scheduler's and the VM clock's unit). */
  get icount(): number {
    return this.#cpu.icount;
  }
  /** TSC_OFFSET: RDTSC reads icount + tscOffset. */
  get tscOffset(): number {
    return this.#cpu.tscOffset;
  }
  set tscOffset(v: number) {
    this.#cpu.tscOffset = v;
  }
  /** The processor's CPUID with the features the machine gave it (KVM_GET_SUPPORTED_CPUID). */
  cpuid(leaf: number, subleaf: number, out: Int32Array): void {
    cpuid(this.#cpu, leaf, subleaf, out);
  }

  /** KVM_SET_CPUID2 for an SEV-ES guest: CPUID 8000001Fh reports SEV, SEV-ES and the C-bit position. */
  advertiseSevEs(): void {
    this.#cpu.features.sevEs = true;
  }

  /**
   * KVM_SET_CPUID2 for a VM: CPUID.1:ECX.hypervisor set and the hypervisor leaves (40000000h on),
   * each leaf's EAX, EBX, ECX, EDX.
   */
  advertiseHypervisor(leaves: ReadonlyMap<number, readonly [number, number, number, number]>): void {
    const f = this.#cpu.features;
    f.hypervisor = true;
    for (const [leaf, [a, b, c, d]] of leaves) f.extra.set(leaf * 256, [a, b, c, d]);
  }

  /** The chipset's A20 gate line into this processor (port 92h, the 8042's output port). */
  setA20(on: boolean): void {
    this.#cpu.setA20(on);
  }

  /** The last exceptions of an unprotected guest, for a triple-fault report. */
  recentExceptions(n: number): string[] {
    return this.#cpu.excHistory.slice(-n);
  }

  /** The instruction emulator's undo: RAX..R15 and the XMM registers, to put back with restoreRegisters. */
  saveRegisters(): { gpr: BigUint64Array; xmm: Uint8Array } {
    return { gpr: this.#cpu.r64.slice(), xmm: this.#cpu.xmm8.slice() };
  }
  restoreRegisters(saved: { gpr: BigUint64Array; xmm: Uint8Array }): void {
    this.#cpu.r64.set(saved.gpr);
    this.#cpu.xmm8.set(saved.xmm);
  }
}
