// A virtual machine: host memory holding guest RAM (at host-physical 0, identity-mapped by the
// backend's nested tables) and the control pages above it, the port and MMIO buses, the CPUID
// table, and its vCPUs. Devices are the VMM's ("in-kernel"), attached by the platform
// (platform.ts); ports nobody claims go to userspace as KVM_EXIT_IO.

import { ApicBus } from '../apic/apic-bus.js';
import { LocalApic } from '../apic/local-apic.js';
import { APIC_BASE_EN } from '../apic/registers.js';
import { CodeCache } from '../cpu/code-cache.js';
import { Cpu, type Vendor } from '../cpu/cpu.js';
import { cpuid } from '../cpu/cpuid.js';
import { MMIO_ASSIST_BASE } from '../cpu/mmu.js';
import type { MmioBus } from '../cpu/ports.js';
import type { Backend, VmmServices } from './backend-api.js';
import { PortBus } from './io-bus.js';
import { KVM_MP_STATE_HALTED, KVM_MP_STATE_UNINITIALIZED } from './kvm-abi.js';
import { MmioMap } from './mmio-map.js';
import { UserspaceMmio } from './userspace-mmio.js';
import { Vcpu } from './vcpu.js';

const PAGE = 4096;
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
  vendor?: Vendor;
  backend: Backend;
  /** The most vCPUs this VM will have (default 64): sizes the host pages kept for control blocks. */
  maxVcpus?: number;
  /** Trace sink for --trace (categories exits, apic, mp); null for none. */
  trace?: ((category: string, line: string) => void) | null;
}

export class Vm {
  readonly hostMemory: SharedArrayBuffer;
  readonly hostView: DataView;
  readonly guestRamBytes: number;
  readonly ports = new PortBus();
  /** Platform MMIO devices, shared by every vCPU. */
  readonly mmio = new MmioMap();
  readonly vcpus: Vcpu[] = [];
  private nextHostPage: number;
  readonly apicBus = new ApicBus();
  private readonly services: VmmServices;

  private readonly guestMmio: GuestMmio[] = [];
  /** The vCPUs share RAM, so they share decoded code (one block cache per VM). */
  private readonly codeCache: CodeCache;

  constructor(private readonly opts: VmOptions) {
    this.guestRamBytes = opts.memoryBytes;
    this.hostMemory = new SharedArrayBuffer(
      opts.memoryBytes + CONTROL_BYTES + (opts.maxVcpus ?? 64) * CONTROL_BYTES_PER_VCPU,
    );
    this.hostView = new DataView(this.hostMemory);
    this.nextHostPage = opts.memoryBytes;
    this.codeCache = new CodeCache(this.hostMemory.byteLength);
    const trace = opts.trace ?? null;
    this.apicBus.trace = trace ? (line) => trace('apic', line) : null;
    this.services = {
      hostView: this.hostView,
      guestRamBytes: this.guestRamBytes,
      allocHostPages: (count: number) => this.allocHostPages(count),
      portInKernel: (port) => this.ports.claimed(port),
      mmioInKernel: (id, gpa) => this.guestMmio[id].inKernel(gpa),
      userMmio: (id) => this.guestMmio[id].user,
      apic: (id) => this.vcpus[id].apic,
      cpuid: (id, leaf, sub, out) => {
        cpuid(this.vcpus[id].backend.cpu, leaf, sub, out);
        // CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (SDM vol 3 11.4.3; KVM updates it at run time).
        if (leaf === 1 && !(this.vcpus[id].apic.apicBase & BigInt(APIC_BASE_EN))) out[3] &= ~(1 << 9);
      },
      halt: (id) => this.vcpus[id].setMpState(KVM_MP_STATE_HALTED),
      trace: trace ? (cat, line) => trace(cat, line) : () => {},
      tracing: trace !== null,
    };
  }

  allocHostPages(count: number): number {
    const pa = this.nextHostPage;
    if (pa + count * PAGE > this.hostMemory.byteLength)
      throw new Error('out of host memory for control structures');
    this.nextHostPage += count * PAGE;
    return pa;
  }

  /** KVM_CREATE_VCPU. */
  createVcpu(): Vcpu {
    const id = this.vcpus.length;
    const trace = this.opts.trace ?? null;
    let vcpu: Vcpu | null = null;
    let cpu: Cpu | null = null;
    const apic = new LocalApic({
      apicId: id,
      bsp: id === 0,
      clock: { now: () => vcpu?.now() ?? 0 },
      kick: () => vcpu?.kick(),
    });
    this.apicBus.add(apic);
    const mmio = new GuestMmio(apic, this.mmio);
    this.guestMmio.push(mmio);
    cpu = new Cpu({
      codeCache: this.codeCache,
      ram: this.hostMemory,
      io: this.ports,
      mmio,
      vendor: this.opts.vendor,
      apicId: id,
    });
    cpu.features.apic = true;
    cpu.features.x2apic = true;
    cpu.features.tscDeadline = true;
    vcpu = new Vcpu(id, this.opts.backend.createVcpu(id, cpu, this.services), apic, (line) =>
      trace?.('mp', line),
    );
    if (id !== 0) vcpu.mpState = KVM_MP_STATE_UNINITIALIZED;
    this.vcpus.push(vcpu);
    return vcpu;
  }

  /** Guest RAM as bytes (guest-physical address = index). */
  guestRam(): Uint8Array {
    return new Uint8Array(this.hostMemory, 0, this.guestRamBytes);
  }
}
