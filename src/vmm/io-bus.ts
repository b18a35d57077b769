// The port I/O space: a dense table of 64K entries, one device object (of one shape) per port, so a
// lookup is one array load (the v86 layout). Unclaimed ports read as all ones and ignore writes.
import type { IoBus, MmioBus } from '../cpu/ports.js';

export interface PortDevice {
  readonly name: string;
  read(port: number, size: number): number;
  write(port: number, size: number, value: number): void;
}

const UNCLAIMED: PortDevice = {
  name: 'unclaimed',
  read: (_p, size) => (size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff),
  write: () => {},
};

export class PortBus implements IoBus {
  private readonly table: PortDevice[] = new Array(0x10000).fill(UNCLAIMED);

  /** Claim ports [first, first + count) for `dev`; overlapping claims are a wiring bug. */
  register(first: number, count: number, dev: PortDevice): void {
    for (let p = first; p < first + count; p++) {
      if (this.table[p] !== UNCLAIMED)
        throw new Error(`port ${p.toString(16)} claimed by ${this.table[p].name} and ${dev.name}`);
      this.table[p] = dev;
    }
  }

  /** Release ports [first, first + count) held by `dev` (a relocatable block moving away). */
  unregister(first: number, count: number, dev: PortDevice): void {
    for (let p = first; p < first + count; p++) if (this.table[p] === dev) this.table[p] = UNCLAIMED;
  }

  /** Is a device registered on this port (a VMM device), rather than left to userspace? */
  claimed(port: number): boolean {
    return this.table[port & 0xffff] !== UNCLAIMED;
  }

  /** `--trace io`: told of each access and the device that claimed it; null when off (one test per access). */
  trace: ((port: number, size: number, isIn: boolean, value: number, device: string) => void) | null = null;

  portRead(port: number, size: number): number {
    const dev = this.table[port & 0xffff];
    const value = dev.read(port & 0xffff, size);
    if (this.trace !== null) this.trace(port & 0xffff, size, true, value, dev.name);
    return value;
  }

  portWrite(port: number, size: number, value: number): void {
    const dev = this.table[port & 0xffff];
    dev.write(port & 0xffff, size, value);
    if (this.trace !== null) this.trace(port & 0xffff, size, false, value, dev.name);
  }
}

/** Physical space above RAM with nothing in it: reads return all ones, writes are dropped (as on a PC). */
export class OpenBus implements MmioBus {
  mmioRead(_addr: number, size: number): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }
  mmioWrite(): void {}
}
