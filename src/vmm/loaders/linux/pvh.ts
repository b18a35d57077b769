// Linux's PVH entry (Xen's "HVM direct boot" ABI, which QEMU's -kernel, Firecracker and
// cloud-hypervisor also use for a vmlinux): the kernel's ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 18,
// name "Xen") gives a 32-bit physical entry point, entered in protected mode with paging off, flat
// 4 GiB CS/DS/ES/SS, IF clear and EBX = the physical address of struct hvm_start_info
// (xen/include/public/arch-x86/hvm/start_info.h, version 1): the command line, the memory map, the
// ACPI RSDP and a module list whose first module Linux takes as its initrd.
import { MultibootError } from '../multiboot.js';

/** XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h). */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
export const HVM_START_MAGIC = 0x336ec578;
/** struct hvm_start_info v1 is 56 bytes; a module entry 32, a memory map entry 24. */
const START_INFO_SIZE = 56;
const MODLIST_ENTRY_SIZE = 32;
const MEMMAP_ENTRY_SIZE = 24;
/** E820 types (ACPI "Address Range Types"), as hvm_memmap_table_entry uses them. */
export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface PvhOptions {
  cmdline: string;
  /** The initrd, loaded high in RAM below 4 GiB (module 0). */
  initrd?: Uint8Array;
  /** The ACPI RSDP the platform wrote, 0 for none. */
  rsdpAddr: number;
  /** Where hvm_start_info, the module list, the memory map and the command line go (below 1 MiB). */
  infoAddr: number;
  /** Bytes the loader may use from infoAddr. */
  infoRoom: number;
  /** The memory map: RAM and reserved ranges. */
  memoryMap: { base: number; length: number; type: number }[];
}

export interface PvhEntry {
  entry: number;
  startInfo: number;
  segments: { addr: number; memSize: number }[];
  initrd: { addr: number; size: number } | null;
}

interface Elf {
  is64: boolean;
  dv: DataView;
  phoff: number;
  phentsize: number;
  phnum: number;
}

function parseElf(image: Uint8Array): Elf {
  if (image.length < 52 || image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46)
    throw new MultibootError('not an ELF file');
  const is64 = image[4] === 2;
  if (image[4] !== 1 && image[4] !== 2)
    throw new MultibootError(`ELF class ${image[4]} is neither 32- nor 64-bit`);
  if (image[5] !== 1) throw new MultibootError('the ELF file is not little-endian');
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const machine = dv.getUint16(18, true);
  if (machine !== 3 && machine !== 62) throw new MultibootError(`ELF machine ${machine} is not x86`);
  const phoff = is64 ? Number(dv.getBigUint64(32, true)) : dv.getUint32(28, true);
  const phentsize = dv.getUint16(is64 ? 54 : 42, true);
  const phnum = dv.getUint16(is64 ? 56 : 44, true);
  if (phentsize < (is64 ? 56 : 32) || phoff + phnum * phentsize > image.length)
    throw new MultibootError(`truncated ELF file: ${phnum} program headers at 0x${phoff.toString(16)}`);
  return { is64, dv, phoff, phentsize, phnum };
}

interface Phdr {
  type: number;
  offset: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

function phdr(e: Elf, i: number): Phdr {
  const at = e.phoff + i * e.phentsize;
  const dv = e.dv;
  if (e.is64)
    return {
      type: dv.getUint32(at, true),
      offset: Number(dv.getBigUint64(at + 8, true)),
      paddr: Number(dv.getBigUint64(at + 24, true)),
      filesz: Number(dv.getBigUint64(at + 32, true)),
      memsz: Number(dv.getBigUint64(at + 40, true)),
    };
  return {
    type: dv.getUint32(at, true),
    offset: dv.getUint32(at + 4, true),
    paddr: dv.getUint32(at + 12, true),
    filesz: dv.getUint32(at + 16, true),
    memsz: dv.getUint32(at + 20, true),
  };
}

/** The ELF's entry point (e_entry: for a vmlinux, the physical address of startup_64). */
export function elfEntry(image: Uint8Array): number {
  const e = parseElf(image);
  return e.is64 ? Number(e.dv.getBigUint64(24, true)) : e.dv.getUint32(24, true);
}

/** The PT_LOAD segments: physical address, the bytes in the file, and the size in memory. */
export function loadableSegments(image: Uint8Array): { paddr: number; data: Uint8Array; memSize: number }[] {
  const e = parseElf(image);
  const out: { paddr: number; data: Uint8Array; memSize: number }[] = [];
  for (let i = 0; i < e.phnum; i++) {
    const p = phdr(e, i);
    if (p.type !== 1 || p.memsz === 0) continue; // PT_LOAD
    if (p.filesz > p.memsz || p.offset + p.filesz > image.length)
      throw new MultibootError(
        `program header ${i}: its bytes (0x${p.offset.toString(16)}+0x${p.filesz.toString(16)}) are not in the file`,
      );
    out.push({ paddr: p.paddr, data: image.subarray(p.offset, p.offset + p.filesz), memSize: p.memsz });
  }
  if (out.length === 0) throw new MultibootError('the ELF file has no loadable segment');
  return out;
}

/** The PVH entry point from the ELF notes, or null when the kernel has none. */
export function findPvhEntry(image: Uint8Array): number | null {
  let e: Elf;
  try {
    e = parseElf(image);
  } catch {
    return null;
  }
  for (let i = 0; i < e.phnum; i++) {
    const p = phdr(e, i);
    if (p.type !== 4 || p.offset + p.filesz > image.length) continue; // PT_NOTE
    for (let at = p.offset; at + 12 <= p.offset + p.filesz; ) {
      const namesz = e.dv.getUint32(at, true);
      const descsz = e.dv.getUint32(at + 4, true);
      const type = e.dv.getUint32(at + 8, true);
      const name = at + 12;
      const desc = name + ((namesz + 3) & ~3);
      if (desc + descsz > p.offset + p.filesz) break;
      const isXen =
        namesz === 4 && image[name] === 0x58 && image[name + 1] === 0x65 && image[name + 2] === 0x6e;
      if (isXen && type === XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) return e.dv.getUint32(desc, true);
      at = desc + ((descsz + 3) & ~3);
    }
  }
  return null;
}

/**
 * Load the kernel's PT_LOAD segments at their physical addresses, the initrd high in RAM, and
 * hvm_start_info with its tables at `infoAddr`. Errors say what does not fit.
 */
export function loadPvhKernel(image: Uint8Array, ram: Uint8Array, opts: PvhOptions): PvhEntry {
  const entry = findPvhEntry(image);
  if (entry === null)
    throw new MultibootError(
      'the ELF file has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a PVH-capable kernel',
    );
  const e = parseElf(image);
  const segments: PvhEntry['segments'] = [];
  for (let i = 0; i < e.phnum; i++) {
    const p = phdr(e, i);
    if (p.type !== 1 || p.memsz === 0) continue; // PT_LOAD
    if (p.filesz > p.memsz || p.offset + p.filesz > image.length)
      throw new MultibootError(
        `program header ${i}: its bytes (0x${p.offset.toString(16)}+0x${p.filesz.toString(16)}) are not in the file`,
      );
    if (p.paddr < 0x100000 || p.paddr + p.memsz > ram.length)
      throw new MultibootError(
        `program header ${i} loads at 0x${p.paddr.toString(16)}-0x${(p.paddr + p.memsz).toString(16)}, outside RAM from 1 MiB to 0x${ram.length.toString(16)} (give the VM more memory)`,
      );
    ram.set(image.subarray(p.offset, p.offset + p.filesz), p.paddr);
    ram.fill(0, p.paddr + p.filesz, p.paddr + p.memsz);
    segments.push({ addr: p.paddr, memSize: p.memsz });
  }
  if (segments.length === 0) throw new MultibootError('the ELF file has no loadable segment');
  const kernelEnd = Math.max(...segments.map((s) => s.addr + s.memSize));

  let initrd: PvhEntry['initrd'] = null;
  if (opts.initrd !== undefined) {
    const top = Math.min(ram.length, 0xffff_f000);
    const addr = Math.floor((top - opts.initrd.length) / 4096) * 4096;
    if (addr < kernelEnd)
      throw new MultibootError(
        `the initrd (${opts.initrd.length} bytes) does not fit between the kernel's end (0x${kernelEnd.toString(16)}) and the end of RAM (give the VM more memory)`,
      );
    ram.set(opts.initrd, addr);
    initrd = { addr, size: opts.initrd.length };
  }

  const enc = new TextEncoder();
  const cmdline = enc.encode(`${opts.cmdline}\0`);
  const modlist = opts.infoAddr + START_INFO_SIZE;
  const memmap = modlist + (initrd ? MODLIST_ENTRY_SIZE : 0);
  const cmdAddr = memmap + opts.memoryMap.length * MEMMAP_ENTRY_SIZE;
  if (cmdAddr + cmdline.length > opts.infoAddr + opts.infoRoom)
    throw new MultibootError(
      `the command line (${cmdline.length - 1} bytes) does not fit in the boot information area`,
    );
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  ram.fill(0, opts.infoAddr, cmdAddr);
  const si = opts.infoAddr;
  dv.setUint32(si, HVM_START_MAGIC, true);
  dv.setUint32(si + 4, 1, true); // version
  dv.setUint32(si + 12, initrd ? 1 : 0, true); // nr_modules
  dv.setBigUint64(si + 16, BigInt(initrd ? modlist : 0), true);
  dv.setBigUint64(si + 24, BigInt(cmdAddr), true);
  dv.setBigUint64(si + 32, BigInt(opts.rsdpAddr), true);
  dv.setBigUint64(si + 40, BigInt(memmap), true);
  dv.setUint32(si + 48, opts.memoryMap.length, true);
  if (initrd) {
    dv.setBigUint64(modlist, BigInt(initrd.addr), true);
    dv.setBigUint64(modlist + 8, BigInt(initrd.size), true);
  }
  opts.memoryMap.forEach((m, i) => {
    const at = memmap + i * MEMMAP_ENTRY_SIZE;
    dv.setBigUint64(at, BigInt(m.base), true);
    dv.setBigUint64(at + 8, BigInt(m.length), true);
    dv.setUint32(at + 16, m.type, true);
  });
  ram.set(cmdline, cmdAddr);
  return { entry, startInfo: si, segments, initrd };
}
