// `hvemu inspect <file>`: what a file is, as each consumer would see it — a boot sector, a disk
// image with a boot sector, a Multiboot v1 kernel, an ELF file, a firmware image with OVMF's GUIDed table (the SEV-ES AP reset
// address hvemu starts APs at) and its reset vector. Everything found is shown, unknown GUIDs and
// malformed tables included; nothing here changes or runs the image.

import {
  decodeSevEsResetBlock,
  OVMF_MIN_IMAGE,
  OVMF_TABLE_FOOTER_FROM_END,
  OVMF_TABLE_FOOTER_GUID,
  type OvmfTable,
  type OvmfTableEntry,
  OvmfTableError,
  parseOvmfTable,
  SEV_ES_RESET_BLOCK_GUID,
  SEV_HASH_TABLE_GUID,
  SEV_METADATA_GUID,
  SEV_SECRET_BLOCK_GUID,
  TDX_METADATA_GUID,
} from './vmm/firmware/ovmf-table.js';
import { isDiskImage } from './vmm/loaders/disk-image-kind.js';
import {
  MBH_AOUT_KLUDGE,
  MBH_MEMORY_INFO,
  MBH_PAGE_ALIGN,
  MBH_VIDEO_MODE,
  MULTIBOOT_HEADER_MAGIC,
  MULTIBOOT_SEARCH,
} from './vmm/loaders/multiboot.js';

const FOUR_GIB = 0x1_0000_0000;
const hex = (v: number, width = 0) => `0x${v.toString(16).toUpperCase().padStart(width, '0')}`;
const bytesHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
/** Entry data in hex, the first 64 bytes of a long one (the rest is counted, not dropped silently). */
const dataHex = (d: Uint8Array) =>
  d.length === 0
    ? '(none)'
    : d.length <= 64
      ? bytesHex(d)
      : `${bytesHex(d.subarray(0, 64))} ... (${d.length} bytes)`;
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** What was recognized, for a caller that decides on it (`hvemu run` looks before it runs). */
export interface ImageFacts {
  /** The `is:` line's kinds, in words. */
  kinds: string[];
  bootSignature: boolean;
  /** A disk: more than one sector, the first with the boot signature (`hvemu run` boots it as a disk). */
  disk: boolean;
  /** A Multiboot v1 header whose checksum holds. */
  multiboot: boolean;
  elf: { bits: 32 | 64; type: string; machine: string } | null;
  /** Text (UTF-8, no NUL and no control bytes but tab, CR, LF, FF) in its first 4 KiB. */
  text: boolean;
  ovmfTable: boolean;
  /** The OVMF table holds an SEV-ES reset block: the image is built to run as an SEV-ES guest. */
  sevEsResetBlock: boolean;
}

/** The report (`hvemu inspect`) and the facts behind it. */
export function examineImage(bytes: Uint8Array, name: string): { report: string; facts: ImageFacts } {
  const kinds: string[] = [];
  const facts: ImageFacts = {
    kinds,
    bootSignature: false,
    disk: false,
    multiboot: false,
    elf: null,
    text: false,
    ovmfTable: false,
    sevEsResetBlock: false,
  };
  const body = [
    ...bootSector(bytes, facts),
    ...multiboot(bytes, facts),
    ...elf(bytes, facts),
    ...firmware(bytes, facts),
    ...text(bytes, facts),
  ];
  if (kinds.length === 0)
    kinds.push('raw image, nothing recognized (`hvemu run` loads it at 0x7C00 and starts at 0000:7C00)');
  const report = [
    `${name}: ${bytes.length} bytes (${hex(bytes.length)})`,
    `  is: ${kinds.join('; ')}`,
    ...body,
    '',
  ].join('\n');
  return { report, facts };
}

/** A readable report of what `bytes` (the file `name`) is. */
export function inspectImage(bytes: Uint8Array, name: string): string {
  return examineImage(bytes, name).report;
}

/**
 * Text, not machine code: the first 4 KiB decode as UTF-8 with no NUL and no control byte but tab,
 * LF, FF and CR. Code and data of any size have zero bytes (opcodes, addresses, padding).
 */
function text(b: Uint8Array, f: ImageFacts): string[] {
  if (b.length === 0) return [];
  let head = b.subarray(0, 4096);
  // A multi-byte character cut at the 4 KiB mark is still text.
  if (b.length > 4096) {
    let cut = head.length;
    while (cut > head.length - 4 && (head[cut - 1] & 0xc0) === 0x80) cut--;
    if (cut > 0 && head[cut - 1] >= 0xc0) cut--;
    head = head.subarray(0, cut);
  }
  for (const c of head) if (c < 0x20 && c !== 9 && c !== 10 && c !== 12 && c !== 13) return [];
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head);
  } catch {
    return [];
  }
  f.text = true;
  f.kinds.push('text, not a machine image');
  return [`  text: yes (the first ${head.length} bytes are UTF-8 text with no control bytes)`];
}

/** The BIOS boot signature: 55 AA as the last two bytes of the 512-byte sector. */
function bootSector(b: Uint8Array, f: ImageFacts): string[] {
  if (b.length < 512) return [`  boot sector: no (shorter than 512 bytes)`];
  if (b[510] === 0x55 && b[511] === 0xaa) {
    f.bootSignature = true;
    if (isDiskImage(b)) {
      f.disk = true;
      f.kinds.push('disk image with boot sector');
      return [
        `  boot sector: yes (signature 55 AA at offset 510), on a disk of ${Math.ceil(b.length / 512)} sectors: \`hvemu run\` boots it as a disk (LBA 0 at 0x7C00, the file on the primary ATA channel), whatever else it holds`,
      ];
    }
    f.kinds.push('boot sector');
    return ['  boot sector: yes (signature 55 AA at offset 510)'];
  }
  return [`  boot sector: no (bytes at offset 510 are ${bytesHex(b.subarray(510, 512))}, not 55 AA)`];
}

const MB_FLAG_NAMES: [number, string][] = [
  [MBH_PAGE_ALIGN, 'page-align modules'],
  [MBH_MEMORY_INFO, 'memory info'],
  [MBH_VIDEO_MODE, 'video mode'],
  [MBH_AOUT_KLUDGE, 'a.out kludge'],
];

/** A Multiboot v1 header (specification 0.6.96, 3.1): 32-bit aligned in the first 8 KiB. */
function multiboot(b: Uint8Array, f: ImageFacts): string[] {
  const dv = view(b);
  const limit = Math.min(b.length, MULTIBOOT_SEARCH);
  let first: number | undefined;
  let good: number | undefined;
  for (let off = 0; off + 4 <= limit; off += 4) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    first ??= off;
    if (off + 12 > b.length) continue;
    const sum = (MULTIBOOT_HEADER_MAGIC + dv.getUint32(off + 4, true) + dv.getUint32(off + 8, true)) >>> 0;
    if (sum === 0) {
      good = off;
      break; // the loaders take the first header whose checksum holds
    }
  }
  const off = good ?? first;
  if (off === undefined)
    return ['  Multiboot v1: no header (magic 0x1BADB002, 32-bit aligned) in the first 8 KiB'];
  if (off + 12 > b.length)
    return [`  Multiboot v1: magic at offset ${hex(off)}, but the file ends before its flags and checksum`];
  const flags = dv.getUint32(off + 4, true);
  const checksum = dv.getUint32(off + 8, true);
  const names = MB_FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n);
  const known = MB_FLAG_NAMES.reduce((m, [bit]) => m | bit, 0);
  const unknown = (flags & ~known) >>> 0;
  if (unknown) names.push(`unknown bits ${hex(unknown)}`);
  const sum = (MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0;
  const out = [
    `  Multiboot v1: header at offset ${hex(off)}, flags ${hex(flags, 8)} (${names.join(', ') || 'none'}), ` +
      `checksum ${hex(checksum, 8)} ${sum === 0 ? 'ok' : `BAD (magic + flags + checksum = ${hex(sum)}, must be 0)`}`,
  ];
  if (sum === 0) {
    // On a disk the header is the disk's kernel's: the disk boots, not the kernel.
    f.multiboot = !isDiskImage(b);
    f.kinds.push(
      f.multiboot
        ? 'Multiboot v1 kernel'
        : 'with a Multiboot v1 header inside (not a kernel to hvemu: the disk boots)',
    );
  }
  if (flags & MBH_AOUT_KLUDGE) {
    if (off + 32 > b.length) out.push('    a.out kludge: header truncated (needs 32 bytes)');
    else {
      const f = (i: number) => hex(dv.getUint32(off + i, true), 8);
      out.push(
        `    a.out kludge: header_addr ${f(12)}, load_addr ${f(16)}, load_end_addr ${f(20)}, bss_end_addr ${f(24)}, entry_addr ${f(28)}`,
      );
    }
  }
  return out;
}

const ELF_TYPES: Record<number, string> = { 1: 'ET_REL', 2: 'ET_EXEC', 3: 'ET_DYN', 4: 'ET_CORE' };
const ELF_MACHINES: Record<number, string> = { 3: 'EM_386', 62: 'EM_X86_64' };

/** The ELF identification and header fields a loader decides on (System V ABI, ch. 4). */
function elf(b: Uint8Array, f: ImageFacts): string[] {
  if (!(b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46))
    return ['  ELF: no'];
  const cls = b[4] === 1 ? 32 : b[4] === 2 ? 64 : undefined;
  const le = b[5] === 1 ? true : b[5] === 2 ? false : undefined;
  if (cls === undefined || le === undefined)
    return [`  ELF: magic present, but EI_CLASS ${b[4]} / EI_DATA ${b[5]} are not valid`];
  if (b.length < (cls === 32 ? 52 : 64)) return [`  ELF${cls}: header truncated (${b.length} bytes)`];
  const dv = view(b);
  const type = dv.getUint16(16, le);
  const machine = dv.getUint16(18, le);
  // A 64-bit entry may not fit a double exactly (kernels live at 0xFFFFFFFF8...), so print the bigint.
  const entry = cls === 32 ? BigInt(dv.getUint32(24, le)) : dv.getBigUint64(24, le);
  const phnum = dv.getUint16(cls === 32 ? 44 : 56, le);
  f.kinds.push(`ELF${cls}`);
  f.elf = {
    bits: cls,
    type: ELF_TYPES[type] ?? `e_type ${type}`,
    machine: ELF_MACHINES[machine] ?? `e_machine ${machine}`,
  };
  return [
    `  ELF: ELF${cls} ${le ? 'little' : 'big'}-endian, ${f.elf.type}, ` +
      `${f.elf.machine}, entry 0x${entry.toString(16).toUpperCase()}, ${phnum} program headers`,
  ];
}

/** OVMF's GUIDed table and the reset vector of an image mapped to end at 4 GiB, as QEMU maps pflash. */
function firmware(b: Uint8Array, f: ImageFacts): string[] {
  const out: string[] = [];
  let table: OvmfTable | null = null;
  if (b.length < OVMF_MIN_IMAGE) {
    out.push(
      `  OVMF GUIDed table: not looked for (QEMU reads it only from images of ${OVMF_MIN_IMAGE} bytes or more)`,
    );
  } else {
    try {
      table = parseOvmfTable(b);
      if (table === null)
        out.push(
          `  OVMF GUIDed table: none (no footer GUID ${OVMF_TABLE_FOOTER_GUID} ${OVMF_TABLE_FOOTER_FROM_END} bytes before the end)`,
        );
      else out.push(...describeTable(b, table));
    } catch (e) {
      if (!(e instanceof OvmfTableError)) throw e;
      out.push(`  OVMF GUIDed table: MALFORMED: ${e.message}`);
      f.kinds.push('firmware image with a malformed OVMF GUIDed table');
    }
  }
  if (table !== null) {
    f.ovmfTable = true;
    f.sevEsResetBlock = table.entries.some((e) => e.guid === SEV_ES_RESET_BLOCK_GUID);
    f.kinds.push(
      `firmware image with an OVMF GUIDed table${f.sevEsResetBlock ? ' and an SEV-ES reset block (run it with --sev-es)' : ''}`,
    );
  }
  const flashLike = b.length >= 16 && b.length % 4096 === 0;
  if (table !== null || flashLike) {
    const rv = b.subarray(b.length - 16);
    out.push(
      `  reset vector: last 16 bytes (physical 0xFFFFFFF0, F000:FFF0 at reset, when the image ends at 4 GiB): ${bytesHex(rv)}`,
    );
  }
  return out;
}

function describeTable(b: Uint8Array, t: OvmfTable): string[] {
  const gpa = (off: number) => hex(FOUR_GIB - b.length + off, 8);
  const out = [
    `  OVMF GUIDed table: ${t.length} bytes at file offset ${hex(t.offset)} (physical ${gpa(t.offset)} when the image ends at 4 GiB), ${t.entries.length} entries, walked from the footer:`,
  ];
  for (const e of t.entries) {
    out.push(
      `    ${e.guid}  ${e.name ?? '(unknown GUID)'}, length ${e.length}, data at ${hex(e.offset)}: ${dataHex(e.data)}`,
    );
    out.push(...decodeEntry(b, e).map((l) => `      ${l}`));
  }
  return out;
}

/** What the data of the entries edk2 documents in ResetVectorVtf0.asm means. */
function decodeEntry(b: Uint8Array, e: OvmfTableEntry): string[] {
  const dv = view(e.data);
  const u32 = (i: number) => dv.getUint32(i, true);
  switch (e.guid) {
    case SEV_ES_RESET_BLOCK_GUID:
      try {
        const rv = decodeSevEsResetBlock(e);
        const cs = `${rv.csSelector.toString(16).toUpperCase()}:${rv.ip.toString(16).toUpperCase().padStart(4, '0')}`;
        return [
          `SEV-ES AP reset address ${hex(rv.address, 8)}: CS:IP ${cs} with CS base ${hex(rv.csBase, 8)}, limit ${hex(rv.csLimit)}, real mode; each AP's launch VMSA starts there (not the BSP)`,
        ];
      } catch (err) {
        if (err instanceof OvmfTableError) return [`MALFORMED: ${err.message}`];
        throw err;
      }
    case SEV_SECRET_BLOCK_GUID:
    case SEV_HASH_TABLE_GUID:
      if (e.data.length < 8) return [`expected base and size (8 bytes), found ${e.data.length}`];
      return [
        `guest RAM base ${hex(u32(0), 8)}, size ${hex(u32(4))}${u32(0) === 0 && u32(4) === 0 ? ' (none reserved in this build)' : ''}`,
      ];
    case SEV_METADATA_GUID:
    case TDX_METADATA_GUID: {
      if (e.data.length < 4)
        return [`expected a 4-byte offset from the end of the image, found ${e.data.length}`];
      const at = b.length - u32(0);
      if (u32(0) === 0 || at < 0 || at + 16 > b.length)
        return [`offset ${hex(u32(0))} from the end of the image points outside the image`];
      const m = view(b);
      const sig = String.fromCharCode(...b.subarray(at, at + 4));
      return [
        `offset ${hex(u32(0))} from the end: file offset ${hex(at)}, signature "${sig}", length ${m.getUint32(at + 4, true)}, version ${m.getUint32(at + 8, true)}, ${m.getUint32(at + 12, true)} sections`,
      ];
    }
    default:
      return [];
  }
}
