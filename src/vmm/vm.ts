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
import { type GuestMemory, guestRamThrough } from './guest-memory.js';
import { PortBus } from './io-bus.js';
import { MmioMap } from './mmio-map.js';
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
  constructor(
    private readonly apic: LocalApic,
    private readonly map: MmioMap,
  ) {}
  /** The VMM's devices: the local APIC page, then the VM-wide map. */
  inKernel(gpa: number): boolean {
    const apic = this.apic;
    return (apic.mmioActive && gpa >= apic.mmioBase && gpa < apic.mmioBase + 4096) || this.map.claims(gpa);
  }
  mmioRead(addr: number, size: number): number {
    const gpa = addr - MMIO_ASSIST_BASE;
    const apic = this.apic;
    if (apic.mmioActive && gpa >= apic.mmioBase && gpa < apic.mmioBase + 4096)
      return apic.mmioRead(gpa - apic.mmioBase, size);
    return this.map.claims(gpa) ? this.map.read(gpa, size) : this.user.read(gpa, size);
  }
  mmioWrite(addr: number, size: number, value: number): void {
    const gpa = addr - MMIO_ASSIST_BASE;
    const apic = this.apic;
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
  /** Trace sink for --trace (categories exits, apic, mp); null for none. */
  trace?: ((category: string, line: string) => void) | null;
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
    this.apicBus.trace = trace ? (line) => trace('apic', line) : null;
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
      trace: trace ? (cat, line) => trace(cat, line) : () => {},
      tracing: trace !== null,
    };
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
    const mmio = new GuestMmio(apic, this.mmio);
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
      (line) => trace?.('mp', line),
      () => this.commitLoadedRam(),
    );
    this.vcpus.push(vcpu);
    return vcpu;
  }
}
