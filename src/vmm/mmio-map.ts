// The VM-wide guest-physical MMIO space outside the per-vCPU local APIC page: platform devices
// (the I/O APIC) by address range. Few regions, so a lookup is a short linear scan with no allocation.

/** A device on the MMIO space; offsets are from the start of its region. */
export interface MmioDevice {
  readonly name: string;
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
}

const OPEN_BUS = [0, 0xff, 0xffff, 0, 0xffffffff];

export class MmioMap {
  private readonly bases: number[] = [];
  private readonly ends: number[] = [];
  private readonly devices: MmioDevice[] = [];

  /** Claim guest-physical [base, base + size) for `dev`; overlapping claims are a wiring bug. */
  register(base: number, size: number, dev: MmioDevice): void {
    for (let i = 0; i < this.devices.length; i++)
      if (base < this.ends[i] && this.bases[i] < base + size)
        throw new Error(`MMIO 0x${base.toString(16)} claimed by ${this.devices[i].name} and ${dev.name}`);
    this.bases.push(base);
    this.ends.push(base + size);
    this.devices.push(dev);
  }

  private find(gpa: number): number {
    for (let i = 0; i < this.devices.length; i++) if (gpa >= this.bases[i] && gpa < this.ends[i]) return i;
    return -1;
  }

  /** The device that claims `gpa` and the offset into it, for traces ("ioapic+0x10"); null if none. */
  deviceAt(gpa: number): string | null {
    const i = this.find(gpa);
    return i < 0 ? null : `${this.devices[i].name}+0x${(gpa - this.bases[i]).toString(16)}`;
  }

  /** Whether a device claims `gpa`. */
  claims(gpa: number): boolean {
    return this.find(gpa) >= 0;
  }

  /** Unclaimed addresses are open bus: all ones. */
  read(gpa: number, size: number): number {
    const i = this.find(gpa);
    return i < 0 ? OPEN_BUS[size] : this.devices[i].mmioRead(gpa - this.bases[i], size);
  }

  /** Writes to unclaimed addresses are dropped. */
  write(gpa: number, size: number, value: number): void {
    const i = this.find(gpa);
    if (i >= 0) this.devices[i].mmioWrite(gpa - this.bases[i], size, value);
  }
}
