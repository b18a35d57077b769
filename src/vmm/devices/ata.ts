// One ATA channel (the PC's primary IDE channel: command block 1F0h-1F7h, control block 3F6h,
// IRQ 14) with up to two hard disks, device 0 (master) and device 1 (slave), as ATA-2 (X3T10
// 948D) describes the register interface and the PIO protocols:
//
// - The command block registers are written to both devices; DEV in Drive/Head selects the one
//   that answers. A selected device that is absent answers reads of Status with 00h (ATA-2 6.2.5:
//   device 0 responds for a missing device 1) and ignores commands.
// - PIO data-in (IDENTIFY DEVICE, READ SECTORS, READ MULTIPLE): the device fills its buffer, sets
//   DRQ and raises INTRQ once per DRQ block; the host reads 256 words per sector from the data port.
// - PIO data-out (WRITE SECTORS, WRITE MULTIPLE): DRQ is set at once without an interrupt; after
//   each block the host writes, the device raises INTRQ (with DRQ again if more blocks remain).
// - Non-data commands complete at once with INTRQ. An unknown command aborts (ERR, ABRT).
// - Reading Status clears a pending INTRQ, reading Alternate Status does not; nIEN in Device
//   Control keeps INTRQ from the bus; SRST resets both devices, which then hold the diagnostic
//   signature (sector count 1, sector number 1, cylinder 0) with device 0 selected.
//
// The media are instantaneous: BSY is never seen outside a soft reset. Addresses are LBA28 or CHS
// through the current translation (INITIALIZE DEVICE PARAMETERS changes it).
import type { PortDevice } from '../io-bus.js';
import { type DiskImage, SECTOR_BYTES } from './disk-image.js';

export const ATA_PRIMARY_BASE = 0x1f0;
export const ATA_PRIMARY_CONTROL = 0x3f6;
export const ATA_PRIMARY_IRQ = 14;

// Command block register offsets (ATA-2 table 5).
export const REG_DATA = 0;
export const REG_ERROR = 1; // Features on write
export const REG_SECTOR_COUNT = 2;
export const REG_SECTOR_NUMBER = 3; // LBA 7:0
export const REG_CYL_LOW = 4; // LBA 15:8
export const REG_CYL_HIGH = 5; // LBA 23:16
export const REG_DRIVE_HEAD = 6; // DEV bit 4, L bit 6, head / LBA 27:24 in bits 3:0
export const REG_STATUS = 7; // Command on write

// Status register bits (ATA-2 7.2.13).
export const ST_BSY = 0x80;
export const ST_DRDY = 0x40;
export const ST_DF = 0x20;
export const ST_DSC = 0x10;
export const ST_DRQ = 0x08;
export const ST_CORR = 0x04;
export const ST_ERR = 0x01;

// Error register bits (ATA-2 7.2.6).
export const ERR_AMNF = 0x01;
export const ERR_ABRT = 0x04;
export const ERR_IDNF = 0x10;
export const ERR_UNC = 0x40;

// Device Control bits (ATA-2 7.2.5).
export const DC_NIEN = 0x02;
export const DC_SRST = 0x04;

const DH_DEV = 0x10;
const DH_LBA = 0x40;

// Commands (ATA-2 section 8; the codes are the standard's).
export const CMD_RECALIBRATE = 0x10; // 10h-1Fh
export const CMD_READ_SECTORS = 0x20; // 21h: without retries
export const CMD_WRITE_SECTORS = 0x30; // 31h: without retries
export const CMD_READ_VERIFY = 0x40; // 41h: without retries
export const CMD_SEEK = 0x70; // 70h-7Fh
export const CMD_EXECUTE_DIAGNOSTIC = 0x90;
export const CMD_INITIALIZE_PARAMETERS = 0x91;
export const CMD_READ_MULTIPLE = 0xc4;
export const CMD_WRITE_MULTIPLE = 0xc5;
export const CMD_SET_MULTIPLE = 0xc6;
export const CMD_STANDBY_IMMEDIATE = 0xe0;
export const CMD_IDLE_IMMEDIATE = 0xe1;
export const CMD_STANDBY = 0xe2;
export const CMD_IDLE = 0xe3;
export const CMD_CHECK_POWER_MODE = 0xe5;
export const CMD_FLUSH_CACHE = 0xe7;
export const CMD_IDENTIFY = 0xec;
export const CMD_SET_FEATURES = 0xef;

/** The most sectors per DRQ block READ/WRITE MULTIPLE take (IDENTIFY word 47). */
export const MAX_MULTIPLE = 16;
/** Largest LBA28 capacity. */
const LBA28_SECTORS = 0x0fffffff;

/** What the data port is doing. */
const enum Xfer {
  NONE = 0,
  IN = 1, // device to host
  OUT = 2, // host to device
}

/** One device's registers and transfer state. */
class AtaDevice {
  error = 0;
  status = 0;
  nsect = 1;
  sector = 1;
  cylLow = 0;
  cylHigh = 0;
  head = 0; // Drive/Head bits 3:0 and L (bit 6)
  pendingIrq = false;
  /** Current CHS translation (INITIALIZE DEVICE PARAMETERS). */
  heads: number;
  spt: number;
  readonly cylinders: number;
  /** Sectors per READ/WRITE MULTIPLE block; 0 = disabled. */
  multiple = 0;
  // The running PIO command.
  xfer = Xfer.NONE;
  /** The next sector to transfer, sectors left after the current block, sectors per block. */
  lba = 0;
  remaining = 0;
  blockSectors = 1;
  readonly buffer = new Uint8Array(MAX_MULTIPLE * SECTOR_BYTES);
  bufPos = 0;
  bufEnd = 0;

  constructor(readonly disk: DiskImage) {
    // The default translation: 16 heads, 63 sectors per track (as PC BIOSes and QEMU choose for
    // a disk without a partition table hint), cylinders 2..16383.
    this.heads = 16;
    this.spt = 63;
    this.cylinders = Math.max(2, Math.min(16383, Math.floor(disk.sectors / (16 * 63))));
    this.signature();
  }

  /** The state after power-on or reset (ATA-2 9.1): diagnostic passed, signature in the registers. */
  signature(): void {
    this.error = 0x01; // "no error detected" diagnostic code
    this.status = ST_DRDY | ST_DSC;
    this.nsect = 1;
    this.sector = 1;
    this.cylLow = 0;
    this.cylHigh = 0;
    this.head = 0;
    this.xfer = Xfer.NONE;
    this.bufPos = this.bufEnd = 0;
  }
}

export interface AtaChannelOptions {
  /** INTRQ: called on every change of the line's level. */
  irq?: (level: boolean) => void;
}

export class AtaChannel implements PortDevice {
  readonly name = 'ata';
  private readonly devs: (AtaDevice | null)[];
  private selected = 0;
  private control = 0;
  private irqLevel = false;
  /** The Features register (SET FEATURES' subcommand). */
  private features = 0;
  private readonly irqOut: (level: boolean) => void;

  constructor(master: DiskImage | null, slave: DiskImage | null, opts: AtaChannelOptions = {}) {
    this.devs = [master && new AtaDevice(master), slave && new AtaDevice(slave)];
    this.irqOut = opts.irq ?? (() => {});
  }

  /** The control block port (3F6h): Alternate Status on read, Device Control on write. */
  readonly controlPort: PortDevice = {
    name: 'ata-control',
    read: () => this.status(false),
    write: (_p, _s, v) => this.writeDeviceControl(v),
  };

  get interruptLine(): boolean {
    return this.irqLevel;
  }

  read(port: number, size: number): number {
    const reg = port & 7;
    if (reg === REG_DATA) return this.readData(size);
    const d = this.devs[this.selected];
    if (reg === REG_STATUS) return this.status(true);
    if (d === null) return 0; // nobody drives the bus for a missing device 1 (QEMU reads 0 as well)
    switch (reg) {
      case REG_ERROR:
        return d.error;
      case REG_SECTOR_COUNT:
        return d.nsect;
      case REG_SECTOR_NUMBER:
        return d.sector;
      case REG_CYL_LOW:
        return d.cylLow;
      case REG_CYL_HIGH:
        return d.cylHigh;
      default:
        // Drive/Head: bits 7 and 5 read as 1 (ATA-2 keeps them for compatibility).
        return 0xa0 | d.head | (this.selected << 4);
    }
  }

  write(port: number, size: number, value: number): void {
    const reg = port & 7;
    if (reg === REG_DATA) {
      this.writeData(size, value);
      return;
    }
    const v = value & 0xff;
    if (reg === REG_STATUS) {
      this.command(v);
      return;
    }
    // Written to both devices (ATA-2 7.2); DEV then selects one of them.
    for (const d of this.devs) {
      if (d === null) continue;
      switch (reg) {
        case REG_SECTOR_COUNT:
          d.nsect = v;
          break;
        case REG_SECTOR_NUMBER:
          d.sector = v;
          break;
        case REG_CYL_LOW:
          d.cylLow = v;
          break;
        case REG_CYL_HIGH:
          d.cylHigh = v;
          break;
        case REG_DRIVE_HEAD:
          d.head = v & 0x4f;
          break;
        default:
          break; // Features: SET FEATURES' subcommand, read when the command arrives
      }
    }
    if (reg === REG_ERROR) this.features = v;
    if (reg === REG_DRIVE_HEAD) {
      this.selected = (v & DH_DEV) >> 4;
      this.updateIrq();
    }
  }

  // ---- status and interrupts ----

  private status(clearsIrq: boolean): number {
    const d = this.devs[this.selected];
    if (d === null) return 0;
    if (this.control & DC_SRST) return ST_BSY;
    if (clearsIrq && d.pendingIrq) {
      d.pendingIrq = false;
      this.updateIrq();
    }
    return d.status;
  }

  private raise(d: AtaDevice): void {
    d.pendingIrq = true;
    this.updateIrq();
  }

  /** INTRQ is driven by the selected device, when it has an interrupt pending and nIEN is clear. */
  private updateIrq(): void {
    const d = this.devs[this.selected];
    const level = d?.pendingIrq === true && (this.control & DC_NIEN) === 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irqOut(level);
    }
  }

  private writeDeviceControl(v: number): void {
    const wasReset = (this.control & DC_SRST) !== 0;
    this.control = v & (DC_NIEN | DC_SRST);
    if (wasReset && !(v & DC_SRST)) {
      // The end of a soft reset: both devices run their diagnostics and device 0 is selected.
      for (const d of this.devs) {
        if (d === null) continue;
        d.signature();
        d.pendingIrq = false;
        d.multiple = 0;
      }
      this.selected = 0;
    }
    this.updateIrq();
  }

  // ---- commands ----

  private command(cmd: number): void {
    if (cmd === CMD_EXECUTE_DIAGNOSTIC) {
      // Addressed to both devices; device 0 reports (ATA-2 8.7).
      for (const dev of this.devs) if (dev !== null) dev.signature();
      this.selected = 0;
      const d0 = this.devs[0];
      if (d0 !== null) this.raise(d0);
      return;
    }
    const d = this.devs[this.selected];
    if (d === null || this.control & DC_SRST) return; // a missing device ignores commands
    d.pendingIrq = false; // writing the Command register clears a pending interrupt
    d.xfer = Xfer.NONE;
    d.error = 0;
    d.status = ST_DRDY | ST_DSC;
    switch (cmd) {
      case CMD_IDENTIFY:
        this.identify(d);
        d.bufPos = 0;
        d.bufEnd = SECTOR_BYTES;
        d.remaining = 0;
        d.xfer = Xfer.IN;
        d.status |= ST_DRQ;
        this.raise(d);
        return;
      case CMD_READ_SECTORS:
      case CMD_READ_SECTORS + 1:
        this.startTransfer(d, Xfer.IN, 1);
        return;
      case CMD_READ_MULTIPLE:
        if (d.multiple === 0) break;
        this.startTransfer(d, Xfer.IN, d.multiple);
        return;
      case CMD_WRITE_SECTORS:
      case CMD_WRITE_SECTORS + 1:
        this.startTransfer(d, Xfer.OUT, 1);
        return;
      case CMD_WRITE_MULTIPLE:
        if (d.multiple === 0) break;
        this.startTransfer(d, Xfer.OUT, d.multiple);
        return;
      case CMD_READ_VERIFY:
      case CMD_READ_VERIFY + 1: {
        const first = this.address(d);
        const count = d.nsect === 0 ? 256 : d.nsect;
        if (first < 0 || first + count > d.disk.sectors) {
          this.fail(d, ERR_IDNF);
          return;
        }
        this.setAddress(d, first + count - 1);
        d.nsect = 0;
        this.raise(d);
        return;
      }
      case CMD_SET_MULTIPLE: {
        const n = d.nsect;
        // 0 disables; otherwise a power of two no larger than IDENTIFY word 47 says.
        if (n > MAX_MULTIPLE || (n & (n - 1)) !== 0) break;
        d.multiple = n;
        this.raise(d);
        return;
      }
      case CMD_INITIALIZE_PARAMETERS: {
        const spt = d.nsect;
        const heads = (d.head & 0x0f) + 1;
        if (spt === 0) break;
        d.spt = spt;
        d.heads = heads;
        this.raise(d);
        return;
      }
      case CMD_CHECK_POWER_MODE:
        d.nsect = 0xff; // active or idle
        this.raise(d);
        return;
      case CMD_SET_FEATURES:
        // Transfer mode, write cache and read look-ahead settings change nothing on instantaneous
        // media; other subcommands abort as the standard says for unsupported ones.
        if (this.features !== 0x03 && this.features !== 0x02 && this.features !== 0x82) break;
        this.raise(d);
        return;
      case CMD_STANDBY_IMMEDIATE:
      case CMD_IDLE_IMMEDIATE:
      case CMD_STANDBY:
      case CMD_IDLE:
      case CMD_FLUSH_CACHE:
        this.raise(d);
        return;
      default:
        if ((cmd & 0xf0) === CMD_RECALIBRATE || (cmd & 0xf0) === CMD_SEEK) {
          d.status |= ST_DSC;
          this.raise(d);
          return;
        }
        break;
    }
    this.fail(d, ERR_ABRT);
  }

  private fail(d: AtaDevice, error: number): void {
    d.xfer = Xfer.NONE;
    d.error = error;
    d.status = ST_DRDY | ST_DSC | ST_ERR;
    this.raise(d);
  }

  /** The first sector of a READ/WRITE: LBA28 or CHS through the current translation; -1 if invalid. */
  private address(d: AtaDevice): number {
    if (d.head & DH_LBA) return ((d.head & 0x0f) << 24) | (d.cylHigh << 16) | (d.cylLow << 8) | d.sector;
    const cyl = (d.cylHigh << 8) | d.cylLow;
    const head = d.head & 0x0f;
    if (d.sector === 0 || d.sector > d.spt || head >= d.heads) return -1;
    return (cyl * d.heads + head) * d.spt + d.sector - 1;
  }

  /** Write `lba` back into the address registers in the addressing mode the command used. */
  private setAddress(d: AtaDevice, lba: number): void {
    if (d.head & DH_LBA) {
      d.sector = lba & 0xff;
      d.cylLow = (lba >>> 8) & 0xff;
      d.cylHigh = (lba >>> 16) & 0xff;
      d.head = (d.head & 0xf0) | ((lba >>> 24) & 0x0f);
      return;
    }
    const cyl = Math.floor(lba / (d.heads * d.spt));
    const rest = lba % (d.heads * d.spt);
    d.cylLow = cyl & 0xff;
    d.cylHigh = (cyl >>> 8) & 0xff;
    d.head = (d.head & 0xf0) | Math.floor(rest / d.spt);
    d.sector = (rest % d.spt) + 1;
  }

  private startTransfer(d: AtaDevice, dir: Xfer, blockSectors: number): void {
    const first = this.address(d);
    const count = d.nsect === 0 ? 256 : d.nsect;
    if (first < 0 || first + count > d.disk.sectors) {
      this.fail(d, ERR_IDNF);
      return;
    }
    d.lba = first;
    d.remaining = count;
    d.blockSectors = blockSectors;
    d.xfer = dir;
    if (dir === Xfer.IN) {
      this.fillBlock(d);
      this.raise(d);
    } else {
      this.openBlock(d); // the first block is requested without an interrupt
    }
  }

  /** The next DRQ block of sectors into the buffer (data-in). */
  private fillBlock(d: AtaDevice): void {
    const n = Math.min(d.blockSectors, d.remaining);
    for (let i = 0; i < n; i++) d.disk.read(d.lba + i, d.buffer, i * SECTOR_BYTES);
    d.bufPos = 0;
    d.bufEnd = n * SECTOR_BYTES;
    d.status = ST_DRDY | ST_DSC | ST_DRQ;
  }

  /** Room in the buffer for the next DRQ block (data-out). */
  private openBlock(d: AtaDevice): void {
    d.bufPos = 0;
    d.bufEnd = Math.min(d.blockSectors, d.remaining) * SECTOR_BYTES;
    d.status = ST_DRDY | ST_DSC | ST_DRQ;
  }

  /** The host has taken (data-in) or given (data-out) the whole block. */
  private blockDone(d: AtaDevice): void {
    if (d.xfer === Xfer.NONE) return;
    const n = d.bufEnd / SECTOR_BYTES;
    if (d.remaining === 0) {
      // IDENTIFY: one block, no completion interrupt.
      d.xfer = Xfer.NONE;
      d.status = ST_DRDY | ST_DSC;
      return;
    }
    if (d.xfer === Xfer.OUT) for (let i = 0; i < n; i++) d.disk.write(d.lba + i, d.buffer, i * SECTOR_BYTES);
    this.setAddress(d, d.lba + n - 1); // the registers name the last sector transferred
    d.lba += n;
    d.remaining -= n;
    d.nsect = d.remaining & 0xff;
    if (d.remaining === 0) {
      if (d.xfer === Xfer.OUT) this.raise(d); // data-out ends with an interrupt; data-in does not
      d.xfer = Xfer.NONE;
      d.status = ST_DRDY | ST_DSC;
      d.bufPos = d.bufEnd = 0;
      return;
    }
    if (d.xfer === Xfer.IN) this.fillBlock(d);
    else this.openBlock(d);
    this.raise(d);
  }

  // ---- the data port ----

  private readData(size: number): number {
    const d = this.devs[this.selected];
    if (d === null || d.xfer !== Xfer.IN) return size === 4 ? 0xffffffff : 0xffff;
    const b = d.buffer;
    const p = d.bufPos;
    let v = b[p] | (b[p + 1] << 8);
    if (size === 4) v = (v | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    d.bufPos = p + (size === 4 ? 4 : 2);
    if (d.bufPos >= d.bufEnd) this.blockDone(d);
    return size === 1 ? v & 0xff : v;
  }

  private writeData(size: number, value: number): void {
    const d = this.devs[this.selected];
    if (d === null || d.xfer !== Xfer.OUT) return;
    const b = d.buffer;
    const p = d.bufPos;
    b[p] = value & 0xff;
    b[p + 1] = (value >>> 8) & 0xff;
    if (size === 4) {
      b[p + 2] = (value >>> 16) & 0xff;
      b[p + 3] = (value >>> 24) & 0xff;
    }
    d.bufPos = p + (size === 4 ? 4 : 2);
    if (d.bufPos >= d.bufEnd) this.blockDone(d);
  }

  // ---- IDENTIFY DEVICE (ATA-2 8.12, table 18) ----

  private identify(d: AtaDevice): void {
    const w = new Uint16Array(256);
    const total = Math.min(d.disk.sectors, LBA28_SECTORS);
    w[0] = 0x0040; // fixed device (not removable)
    w[1] = d.cylinders;
    w[3] = 16;
    w[4] = 512 * 63; // obsolete: unformatted bytes per track
    w[5] = 512; // obsolete: unformatted bytes per sector
    w[6] = 63;
    ataString(w, 10, 20, `HVEMU${this.devs.indexOf(d)}`);
    w[20] = 3; // buffer type: dual ported, look-ahead
    w[21] = 512; // buffer size in sectors
    w[22] = 4; // ECC bytes on READ/WRITE LONG
    ataString(w, 23, 8, '1.0');
    ataString(w, 27, 40, 'HVEMU HARDDISK');
    w[47] = 0x8000 | MAX_MULTIPLE;
    w[48] = 0x0001; // doubleword I/O on the data port
    w[49] = 0x0200; // LBA supported (no DMA)
    w[51] = 0x0200; // PIO timing mode 2
    w[53] = 0x0003; // words 54-58 and 64-70 valid
    const chs = Math.min(d.cylinders * d.heads * d.spt, total);
    w[54] = Math.min(0xffff, Math.floor(chs / (d.heads * d.spt)));
    w[55] = d.heads;
    w[56] = d.spt;
    w[57] = chs & 0xffff;
    w[58] = chs >>> 16;
    w[59] = d.multiple ? 0x0100 | d.multiple : 0;
    w[60] = total & 0xffff;
    w[61] = total >>> 16;
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = w[66] = w[67] = w[68] = 120; // cycle times in ns
    w[80] = 0x0006; // ATA-1 and ATA-2
    for (let i = 0; i < 256; i++) {
      d.buffer[2 * i] = w[i] & 0xff;
      d.buffer[2 * i + 1] = w[i] >>> 8;
    }
  }
}

/** An ATA string: space-padded ASCII, the first character of each pair in the word's high byte. */
function ataString(w: Uint16Array, word: number, chars: number, s: string): void {
  const padded = s.padEnd(chars, ' ');
  for (let i = 0; i < chars; i += 2) w[word + i / 2] = (padded.charCodeAt(i) << 8) | padded.charCodeAt(i + 1);
}
