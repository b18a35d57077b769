// Tiny Multiboot kernels for the platform and CLI tests: a flat image at 1 MiB whose header uses the
// a.out kludge (flags bit 16), with the code right after the 32-byte header.

export const KERNEL_BASE = 0x100000;
export const MULTIBOOT_MAGIC = 0x1badb002;
export const AOUT_KLUDGE = 0x10000;

export interface HeaderFields {
  flags?: number;
  /** Override the checksum (default: the one that makes the sum 0). */
  checksum?: number;
  headerAddr?: number;
  loadAddr?: number;
  loadEndAddr?: number;
  bssEndAddr?: number;
  entryAddr?: number;
}

/** The header at offset 0, then `code` (32-bit, entered at KERNEL_BASE + 32 unless told). */
export function aoutKernel(code: number[], h: HeaderFields = {}): Uint8Array {
  const flags = h.flags ?? AOUT_KLUDGE;
  const words = [
    MULTIBOOT_MAGIC,
    flags,
    h.checksum ?? -(MULTIBOOT_MAGIC + flags),
    h.headerAddr ?? KERNEL_BASE,
    h.loadAddr ?? KERNEL_BASE,
    h.loadEndAddr ?? 0,
    h.bssEndAddr ?? 0,
    h.entryAddr ?? KERNEL_BASE + 32,
  ];
  const image = new Uint8Array(32 + code.length);
  const dv = new DataView(image.buffer);
  for (let i = 0; i < words.length; i++) dv.setUint32(i * 4, words[i] >>> 0, true);
  image.set(code, 32);
  return image;
}

/** out 0xE9, al / shr eax, 8 (three times) / out 0xE9, al: EAX's four bytes, low first. */
export const OUT_EAX = [
  0xe6, 0xe9, 0xc1, 0xe8, 0x08, 0xe6, 0xe9, 0xc1, 0xe8, 0x08, 0xe6, 0xe9, 0xc1, 0xe8, 0x08, 0xe6, 0xe9,
];
/** xor al, al / out 0xF4, al: exit status 1. */
export const EXIT_0 = [0x30, 0xc0, 0xe6, 0xf4];
