// Look before running. A file is checked before it is read (a regular file of a size that can be
// a guest: `hvemu run /dev/zero` must not read until the host runs out of memory, a FIFO must not
// block), and what it is (src/inspect.ts decides, as `hvemu inspect` shows it) before it runs: text,
// an ELF executable with no Multiboot header, or an SEV-ES firmware image run without --sev-es
// would only run for minutes on garbage.
import { closeSync, constants, openSync, readSync, type Stats, statSync } from 'node:fs';
import { examineImage } from '../inspect.js';
import { isDiskImage } from '../vmm/loaders/disk-image-kind.js';
import { formatSize } from './sizes.js';

/** A file hvemu will not read or run, with what to do instead. */
export class RefusedFile extends Error {}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Read `path` whole if it is a regular file of at most `limit` bytes; else refuse, saying why. */
export function readImageFile(path: string, limit: number, limitWhy: string): Uint8Array {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new RefusedFile(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (!st.isFile())
    throw new RefusedFile(`${path} is ${kindOf(st)}: hvemu reads guest images from regular files`);
  if (st.size > limit)
    throw new RefusedFile(
      `${path} is ${formatSize(Number(st.size))}, more than ${formatSize(limit)} (${limitWhy}): it cannot be a guest hvemu runs`,
    );
  // O_NONBLOCK: if the path was swapped for a FIFO after the stat, the open does not wait for a writer.
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new RefusedFile(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const buf = new Uint8Array(Number(st.size));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function statOf(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    throw new RefusedFile(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Disks are read whole into memory (writes go to that copy, or through to the file too). */
const MAX_DISK = 2 ** 31 - 1;

/** A disk hvemu can attach: a regular file of at most 2 GiB. */
export function checkDiskFile(path: string): void {
  const st = statOf(path);
  if (!st.isFile()) throw new RefusedFile(`${path} is ${kindOf(st)}: hvemu reads disks from regular files`);
  if (st.size > MAX_DISK)
    throw new RefusedFile(
      `${path} is ${formatSize(Number(st.size))}: hvemu holds a disk in memory, 2 GiB at most`,
    );
}

/**
 * Whether `path` is a disk (more than one sector, the boot signature in the first, not a bzImage:
 * loaders/disk-image-kind.ts), judged from its first 4 KiB without reading the rest.
 */
export function isDiskFile(path: string): boolean {
  const st = statOf(path);
  if (!st.isFile() || st.size <= 512) return false;
  const head = new Uint8Array(4096);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const n = readSync(fd, head, 0, head.length, 0);
    return n > 512 && isDiskImage(head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

export interface RunIntent {
  /** run as an SEV-ES guest (--sev-es) */
  sevEs: boolean;
  /** the image is a Linux kernel hvemu boots (a bzImage, or an ELF vmlinux with a PVH entry) */
  linux: boolean;
}

/**
 * Refuse an image that is plainly not a guest of the chosen kind, with the hint `hvemu inspect`
 * would give. Images nothing is known about run (a raw boot sector needs no signature).
 */
export function checkImageKind(image: Uint8Array, path: string, intent: RunIntent): void {
  const { facts } = examineImage(image, path);
  const seeInspect = `(\`hvemu inspect ${path}\` says: ${facts.kinds.join('; ')})`;
  if (facts.text)
    throw new RefusedFile(
      `${path} is text, not a machine image: hvemu runs boot sectors, Multiboot kernels and, with --sev-es, firmware images ${seeInspect}`,
    );
  if (facts.elf !== null && !facts.multiboot && !intent.linux)
    throw new RefusedFile(
      `${path} is an ELF${facts.elf.bits} file (${facts.elf.type}, ${facts.elf.machine}) with no Multiboot header and no PVH entry note: hvemu loads ELF only as a Multiboot kernel or a Linux vmlinux with a PVH entry (a host program is neither) ${seeInspect}`,
    );
  // hvemu runs firmware only as an SEV-ES guest; as a boot sector it would run garbage for minutes.
  if (!intent.sevEs && facts.ovmfTable)
    throw new RefusedFile(
      facts.sevEsResetBlock
        ? `${path} is firmware built for SEV-ES (its OVMF GUIDed table has an SEV-ES reset block): run it with --sev-es ${seeInspect}`
        : `${path} is firmware (it has an OVMF GUIDed table): hvemu runs firmware as an SEV-ES guest, with --sev-es ${seeInspect}`,
    );
  // Firmware is whole 4 KiB pages (it is mapped to end at 4 GiB); a boot sector or kernel runs without --sev-es.
  if (
    intent.sevEs &&
    !intent.linux &&
    !facts.ovmfTable &&
    (facts.bootSignature || facts.multiboot || image.length % 4096 !== 0)
  )
    throw new RefusedFile(
      `${path} is ${facts.multiboot ? 'a Multiboot kernel' : facts.bootSignature ? 'a boot sector' : `${image.length} bytes with no OVMF GUIDed table`}, not a firmware image or a Linux kernel: drop --sev-es to run it as a boot sector or kernel ${seeInspect}`,
    );
}
