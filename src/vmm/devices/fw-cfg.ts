// QEMU's firmware configuration device (fw_cfg), x86 I/O form, as QEMU's docs/specs/fw_cfg.rst
// defines it: a 16-bit selector register at 510h, an 8-bit data register at 511h, and the DMA
// address register at 514h (64-bit, big-endian; on I/O written as two 32-bit halves, high at 514h
// then low at 518h, the low half starting the transfer). Items are keyed by a 16-bit selector;
// numeric items are little-endian, the file directory (key 0x19) and the DMA descriptor are
// big-endian. Named files get keys from 0x20 on, in name order (as QEMU assigns them).
//
// Selector bit 14 (the old write channel) is ignored, bit 15 picks the architecture-specific
// items. Reading past an item's end, or an item that does not exist, returns 0; writes to the
// data register are ignored (QEMU 2.4 on). Accesses the specification does not allow (a 16-bit
// read of the selector, a byte access to the DMA register) read as all ones and are dropped.
import type { GuestMemory } from '../guest-memory.js';
import type { PortDevice } from '../io-bus.js';

export const FW_CFG_PORT_SEL = 0x510;
export const FW_CFG_PORT_DATA = 0x511;
export const FW_CFG_PORT_DMA = 0x514;

// Selector keys (fw_cfg.rst "Selector Register", QEMU's include/standard-headers/linux/qemu_fw_cfg.h).
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_UUID = 0x02;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NOGRAPHIC = 0x04;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MACHINE_ID = 0x06;
export const FW_CFG_KERNEL_ADDR = 0x07;
export const FW_CFG_KERNEL_SIZE = 0x08;
export const FW_CFG_KERNEL_CMDLINE = 0x09;
export const FW_CFG_INITRD_ADDR = 0x0a;
export const FW_CFG_INITRD_SIZE = 0x0b;
export const FW_CFG_BOOT_DEVICE = 0x0c;
export const FW_CFG_NUMA = 0x0d;
export const FW_CFG_BOOT_MENU = 0x0e;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_KERNEL_ENTRY = 0x10;
export const FW_CFG_KERNEL_DATA = 0x11;
export const FW_CFG_INITRD_DATA = 0x12;
export const FW_CFG_CMDLINE_ADDR = 0x13;
export const FW_CFG_CMDLINE_SIZE = 0x14;
export const FW_CFG_CMDLINE_DATA = 0x15;
export const FW_CFG_SETUP_ADDR = 0x16;
export const FW_CFG_SETUP_SIZE = 0x17;
export const FW_CFG_SETUP_DATA = 0x18;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_FILE_FIRST = 0x20;
export const FW_CFG_WRITE_CHANNEL = 0x4000;
export const FW_CFG_ARCH_LOCAL = 0x8000;
// x86's architecture-specific items (QEMU hw/i386/fw_cfg.h).
export const FW_CFG_ACPI_TABLES = 0x8000;
export const FW_CFG_SMBIOS_ENTRIES = 0x8001;
export const FW_CFG_IRQ0_OVERRIDE = 0x8002;
export const FW_CFG_E820_TABLE = 0x8003;

/** FW_CFG_ID bits: the traditional interface, and DMA. */
export const FW_CFG_VERSION = 0x01;
export const FW_CFG_VERSION_DMA = 0x02;

// FWCfgDmaAccess.control bits; a SELECT carries the key in bits 16-31.
export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SKIP = 0x04;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
export const FW_CFG_DMA_CTL_WRITE = 0x10;

/** What the DMA register reads as: "QEMU CFG" (big-endian 0x51454d5520434647). */
const DMA_SIGNATURE = new TextEncoder().encode('QEMU CFG');
/** A file directory entry: be32 size, be16 select, be16 reserved, name[56] (NUL-terminated). */
export const FW_CFG_FILE_ENTRY_SIZE = 64;
export const FW_CFG_MAX_NAME = 55;

export class FwCfgError extends Error {
  override readonly name = 'FwCfgError';
}

interface Item {
  data: Uint8Array;
  /** A guest may write it through DMA (QEMU's allow_write). */
  writable: boolean;
  /** Rebuilds the bytes when the item is selected (QEMU's read callback: ACPI tables built late). */
  refresh?: () => Uint8Array;
}

interface FileEntry {
  name: string;
  item: Item;
}

const le = (bytes: number, value: number | bigint): Uint8Array => {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = 0; i < bytes; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
};

export class FwCfg {
  private readonly items = new Map<number, Item>();
  private readonly files: FileEntry[] = [];
  private current: Item | undefined;
  private offset = 0;
  private dmaHigh = 0;

  /** The selector and data registers (510h-511h). */
  readonly ioPorts: PortDevice;
  /** The DMA address register (514h-51Bh). */
  readonly dmaPorts: PortDevice;

  constructor(
    private readonly memory: GuestMemory,
    opts: { dma?: boolean } = {},
  ) {
    const dma = opts.dma !== false;
    this.addBytes(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    this.addU32(FW_CFG_ID, FW_CFG_VERSION | (dma ? FW_CFG_VERSION_DMA : 0));
    this.rebuildDirectory();
    this.ioPorts = {
      name: 'fw_cfg',
      read: (_port, size) => (size === 1 ? this.readData() : size === 2 ? 0xffff : 0xffffffff),
      write: (port, size, value) => {
        if (size === 2 && port === FW_CFG_PORT_SEL) this.select(value & 0xffff);
        // A byte write is a data-register write: ignored since QEMU 2.4.
      },
    };
    this.dmaPorts = {
      name: 'fw_cfg-dma',
      read: (port, size) => {
        // The register is big-endian: the bytes in port order are the signature's.
        const off = port - FW_CFG_PORT_DMA;
        let v = 0;
        for (let i = 0; i < size && off + i < 8; i++) v |= DMA_SIGNATURE[off + i] << (8 * i);
        return v >>> 0;
      },
      write: (port, size, value) => {
        if (!dma || size !== 4) return;
        const half = swap32(value); // the guest stored the big-endian half's bytes in order
        if (port === FW_CFG_PORT_DMA) this.dmaHigh = half;
        else if (port === FW_CFG_PORT_DMA + 4) {
          const addr = this.dmaHigh * 0x1_0000_0000 + half;
          this.dmaHigh = 0;
          this.dmaTransfer(addr);
        }
      },
    };
  }

  /** Add (or replace) a keyed item. */
  addBytes(key: number, data: Uint8Array, writable = false): void {
    this.items.set(key & ~FW_CFG_WRITE_CHANNEL, { data, writable });
  }
  addU16(key: number, v: number): void {
    this.addBytes(key, le(2, v));
  }
  addU32(key: number, v: number): void {
    this.addBytes(key, le(4, v));
  }
  addU64(key: number, v: number | bigint): void {
    this.addBytes(key, le(8, v));
  }
  /** A NUL-terminated string item. */
  addString(key: number, s: string): void {
    this.addBytes(key, new TextEncoder().encode(`${s}\0`));
  }

  /**
   * Add (or replace) a named file; returns its selector key. With `refresh`, the bytes are rebuilt
   * each time the guest selects the file (same length: the directory keeps the size it listed).
   */
  addFile(name: string, data: Uint8Array, writable = false, refresh?: () => Uint8Array): number {
    if (name.length === 0 || name.length > FW_CFG_MAX_NAME || !/^[\x20-\x7e]+$/.test(name))
      throw new FwCfgError(
        `fw_cfg file name '${name}' must be 1-${FW_CFG_MAX_NAME} printable ASCII characters`,
      );
    const old = this.files.find((f) => f.name === name);
    if (old) old.item = { data, writable, refresh };
    else this.files.push({ name, item: { data, writable, refresh } });
    this.rebuildDirectory();
    return this.fileKey(name)!;
  }

  /** The selector of a named file, or undefined. */
  fileKey(name: string): number | undefined {
    const i = this.files.findIndex((f) => f.name === name);
    return i < 0 ? undefined : FW_CFG_FILE_FIRST + i;
  }

  /** An item's current bytes (what a guest writing it through DMA changed), or undefined. */
  itemData(key: number): Uint8Array | undefined {
    return this.lookup(key)?.data;
  }

  private rebuildDirectory(): void {
    this.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dir = new Uint8Array(4 + this.files.length * FW_CFG_FILE_ENTRY_SIZE);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, this.files.length, false);
    this.files.forEach((f, i) => {
      const p = 4 + i * FW_CFG_FILE_ENTRY_SIZE;
      dv.setUint32(p, f.item.data.length, false);
      dv.setUint16(p + 4, FW_CFG_FILE_FIRST + i, false);
      for (let j = 0; j < f.name.length; j++) dir[p + 8 + j] = f.name.charCodeAt(j);
      this.items.set(FW_CFG_FILE_FIRST + i, f.item);
    });
    this.items.set(FW_CFG_FILE_DIR, { data: dir, writable: false });
  }

  private lookup(key: number): Item | undefined {
    return this.items.get(key & ~FW_CFG_WRITE_CHANNEL);
  }

  private select(key: number): void {
    const it = this.lookup(key);
    if (it?.refresh) it.data = it.refresh();
    this.current = it;
    this.offset = 0;
  }

  private readData(): number {
    const it = this.current;
    if (it === undefined || this.offset >= it.data.length) return 0;
    return it.data[this.offset++];
  }

  /**
   * One DMA request (fw_cfg.rst "DMA interface"): the descriptor's control word is replaced by 0
   * when done or FW_CFG_DMA_CTL_ERROR when it failed. READ takes precedence over WRITE over SKIP.
   * Reads past the item's end store zeros; a write needs a writable item with room for all of it.
   */
  private dmaTransfer(descAddr: number): void {
    const mem = this.memory;
    let desc: DataView;
    try {
      desc = new DataView(mem.read(descAddr, 16).buffer);
    } catch {
      this.dmaStatus(descAddr, FW_CFG_DMA_CTL_ERROR);
      return;
    }
    const control = desc.getUint32(0, false);
    let length = desc.getUint32(4, false);
    const addr = Number(desc.getBigUint64(8, false));
    if (control & FW_CFG_DMA_CTL_SELECT) this.select(control >>> 16);
    const read = (control & FW_CFG_DMA_CTL_READ) !== 0;
    const write = !read && (control & FW_CFG_DMA_CTL_WRITE) !== 0;
    const skip = !read && !write && (control & FW_CFG_DMA_CTL_SKIP) !== 0;
    if (!read && !write && !skip) length = 0;
    let status = 0;
    try {
      const it = this.current;
      const avail = it === undefined ? 0 : Math.max(0, it.data.length - this.offset);
      const n = Math.min(length, avail);
      if (write) {
        if (it === undefined || !it.writable || n !== length) status = FW_CFG_DMA_CTL_ERROR;
        else it.data.set(mem.read(addr, n), this.offset);
      } else if (read) {
        if (n > 0) mem.write(addr, it!.data.subarray(this.offset, this.offset + n));
        if (length > n) mem.write(addr + n, new Uint8Array(length - n));
      }
      if (status === 0) this.offset += n;
    } catch {
      status = FW_CFG_DMA_CTL_ERROR;
    }
    this.dmaStatus(descAddr, status);
  }

  private dmaStatus(descAddr: number, control: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, control, false);
    try {
      this.memory.write(descAddr, b);
    } catch {
      // The descriptor itself is outside RAM: nothing to report into.
    }
  }
}

const swap32 = (v: number) =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;
