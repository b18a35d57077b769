// A virtual machine on a host machine (src/host): guest RAM at host-physical 0 (identity-mapped by
// the backend's nested tables) and the control pages above it, reached only through the memory
// controller's host path; the port and MMIO buses, the CPUID table, and its vCPUs, each on a
// processor of the host. Devices are the VMM's ("in-kernel"), attached by the platform
// (platform.ts); ports nobody claims go to userspace as KVM_EXIT_IO.

import { ApicBus } from '../apic/apic-bus.js';
import { LocalApic } from '../apic/local-apic.js';
import { APIC_BASE_EN } from '../apic/registers.js';
import type { Vendor } from '../cpu/cpu.js';
import { MMIO_ASSIST_BASE } from '../cpu/mmu.js';
import type { MmioBus } from '../cpu/ports.js';
import { type CodeDomain, HostMachine } from '../host/host-machine.js';
import type { HostMemory } from '../host/host-memory.js';
import type { PhysicalCpu } from '../host/physical-cpu.js';
import type { Backend, VmmServices } from './backend-api.js';
import { hypervisorLeaves } from './cpuid-hypervisor.js';
import { fetchGuestInstruction } from './guest-code.js';
import { type GuestMemory, guestRamThrough } from './guest-memory.js';
import { PortBus } from './io-bus.js';
import { MmioMap } from './mmio-map.js';
import { TRACE_TOPIC_NAMES, type TraceSink, type TraceTopic } from './trace.js';
import { UserspaceMmio } from './userspace-mmio.js';
import { Vcpu } from './vcpu.js';

const PAGE = 4096;
const APIC_BASE_EN_64 = BigInt(APIC_BASE_EN);
/** Host memory reserved above guest RAM for control structures. */
const CONTROL_BYTES = 4 * 1024 * 1024;
/** And per vCPU: its VMCB or VMCS, an SEV-ES VMSA, with room to spare. */
const CONTROL_BYTES_PER_VCPU = 3 * PAGE;

/**
 * Guest-physical MMIO of one vCPU, seen through the emulator (addresses arrive as
 * MMIO_ASSIST_BASE + gpa): its local APIC page (which shadows whatever is below it, as on
 * hardware), else the VM's MMIO map (the I/O APIC), else open bus (all ones, writes dropped).
 */
class GuestMmio implements MmioBus {
  readonly user = new UserspaceMmio();
  /** `--trace mmio`: each access the VMM's devices take (userspace's are traced where it answers). */
  trace: ((line: string) => void) | null = null;
  constructor(
    private readonly apic: LocalApic,
    private readonly map: MmioMap,
  ) {}
  private traceAccess(gpa: number, size: number, isWrite: boolean, value: number): void {
    const apic = this.apic;
    const device =
      apic.mmioActive && gpa >= apic.mmioBase && gpa < apic.mmioBase + 4096
        ? `local APIC+0x${(gpa - apic.mmioBase).toString(16)}`
        : (this.map.deviceAt(gpa) ?? 'open bus');
    this.trace?.(
      `${isWrite ? 'write' : 'read'} 0x${gpa.toString(16)} size ${size} ${isWrite ? '<-' : '->'} 0x${(value >>> 0).toString(16)} (${device})`,
    );
  }
  /** The VMM's devices: the local APIC page, then the VM-wide map. */
  inKernel(gpa: number): boolean {
    const apic = this.apic;
    return (apic.mmioActive && gpa >= apic.mmioBase && gpa < apic.mmioBase + 4096) || this.map.claims(gpa);
  }
  mmioRead(addr: number, size: number): number {
    const gpa = addr - MMIO_ASSIST_BASE;
    const apic = this.apic;
    if (apic.mmioActive && gpa >= apic.mmioBase && gpa < apic.mmioBase + 4096) {
      const v = apic.mmioRead(gpa - apic.mmioBase, size);
      if (this.trace !== null) this.traceAccess(gpa, size, false, v);
      return v;
    }
    if (!this.map.claims(gpa)) return this.user.read(gpa, size);
    const v = this.map.read(gpa, size);
    if (this.trace !== null) this.traceAccess(gpa, size, false, v);
    return v;
  }
  mmioWrite(addr: number, size: number, value: number): void {
    const gpa = addr - MMIO_ASSIST_BASE;
    const apic = this.apic;
    // Traced before the write: a write may start an IPI, whose lines then follow.
    if (this.trace !== null && this.inKernel(gpa)) this.traceAccess(gpa, size, true, value);
    if (apic.mmioActive && gpa >= apic.mmioBase && gpa < apic.mmioBase + 4096)
      apic.mmioWrite(gpa - apic.mmioBase, size, value);
    else if (this.map.claims(gpa)) this.map.write(gpa, size, value);
    else this.user.write(gpa, size, value);
  }
}

export interface VmOptions {
  memoryBytes: number;
  /** The machine to run on (default: a new one with DRAM for this VM's RAM and control pages). */
  host?: HostMachine;
  vendor?: Vendor;
  backend: Backend;
  /** The most vCPUs this VM will have (default 64): sizes the host pages kept for control blocks. */
  maxVcpus?: number;
  /** Trace sink for --trace (topics in trace.ts); null for none. */
  trace?: TraceSink | null;
  /** The topics the sink wants (default: all but insn). */
  traceTopics?: ReadonlySet<TraceTopic>;
  /**
   * A disassembler for the insn and exits topics (the VMM imports none: the CLI hands iced-x86 in,
   * loaded only when a topic asks); without one those lines show bytes.
   */
  disassemble?:
    | ((bytes: Uint8Array, codeSize: number, ip: bigint) => { text: string; length: number })
    | null;
  /** --debug-ud: undefined opcodes of unprotected guests (the hardware never reports an SEV-ES guest's). */
  onUndefined?: ((rip: number, bytes: Uint8Array, codeSize: number) => void) | null;
}

/** DRAM a host machine needs for one VM: its RAM, then control pages. */
export function hostBytesFor(memoryBytes: number, maxVcpus = 64): number {
  return memoryBytes + CONTROL_BYTES + maxVcpus * CONTROL_BYTES_PER_VCPU;
}

export class Vm {
  readonly host: HostMachine;
  /** The hypervisor's path to host memory (guest RAM at host-physical 0). */
  readonly memory: HostMemory;
  /** Guest RAM as devices reach it (fw_cfg DMA): the host path, bounded to RAM. */
  readonly guestMemory: GuestMemory;
  readonly guestRamBytes: number;
  readonly ports = new PortBus();
  /** Platform MMIO devices, shared by every vCPU. */
  readonly mmio = new MmioMap();
  readonly vcpus: Vcpu[] = [];
  private nextHostPage: number;
  readonly apicBus = new ApicBus();
  private readonly services: VmmServices;
  /** Which trace topics are on (the VMM's devices and platform read it too). */
  readonly traceOn: Readonly<Record<TraceTopic, boolean>>;
  /** One line of a trace topic; dropped unless the topic is on (test traceOn before building it). */
  readonly trace: TraceSink;
  /** The vCPU in KVM_RUN, for `--trace io` (the port bus is the VM's, not a vCPU's). */
  private running = 0;

  private readonly guestMmio: GuestMmio[] = [];
  /** The processor each vCPU runs on (the hypervisor's handles: no view of DRAM). */
  private readonly processors: PhysicalCpu[] = [];
  /** The vCPUs share RAM, so they share decoded code (one block cache per VM). */
  private readonly codeDomain: CodeDomain;

  constructor(private readonly opts: VmOptions) {
    this.guestRamBytes = opts.memoryBytes;
    this.host =
      opts.host ??
      new HostMachine({ bytes: hostBytesFor(opts.memoryBytes, opts.maxVcpus), vendor: opts.vendor });
    this.memory = this.host.memory;
    this.nextHostPage = opts.memoryBytes;
    this.codeDomain = this.host.newCodeDomain();
    this.guestMemory = guestRamThrough(this.memory, this.guestRamBytes);
    const trace = opts.trace ?? null;
    const on = Object.fromEntries(
      // Without a list, every topic but insn (which single-steps the guest: asked for by name).
      TRACE_TOPIC_NAMES.map((t) => [t, trace !== null && (opts.traceTopics?.has(t) ?? t !== 'insn')]),
    ) as Record<TraceTopic, boolean>;
    this.traceOn = on;
    this.apicBus.trace = on.apic && trace ? (line) => trace('apic', line) : null;
    this.trace = trace ? (topic, line) => on[topic] && trace(topic, line) : () => {};
    if (on.io && trace)
      this.ports.trace = (port, size, isIn, value, device) =>
        trace(
          'io',
          `vcpu ${this.running}: ${isIn ? 'in' : 'out'} port 0x${port.toString(16)} size ${size} ${isIn ? '->' : '<-'} 0x${(value >>> 0).toString(16)} (${device})`,
        );
    this.services = {
      ports: this.ports,
      mmio: (id) => this.guestMmio[id],
      memory: this.memory,
      guestRamBytes: this.guestRamBytes,
      allocHostPages: (count: number) => this.allocHostPages(count),
      portInKernel: (port) => this.ports.claimed(port),
      mmioInKernel: (id, gpa) => this.guestMmio[id].inKernel(gpa),
      userMmio: (id) => this.guestMmio[id].user,
      apic: (id) => this.vcpus[id].apic,
      cpuid: (id, leaf, sub, out) => {
        this.processors[id].cpuid(leaf, sub, out);
        // CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (SDM vol 3 11.4.3; KVM updates it at run time).
        if (leaf === 1 && !(this.vcpus[id].apic.apicBase & APIC_BASE_EN_64)) out[3] &= ~(1 << 9);
      },
      halt: (id, state, run) => this.vcpus[id].emulateHalt(state, run),
      trace: this.trace,
      tracing: trace !== null && TRACE_TOPIC_NAMES.some((t) => on[t]),
      traceOn: on,
      guestInstruction: (id) => this.guestInstruction(id),
    };
  }

  /**
   * The instruction at the vCPU's CS:RIP, for the insn and exits topics: "0x<linear> <bytes> <text>".
   * An SEV-ES vCPU's RIP and code are encrypted: the line says so and reads nothing.
   */
  guestInstruction(id: number): string {
    const b = this.vcpus[id]?.backend;
    if (b === undefined) return '(no such vCPU)';
    if (b.guestStateProtected) return '(instruction not shown: SEV-ES keeps RIP and code encrypted)';
    const rip = b.getRegs().rip;
    const insn = fetchGuestInstruction(this.memory, this.guestRamBytes, rip, b.getCodeRegs());
    if (insn === null) return `0x${rip.toString(16)}: (code not mapped)`;
    const d = this.opts.disassemble?.(insn.bytes, insn.codeSize, insn.linear) ?? null;
    const len = d === null || d.length === 0 ? Math.min(insn.bytes.length, 8) : d.length;
    const hex = Array.from(insn.bytes.subarray(0, len), (x) => x.toString(16).padStart(2, '0')).join('');
    return `0x${insn.linear.toString(16)}: ${hex}${d === null ? '' : ` ${d.text}`}`;
  }

  /** Zeroed host pages for control structures (they stay the hypervisor's: never private). */
  allocHostPages(count: number): number {
    const pa = this.nextHostPage;
    if (pa + count * PAGE > this.memory.byteLength)
      throw new Error('out of host memory for control structures');
    this.nextHostPage += count * PAGE;
    return pa;
  }

  /** What the loaders write before the first run, until it goes to DRAM (commitLoadedRam). */
  private staging: Uint8Array | null = null;
  private started = false;

  /**
   * Guest RAM for the VMM's loaders (firmware tables, boot images, kernels) before any vCPU runs:
   * a staging copy that commitLoadedRam writes to DRAM through the memory controller, so even
   * loading never holds a view of DRAM. Fresh DRAM is zero, so only the pages written are copied.
   */
  loaderRam(): Uint8Array {
    if (this.started)
      throw new Error('guest RAM is loaded before the first KVM_RUN; write through vm.memory after');
    if (this.staging === null) this.staging = new Uint8Array(this.guestRamBytes);
    return this.staging;
  }

  /** Write the loaders' pages to DRAM (done before the first KVM_RUN of any vCPU). */
  commitLoadedRam(): void {
    this.started = true;
    const ram = this.staging;
    if (ram === null) return;
    this.staging = null;
    // Divisions, not `>> 2`: 2 GiB of RAM and more is past int32.
    const words = new Int32Array(ram.buffer, ram.byteOffset, Math.floor(ram.byteLength / 4));
    for (let page = 0; page * PAGE < ram.length; page++) {
      const first = (page * PAGE) / 4;
      const last = Math.min(first + PAGE / 4, words.length);
      for (let i = first; i < last; i++)
        if (words[i] !== 0) {
          this.memory.write(page * PAGE, ram.subarray(page * PAGE, Math.min((page + 1) * PAGE, ram.length)));
          break;
        }
    }
  }

  /** CPUID as the VM reports it, from the BSP's processor. */
  cpuid(leaf: number, subleaf: number, out: Int32Array): void {
    this.processors[0].cpuid(leaf, subleaf, out);
  }

  /** The A20 gate line (port 92h, the 8042's output port) into every processor of the VM. */
  setA20(on: boolean): void {
    for (const p of this.processors) p.setA20(on);
  }

  /** KVM_CREATE_VCPU. */
  createVcpu(): Vcpu {
    const id = this.vcpus.length;
    const trace = this.opts.trace ?? null;
    let vcpu: Vcpu | null = null;
    const apic = new LocalApic({
      apicId: id,
      bsp: id === 0,
      clock: { now: () => vcpu?.now() ?? 0 },
      kick: () => vcpu?.kick(),
    });
    this.apicBus.add(apic);
    if (this.traceOn.irq) apic.irqTrace = (line) => this.trace('irq', line);
    const mmio = new GuestMmio(apic, this.mmio);
    if (this.traceOn.mmio && trace) mmio.trace = (line) => trace('mmio', `vcpu ${id}: ${line}`);
    this.guestMmio.push(mmio);
    const cpu = this.host.createProcessor({
      codeDomain: this.codeDomain,
      io: this.ports,
      mmio,
      apicId: id,
      apic: true,
      x2apic: true,
      tscDeadline: true,
      onUndefined: this.opts.onUndefined ?? null,
    });
    cpu.advertiseHypervisor(hypervisorLeaves());
    this.processors.push(cpu);
    vcpu = new Vcpu(
      id,
      this.opts.backend.createVcpu(id, cpu, this.services),
      apic,
      (line) => this.traceOn.mp && trace?.('mp', line),
      () => this.commitLoadedRam(),
    );
    if (this.traceOn.io) vcpu.onEnter = (vid) => (this.running = vid);
    if (this.traceOn.insn) {
      if (vcpu.backend.guestStateProtected)
        this.trace('insn', `vcpu ${id}: no instruction trace: an SEV-ES vCPU's RIP and code are encrypted`);
      else vcpu.stepTrace = () => this.trace('insn', `vcpu ${id}: ${this.guestInstruction(id)}`);
    }
    this.vcpus.push(vcpu);
    return vcpu;
  }
}
