// One PCI function's 256-byte configuration space (PCI Local Bus Specification 3.0, 6.1): the bytes
// and, per byte, which bits software may write. Read-only fields (IDs, class, header type) are
// what the function's datasheet fixes; registers a chipset decodes (a PIIX4 PMBA) tell their owner
// through `onWrite` after each write.

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;

export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;

/** QEMU's subsystem IDs on the functions it presents (Red Hat/Qumranet 1AF4h, QEMU 1100h). */
export const QEMU_SUBSYSTEM_VENDOR = 0x1af4;
export const QEMU_SUBSYSTEM_ID = 0x1100;

export interface PciIdentity {
  vendor: number;
  device: number;
  revision: number;
  /** Base class, subclass, programming interface: 0xBBSSPP. */
  classCode: number;
  /** Set bit 7 on function 0 of a multi-function device. */
  headerType?: number;
  interruptPin?: number;
}

export class PciFunction {
  readonly config = new Uint8Array(256);
  /** Writable bits of each byte. */
  readonly wmask = new Uint8Array(256);
  /** Called after a configuration write touched [offset, offset + size). */
  onWrite: ((offset: number, size: number) => void) | null = null;

  constructor(
    readonly name: string,
    id: PciIdentity,
  ) {
    const c = this.config;
    this.set16(PCI_VENDOR_ID, id.vendor);
    this.set16(PCI_DEVICE_ID, id.device);
    c[PCI_REVISION_ID] = id.revision;
    c[PCI_CLASS_PROG] = id.classCode & 0xff;
    this.set16(PCI_CLASS_DEVICE, id.classCode >>> 8);
    c[PCI_HEADER_TYPE] = id.headerType ?? 0;
    this.set16(PCI_SUBSYSTEM_VENDOR_ID, QEMU_SUBSYSTEM_VENDOR);
    this.set16(PCI_SUBSYSTEM_ID, QEMU_SUBSYSTEM_ID);
    c[PCI_INTERRUPT_PIN] = id.interruptPin ?? 0;
    // Every function: I/O, memory and bus-master enables; the interrupt line is a scratch byte.
    this.wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;
  }

  set16(off: number, v: number): void {
    this.config[off] = v & 0xff;
    this.config[off + 1] = (v >>> 8) & 0xff;
  }
  set32(off: number, v: number): void {
    this.set16(off, v & 0xffff);
    this.set16(off + 2, v >>> 16);
  }
  get16(off: number): number {
    return this.config[off] | (this.config[off + 1] << 8);
  }
  get32(off: number): number {
    return (this.get16(off) | (this.get16(off + 2) << 16)) >>> 0;
  }

  /** Let software write `mask`'s bits of bytes [off, off + bytes). */
  writable(off: number, bytes: number, mask = 0xff): void {
    for (let i = 0; i < bytes; i++) this.wmask[off + i] = mask;
  }

  /** A configuration read of 1, 2 or 4 bytes within the space (offset aligned by the caller). */
  read(off: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.config[off + i] << (8 * i);
    return v >>> 0;
  }

  write(off: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const m = this.wmask[off + i];
      const b = (value >>> (8 * i)) & 0xff;
      this.config[off + i] = (this.config[off + i] & ~m) | (b & m);
    }
    this.onWrite?.(off, size);
  }
}
