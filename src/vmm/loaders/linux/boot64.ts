// Linux's 64-bit boot protocol (Documentation/x86/boot.rst, "64-bit Boot Protocol"): the loader
// enters the kernel proper's startup_64 in long mode, with paging on through an identity map that
// covers the kernel, the zero page and the command line, a GDT whose selector 10h is flat 64-bit
// code and 18h flat data (__BOOT_CS, __BOOT_DS), interrupts off, and RSI = the physical address of
// struct boot_params, the "zero page" (arch/x86/include/uapi/asm/bootparam.h). Direct-boot VMMs
// (Firecracker, cloud-hypervisor) start a vmlinux this way, with no decompressor and no firmware.
// hvemu uses it for an SEV-ES guest, where the PVH entry cannot work: the PVH path runs CPUID before
// it has an IDT, and under SEV-ES a CPUID is a #VC that needs one.
//
// The result is a launch image: everything the guest's RAM holds at its first instruction, as
// page-aligned chunks (a pure function of its inputs, so the guest owner can rebuild it), and the
// BSP's entry state. Low memory, as laid out here:
//
//   0000  real-mode IVT and BIOS data area (the caller's, e.g. the EBDA pointer)
//   6000  GDT: null, unused, 10h code (L), 18h data
//   7000  boot_params (the zero page)
//   9000  PML4, A000 PDPT, B000-EFFF four page directories: 4 GiB identity-mapped in 2 MiB pages
//  20000  the command line
import { BzImageError, extractVmlinux, isBzImage } from './bzimage.js';
import { elfEntry, loadableSegments } from './pvh.js';

export const BOOT_GDT = 0x6000;
export const ZERO_PAGE = 0x7000;
export const BOOT_PML4 = 0x9000;
const BOOT_PDPT = 0xa000;
const BOOT_PD = 0xb000;
export const BOOT_CMDLINE = 0x20000;
const LOW_MEMORY = 0x100000;
/** __BOOT_CS and __BOOT_DS (arch/x86/include/asm/segment.h: GDT entries 2 and 3). */
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;

// boot_params offsets (bootparam.h) and setup_header offsets within it (boot.rst).
const BP_ACPI_RSDP_ADDR = 0x070;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const E820_MAX_ENTRIES_ZEROPAGE = 128;
const HDR_START = 0x1f1;
const HDR_BOOT_FLAG = 0x1fe;
const HDR_JUMP = 0x200;
const HDR_HEADER = 0x202;
const HDR_VERSION = 0x206;
const HDR_TYPE_OF_LOADER = 0x210;
const HDR_LOADFLAGS = 0x211;
const HDR_RAMDISK_IMAGE = 0x218;
const HDR_RAMDISK_SIZE = 0x21c;
const HDR_CMD_LINE_PTR = 0x228;
const HDR_KERNEL_ALIGNMENT = 0x230;
const HDR_CMDLINE_SIZE = 0x238;
const LOADED_HIGH = 0x01;
/** "Undefined" boot loader: any non-zero ID, or the kernel ignores the initrd (boot.rst). */
const LOADER_UNDEFINED = 0xff;

/** An e820 entry (ACPI address range types: 1 RAM, 2 reserved, 3 ACPI reclaimable). */
export interface E820Entry {
  base: number;
  length: number;
  type: number;
}
export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;

export interface Boot64Options {
  cmdline: string;
  initrd?: Uint8Array;
  memoryBytes: number;
  /** The ACPI RSDP's address for boot_params.acpi_rsdp_addr (0: the kernel searches). */
  rsdpAddr: number;
  /** The memory map the kernel gets. */
  e820: E820Entry[];
  /** Bits every entry of the identity map carries besides present, writable and 2 MiB (the SEV C-bit). */
  pteExtra: bigint;
  /** Writes the caller's part of the first MiB (firmware tables, an AP stub) before the loader's own. */
  lowMemory?: (low: Uint8Array) => void;
}

/** The BSP's state at startup_64. */
export interface Boot64Entry {
  rip: number;
  /** The zero page. */
  rsi: number;
  cr3: number;
  gdtBase: number;
  gdtLimit: number;
  codeSelector: number;
  dataSelector: number;
}

export interface Boot64Image {
  /** Guest RAM's contents at entry, as ascending, disjoint, page-aligned chunks (the rest is zero). */
  chunks: { gpa: number; bytes: Uint8Array }[];
  entry: Boot64Entry;
  initrd: { addr: number; size: number } | null;
}

export class Boot64Error extends Error {}

const PAGE = 4096;
const pageDown = (a: number) => Math.floor(a / PAGE) * PAGE;
const pageUp = (a: number) => Math.ceil(a / PAGE) * PAGE;

/** Build the launch image of a bzImage (its vmlinux taken out) or a vmlinux. */
export function buildBoot64Image(kernel: Uint8Array, opts: Boot64Options): Boot64Image {
  const bz = isBzImage(kernel);
  let elf: Uint8Array;
  try {
    elf = bz ? extractVmlinux(kernel) : kernel;
  } catch (e) {
    if (e instanceof BzImageError) throw new Boot64Error(e.message);
    throw e;
  }
  let segments: ReturnType<typeof loadableSegments>;
  let rip: number;
  try {
    segments = loadableSegments(elf);
    rip = elfEntry(elf);
  } catch (e) {
    throw new Boot64Error((e as Error).message);
  }
  const ram = opts.memoryBytes;
  const start = pageDown(Math.min(...segments.map((s) => s.paddr)));
  const fileEnd = pageUp(Math.max(...segments.map((s) => s.paddr + s.data.length)));
  const kernelEnd = Math.max(...segments.map((s) => s.paddr + s.memSize));
  if (start < LOW_MEMORY || kernelEnd > ram)
    throw new Boot64Error(
      `the kernel loads at 0x${start.toString(16)}-0x${kernelEnd.toString(16)}, outside RAM from 1 MiB to 0x${ram.toString(16)} (give the VM more memory)`,
    );
  if (rip < start || rip >= kernelEnd)
    throw new Boot64Error(`its entry point 0x${rip.toString(16)} is not in the kernel's segments`);
  const image = new Uint8Array(fileEnd - start);
  for (const s of segments) image.set(s.data, s.paddr - start);

  let initrd: Boot64Image['initrd'] = null;
  let initrdBytes: Uint8Array | null = null;
  if (opts.initrd !== undefined && opts.initrd.length > 0) {
    const top = Math.min(ram, 0x8000_0000); // below the kernel's initrd_addr_max (2 GiB - 1)
    const addr = pageDown(top - opts.initrd.length);
    if (addr < pageUp(kernelEnd))
      throw new Boot64Error(
        `the initrd (${opts.initrd.length} bytes) does not fit between the kernel's end (0x${kernelEnd.toString(16)}) and the end of RAM (give the VM more memory)`,
      );
    initrd = { addr, size: opts.initrd.length };
    initrdBytes = new Uint8Array(pageUp(opts.initrd.length));
    initrdBytes.set(opts.initrd);
  }

  const low = new Uint8Array(LOW_MEMORY);
  opts.lowMemory?.(low);
  const dv = new DataView(low.buffer);
  // GDT: 10h = 64-bit code (P, S, type B, L, G), 18h = flat data (P, S, type 3, D/B, G).
  dv.setBigUint64(BOOT_GDT + BOOT_CS, 0x00af9b000000ffffn, true);
  dv.setBigUint64(BOOT_GDT + BOOT_DS, 0x00cf93000000ffffn, true);
  // The identity map: 4 GiB in 2 MiB pages (present, writable, PS).
  const extra = opts.pteExtra;
  dv.setBigUint64(BOOT_PML4, BigInt(BOOT_PDPT) | 3n | extra, true);
  for (let g = 0; g < 4; g++) {
    dv.setBigUint64(BOOT_PDPT + 8 * g, BigInt(BOOT_PD + PAGE * g) | 3n | extra, true);
    for (let i = 0; i < 512; i++)
      dv.setBigUint64(
        BOOT_PD + PAGE * g + 8 * i,
        (BigInt(g) << 30n) | (BigInt(i) << 21n) | 0x83n | extra,
        true,
      );
  }
  writeZeroPage(low, bz ? kernel : null, opts, initrd);

  const chunks: Boot64Image['chunks'] = [
    { gpa: 0, bytes: low },
    { gpa: start, bytes: image },
  ];
  if (initrd && initrdBytes) chunks.push({ gpa: initrd.addr, bytes: initrdBytes });
  return {
    chunks,
    entry: {
      rip,
      rsi: ZERO_PAGE,
      cr3: BOOT_PML4,
      gdtBase: BOOT_GDT,
      gdtLimit: 4 * 8 - 1,
      codeSelector: BOOT_CS,
      dataSelector: BOOT_DS,
    },
    initrd,
  };
}

/** boot_params: the bzImage's setup header (or one made for a vmlinux), the memory map, RSDP, command line, initrd. */
function writeZeroPage(
  low: Uint8Array,
  bzImage: Uint8Array | null,
  opts: Boot64Options,
  initrd: Boot64Image['initrd'],
): void {
  const zp = low.subarray(ZERO_PAGE, ZERO_PAGE + PAGE);
  const dv = new DataView(zp.buffer, zp.byteOffset, PAGE);
  if (bzImage !== null) {
    // The setup header runs from 1F1h to 202h + the byte at 201h (the jump over it, boot.rst).
    const end = HDR_JUMP + 2 + bzImage[HDR_JUMP + 1];
    zp.set(bzImage.subarray(HDR_START, end), HDR_START);
  } else {
    dv.setUint16(HDR_BOOT_FLAG, 0xaa55, true);
    dv.setUint32(HDR_HEADER, 0x53726448, true); // "HdrS"
    dv.setUint16(HDR_VERSION, 0x020f, true);
    dv.setUint32(HDR_KERNEL_ALIGNMENT, 0x1000000, true);
    dv.setUint32(HDR_CMDLINE_SIZE, 2047, true);
  }
  dv.setUint8(HDR_TYPE_OF_LOADER, LOADER_UNDEFINED);
  dv.setUint8(HDR_LOADFLAGS, dv.getUint8(HDR_LOADFLAGS) | LOADED_HIGH);
  const cmdline = new TextEncoder().encode(opts.cmdline);
  const max = dv.getUint32(HDR_CMDLINE_SIZE, true) || 255;
  if (cmdline.length > max)
    throw new Boot64Error(`the command line is ${cmdline.length} bytes; this kernel takes at most ${max}`);
  low.set(cmdline, BOOT_CMDLINE);
  low[BOOT_CMDLINE + cmdline.length] = 0;
  dv.setUint32(HDR_CMD_LINE_PTR, BOOT_CMDLINE, true);
  dv.setUint32(HDR_RAMDISK_IMAGE, initrd?.addr ?? 0, true);
  dv.setUint32(HDR_RAMDISK_SIZE, initrd?.size ?? 0, true);
  dv.setBigUint64(BP_ACPI_RSDP_ADDR, BigInt(opts.rsdpAddr), true);
  if (opts.e820.length > E820_MAX_ENTRIES_ZEROPAGE)
    throw new Boot64Error(`${opts.e820.length} memory map entries; the zero page holds 128`);
  dv.setUint8(BP_E820_ENTRIES, opts.e820.length);
  opts.e820.forEach((m, i) => {
    const at = BP_E820_TABLE + 20 * i;
    dv.setBigUint64(at, BigInt(m.base), true);
    dv.setBigUint64(at + 8, BigInt(m.length), true);
    dv.setUint32(at + 16, m.type, true);
  });
}
