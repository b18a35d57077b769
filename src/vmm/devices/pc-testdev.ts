// QEMU's pc-testdev (hw/misc/pc-testdev.c), the ISA device kvm-unit-tests' x86 kernels use:
//   E0h-E3h  a 32-bit scratch register, any access width; each byte lane keeps what was written
//   E4h-E7h  "flush page": a 32-bit write of a guest-physical address makes the host drop its
//            mappings of that page (QEMU re-protects it); reads 0. Only 32-bit accesses count.
//   E8h-EBh  the same scratch register, taken one byte at a time (string I/O tests use it)
//   2000h-2017h  one port per interrupt line: a byte write drives ISA/GSI line n (n = port - 2000h)
//            to (value != 0); reads 0
//   FF000000h-FF00FFFFh  64 KiB of device memory, read and written as plain bytes
// Widths the device does not take read as all ones and are dropped, as QEMU's memory core does.
import type { PortDevice } from '../io-bus.js';
import type { MmioDevice } from '../mmio-map.js';

export const PC_TESTDEV_IOPORT = 0xe0;
export const PC_TESTDEV_FLUSH = 0xe4;
export const PC_TESTDEV_IOPORT_BYTE = 0xe8;
export const PC_TESTDEV_IRQ = 0x2000;
export const PC_TESTDEV_IRQ_LINES = 24;
export const PC_TESTDEV_IOMEM = 0xff000000;
export const PC_TESTDEV_IOMEM_LEN = 0x10000;

const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

export interface PcTestdevWiring {
  /** Drive interrupt line `gsi` (0-23) to `level`. */
  setIrq(gsi: number, level: boolean): void;
  /** The guest asked for a page's host mappings to be dropped (guest-physical page address). */
  flushPage(gpa: number): void;
}

export class PcTestdev {
  private ioportData = 0;
  readonly iomem = new Uint8Array(PC_TESTDEV_IOMEM_LEN);

  /** E0h-EBh. */
  readonly ports: PortDevice;
  /** 2000h-2017h. */
  readonly irqPorts: PortDevice;
  /** FF000000h, 64 KiB. */
  readonly memory: MmioDevice;

  constructor(w: PcTestdevWiring) {
    this.ports = {
      name: 'pc-testdev',
      read: (port, size) => {
        if (port >= PC_TESTDEV_FLUSH && port < PC_TESTDEV_IOPORT_BYTE) return size === 4 ? 0 : ONES[size];
        return this.ioportRead(port, size);
      },
      write: (port, size, value) => {
        if (port >= PC_TESTDEV_FLUSH && port < PC_TESTDEV_IOPORT_BYTE) {
          if (size === 4) w.flushPage((value >>> 0) - ((value >>> 0) % 4096));
        } else this.ioportWrite(port, size, value);
      },
    };
    this.irqPorts = {
      name: 'pc-testdev-irq',
      read: (_port, size) => (size === 1 ? 0 : ONES[size]),
      write: (port, size, value) => {
        if (size === 1) w.setIrq(port - PC_TESTDEV_IRQ, (value & 0xff) !== 0);
      },
    };
    const mem = this.iomem;
    this.memory = {
      name: 'pc-testdev-iomem',
      mmioRead: (off, size) => {
        let v = 0;
        for (let i = 0; i < size && off + i < mem.length; i++) v |= mem[off + i] << (8 * i);
        return v >>> 0;
      },
      mmioWrite: (off, size, value) => {
        for (let i = 0; i < size && off + i < mem.length; i++) mem[off + i] = (value >>> (8 * i)) & 0xff;
      },
    };
  }

  /** The register's byte lanes: an access of `size` at lane (port & 3). */
  private ioportRead(port: number, size: number): number {
    const shift = (port & 3) * 8;
    const mask = size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    return ((this.ioportData >>> shift) & mask) >>> 0;
  }

  private ioportWrite(port: number, size: number, value: number): void {
    const shift = (port & 3) * 8;
    const mask = ((size === 4 ? 0xffffffff : (1 << (size * 8)) - 1) << shift) >>> 0;
    this.ioportData = ((this.ioportData & ~mask) | ((value << shift) & mask)) >>> 0;
  }
}
