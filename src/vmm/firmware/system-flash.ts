// The pc machine's system firmware below 4 GiB, as QEMU lays it out (hw/i386/pc_sysfw.c):
// - `-bios FILE`: one image, read-only, ending at 4 GiB (OVMF.fd carries its variable store inside).
// - `-drive if=pflash,unit=0` (code) and `unit=1` (variables): flash devices stacked downwards from
//   4 GiB, unit 0 at the top, unit 1 right below it, so the pair ends at 4 GiB.
// Each image is whole 4 KiB sectors (QEMU's FLASH_SECTOR_SIZE; it refuses other sizes) and the
// images together at most 8 MiB (QEMU's FLASH_SIZE_LIMIT; OVMF's largest pair is 4 MiB).
import { ImageError } from '../bare-metal.js';
import { PC_FLASH_SECTOR } from '../devices/pflash-cfi01.js';

export const FOUR_GIB = 2 ** 32;
export const FLASH_SIZE_LIMIT = 8 * 2 ** 20;

export interface FlashImage {
  /** What the user named it (errors). */
  name: string;
  bytes: Uint8Array;
}

export interface SystemFlashLayout {
  /** The code image (the -bios image or pflash unit 0): mapped as memory, executed in place. */
  code: { gpa: number; image: FlashImage };
  /** pflash unit 1, the variable store: a CFI flash device, right below the code. */
  vars: { gpa: number; image: FlashImage } | null;
}

/** Place the images as QEMU does; a size QEMU would refuse is refused with what is wrong. */
export function systemFlashLayout(code: FlashImage, vars: FlashImage | null): SystemFlashLayout {
  for (const img of vars ? [code, vars] : [code]) {
    if (img.bytes.length === 0) throw new ImageError(`${img.name} is empty`);
    if (img.bytes.length % PC_FLASH_SECTOR !== 0)
      throw new ImageError(
        `${img.name} is ${img.bytes.length} bytes; a system flash image is whole ${PC_FLASH_SECTOR}-byte sectors (QEMU refuses it too)`,
      );
  }
  const total = code.bytes.length + (vars?.bytes.length ?? 0);
  if (total > FLASH_SIZE_LIMIT)
    throw new ImageError(
      `the firmware is ${total} bytes (${vars ? `${code.name} and ${vars.name}` : code.name}); QEMU's pc machine maps at most ${FLASH_SIZE_LIMIT} bytes (8 MiB) below 4 GiB`,
    );
  const codeGpa = FOUR_GIB - code.bytes.length;
  return {
    code: { gpa: codeGpa, image: code },
    vars: vars ? { gpa: codeGpa - vars.bytes.length, image: vars } : null,
  };
}
