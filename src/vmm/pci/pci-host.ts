// The PCI host bridge's configuration access, mechanism #1 (PCI Local Bus Specification 3.0,
// 3.2.2.3.2; the i440FX datasheet's CONFADD/CONFDATA): a 32-bit CONFIG_ADDRESS at CF8h (bit 31
// enable, bits 23:16 bus, 15:11 device, 10:8 function, 7:2 register) and CONFIG_DATA at CFCh-CFFh,
// where a byte or word access at CFCh + n reaches register + n. Only a doubleword access to CF8h
// is CONFIG_ADDRESS; narrower accesses to CF8h-CFBh belong to other devices (CF9h is the PIIX
// reset control register), so `otherCf8` takes them. Nothing answers on buses other than 0 or at
// a device/function no one occupies: reads are all ones (vendor FFFFh), writes are dropped.
import type { PortDevice } from '../io-bus.js';
import type { PciFunction } from './pci-function.js';

export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;
const ENABLE = 0x80000000;

const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

/** Bus 0's device/function number: device << 3 | function. */
export const devfn = (device: number, fn: number) => (device << 3) | fn;

export class PciHost {
  private address = 0;
  private readonly functions: (PciFunction | undefined)[] = new Array(256);

  /** CF8h-CFBh. */
  readonly addressPort: PortDevice;
  /** CFCh-CFFh. */
  readonly dataPort: PortDevice;

  /** Byte and word accesses to CF8h-CFBh (CF9h: reset control); default: nothing there. */
  otherCf8: PortDevice | null = null;

  constructor() {
    this.addressPort = {
      name: 'pci-config-address',
      read: (port, size) => {
        if (port === PCI_CONFIG_ADDRESS && size === 4) return this.address;
        return this.otherCf8 ? this.otherCf8.read(port, size) : ONES[size];
      },
      write: (port, size, value) => {
        // Bits 30:24 are reserved and bits 1:0 select type 0/1 cycles: kept as 0.
        if (port === PCI_CONFIG_ADDRESS && size === 4) this.address = (value & 0x80fffffc) >>> 0;
        else this.otherCf8?.write(port, size, value);
      },
    };
    this.dataPort = {
      name: 'pci-config-data',
      read: (port, size) => {
        const f = this.target();
        if (f === undefined) return ONES[size];
        const off = (this.address & 0xfc) + (port & 3);
        return f.read(off, Math.min(size, 256 - off));
      },
      write: (port, size, value) => {
        const f = this.target();
        if (f === undefined) return;
        const off = (this.address & 0xfc) + (port & 3);
        f.write(off, Math.min(size, 256 - off), value);
      },
    };
  }

  /** Put `fn` at bus 0, `device`.`func`. */
  attach(device: number, func: number, fn: PciFunction): void {
    const df = devfn(device, func);
    if (this.functions[df] !== undefined)
      throw new Error(
        `PCI 00:${device.toString(16).padStart(2, '0')}.${func} is taken by ${this.functions[df]!.name}`,
      );
    this.functions[df] = fn;
  }

  /** The function at bus 0, device.func, if any. */
  at(device: number, func: number): PciFunction | undefined {
    return this.functions[devfn(device, func)];
  }

  private target(): PciFunction | undefined {
    const a = this.address;
    if ((a & ENABLE) === 0 || ((a >>> 16) & 0xff) !== 0) return undefined;
    return this.functions[(a >>> 8) & 0xff];
  }
}
