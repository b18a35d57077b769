// The last step of a Multiboot boot: a few bytes of real-mode code, placed below 1 MiB, that put
// the BSP in the state the specification prescribes (3.2) and jump to the kernel. QEMU does the
// same with its Multiboot option ROM (pc-bios/optionrom/multiboot.S), which its BIOS runs; here
// the vCPU starts at the stub instead of a reset vector, so a VM needs no way to load CR0 or a
// segment's hidden part from outside (KVM_SET_SREGS), only CS:IP.
//
// The stub: CLI, CLD; A20 on through port 92h; LGDT of its own flat GDT; CR0 = the entry state's
// (PE, ET); a far jump into 32-bit code that loads the data segments, EAX and EBX, and far-jumps
// to the kernel's entry point. The GDT stays where the stub put it; the specification tells the
// kernel to load its own before it reloads a segment register.
import type { MultibootEntryState, SegmentCache } from './multiboot.js';

/** Bytes the stub occupies (code, GDT, GDTR). */
export const MULTIBOOT_ENTRY_SIZE = 0x66;

const GDT_OFFSET = 0x48;
const GDTR_OFFSET = 0x60;
const PM32_OFFSET = 0x22;

/** An 8-byte GDT descriptor for a flat segment cache (base 0, 4 GiB, as the loader describes). */
function descriptor(s: SegmentCache): bigint {
  const access = (s.present ? 0x80 : 0) | (s.dpl << 5) | (s.s ? 0x10 : 0) | s.type;
  const flags = (s.g ? 8 : 0) | (s.db ? 4 : 0) | (s.l ? 2 : 0);
  const limit = s.g ? s.limit >>> 12 : s.limit;
  return (
    BigInt(limit & 0xffff) |
    (BigInt(s.base & 0xffffff) << 16n) |
    (BigInt(access) << 40n) |
    (BigInt(((limit >>> 16) & 0xf) | (flags << 4)) << 48n) |
    (BigInt((s.base >>> 24) & 0xff) << 56n)
  );
}

/**
 * Write the entry stub at `addr` (16-byte aligned, below 1 MiB) for the state `loadMultiboot`
 * returned (or the PVH entry's, which is the same flat 32-bit state with other EAX, EBX and entry);
 * the BSP starts at the returned real-mode CS:IP.
 */
export function writeMultibootEntry(
  ram: Uint8Array,
  addr: number,
  st: Pick<MultibootEntryState, 'cs' | 'ds' | 'cr0' | 'eax' | 'ebx' | 'entry'>,
): { cs: number; ip: number } {
  if (addr % 16 !== 0 || addr + MULTIBOOT_ENTRY_SIZE > 0x100000)
    throw new RangeError(
      `the Multiboot entry stub needs a paragraph below 1 MiB, not 0x${addr.toString(16)}`,
    );
  if (st.cs.selector !== 0x08 || st.ds.selector !== 0x10)
    throw new RangeError('the entry stub has GDT slots for selectors 08h (code) and 10h (data)');
  const dv = new DataView(ram.buffer, ram.byteOffset + addr, MULTIBOOT_ENTRY_SIZE);
  const code: number[] = [
    0xfa, // cli
    0xfc, // cld
    0xe4,
    0x92, // in al, 92h
    0x0c,
    0x02, // or al, 2: A20 on
    0x24,
    0xfe, // and al, FEh: not the reset bit
    0xe6,
    0x92, // out 92h, al
    0x2e,
    0x66,
    0x0f,
    0x01,
    0x16,
    GDTR_OFFSET,
    0x00, // o32 lgdt cs:[GDTR_OFFSET]
    0x66,
    0xb8,
    0,
    0,
    0,
    0, // mov eax, cr0 value (0x11)
    0x0f,
    0x22,
    0xc0, // mov cr0, eax
    0x66,
    0xea,
    0,
    0,
    0,
    0,
    st.cs.selector,
    0, // jmp dword 08h:pm32 (linear)
    // pm32 (32-bit code):
    0x66,
    0xb8,
    st.ds.selector,
    0, // mov ax, data selector
    0x8e,
    0xd8, // mov ds, ax
    0x8e,
    0xc0, // mov es, ax
    0x8e,
    0xe0, // mov fs, ax
    0x8e,
    0xe8, // mov gs, ax
    0x8e,
    0xd0, // mov ss, ax
    0xb8,
    0,
    0,
    0,
    0, // mov eax, 2BADB002h
    0xbb,
    0,
    0,
    0,
    0, // mov ebx, the information structure
    0xea,
    0,
    0,
    0,
    0,
    st.cs.selector,
    0, // jmp 08h:entry
  ];
  for (let i = 0; i < MULTIBOOT_ENTRY_SIZE; i++) dv.setUint8(i, i < code.length ? code[i] : 0xf4); // HLT
  dv.setUint32(0x13, st.cr0, true);
  dv.setUint32(0x1c, addr + PM32_OFFSET, true);
  dv.setUint32(0x31, st.eax, true);
  dv.setUint32(0x36, st.ebx, true);
  dv.setUint32(0x3b, st.entry, true);
  // GDT: null, 08h code, 10h data; GDTR: limit, 32-bit base.
  dv.setBigUint64(GDT_OFFSET, 0n, true);
  dv.setBigUint64(GDT_OFFSET + 8, descriptor(st.cs), true);
  dv.setBigUint64(GDT_OFFSET + 16, descriptor(st.ds), true);
  dv.setUint16(GDTR_OFFSET, 3 * 8 - 1, true);
  dv.setUint32(GDTR_OFFSET + 2, addr + GDT_OFFSET, true);
  return { cs: addr >>> 4, ip: 0 };
}
