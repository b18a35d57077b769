// Which files are disks. A PC BIOS boots a disk whose first sector ends in the boot signature
// 55 AA; such a file larger than one sector is a disk whatever else it holds (a teaching OS's disk
// carries a kernel with a Multiboot header a few sectors in, which does not make the disk a
// Multiboot kernel). A file of exactly one sector stays a boot sector image. A Linux bzImage has
// 55 AA there too, but its setup header ("HdrS" at 202h) makes it a kernel for the Linux boot
// protocol, which QEMU's -kernel takes: a kernel, not a disk.
import { isBzImage } from './linux/bzimage.js';

/** Bytes 510 and 511 of the first sector: 55h AAh. */
export function hasBootSignature(image: Uint8Array): boolean {
  return image.length >= 512 && image[510] === 0x55 && image[511] === 0xaa;
}

/** A disk image: more than one sector, with the boot signature in the first, and not a bzImage. */
export function isDiskImage(image: Uint8Array): boolean {
  return image.length > 512 && hasBootSignature(image) && !isBzImage(image);
}
