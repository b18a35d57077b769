// A hard disk's contents as the ATA controller sees them: 512-byte sectors in host memory. Writes
// change the in-memory copy and, when the user asked for it (`--disk-write`), the file as well, so
// by default a guest can write its disk freely and the image on the host stays as it was.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export const SECTOR_BYTES = 512;

export class DiskImage {
  /** The sectors, zero-padded to a whole sector (a 700-byte file is a 2-sector disk). */
  readonly bytes: Uint8Array;
  readonly sectors: number;
  /** Write-through file descriptor (with --disk-write), else null. */
  private fd: number | null = null;

  constructor(
    contents: Uint8Array,
    readonly name = 'disk',
  ) {
    this.sectors = Math.ceil(contents.length / SECTOR_BYTES);
    this.bytes = new Uint8Array(this.sectors * SECTOR_BYTES);
    this.bytes.set(contents);
  }

  /** Open `path`; with `writeThrough` the guest's writes also reach the file. */
  static open(path: string, writeThrough: boolean): DiskImage {
    const d = new DiskImage(readFileSync(path), path);
    if (writeThrough) d.fd = openSync(path, 'r+');
    return d;
  }

  /** Copy sector `lba` into `dst` at `offset`. */
  read(lba: number, dst: Uint8Array, offset: number): void {
    const at = lba * SECTOR_BYTES;
    dst.set(this.bytes.subarray(at, at + SECTOR_BYTES), offset);
  }

  /** Store `src[offset..offset+512)` as sector `lba`. */
  write(lba: number, src: Uint8Array, offset: number): void {
    const at = lba * SECTOR_BYTES;
    const data = src.subarray(offset, offset + SECTOR_BYTES);
    this.bytes.set(data, at);
    if (this.fd !== null) writeSync(this.fd, data, 0, SECTOR_BYTES, at);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
