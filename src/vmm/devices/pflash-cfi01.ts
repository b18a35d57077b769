// A parallel NOR flash with the Intel/Sharp command set (CFI primary vendor command set 0001h), as
// QEMU's pflash_cfi01 presents it on the pc machine (hw/i386/pc_sysfw.c: 8-bit bank, 4 KiB
// sectors, little-endian). OVMF keeps its UEFI variable store in one (QEMU's pflash unit 1) and
// drives it with these commands (edk2 OvmfPkg/QemuFlashFvbServicesRuntimeDxe/QemuFlash.c):
//   FFh read array        the array's bytes (also 00h, F0h)
//   10h/40h program       the next write stores its data; status bit 7 (ready), bit 4 on failure
//   20h block erase       the next write D0h confirms; the 4 KiB sector becomes FFh
//   50h clear status      status bits to 0, back to read array
//   60h lock setup        the next write 01h (lock) or D0h (unlock) is taken and ignored
//   70h read status       reads return the status register until another command
//   90h read identifier   offset 0: manufacturer, 1: device (QEMU's pc flash: 00h, 00h)
//   98h CFI query         the query table at offsets 10h.. ("QRY"), until FFh
// QEMU's timings and its write buffer (E8h) are modelled in the simplest form: every operation
// completes at once (status ready). A read-only flash (QEMU readonly=on) takes the commands but
// programs and erases fail with status bits 4 and 5, as in QEMU.
import type { MmioDevice } from '../mmio-map.js';

export const CFI_READ_ARRAY = 0xff;
export const CFI_PROGRAM = 0x10;
export const CFI_PROGRAM_ALT = 0x40;
export const CFI_BLOCK_ERASE = 0x20;
export const CFI_CONFIRM = 0xd0;
export const CFI_CLEAR_STATUS = 0x50;
export const CFI_LOCK_SETUP = 0x60;
export const CFI_READ_STATUS = 0x70;
export const CFI_READ_ID = 0x90;
export const CFI_QUERY = 0x98;
export const CFI_WRITE_BUFFER = 0xe8;

/** Status register bits (Intel 28F-series datasheets: SR.7 ready, SR.5 erase error, SR.4 program error). */
export const CFI_STATUS_READY = 0x80;
export const CFI_STATUS_ERASE_ERROR = 0x20;
export const CFI_STATUS_PROGRAM_ERROR = 0x10;

/** The sector (erase block) size QEMU's pc machine gives its flash (FLASH_SECTOR_SIZE). */
export const PC_FLASH_SECTOR = 4096;

export class PflashCfi01 implements MmioDevice {
  /** Read-array mode: reads are the array itself (a KVM read-only memslot could serve them). */
  private cmd = 0;
  /** Which write of a multi-write command comes next (QEMU's wcycle). */
  private wcycle = 0;
  private status = CFI_STATUS_READY;
  /** Write-to-buffer: bytes still to take. */
  private counter = 0;
  private readonly cfi: Uint8Array;

  constructor(
    readonly name: string,
    /** The array: a copy of the image; programs and erases change it. */
    readonly bytes: Uint8Array,
    readonly readOnly: boolean,
    /** Told of each changed range (e.g. to write it back to the file). */
    private readonly onChange: ((offset: number, length: number) => void) | null = null,
    readonly sectorBytes = PC_FLASH_SECTOR,
  ) {
    if (bytes.length === 0 || bytes.length % sectorBytes !== 0)
      throw new Error(`${name}: a flash is whole ${sectorBytes}-byte sectors, not ${bytes.length} bytes`);
    this.cfi = cfiQueryTable(bytes.length, sectorBytes);
  }

  /** In read-array mode (no command in progress). */
  get readingArray(): boolean {
    return this.cmd === 0;
  }

  mmioRead(offset: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(offset + i, i) << (8 * i);
    return v >>> 0;
  }

  private readByte(off: number, lane: number): number {
    switch (this.cmd) {
      case 0:
        return off < this.bytes.length ? this.bytes[off] : 0xff;
      case CFI_READ_ID: {
        // QEMU's pc flash has ident0-3 all zero; with an 8-bit bank the address selects the code.
        return 0;
      }
      case CFI_QUERY: {
        const q = off & 0xff;
        return q < this.cfi.length ? this.cfi[q] : 0;
      }
      default:
        // Status modes: every lane of a wide read of an 8-bit device is the status, as QEMU's
        // "32-bit flash without device width" case gives status in bytes 0 and 2.
        return lane === 0 || lane === 2 ? this.status : 0;
    }
  }

  mmioWrite(offset: number, size: number, value: number): void {
    const cmd = value & 0xff;
    switch (this.wcycle) {
      case 0:
        switch (cmd) {
          case 0x00:
          case 0xf0:
          case CFI_READ_ARRAY:
            this.readArray();
            return;
          case CFI_CLEAR_STATUS:
            this.status = 0;
            this.readArray();
            return;
          case CFI_READ_STATUS:
          case CFI_READ_ID:
            this.cmd = cmd;
            return;
          case CFI_PROGRAM:
          case CFI_PROGRAM_ALT:
          case CFI_LOCK_SETUP:
          case CFI_QUERY:
            break;
          case CFI_BLOCK_ERASE:
          case 0x28:
            break;
          case CFI_WRITE_BUFFER:
            this.status |= CFI_STATUS_READY;
            break;
          default:
            this.readArray(); // an unknown command: QEMU logs it and resets to read array
            return;
        }
        this.cmd = cmd;
        this.wcycle = 1;
        return;
      case 1:
        switch (this.cmd) {
          case CFI_PROGRAM:
          case CFI_PROGRAM_ALT:
            this.program(offset, size, value);
            this.wcycle = 0; // stays in status mode: reads return the status until FFh
            return;
          case CFI_BLOCK_ERASE:
          case 0x28:
            if (cmd === CFI_CONFIRM) {
              this.erase(offset);
              this.wcycle = 0;
            } else this.readArray();
            return;
          case CFI_LOCK_SETUP:
            if (cmd === 0x01 || cmd === CFI_CONFIRM) {
              this.status |= CFI_STATUS_READY;
              this.wcycle = 0;
            } else this.readArray();
            return;
          case CFI_QUERY:
            if (cmd === CFI_READ_ARRAY) this.readArray();
            return;
          case CFI_WRITE_BUFFER:
            this.counter = value & 0xff; // N - 1 bytes follow, plus one
            this.wcycle = 2;
            return;
        }
        this.readArray();
        return;
      case 2:
        this.program(offset, size, value);
        if (this.counter === 0) this.wcycle = 3;
        else this.counter--;
        return;
      default:
        // Write-to-buffer's confirm (D0h); anything else abandons it.
        if (cmd === CFI_CONFIRM) {
          this.status |= CFI_STATUS_READY;
          this.wcycle = 0;
        } else this.readArray();
    }
  }

  private readArray(): void {
    this.cmd = 0;
    this.wcycle = 0;
  }

  private program(offset: number, size: number, value: number): void {
    this.status |= CFI_STATUS_READY;
    if (this.readOnly || offset + size > this.bytes.length) {
      this.status |= CFI_STATUS_PROGRAM_ERROR;
      return;
    }
    // QEMU stores the data as written (no AND with the old bits, as real NOR would).
    for (let i = 0; i < size; i++) this.bytes[offset + i] = (value >>> (8 * i)) & 0xff;
    this.onChange?.(offset, size);
  }

  private erase(offset: number): void {
    this.status |= CFI_STATUS_READY;
    if (this.readOnly || offset >= this.bytes.length) {
      this.status |= CFI_STATUS_ERASE_ERROR;
      return;
    }
    const start = offset - (offset % this.sectorBytes);
    this.bytes.fill(0xff, start, start + this.sectorBytes);
    this.onChange?.(start, this.sectorBytes);
  }
}

/**
 * The CFI query table (JEDEC JESD68.01), as QEMU fills it for an 8-bit device: "QRY", command set
 * 0001h, the device size as a power of two and one erase-block region of equal sectors.
 */
function cfiQueryTable(bytes: number, sector: number): Uint8Array {
  const t = new Uint8Array(0x40);
  t.set([0x51, 0x52, 0x59], 0x10); // "QRY"
  t[0x13] = 0x01; // primary vendor command set: Intel/Sharp extended
  t[0x15] = 0x31; // primary extended query table at 31h
  t[0x1b] = 0x45; // Vcc min 4.5 V
  t[0x1c] = 0x55; // Vcc max 5.5 V
  t[0x1f] = 0x07; // typical single-byte program time 2^7 us
  t[0x21] = 0x0a; // typical block erase time 2^10 ms
  t[0x23] = 0x04;
  t[0x25] = 0x04;
  t[0x27] = Math.ceil(Math.log2(bytes)); // device size: 2^n bytes
  t[0x28] = 0x02; // x8/x16 interface
  t[0x2a] = 0x0b; // write buffer 2^11 bytes
  t[0x2c] = 0x01; // one erase-block region
  const blocks = bytes / sector - 1;
  t[0x2d] = blocks & 0xff;
  t[0x2e] = (blocks >>> 8) & 0xff;
  t[0x2f] = (sector >>> 8) & 0xff; // block size in units of 256 bytes
  t[0x30] = (sector >>> 16) & 0xff;
  t.set([0x50, 0x52, 0x49, 0x31, 0x30], 0x31); // "PRI" 1.0
  return t;
}
