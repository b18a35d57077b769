// A Multiboot (version 1, specification 0.6.96) kernel loader, as QEMU's -kernel loads one: the
// header is found, the image is placed in guest RAM (ELF32 program headers, or the header's
// address fields when flags bit 16, the "a.out kludge", is set — that takes precedence, as in QEMU),
// the Multiboot information structure is written in low memory (at QEMU's 0x9000, or after the
// kernel when the kernel is there: never over it), with boot modules (QEMU's -initrd) on page
// boundaries after the kernel, and the machine state the specification prescribes at entry is
// returned for the caller to load into the processor. An ELF entry point is translated to a
// physical address as QEMU's ELF loader does, or used as given.
//
// Every image that cannot be loaded is refused with a MultibootError saying what is wrong.
//
// Memory map handed to the kernel (QEMU's e820 under SeaBIOS, which QEMU's Multiboot option ROM
// passes on): [0, 0x9FC00) available, [0x9FC00, 0xA0000) reserved (the EBDA, where an MP floating
// pointer may live), [0xF0000, 0x100000) reserved (BIOS area: MP and ACPI tables), [1 MiB, RAM top)
// available, and RAM above 4 GiB available. mem_lower and mem_upper are what that map says, as a
// kernel under QEMU sees them: QEMU's Multiboot option ROM rewrites them from INT 12h (639 KiB,
// SeaBIOS keeping 1 KiB of EBDA) and the e820 map. (Under QEMU mem_upper is 128 KiB smaller than
// here: SeaBIOS reserves the top of RAM for its own tables, which hvemu keeps in 0xF0000-0xFFFFF.)

export class MultibootError extends Error {
  override readonly name = 'MultibootError';
}

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** Where QEMU puts the information structure (MULTIBOOT_STRUCT_ADDR in hw/i386/multiboot.c). */
export const MULTIBOOT_INFO_ADDR = 0x9000;
/** The header must lie in the first 8192 bytes, 32-bit aligned (spec 3.1.1). */
export const MULTIBOOT_SEARCH = 8192;

// Header flags (spec 3.1.2).
export const MBH_PAGE_ALIGN = 1 << 0; // modules on 4 KiB boundaries (always, as QEMU places them)
export const MBH_MEMORY_INFO = 1 << 1; // mem_* fields required (always provided)
export const MBH_VIDEO_MODE = 1 << 2; // video mode table required (no graphics here)
export const MBH_AOUT_KLUDGE = 1 << 16; // header address fields valid

// Information structure flags and offsets (spec 3.3).
export const MBI_MEM = 1 << 0;
export const MBI_CMDLINE = 1 << 2;
export const MBI_MODS = 1 << 3;
export const MBI_MMAP = 1 << 6;
export const MBI_BOOT_LOADER_NAME = 1 << 9;
export const MBI_SIZE = 88; // through vbe_interface_len
export const MBI_OFF = {
  flags: 0,
  mem_lower: 4,
  mem_upper: 8,
  boot_device: 12,
  cmdline: 16,
  mods_count: 20,
  mods_addr: 24,
  mmap_length: 44,
  mmap_addr: 48,
  boot_loader_name: 64,
} as const;

export const MMAP_AVAILABLE = 1;
export const MMAP_RESERVED = 2;

/** A segment register's hidden part, as loaded at entry (spec 3.2: flat 4 GiB, offset 0). */
export interface SegmentCache {
  selector: number;
  base: number;
  limit: number;
  /** Descriptor type field: 0xB = execute/read accessed code, 0x3 = read/write accessed data. */
  type: number;
  s: boolean;
  dpl: number;
  present: boolean;
  db: boolean;
  l: boolean;
  g: boolean;
}

export interface LoadedSegment {
  addr: number;
  fileSize: number;
  memSize: number;
}

export interface MultibootEntryState {
  format: 'elf32' | 'aout-kludge';
  /** Physical address to start at (EIP). */
  entry: number;
  eax: number;
  ebx: number;
  /** PE set, PG clear (ET reads as 1 on every processor since the 486DX). */
  cr0: number;
  /** IF and VM clear; bit 1 is reserved as 1. */
  eflags: number;
  cs: SegmentCache;
  ds: SegmentCache;
  es: SegmentCache;
  fs: SegmentCache;
  gs: SegmentCache;
  ss: SegmentCache;
  /** The A20 gate must be enabled. */
  a20: true;
  segments: LoadedSegment[];
  infoAddr: number;
  /** End (exclusive) of what was written for the information structure and its strings. */
  infoEnd: number;
}

export interface MultibootOptions {
  /** The kernel command line. QEMU passes "<kernel file name> <-append text>"; do the same to match. */
  cmdline?: string;
  bootLoaderName?: string;
  /** Where to write the information structure (default 0x9000, QEMU's choice). */
  infoAddr?: number;
  /** RAM above 4 GiB, in bytes, for the memory map. `ram` itself is RAM from address 0. */
  ramAbove4G?: number;
  /** Boot modules (QEMU: -initrd "file args,file2"): their bytes and their strings. */
  modules?: MultibootModule[];
}

export interface MultibootModule {
  data: Uint8Array;
  /** The module's string; QEMU gives the -initrd entry itself, "file args". */
  cmdline: string;
}

export const flat = (selector: number, type: number): SegmentCache => ({
  selector,
  base: 0,
  limit: 0xffffffff,
  type,
  s: true,
  dpl: 0,
  present: true,
  db: true,
  l: false,
  g: true,
});

const hex = (v: number) => `0x${(v >>> 0).toString(16).toUpperCase()}`;

interface Header {
  offset: number;
  flags: number;
  fields: DataView;
}

function findHeader(image: Uint8Array): Header {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const limit = Math.min(image.length, MULTIBOOT_SEARCH);
  let badChecksum: string | undefined;
  for (let off = 0; off + 4 <= limit; off += 4) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    if (off + 12 > image.length)
      throw new MultibootError(`truncated file: the Multiboot header at offset ${hex(off)} needs 12 bytes`);
    const flags = dv.getUint32(off + 4, true);
    const sum = (MULTIBOOT_HEADER_MAGIC + flags + dv.getUint32(off + 8, true)) >>> 0;
    if (sum !== 0) {
      // Keep looking, as QEMU and GRUB do; report this one if nothing better turns up.
      badChecksum ??= `bad checksum in the Multiboot header at offset ${hex(off)}: magic + flags + checksum = ${hex(sum)}, must be 0`;
      continue;
    }
    return { offset: off, flags, fields: dv };
  }
  if (badChecksum) throw new MultibootError(badChecksum);
  for (let off = 1; off + 4 <= limit; off++)
    if (dv.getUint32(off, true) === MULTIBOOT_HEADER_MAGIC)
      throw new MultibootError(
        `no Multiboot header: the magic 0x1BADB002 at offset ${hex(off)} is not 32-bit aligned`,
      );
  for (let off = MULTIBOOT_SEARCH; off + 4 <= image.length; off += 4)
    if (dv.getUint32(off, true) === MULTIBOOT_HEADER_MAGIC)
      throw new MultibootError(
        `no Multiboot header in the first 8192 bytes (the magic 0x1BADB002 is at offset ${hex(off)})`,
      );
  throw new MultibootError(
    image.length === 0
      ? 'empty image'
      : 'no Multiboot header: magic 0x1BADB002 not found in the first 8192 bytes',
  );
}

/**
 * Does the image claim to be a Multiboot kernel: the magic at a 32-bit aligned offset in its first
 * 8192 bytes (spec 3.1.1)? Whether the header is valid is `loadMultiboot`'s to say.
 */
export function hasMultibootMagic(image: Uint8Array): boolean {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const limit = Math.min(image.length, MULTIBOOT_SEARCH);
  for (let off = 0; off + 4 <= limit; off += 4)
    if (dv.getUint32(off, true) === MULTIBOOT_HEADER_MAGIC) return true;
  return false;
}

function checkFlags(h: Header, imageLength: number): void {
  const required = h.flags & 0xffff;
  if (required & MBH_VIDEO_MODE)
    throw new MultibootError(
      'the kernel requires a video mode (flags bit 2), and this machine has no graphics (QEMU warns and boots anyway; the specification says to refuse)',
    );
  const unknown = required & ~(MBH_PAGE_ALIGN | MBH_MEMORY_INFO);
  if (unknown)
    throw new MultibootError(
      `unsupported required flags ${hex(unknown)} in bits 0-15 (this loader knows bits 0, 1 and 2)`,
    );
  const need = h.flags & MBH_AOUT_KLUDGE ? 32 : 12;
  if (h.offset + need > imageLength)
    throw new MultibootError(
      `truncated file: the Multiboot header at offset ${hex(h.offset)} needs ${need} bytes`,
    );
  if (h.offset + need > MULTIBOOT_SEARCH)
    throw new MultibootError(
      `the Multiboot header at offset ${hex(h.offset)} (${need} bytes) does not end within the first 8192 bytes`,
    );
}

function checkRam(what: string, addr: number, size: number, ram: Uint8Array): void {
  if (addr + size > 0x1_0000_0000)
    throw new MultibootError(`${what} at ${hex(addr)} (${size} bytes) wraps past 4 GiB`);
  if (addr + size > ram.length)
    throw new MultibootError(
      `${what} at ${hex(addr)}-${hex(addr + size)} is outside RAM (${ram.length} bytes, ending at ${hex(ram.length)})`,
    );
}

/** The a.out kludge (spec 3.1.3): the header's own address fields say where the file goes. */
function loadAout(
  image: Uint8Array,
  h: Header,
  ram: Uint8Array,
): { entry: number; segments: LoadedSegment[] } {
  const f = (i: number) => h.fields.getUint32(h.offset + i, true);
  const [headerAddr, loadAddr, loadEndAddr, bssEndAddr, entry] = [f(12), f(16), f(20), f(24), f(28)];
  if (loadAddr > headerAddr)
    throw new MultibootError(
      `a.out kludge: load_addr ${hex(loadAddr)} is above header_addr ${hex(headerAddr)}`,
    );
  const fileOffset = h.offset - (headerAddr - loadAddr);
  if (fileOffset < 0)
    throw new MultibootError(
      `a.out kludge: header_addr - load_addr = ${hex(headerAddr - loadAddr)} puts the load start ${-fileOffset} bytes before the file begins`,
    );
  if (loadEndAddr !== 0 && loadEndAddr < loadAddr)
    throw new MultibootError(
      `a.out kludge: load_end_addr ${hex(loadEndAddr)} is below load_addr ${hex(loadAddr)}`,
    );
  const loadSize = loadEndAddr === 0 ? image.length - fileOffset : loadEndAddr - loadAddr;
  if (fileOffset + loadSize > image.length)
    throw new MultibootError(
      `truncated file: load_addr..load_end_addr needs ${loadSize} bytes from file offset ${hex(fileOffset)}, the file has ${image.length - fileOffset}`,
    );
  const loadEnd = loadAddr + loadSize;
  if (bssEndAddr !== 0 && bssEndAddr < loadEnd)
    throw new MultibootError(
      `a.out kludge: bss_end_addr ${hex(bssEndAddr)} is below the load end ${hex(loadEnd)}`,
    );
  const memEnd = bssEndAddr === 0 ? loadEnd : bssEndAddr;
  checkRam('the kernel', loadAddr, memEnd - loadAddr, ram);
  if (entry < loadAddr || entry >= memEnd)
    throw new MultibootError(
      `entry_addr ${hex(entry)} is outside the loaded image ${hex(loadAddr)}-${hex(memEnd)}`,
    );
  ram.set(image.subarray(fileOffset, fileOffset + loadSize), loadAddr);
  ram.fill(0, loadEnd, memEnd);
  return { entry, segments: [{ addr: loadAddr, fileSize: loadSize, memSize: memEnd - loadAddr }] };
}

const PT_LOAD = 1;
const PF_X = 1;

/** ELF32 executables for the 386 (System V ABI, i386 supplement): PT_LOAD segments at p_paddr. */
function loadElf(image: Uint8Array, ram: Uint8Array): { entry: number; segments: LoadedSegment[] } {
  const isElf =
    image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
  if (!isElf)
    throw new MultibootError(
      'not an ELF32 image and the Multiboot header has no a.out kludge (flags bit 16 clear)',
    );
  if (image.length < 52)
    throw new MultibootError(`truncated file: an ELF32 header needs 52 bytes, the file has ${image.length}`);
  if (image[4] === 2)
    throw new MultibootError('ELF64 image: Multiboot 1 loads 32-bit kernels only (QEMU: "give a 32bit one")');
  if (image[4] !== 1) throw new MultibootError(`not ELF32: EI_CLASS is ${image[4]}, expected 1 (ELFCLASS32)`);
  if (image[5] !== 1)
    throw new MultibootError(`ELF data encoding ${image[5]} is not little-endian (ELFDATA2LSB)`);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (type !== 2) throw new MultibootError(`ELF e_type ${type} is not ET_EXEC (2)`);
  if (machine !== 3) throw new MultibootError(`ELF e_machine ${machine} is not EM_386 (3)`);
  const eEntry = dv.getUint32(24, true);
  const phoff = dv.getUint32(28, true);
  const phentsize = dv.getUint16(42, true);
  const phnum = dv.getUint16(44, true);
  if (phnum === 0) throw new MultibootError('ELF image has no program headers');
  if (phentsize < 32)
    throw new MultibootError(`ELF e_phentsize ${phentsize} is smaller than a program header (32)`);
  if (phoff + phnum * phentsize > image.length)
    throw new MultibootError(
      `truncated file: ${phnum} program headers at offset ${hex(phoff)} end at ${hex(phoff + phnum * phentsize)}, the file has ${hex(image.length)} bytes`,
    );
  const segments: LoadedSegment[] = [];
  const loads: { off: number; vaddr: number; paddr: number; filesz: number; memsz: number; flags: number }[] =
    [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== PT_LOAD) continue;
    const ph = {
      off: dv.getUint32(p + 4, true),
      vaddr: dv.getUint32(p + 8, true),
      paddr: dv.getUint32(p + 12, true),
      filesz: dv.getUint32(p + 16, true),
      memsz: dv.getUint32(p + 20, true),
      flags: dv.getUint32(p + 24, true),
    };
    if (ph.filesz > ph.memsz)
      throw new MultibootError(
        `program header ${i}: p_filesz ${hex(ph.filesz)} exceeds p_memsz ${hex(ph.memsz)}`,
      );
    if (ph.off + ph.filesz > image.length)
      throw new MultibootError(
        `truncated file: program header ${i} needs bytes up to ${hex(ph.off + ph.filesz)}, the file has ${hex(image.length)}`,
      );
    checkRam(`program header ${i} (p_paddr)`, ph.paddr, ph.memsz, ram);
    loads.push(ph);
  }
  if (loads.length === 0) throw new MultibootError('ELF image has no PT_LOAD segment');
  // e_entry is virtual and paging is off at entry. As QEMU's ELF loader does, it is translated
  // through an executable segment whose file bytes hold it and whose p_vaddr differs from
  // p_paddr; otherwise it is used as given (a kernel whose entry is a physical address).
  let entry = eEntry;
  for (const ph of loads) {
    ram.set(image.subarray(ph.off, ph.off + ph.filesz), ph.paddr);
    ram.fill(0, ph.paddr + ph.filesz, ph.paddr + ph.memsz); // bss
    segments.push({ addr: ph.paddr, fileSize: ph.filesz, memSize: ph.memsz });
    if (
      ph.vaddr !== ph.paddr &&
      eEntry >= ph.vaddr &&
      eEntry < ph.vaddr + ph.filesz &&
      (ph.flags & PF_X) !== 0
    )
      entry = eEntry - ph.vaddr + ph.paddr;
  }
  return { entry, segments };
}

/** The e820-style map described at the top of this file. */
export function multibootMemoryMap(
  ramBelow4G: number,
  ramAbove4G = 0,
): { base: number; length: number; type: number }[] {
  const map: { base: number; length: number; type: number }[] = [];
  map.push({ base: 0, length: Math.min(ramBelow4G, 0x9fc00), type: MMAP_AVAILABLE });
  map.push({ base: 0x9fc00, length: 0x400, type: MMAP_RESERVED });
  map.push({ base: 0xf0000, length: 0x10000, type: MMAP_RESERVED });
  if (ramBelow4G > 0x100000)
    map.push({ base: 0x100000, length: ramBelow4G - 0x100000, type: MMAP_AVAILABLE });
  if (ramAbove4G > 0) map.push({ base: 0x1_0000_0000, length: ramAbove4G, type: MMAP_AVAILABLE });
  return map;
}

/** Load a Multiboot kernel into `ram` (guest RAM from physical 0) and describe the entry state. */
export function loadMultiboot(
  image: Uint8Array,
  ram: Uint8Array,
  opts: MultibootOptions = {},
): MultibootEntryState {
  const h = findHeader(image);
  checkFlags(h, image.length);
  if (ram.length < 0x100000)
    throw new MultibootError(`RAM of ${ram.length} bytes is less than the 1 MiB Multiboot needs`);
  const { entry, segments } = h.flags & MBH_AOUT_KLUDGE ? loadAout(image, h, ram) : loadElf(image, ram);
  const format = h.flags & MBH_AOUT_KLUDGE ? 'aout-kludge' : 'elf32';

  // Modules (QEMU's -initrd for a Multiboot kernel): each on a page boundary after the kernel.
  const pageUp = (v: number) => Math.ceil(v / 4096) * 4096;
  let kernelEnd = 0;
  for (const seg of segments) kernelEnd = Math.max(kernelEnd, seg.addr + seg.memSize);
  const modules = opts.modules ?? [];
  const placedMods: { start: number; end: number }[] = [];
  let next = pageUp(kernelEnd);
  for (const [i, m] of modules.entries()) {
    checkRam(`module ${i} (${m.data.length} bytes)`, next, m.data.length, ram);
    ram.set(m.data, next);
    placedMods.push({ start: next, end: next + m.data.length });
    next = pageUp(next + m.data.length);
  }

  // The information structure, the memory map, the module list, the command lines, the loader's
  // name: at 0x9000 as QEMU, unless the kernel or a module is there; then after them (QEMU keeps
  // its strings after the kernel too), never over the kernel.
  const map = multibootMemoryMap(ram.length, opts.ramAbove4G ?? 0);
  const mmapLength = map.length * 24;
  const enc = new TextEncoder();
  const cmdline = enc.encode(`${opts.cmdline ?? ''}\0`);
  const modLines = modules.map((m) => enc.encode(`${m.cmdline}\0`));
  const name = enc.encode(`${opts.bootLoaderName ?? 'hvemu'}\0`);
  const infoSize =
    MBI_SIZE +
    mmapLength +
    16 * modules.length +
    cmdline.length +
    modLines.reduce((n, l) => n + l.length, 0) +
    name.length;
  const taken = [
    ...segments.map((x) => [x.addr, x.addr + x.memSize]),
    ...placedMods.map((x) => [x.start, x.end]),
  ];
  const free = (at: number) => taken.every(([lo, hi]) => at + infoSize <= lo || hi <= at);
  let infoAddr = opts.infoAddr ?? MULTIBOOT_INFO_ADDR;
  if (opts.infoAddr === undefined && (!free(infoAddr) || infoAddr + infoSize > 0x9fc00)) {
    infoAddr = next;
    checkRam('the Multiboot information', infoAddr, infoSize, ram);
  } else if (infoAddr + infoSize > 0x9fc00)
    throw new MultibootError(
      `the Multiboot information (${hex(infoAddr)}-${hex(infoAddr + infoSize)}) does not fit below 0x9FC00; the command line is ${cmdline.length - 1} bytes`,
    );
  for (const [lo, hi] of taken)
    if (lo < infoAddr + infoSize && infoAddr < hi)
      throw new MultibootError(
        `the kernel at ${hex(lo)}-${hex(hi)} overlaps the Multiboot information at ${hex(infoAddr)}-${hex(infoAddr + infoSize)}`,
      );
  const mmapAddr = infoAddr + MBI_SIZE;
  const modsAddr = mmapAddr + mmapLength;
  const cmdlineAddr = modsAddr + 16 * modules.length;
  let strings = cmdlineAddr + cmdline.length;
  const infoEnd = infoAddr + infoSize;

  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  ram.fill(0, infoAddr, infoAddr + MBI_SIZE);
  dv.setUint32(
    infoAddr + MBI_OFF.flags,
    MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_BOOT_LOADER_NAME | (modules.length ? MBI_MODS : 0),
    true,
  );
  dv.setUint32(infoAddr + MBI_OFF.mem_lower, Math.min(ram.length, 0x9fc00) >>> 10, true);
  dv.setUint32(
    infoAddr + MBI_OFF.mem_upper,
    Math.floor(Math.min(ram.length, 0xffffffff) / 1024) - 1024,
    true,
  );
  dv.setUint32(infoAddr + MBI_OFF.cmdline, cmdlineAddr, true);
  dv.setUint32(infoAddr + MBI_OFF.mods_count, modules.length, true);
  dv.setUint32(infoAddr + MBI_OFF.mods_addr, modules.length ? modsAddr : 0, true);
  dv.setUint32(infoAddr + MBI_OFF.mmap_length, mmapLength, true);
  dv.setUint32(infoAddr + MBI_OFF.mmap_addr, mmapAddr, true);
  // Each mmap entry: size (20, not counting itself), base_addr (u64), length (u64), type (spec 3.3).
  map.forEach((e, i) => {
    const p = mmapAddr + i * 24;
    dv.setUint32(p, 20, true);
    dv.setBigUint64(p + 4, BigInt(e.base), true);
    dv.setBigUint64(p + 12, BigInt(e.length), true);
    dv.setUint32(p + 20, e.type, true);
  });
  ram.set(cmdline, cmdlineAddr);
  // Each module entry: mod_start, mod_end, string, reserved (spec 3.3).
  placedMods.forEach((m, i) => {
    const p = modsAddr + 16 * i;
    dv.setUint32(p, m.start, true);
    dv.setUint32(p + 4, m.end, true);
    dv.setUint32(p + 8, strings, true);
    dv.setUint32(p + 12, 0, true);
    ram.set(modLines[i], strings);
    strings += modLines[i].length;
  });
  dv.setUint32(infoAddr + MBI_OFF.boot_loader_name, strings, true);
  ram.set(name, strings);

  const data = flat(0x10, 0x3);
  return {
    format,
    entry,
    eax: MULTIBOOT_BOOTLOADER_MAGIC,
    ebx: infoAddr,
    cr0: 0x11,
    eflags: 0x2,
    cs: flat(0x08, 0xb),
    ds: data,
    es: { ...data },
    fs: { ...data },
    gs: { ...data },
    ss: { ...data },
    a20: true,
    segments,
    infoAddr,
    infoEnd,
  };
}
