// The physical machine a hypervisor runs on: DRAM behind the memory controller, the secure
// processor that alone programs the controller's keys, and the processors. The hypervisor gets the
// controller's host path (HostMemory), the secure processor's command interface, and opaque
// processor handles: no plaintext view of DRAM, so none of a protected guest.
import { BusLock } from '../cpu/bus-lock.js';
import { CodeCache } from '../cpu/code-cache.js';
import { CodeShare } from '../cpu/code-share.js';
import { Cpu, type Vendor } from '../cpu/cpu.js';
import type { IoBus, MmioBus } from '../cpu/ports.js';
import { registerDram, registerMachine } from './core-access.js';
import type { HostMemory } from './host-memory.js';
import { MemoryController } from './memory-controller.js';
import { PhysicalCpu } from './physical-cpu.js';
import { SecureProcessor } from './secure-processor.js';

/** Processors that share decoded code (a VM's vCPUs, which share its RAM): opaque. */
export interface CodeDomain {
  readonly __codeDomain: unique symbol;
}

export interface ProcessorOptions {
  codeDomain: CodeDomain;
  /** Where the processor's port I/O and emulated MMIO go (the VMM's buses). */
  io: IoBus;
  mmio: MmioBus;
  apicId: number;
  /** CPUID.1:EDX.APIC and CPUID.1:ECX.x2APIC (the VMM emulates a local APIC). */
  apic?: boolean;
  x2apic?: boolean;
  /** CPUID.1:ECX.TSC_DEADLINE: the emulated local APIC's timer has TSC-deadline mode. */
  tscDeadline?: boolean;
  /** --debug-ud: called on an undefined opcode in an unprotected guest (never for an SEV-ES guest). */
  onUndefined?: ((rip: number, bytes: Uint8Array, codeSize: number) => void) | null;
}

/**
 * This machine's DRAM as another host thread attaches to it (the threaded scheduler's vCPU
 * workers): opaque to the hypervisor, which only passes it on. It holds the DRAM and the bus lock's
 * words, both SharedArrayBuffers, so postMessage shares them rather than copying them.
 */
export interface DramShare {
  readonly __dramShare: unique symbol;
}

/** What a DramShare is inside this file. */
interface SharedParts {
  dram: SharedArrayBuffer;
  busLock: SharedArrayBuffer;
  /** Which pages hold code on some thread and their write generations (code-share.ts). */
  code: SharedArrayBuffer;
}

export class HostMachine {
  readonly #dram: SharedArrayBuffer;
  readonly #memory: MemoryController;
  readonly #domains = new WeakMap<CodeDomain, CodeCache>();
  /**
   * The bus lock every processor's locked accesses respect (split locks take it). The processors
   * built here run on this thread, one at a time, so they share one slot; a HostMachine built on
   * another thread from share() takes a slot of its own in the same lock.
   */
  readonly busLock: BusLock;
  readonly #busSlot: number;
  /** The hypervisor's and devices' path to DRAM. */
  readonly memory: HostMemory;
  /** The AMD secure processor's command interface (SEV API). */
  readonly psp: SecureProcessor;
  readonly vendor: Vendor;

  /** `dram`: another HostMachine's DRAM (share()), for a processor on another host thread. */
  constructor(opts: { bytes: number; vendor?: Vendor; dram?: DramShare }) {
    const shared = opts.dram as unknown as SharedParts | undefined;
    if (shared !== undefined && shared.dram.byteLength !== opts.bytes)
      throw new RangeError(`the shared DRAM is ${shared.dram.byteLength} bytes, not ${opts.bytes}`);
    this.#dram = shared?.dram ?? new SharedArrayBuffer(opts.bytes);
    // A machine on another thread over the same DRAM shares its bus lock, with a slot of its own.
    this.busLock = shared === undefined ? BusLock.create() : BusLock.fromBuffer(shared.busLock);
    this.#busSlot = this.busLock.allocSlot();
    this.#memory = new MemoryController(this.#dram);
    this.#memory.dramShared = shared !== undefined;
    if (shared !== undefined) this.#memory.codeShare = new CodeShare(opts.bytes, shared.code);
    this.memory = this.#memory.host;
    this.psp = new SecureProcessor(this.#memory.keySlots);
    this.vendor = opts.vendor ?? 'AuthenticAMD';
    registerDram(this, new Uint8Array(this.#dram), this.#memory);
  }

  /** Bytes of DRAM. */
  get bytes(): number {
    return this.#dram.byteLength;
  }

  /** DRAM for another thread's HostMachine (the memory controller's keys stay with this one). */
  share(): DramShare {
    // A processor keeps a private page it uses in plaintext form in DRAM (memory-controller.ts):
    // once a guest key is installed, DRAM goes to no other thread.
    if (this.#memory.anyKey())
      throw new Error('DRAM with an SEV guest key installed is not shared with another thread');
    this.#memory.dramShared = true; // and from now on no key is installed here either
    // Code caches made from here on, here and on the other thread, see each other's stores to code.
    const bytes = this.#dram.byteLength;
    this.#memory.codeShare ??= new CodeShare(bytes, new SharedArrayBuffer(CodeShare.bytes(bytes)));
    const parts: SharedParts = {
      dram: this.#dram,
      busLock: this.busLock.buffer,
      code: this.#memory.codeShare.buffer,
    };
    return parts as unknown as DramShare;
  }

  newCodeDomain(): CodeDomain {
    const d = {} as CodeDomain;
    this.#domains.set(d, new CodeCache(this.#dram.byteLength, this.#memory.codeShare));
    return d;
  }

  createProcessor(opts: ProcessorOptions): PhysicalCpu {
    const code = this.#domains.get(opts.codeDomain);
    if (code === undefined) throw new TypeError('a code domain of another machine');
    const cpu = new Cpu({
      codeCache: code,
      ram: this.#dram,
      io: opts.io,
      mmio: opts.mmio,
      vendor: this.vendor,
      apicId: opts.apicId,
    });
    cpu.features.apic = opts.apic ?? false;
    cpu.features.x2apic = opts.x2apic ?? false;
    cpu.features.tscDeadline = opts.tscDeadline ?? false;
    cpu.onUndefined = opts.onUndefined ?? null;
    cpu.busLock = this.busLock;
    cpu.busSlot = this.#busSlot;
    this.#memory.attach(cpu);
    registerMachine(cpu, { memory: this.#memory, psp: this.psp });
    return new PhysicalCpu(cpu);
  }

  /** Statistics: pages that changed form, cipher operations done for host reads and writes. */
  memoryStats(): { conversions: number; hostCipherOps: number } {
    return { conversions: this.#memory.conversions, hostCipherOps: this.#memory.hostCipherOps };
  }
}

/**
 * A processor built on its own (a hardware unit test's, with RAM of its own) as a handle the
 * virtualization hardware accepts: it gets a memory controller and a secure processor over its RAM.
 */
export function standaloneProcessor(cpu: Cpu): PhysicalCpu {
  const memory = new MemoryController(cpu.ram.buffer as SharedArrayBuffer);
  memory.attach(cpu);
  registerMachine(cpu, { memory, psp: new SecureProcessor(memory.keySlots) });
  return new PhysicalCpu(cpu);
}
