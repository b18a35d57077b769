// The Multiboot 1 loader against the Multiboot Specification 0.6.96: header search (3.1.1), flags
// (3.1.2), the a.out kludge address fields (3.1.3), the machine state at entry (3.2) and the
// information structure with its memory map (3.3); ELF32 per the System V ABI (i386). Every
// malformed image is refused with a message naming its defect.
import { describe, expect, it } from 'vitest';
import {
  loadMultiboot,
  MBI_OFF,
  MULTIBOOT_BOOTLOADER_MAGIC,
  MULTIBOOT_HEADER_MAGIC,
  MultibootError,
} from './multiboot.js';

const RAM = 32 << 20;

function header(flags: number, aout?: number[]): Uint8Array {
  const words = [MULTIBOOT_HEADER_MAGIC, flags, -(MULTIBOOT_HEADER_MAGIC + flags) >>> 0, ...(aout ?? [])];
  const b = new Uint8Array(words.length * 4);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => {
    dv.setUint32(i * 4, w >>> 0, true);
  });
  return b;
}

interface Seg {
  vaddr: number;
  paddr: number;
  data: Uint8Array;
  memsz: number;
  type?: number;
  flags?: number;
}

/** An ELF32 ET_EXEC EM_386 image: ELF header, program headers, the Multiboot header at 0x100,
 *  then each segment's bytes at a 4 KiB-aligned offset. */
function elf32(entry: number, segs: Seg[], mbFlags = 0x3, patch?: (dv: DataView) => void): Uint8Array {
  let off = 0x1000;
  const placed = segs.map((s) => {
    const o = off;
    off += Math.ceil(Math.max(s.data.length, 1) / 0x1000) * 0x1000;
    return o;
  });
  const img = new Uint8Array(off);
  const dv = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 3, true); // EM_386
  dv.setUint32(20, 1, true);
  dv.setUint32(24, entry, true);
  dv.setUint32(28, 52, true); // e_phoff
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, segs.length, true);
  segs.forEach((s, i) => {
    const p = 52 + i * 32;
    dv.setUint32(p, s.type ?? 1, true);
    dv.setUint32(p + 4, placed[i], true);
    dv.setUint32(p + 8, s.vaddr, true);
    dv.setUint32(p + 12, s.paddr, true);
    dv.setUint32(p + 16, s.data.length, true);
    dv.setUint32(p + 20, s.memsz, true);
    dv.setUint32(p + 24, s.flags ?? 5, true); // PF_R | PF_X
    img.set(s.data, placed[i]);
  });
  img.set(header(mbFlags), 0x100);
  patch?.(dv);
  return img;
}

const code = new Uint8Array([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp $-1
const fail = (img: Uint8Array, re: RegExp, opts = {}, ram = new Uint8Array(RAM)) => {
  expect(() => loadMultiboot(img, ram, opts)).toThrow(MultibootError);
  expect(() => loadMultiboot(img, ram, opts)).toThrow(re);
};

describe('ELF32 kernels', () => {
  it('loads PT_LOAD segments at p_paddr, zero-fills bss, translates the virtual entry point', () => {
    const ram = new Uint8Array(RAM).fill(0xcc);
    const data = new Uint8Array([1, 2, 3, 4]);
    const img = elf32(0xc0100000, [
      { vaddr: 0xc0100000, paddr: 0x100000, data: code, memsz: code.length },
      { vaddr: 0xc0200000, paddr: 0x200000, data, memsz: 0x1000 },
    ]);
    const s = loadMultiboot(img, ram);
    expect(s.format).toBe('elf32');
    expect(s.entry).toBe(0x100000);
    expect([...ram.subarray(0x100000, 0x100004)]).toEqual([...code]);
    expect([...ram.subarray(0x200000, 0x200006)]).toEqual([1, 2, 3, 4, 0, 0]);
    expect(ram[0x200fff]).toBe(0);
    expect(ram[0x201000]).toBe(0xcc); // nothing past p_memsz
    expect(s.segments).toEqual([
      { addr: 0x100000, fileSize: 4, memSize: 4 },
      { addr: 0x200000, fileSize: 4, memSize: 0x1000 },
    ]);
  });

  it('ignores non-PT_LOAD program headers', () => {
    const img = elf32(0x100000, [
      { vaddr: 0, paddr: 0, data: new Uint8Array(8), memsz: 8, type: 4 }, // PT_NOTE
      { vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 },
    ]);
    expect(loadMultiboot(img, new Uint8Array(RAM)).segments).toHaveLength(1);
  });
});

describe('machine state at entry (spec 3.2)', () => {
  it('EAX = 0x2BADB002, EBX = info address, flat 32-bit segments, PE on, paging and IF off', () => {
    const s = loadMultiboot(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }]),
      new Uint8Array(RAM),
    );
    expect(s.eax).toBe(MULTIBOOT_BOOTLOADER_MAGIC);
    expect(s.eax).toBe(0x2badb002);
    expect(s.ebx).toBe(0x9000);
    expect(s.cr0 & 1).toBe(1);
    expect(s.cr0 & 0x80000000).toBe(0);
    expect(s.eflags & 0x200).toBe(0); // IF
    expect(s.eflags & 0x20000).toBe(0); // VM
    expect(s.a20).toBe(true);
    for (const seg of [s.cs, s.ds, s.es, s.fs, s.gs, s.ss]) {
      expect(seg.base).toBe(0);
      expect(seg.limit).toBe(0xffffffff);
      expect(seg.db).toBe(true);
      expect(seg.present).toBe(true);
    }
    expect(s.cs.type & 0x8).toBe(0x8); // code
    expect(s.cs.type & 0x2).toBe(0x2); // readable
    expect(s.ds.type & 0xa).toBe(0x2); // data, writable
  });
});

describe('information structure (spec 3.3)', () => {
  it('flags, mem_lower/mem_upper as QEMU, cmdline, boot loader name, mmap entries', () => {
    const ram = new Uint8Array(RAM);
    const s = loadMultiboot(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }]),
      ram,
      {
        cmdline: 'kernel.elf console=ttyS0',
        ramAbove4G: 1 << 30,
      },
    );
    const dv = new DataView(ram.buffer);
    const u32 = (a: number) => dv.getUint32(a, true);
    const cstr = (a: number) => new TextDecoder().decode(ram.subarray(a, ram.indexOf(0, a)));
    const mbi = s.ebx;
    expect(u32(mbi + MBI_OFF.flags)).toBe(0x1 | 0x4 | 0x40 | 0x200);
    expect(u32(mbi + 4)).toBe(639); // mem_lower at offset 4: 0x9FC00, as INT 12h under QEMU
    expect(u32(mbi + 8)).toBe(RAM / 1024 - 1024); // mem_upper at offset 8
    expect(cstr(u32(mbi + 16))).toBe('kernel.elf console=ttyS0'); // cmdline at 16
    expect(cstr(u32(mbi + 64))).toBe('hvemu'); // boot_loader_name at 64
    const len = u32(mbi + 44); // mmap_length at 44
    const addr = u32(mbi + 48); // mmap_addr at 48
    const entries: [number, number, number][] = [];
    for (let p = addr; p < addr + len; p += u32(p) + 4) {
      expect(u32(p)).toBe(20);
      entries.push([
        Number(dv.getBigUint64(p + 4, true)),
        Number(dv.getBigUint64(p + 12, true)),
        u32(p + 20),
      ]);
    }
    expect(entries).toEqual([
      [0, 0x9fc00, 1],
      [0x9fc00, 0x400, 2],
      [0xf0000, 0x10000, 2],
      [0x100000, RAM - 0x100000, 1],
      [0x1_0000_0000, 1 << 30, 1],
    ]);
    expect(s.infoEnd).toBeLessThan(0x9fc00);
  });
});

describe('entry and placement as QEMU loads them (hw/i386/multiboot.c, its ELF loader)', () => {
  it('an entry outside every segment is used as given', () => {
    const s = loadMultiboot(
      elf32(0x500000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }]),
      new Uint8Array(RAM),
    );
    expect(s.entry).toBe(0x500000);
  });

  it('a virtual entry is translated only through an executable segment whose file bytes hold it', () => {
    const segs = (flags: number, memsz = 4) => [
      { vaddr: 0xc0100000, paddr: 0x100000, data: code, memsz, flags },
    ];
    expect(loadMultiboot(elf32(0xc0100000, segs(5)), new Uint8Array(RAM)).entry).toBe(0x100000);
    expect(loadMultiboot(elf32(0xc0100000, segs(6)), new Uint8Array(RAM)).entry).toBe(0xc0100000);
    // In the segment's bss, not its file bytes: as given.
    expect(loadMultiboot(elf32(0xc0100008, segs(5, 0x1000)), new Uint8Array(RAM)).entry).toBe(0xc0100008);
  });

  it('the information structure moves after the kernel when the kernel occupies 0x9000', () => {
    const ram = new Uint8Array(RAM);
    const s = loadMultiboot(
      elf32(0x8000, [{ vaddr: 0x8000, paddr: 0x8000, data: code, memsz: 0x3000 }]),
      ram,
      { cmdline: 'k a=1' },
    );
    expect(s.infoAddr).toBe(0xb000);
    expect(s.ebx).toBe(0xb000);
    expect(s.infoAddr >= 0x8000 + 0x3000 || s.infoEnd <= 0x8000).toBe(true);
    const dv = new DataView(ram.buffer);
    const at = dv.getUint32(s.infoAddr + MBI_OFF.cmdline, true);
    expect(new TextDecoder().decode(ram.subarray(at, at + 6))).toBe('k a=1\0');
    expect([...ram.subarray(0x8000, 0x8004)]).toEqual([...code]); // the kernel is intact
  });

  it('modules go on page boundaries after the kernel, listed with their strings (flags bit 3)', () => {
    const ram = new Uint8Array(RAM);
    const dv = new DataView(ram.buffer);
    const s = loadMultiboot(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 0x1800 }]),
      ram,
      {
        modules: [
          { data: new Uint8Array([7, 8, 9]), cmdline: 'env.txt x=1' },
          { data: new Uint8Array(0x1001).fill(3), cmdline: 'second' },
        ],
      },
    );
    const mbi = s.infoAddr;
    expect(dv.getUint32(mbi + MBI_OFF.flags, true) & 0x8).toBe(0x8);
    expect(dv.getUint32(mbi + MBI_OFF.mods_count, true)).toBe(2);
    const mods = dv.getUint32(mbi + MBI_OFF.mods_addr, true);
    const str = (a: number) => {
      let e = a;
      while (ram[e] !== 0) e++;
      return new TextDecoder().decode(ram.subarray(a, e));
    };
    expect([dv.getUint32(mods, true), dv.getUint32(mods + 4, true)]).toEqual([0x102000, 0x102003]);
    expect([...ram.subarray(0x102000, 0x102003)]).toEqual([7, 8, 9]);
    expect(str(dv.getUint32(mods + 8, true))).toBe('env.txt x=1');
    expect([dv.getUint32(mods + 16, true), dv.getUint32(mods + 20, true)]).toEqual([0x103000, 0x104001]);
    expect(str(dv.getUint32(mods + 24, true))).toBe('second');
    expect(str(dv.getUint32(mbi + MBI_OFF.boot_loader_name, true))).toBe('hvemu');
  });
});

describe('a.out kludge (flags bit 16)', () => {
  it('loads the file from load_addr, zero-fills to bss_end_addr, enters at entry_addr', () => {
    const base = 0x100000;
    const hdr = header(0x10003, [base, base, 0, base + 0x3000, base + 32]);
    const img = new Uint8Array(0x1800);
    img.set(hdr, 0);
    img.set(code, 32);
    const ram = new Uint8Array(RAM).fill(0xcc);
    const s = loadMultiboot(img, ram);
    expect(s.format).toBe('aout-kludge');
    expect(s.entry).toBe(base + 32);
    expect(ram[base + 32]).toBe(0xfa);
    expect(ram[base + 0x2fff]).toBe(0);
    expect(ram[base + 0x3000]).toBe(0xcc);
    expect(s.segments).toEqual([{ addr: base, fileSize: 0x1800, memSize: 0x3000 }]);
  });

  it('header_addr above load_addr skips the bytes before the load start', () => {
    // The header sits at file offset 0x40 and says it lives at 0x100010: the load starts at file offset 0x30.
    const img = new Uint8Array(0x100);
    img.set(header(0x10000, [0x100010, 0x100000, 0x100020, 0, 0x100000]), 0x40);
    img[0x30] = 0xab;
    const ram = new Uint8Array(RAM);
    loadMultiboot(img, ram);
    expect(ram[0x100000]).toBe(0xab);
    expect(ram[0x100020]).toBe(0);
  });

  it('wins over ELF program headers when both are present (QEMU does the same)', () => {
    const img = elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }], 0x10000);
    img.set(header(0x10000, [0x300100, 0x300000, 0, 0, 0x300000]), 0x100);
    expect(loadMultiboot(img, new Uint8Array(RAM)).format).toBe('aout-kludge');
  });
});

describe('malformed images are refused with what is wrong', () => {
  const good = () => elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }]);

  it('empty image', () => fail(new Uint8Array(0), /empty image/));
  it('no header', () => fail(new Uint8Array(9000), /no Multiboot header: magic 0x1BADB002 not found/));

  it('header beyond 8192 bytes', () => {
    const img = new Uint8Array(12000);
    img.set(header(0), 8192);
    fail(img, /not.*first 8192 bytes.*0x2000|first 8192 bytes \(the magic 0x1BADB002 is at offset 0x2000\)/);
  });

  it('unaligned header', () => {
    const img = new Uint8Array(64);
    img.set(header(0), 2);
    fail(img, /not 32-bit aligned/);
  });

  it('bad checksum', () => {
    const img = new Uint8Array(64);
    img.set(header(0), 8);
    img[16] ^= 1;
    fail(img, /bad checksum.*offset 0x8.*must be 0/);
  });

  it('video mode required (bit 2)', () =>
    fail(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }], 0x4),
      /video mode \(flags bit 2\)/,
    ));
  it('unknown required bits', () =>
    fail(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }], 0x100),
      /unsupported required flags 0x100/,
    ));
  it('optional bits 17-31 are ignored', () => {
    expect(
      loadMultiboot(
        elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 4 }], 0x80000003),
        new Uint8Array(RAM),
      ).entry,
    ).toBe(0x100000);
  });

  it('not ELF and no a.out kludge', () => {
    const img = new Uint8Array(64);
    img.set(header(0), 0);
    fail(img, /not an ELF32 image and the Multiboot header has no a.out kludge/);
  });

  it('ELF64', () =>
    fail(
      elf32(0x100000, [], 3, (dv) => dv.setUint8(4, 2)),
      /ELF64/,
    ));
  it('wrong machine', () =>
    fail(
      elf32(0x100000, [], 3, (dv) => dv.setUint16(18, 62, true)),
      /e_machine 62 is not EM_386/,
    ));
  it('not ET_EXEC', () =>
    fail(
      elf32(0x100000, [], 3, (dv) => dv.setUint16(16, 3, true)),
      /e_type 3 is not ET_EXEC/,
    ));
  it('no PT_LOAD', () =>
    fail(elf32(0x100000, [{ vaddr: 0, paddr: 0, data: code, memsz: 4, type: 4 }]), /no PT_LOAD/));

  it('segment outside RAM', () =>
    fail(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: RAM - 2, data: code, memsz: 4 }]),
      /program header 0 .* outside RAM/,
    ));

  it('truncated segment data', () => {
    const img = good();
    new DataView(img.buffer).setUint32(52 + 16, 0x10000, true); // p_filesz past the end
    new DataView(img.buffer).setUint32(52 + 20, 0x10000, true);
    fail(img, /truncated file: program header 0/);
  });

  it('truncated program header table', () =>
    fail(good().subarray(0, 0x110).slice(), /truncated file|program headers/));

  it('p_filesz > p_memsz', () =>
    fail(
      elf32(0x100000, [{ vaddr: 0x100000, paddr: 0x100000, data: code, memsz: 2 }]),
      /p_filesz 0x4 exceeds p_memsz 0x2/,
    ));

  it('a segment over an information structure placed by the caller', () =>
    fail(
      elf32(0x9000, [{ vaddr: 0x9000, paddr: 0x9000, data: code, memsz: 4 }]),
      /overlaps the Multiboot information/,
      { infoAddr: 0x9000 },
    ));

  it('a.out kludge: truncated header', () => {
    const img = header(0x10000, [0x100000]);
    fail(img, /truncated file: the Multiboot header at offset 0x0 needs 32 bytes/);
  });

  it('a.out kludge: load_addr above header_addr', () => {
    const img = new Uint8Array(64);
    img.set(header(0x10000, [0x100000, 0x100010, 0, 0, 0x100010]));
    fail(img, /load_addr 0x100010 is above header_addr 0x100000/);
  });

  it('a.out kludge: load range longer than the file', () => {
    const img = new Uint8Array(64);
    img.set(header(0x10000, [0x100000, 0x100000, 0x101000, 0, 0x100000]));
    fail(img, /truncated file: load_addr..load_end_addr needs 4096 bytes/);
  });

  it('a.out kludge: bss_end below load end', () => {
    const img = new Uint8Array(64);
    img.set(header(0x10000, [0x100000, 0x100000, 0x100040, 0x100020, 0x100000]));
    fail(img, /bss_end_addr 0x100020 is below the load end 0x100040/);
  });

  it('a.out kludge: entry outside the image', () => {
    const img = new Uint8Array(64);
    img.set(header(0x10000, [0x100000, 0x100000, 0, 0, 0x200000]));
    fail(img, /entry_addr 0x200000 is outside the loaded image 0x100000-0x100040/);
  });

  it('a.out kludge: load start before the file', () => {
    const img = new Uint8Array(64);
    img.set(header(0x10000, [0x100100, 0x100000, 0, 0, 0x100000]));
    fail(img, /before the file begins/);
  });

  it('a.out kludge: outside RAM', () => {
    const img = new Uint8Array(64);
    img.set(header(0x10000, [RAM - 8, RAM - 8, 0, 0, RAM - 8]));
    fail(img, /the kernel at .* is outside RAM/);
  });

  it('a command line too long for RAM', () =>
    fail(good(), /the Multiboot information at .* is outside RAM/, { cmdline: 'x'.repeat(RAM) }));

  it('a command line too long for low memory at a caller-given address', () =>
    fail(good(), /does not fit below 0x9FC00/, { cmdline: 'x'.repeat(0x9fc00), infoAddr: 0x9000 }));
});
