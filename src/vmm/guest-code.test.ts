// The hypervisor's walk of a guest's page tables, against tables laid out by hand as the SDM
// describes them (vol 3A 4.3 32-bit paging, 4.4 PAE, 4.5 4-level; P = bit 0, PS = bit 7).
import { describe, expect, it } from 'vitest';
import type { HostMemory } from '../host/host-memory.js';
import type { CodeRegs } from './backend-api.js';
import { fetchGuestInstruction, guestPhysical } from './guest-code.js';

const RAM = 1 << 22;
function ram(): { bytes: Uint8Array; mem: HostMemory; dv: DataView } {
  const bytes = new Uint8Array(RAM);
  const mem = { read: (at: number, n: number) => bytes.slice(at, at + n) } as unknown as HostMemory;
  return { bytes, mem, dv: new DataView(bytes.buffer) };
}
const regs = (r: Partial<CodeRegs>): CodeRegs => ({
  csBase: 0n,
  csL: false,
  csDb: true,
  cr0: 1n | (1n << 31n),
  cr3: 0x1000n,
  cr4: 0n,
  efer: 0n,
  ...r,
});

describe('guestPhysical', () => {
  it('32-bit paging: PDE -> PTE, and a 4 MiB page with CR4.PSE', () => {
    const { mem, dv } = ram();
    dv.setUint32(0x1000 + 0x3 * 4, 0x2000 | 1, true); // PDE 3 -> page table at 0x2000
    dv.setUint32(0x2000 + 0x45 * 4, 0x7000 | 1, true); // PTE 0x45 -> 0x7000
    expect(guestPhysical(mem, RAM, regs({}), 0x00c4_5123n)).toBe(0x7123n);
    dv.setUint32(0x1000 + 0x1 * 4, 0x0000_0000 | 0x80 | 1, true); // PDE 1: 4 MiB page at 0
    expect(guestPhysical(mem, RAM, regs({ cr4: 1n << 4n }), 0x0065_4321n)).toBe(0x25_4321n);
    expect(guestPhysical(mem, RAM, regs({}), 0x0080_0000n)).toBeNull(); // PDE 2 not present
  });

  it('PAE: PDPTE -> PDE (2 MiB page)', () => {
    const { mem, dv } = ram();
    dv.setBigUint64(0x1000 + 1 * 8, 0x3000n | 1n, true); // PDPTE 1 -> PD at 0x3000
    dv.setBigUint64(0x3000 + 2 * 8, 0x20_0000n | 0x80n | 1n, true); // PDE 2: 2 MiB page at 2 MiB
    expect(guestPhysical(mem, RAM, regs({ cr4: 1n << 5n }), 0x4040_1234n)).toBe(0x20_1234n);
  });

  it('4-level: PML4E -> PDPTE -> PDE -> PTE, with a 64-bit code fetch', () => {
    const { bytes, mem, dv } = ram();
    const la = 0xffff_8000_0020_3005n; // PML4 256, PDPT 0, PD 1, PT 3
    dv.setBigUint64(0x1000 + 256 * 8, 0x4000n | 3n, true);
    dv.setBigUint64(0x4000 + 0 * 8, 0x5000n | 3n, true);
    dv.setBigUint64(0x5000 + 1 * 8, 0x6000n | 3n, true);
    dv.setBigUint64(0x6000 + 3 * 8, 0x9000n | 3n | (1n << 63n), true); // NX set: still the address
    expect(guestPhysical(mem, RAM, regs({ cr4: 1n << 5n, efer: 1n << 10n }), la)).toBe(0x9005n);
    bytes.set([0x0f, 0xa2], 0x9005); // CPUID
    const insn = fetchGuestInstruction(mem, RAM, la, regs({ cr4: 1n << 5n, efer: 1n << 10n, csL: true }));
    expect(insn?.codeSize).toBe(64);
    expect(insn?.linear).toBe(la);
    expect(Array.from(insn?.bytes.subarray(0, 2) ?? [])).toEqual([0x0f, 0xa2]);
    // The next page (PTE 4) is not present: a fetch 3 bytes before the end of the page gets 3 bytes.
    expect(
      fetchGuestInstruction(mem, RAM, la + 0xff8n, regs({ cr4: 1n << 5n, efer: 1n << 10n, csL: true }))?.bytes
        .length,
    ).toBe(3);
  });

  it('real mode: CS base + IP, 16-bit code', () => {
    const { bytes, mem } = ram();
    bytes.set([0xfa], 0xf_f000);
    const insn = fetchGuestInstruction(mem, RAM, 0n, regs({ cr0: 0n, csBase: 0xf_f000n, csDb: false }));
    expect(insn?.linear).toBe(0xf_f000n);
    expect(insn?.codeSize).toBe(16);
    expect(insn?.bytes[0]).toBe(0xfa);
  });
});
