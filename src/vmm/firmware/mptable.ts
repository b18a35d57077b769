// Intel MultiProcessor Specification 1.4 tables, written into guest RAM: the MP floating pointer
// structure (section 4.1) and the MP configuration table (header 4.2, base entries 4.3.1-4.3.5),
// describing the processors, one ISA bus, the I/O APIC and the ISA interrupt routing the way
// SeaBIOS does it under QEMU: ISA IRQ n -> I/O APIC pin n, except IRQ 0 -> pin 2 (the 8254 is wired
// to pin 2 and pin 0 to the 8259's INTR) and no entry for IRQ 2 (the cascade); then ExtINT on the
// BSP's LINT0 and NMI on every CPU's LINT1.
//
// The floating pointer must sit on a 16-byte boundary in the first KiB of the EBDA, the last KiB of
// base memory (0x9FC00 with 640 KiB) or the BIOS ROM area 0xF0000-0xFFFFF (spec 4.0).

export const MP_FLOATING_SIGNATURE = '_MP_';
export const MP_CONFIG_SIGNATURE = 'PCMP';
export const MP_SPEC_REV_1_4 = 4;
export const MP_FLOATING_LENGTH = 16;
export const MP_HEADER_LENGTH = 44;

// Base table entry types and lengths (section 4.3).
export const MP_PROCESSOR = 0; // 20 bytes
export const MP_BUS = 1; // 8 bytes
export const MP_IOAPIC = 2; // 8 bytes
export const MP_IOINTR = 3; // 8 bytes
export const MP_LINTR = 4; // 8 bytes

// Interrupt types (sections 4.3.4 and 4.3.5).
export const MP_INT = 0;
export const MP_NMI = 1;
export const MP_SMI = 2;
export const MP_EXTINT = 3;

export const CPU_ENABLED = 0x01;
export const CPU_BOOTPROCESSOR = 0x02;

export interface MpCpu {
  apicId: number;
  enabled?: boolean;
}

export interface MpTableOptions {
  /** The processors, BSP first; a number n means APIC IDs 0..n-1. */
  cpus: number | MpCpu[];
  /** Physical address of the floating pointer (16-byte aligned, see above). */
  floatAddr: number;
  /** Physical address of the configuration table. */
  tableAddr: number;
  ioApicId?: number;
  ioApicAddr?: number;
  localApicAddr?: number;
  /** Local APIC version register value (0x14: integrated APIC, as QEMU reports). */
  localApicVersion?: number;
  /** I/O APIC version (0x11 for the 82093AA that QEMU models by default). */
  ioApicVersion?: number;
  /** CPUID.1 EAX (stepping, model, family) and EDX (feature flags) for processor entries. */
  cpuSignature?: number;
  featureFlags?: number;
  oemId?: string;
  productId?: string;
}

export interface MpTableLayout {
  floatAddr: number;
  tableAddr: number;
  tableLength: number;
  entryCount: number;
  ioApicId: number;
}

export class MpTableError extends Error {
  override readonly name = 'MpTableError';
}

function ascii(ram: Uint8Array, at: number, s: string, width: number): void {
  for (let i = 0; i < width; i++) ram[at + i] = i < s.length ? s.charCodeAt(i) & 0x7f : 0x20;
}

/** The byte that makes `len` bytes from `at` sum to 0 modulo 256. */
export function checksumByte(ram: Uint8Array, at: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i++) sum += ram[at + i];
  return -sum & 0xff;
}

function cpusOf(cpus: number | MpCpu[]): MpCpu[] {
  return typeof cpus === 'number' ? Array.from({ length: cpus }, (_, i) => ({ apicId: i })) : cpus;
}

/** Write the floating pointer and configuration table; returns where they went. */
export function writeMpTable(ram: Uint8Array, opts: MpTableOptions): MpTableLayout {
  const cpus = cpusOf(opts.cpus);
  if (cpus.length === 0) throw new MpTableError('at least one processor is needed');
  for (const c of cpus)
    if (c.apicId > 0xfe)
      throw new MpTableError(
        `APIC ID ${c.apicId} does not fit an MP processor entry (8 bits, 0xFF is broadcast)`,
      );
  if (opts.floatAddr % 16 !== 0)
    throw new MpTableError(`floating pointer at ${opts.floatAddr.toString(16)} is not 16-byte aligned`);
  if (opts.floatAddr + MP_FLOATING_LENGTH > 0x100000)
    throw new MpTableError(
      'the floating pointer must lie below 1 MiB (EBDA, last KiB of base memory, or 0xF0000-0xFFFFF)',
    );
  const used = new Set(cpus.map((c) => c.apicId));
  let ioApicId = opts.ioApicId ?? cpus.length;
  if (opts.ioApicId === undefined) while (used.has(ioApicId)) ioApicId++;
  const bsp = cpus[0].apicId;

  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const base = opts.tableAddr;
  let p = base + MP_HEADER_LENGTH;
  let count = 0;
  const end = base + MP_HEADER_LENGTH + cpus.length * 20 + 8 + 8 + 15 * 8 + 2 * 8;
  if (end > ram.length) throw new MpTableError('the MP configuration table does not fit in RAM');
  ram.fill(0, base, end);

  // Processor entries (4.3.1): type, APIC ID, APIC version, flags (EN, BP), signature, features.
  cpus.forEach((c, i) => {
    ram[p] = MP_PROCESSOR;
    ram[p + 1] = c.apicId;
    ram[p + 2] = opts.localApicVersion ?? 0x14;
    ram[p + 3] = (c.enabled === false ? 0 : CPU_ENABLED) | (i === 0 ? CPU_BOOTPROCESSOR : 0);
    dv.setUint32(p + 4, opts.cpuSignature ?? 0x600, true);
    dv.setUint32(p + 8, opts.featureFlags ?? 0x201, true); // FPU | APIC
    p += 20;
    count++;
  });

  // Bus entry (4.3.2): bus 0 is ISA.
  ram[p] = MP_BUS;
  ram[p + 1] = 0;
  ascii(ram, p + 2, 'ISA', 6);
  p += 8;
  count++;

  // I/O APIC entry (4.3.3): ID, version, flags (EN), address.
  ram[p] = MP_IOAPIC;
  ram[p + 1] = ioApicId;
  ram[p + 2] = opts.ioApicVersion ?? 0x11;
  ram[p + 3] = 1;
  dv.setUint32(p + 4, opts.ioApicAddr ?? 0xfec00000, true);
  p += 8;
  count++;

  // I/O interrupt assignments (4.3.4): type INT, flags 0 (conforms to the bus: ISA is edge,
  // active high), source bus 0 IRQ n, destination I/O APIC and pin.
  for (let irq = 0; irq < 16; irq++) {
    if (irq === 2) continue;
    ram[p] = MP_IOINTR;
    ram[p + 1] = MP_INT;
    dv.setUint16(p + 2, 0, true);
    ram[p + 4] = 0;
    ram[p + 5] = irq;
    ram[p + 6] = ioApicId;
    ram[p + 7] = irq === 0 ? 2 : irq;
    p += 8;
    count++;
  }

  // Local interrupt assignments (4.3.5): ExtINT -> BSP LINT0, NMI -> all (0xFF) LINT1.
  for (const [type, dest, lint] of [
    [MP_EXTINT, bsp, 0],
    [MP_NMI, 0xff, 1],
  ]) {
    ram[p] = MP_LINTR;
    ram[p + 1] = type;
    dv.setUint16(p + 2, 0, true);
    ram[p + 4] = 0;
    ram[p + 5] = 0;
    ram[p + 6] = dest;
    ram[p + 7] = lint;
    p += 8;
    count++;
  }
  const length = p - base;

  // Configuration table header (4.2).
  ascii(ram, base, MP_CONFIG_SIGNATURE, 4);
  dv.setUint16(base + 4, length, true); // base table length
  ram[base + 6] = MP_SPEC_REV_1_4;
  ascii(ram, base + 8, opts.oemId ?? 'HVEMU', 8);
  ascii(ram, base + 16, opts.productId ?? 'HVEMU PC', 12);
  dv.setUint32(base + 28, 0, true); // no OEM table
  dv.setUint16(base + 32, 0, true);
  dv.setUint16(base + 34, count, true);
  dv.setUint32(base + 36, opts.localApicAddr ?? 0xfee00000, true);
  dv.setUint16(base + 40, 0, true); // no extended entries
  ram[base + 42] = 0; // extended table checksum (of zero bytes)
  ram[base + 7] = checksumByte(ram, base, length);

  // Floating pointer (4.1).
  const f = opts.floatAddr;
  ram.fill(0, f, f + MP_FLOATING_LENGTH);
  ascii(ram, f, MP_FLOATING_SIGNATURE, 4);
  dv.setUint32(f + 4, base, true);
  ram[f + 8] = 1; // length in 16-byte paragraphs
  ram[f + 9] = MP_SPEC_REV_1_4;
  ram[f + 11] = 0; // feature byte 1: 0 = a configuration table is present (no default configuration)
  ram[f + 12] = 0; // feature byte 2 bit 7 (IMCRP) clear: virtual wire mode, no IMCR
  ram[f + 10] = checksumByte(ram, f, MP_FLOATING_LENGTH);

  return { floatAddr: f, tableAddr: base, tableLength: length, entryCount: count, ioApicId };
}
