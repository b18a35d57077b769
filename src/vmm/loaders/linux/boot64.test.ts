// The 64-bit boot protocol's launch image, checked field by field against the documents that define
// it: Documentation/x86/boot.rst (setup header offsets, type_of_loader, the 64-bit entry state),
// arch/x86/include/uapi/asm/bootparam.h (boot_params: acpi_rsdp_addr 070h, e820_entries 1E8h,
// e820_table 2D0h of 20-byte entries), the SDM/APM descriptor and page-table formats.
import { describe, expect, it } from 'vitest';
import { Boot64Error, buildBoot64Image, E820_ACPI, E820_RAM, E820_RESERVED, ZERO_PAGE } from './boot64.js';

const CBIT = 1n << 47n;

/** An ELF64 x86-64 executable with one PT_LOAD of `code` at `paddr` (memsz = filesz + bss), entry = paddr. */
function elf64(paddr: number, code: Uint8Array, bss = 0): Uint8Array {
  const img = new Uint8Array(0x78 + code.length);
  const dv = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 62, true); // EM_X86_64
  dv.setBigUint64(24, BigInt(paddr), true); // e_entry
  dv.setBigUint64(32, 0x40n, true); // e_phoff
  dv.setUint16(54, 56, true); // e_phentsize
  dv.setUint16(56, 1, true); // e_phnum
  dv.setUint32(0x40, 1, true); // PT_LOAD
  dv.setBigUint64(0x40 + 8, 0x78n, true); // p_offset
  dv.setBigUint64(0x40 + 24, BigInt(paddr), true); // p_paddr
  dv.setBigUint64(0x40 + 32, BigInt(code.length), true); // p_filesz
  dv.setBigUint64(0x40 + 40, BigInt(code.length + bss), true); // p_memsz
  img.set(code, 0x78);
  return img;
}

const E820 = [
  { base: 0, length: 0x9f000, type: E820_RAM },
  { base: 0x9f000, length: 0x1000, type: E820_RESERVED },
  { base: 0xf0000, length: 0x10000, type: E820_ACPI },
  { base: 0x100000, length: 0x7f00000, type: E820_RAM },
];
const CODE = Uint8Array.of(0xf4, 0xeb, 0xfd); // hlt; jmp $-1
const opts = (o: Partial<Parameters<typeof buildBoot64Image>[1]> = {}) => ({
  cmdline: 'console=ttyS0 quiet',
  memoryBytes: 128 * 2 ** 20,
  rsdpAddr: 0xf0010,
  e820: E820,
  pteExtra: CBIT,
  ...o,
});

describe('the 64-bit boot protocol (Linux boot.rst)', () => {
  it('fills boot_params: setup header, command line, initrd, RSDP, memory map', () => {
    const initrd = new Uint8Array(5000).fill(0xab);
    const img = buildBoot64Image(elf64(0x1000000, CODE, 0x3000), opts({ initrd }));
    const low = img.chunks[0].bytes;
    const zp = new DataView(low.buffer, ZERO_PAGE, 4096);
    expect(zp.getUint16(0x1fe, true)).toBe(0xaa55); // boot_flag
    expect(zp.getUint32(0x202, true)).toBe(0x53726448); // "HdrS"
    expect(zp.getUint8(0x210)).toBe(0xff); // type_of_loader: non-zero, or the kernel drops the initrd
    expect(zp.getUint8(0x211) & 1).toBe(1); // LOADED_HIGH
    const cmd = zp.getUint32(0x228, true);
    expect(new TextDecoder().decode(low.subarray(cmd, cmd + 20))).toBe('console=ttyS0 quiet\0');
    expect(zp.getUint32(0x21c, true)).toBe(5000); // ramdisk_size
    const rd = zp.getUint32(0x218, true); // ramdisk_image: page-aligned, at the top of RAM
    expect(rd % 4096).toBe(0);
    expect(rd + 5000).toBeLessThanOrEqual(128 * 2 ** 20);
    expect(img.chunks.find((c) => c.gpa === rd)?.bytes.subarray(0, 5000)).toEqual(initrd);
    expect(zp.getBigUint64(0x070, true)).toBe(0xf0010n); // acpi_rsdp_addr
    expect(zp.getUint8(0x1e8)).toBe(4); // e820_entries
    E820.forEach((m, i) => {
      expect(zp.getBigUint64(0x2d0 + 20 * i, true)).toBe(BigInt(m.base));
      expect(zp.getBigUint64(0x2d0 + 20 * i + 8, true)).toBe(BigInt(m.length));
      expect(zp.getUint32(0x2d0 + 20 * i + 16, true)).toBe(m.type);
    });
    expect(zp.getUint8(0x1ef)).toBe(0); // sentinel: zero, or the kernel clears "garbage" fields
  });

  it('enters startup_64 in long mode: flat 64-bit code at 10h, data at 18h, identity map with the C-bit, RSI = zero page', () => {
    const img = buildBoot64Image(elf64(0x1000000, CODE), opts());
    const e = img.entry;
    expect(e.rip).toBe(0x1000000);
    expect(e.rsi).toBe(ZERO_PAGE);
    expect([e.codeSelector, e.dataSelector]).toEqual([0x10, 0x18]);
    const low = new DataView(img.chunks[0].bytes.buffer);
    const code = low.getBigUint64(e.gdtBase + 0x10, true);
    const data = low.getBigUint64(e.gdtBase + 0x18, true);
    // Descriptor bits (SDM vol 3 3.4.5): P 47, S 44, type 43:40, L 53, D/B 54, G 55.
    expect((code >> 47n) & 1n).toBe(1n);
    expect((code >> 40n) & 0xfn).toBe(0xbn); // execute/read, accessed
    expect((code >> 53n) & 3n).toBe(1n); // L = 1, D = 0: 64-bit code
    expect((data >> 40n) & 0xfn).toBe(0x3n); // read/write, accessed
    expect(e.gdtLimit).toBeGreaterThanOrEqual(0x1f);
    // Walk the identity map for the kernel's address: PML4 -> PDPT -> PD (2 MiB page, PS = bit 7).
    const va = 0x1000000n;
    const pml4e = low.getBigUint64(e.cr3 + 8 * Number((va >> 39n) & 511n), true);
    expect(pml4e & 1n).toBe(1n);
    expect(pml4e & CBIT).toBe(CBIT);
    const pdpte = low.getBigUint64(Number(pml4e & 0xff_ffff_f000n) + 8 * Number((va >> 30n) & 511n), true);
    const pde = low.getBigUint64(Number(pdpte & 0xff_ffff_f000n) + 8 * Number((va >> 21n) & 511n), true);
    expect(pde & 0x83n).toBe(0x83n); // present, writable, 2 MiB
    expect(pde & CBIT).toBe(CBIT);
    expect(pde & 0xff_ffe0_0000n).toBe(va);
    // The kernel's bytes are in a chunk at their physical address.
    const k = img.chunks.find((c) => c.gpa <= 0x1000000 && 0x1000000 < c.gpa + c.bytes.length);
    expect(k?.bytes.subarray(0x1000000 - (k?.gpa ?? 0), 0x1000000 - (k?.gpa ?? 0) + 3)).toEqual(CODE);
    // Chunks: ascending, disjoint, whole pages.
    let end = 0;
    for (const c of img.chunks) {
      expect(c.gpa % 4096).toBe(0);
      expect(c.bytes.length % 4096).toBe(0);
      expect(c.gpa).toBeGreaterThanOrEqual(end);
      end = c.gpa + c.bytes.length;
    }
  });

  it('refuses what does not fit, saying what', () => {
    expect(() => buildBoot64Image(elf64(0x1000000, CODE, 0x8000000), opts())).toThrow(/outside RAM/);
    expect(() => buildBoot64Image(elf64(0x1000000, CODE), opts({ cmdline: 'x'.repeat(3000) }))).toThrow(
      /command line is 3000 bytes/,
    );
    expect(() =>
      buildBoot64Image(elf64(0x1000000, CODE), opts({ initrd: new Uint8Array(130 * 2 ** 20) })),
    ).toThrow(Boot64Error);
    expect(() => buildBoot64Image(new Uint8Array(100), opts())).toThrow(Boot64Error);
  });
});
