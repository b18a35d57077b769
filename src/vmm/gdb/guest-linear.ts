// A debugger's addresses are linear (what the guest's code uses after segmentation): this walks the
// guest's page tables, as the guest's processor would, to the guest-physical address (AMD APM vol 2
// 5.3-5.4: 32-bit, PAE and 4-level long-mode paging). It reads the tables through the VMM's own
// path into guest RAM, so it works only where the hypervisor may read them: never for SEV-ES.
import type { Sregs } from '../backend-api.js';
import type { GuestMemory } from '../guest-memory.js';

const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const EFER_LMA = 1n << 10n;
const P = 1n;
const PS = 1n << 7n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

/** Whether the vCPU runs in long mode (64-bit or compatibility). */
export function longMode(s: Sregs): boolean {
  return (s.efer & EFER_LMA) !== 0n;
}

/** The guest-physical address of `linear`, or null where the tables map nothing (not present). */
export function linearToPhysical(mem: GuestMemory, s: Sregs, linear: number): number | null {
  if ((s.cr0 & CR0_PG) === 0n) return longMode(s) ? linear : linear >>> 0;
  const lin = BigInt(linear);
  const entry = (table: bigint, index: bigint, size: 4 | 8): bigint | null => {
    const at = Number(table + index * BigInt(size));
    if (at + size > mem.size) return null;
    const b = mem.read(at, size);
    const v = new DataView(b.buffer, b.byteOffset, size);
    return size === 8 ? v.getBigUint64(0, true) : BigInt(v.getUint32(0, true));
  };
  if (longMode(s)) {
    let table = s.cr3 & ADDR_MASK;
    for (let level = 3; level >= 0; level--) {
      const shift = BigInt(12 + 9 * level);
      const e = entry(table, (lin >> shift) & 0x1ffn, 8);
      if (e === null || (e & P) === 0n) return null;
      if (level > 0 && level < 3 && (e & PS) !== 0n) {
        const pageMask = (1n << shift) - 1n;
        return Number((e & ADDR_MASK & ~pageMask) | (lin & pageMask));
      }
      table = e & ADDR_MASK;
    }
    return Number(table | (lin & 0xfffn));
  }
  if ((s.cr4 & CR4_PAE) !== 0n) {
    const pdpte = entry(s.cr3 & 0xffff_ffe0n, (lin >> 30n) & 3n, 8);
    if (pdpte === null || (pdpte & P) === 0n) return null;
    const pde = entry(pdpte & ADDR_MASK, (lin >> 21n) & 0x1ffn, 8);
    if (pde === null || (pde & P) === 0n) return null;
    if ((pde & PS) !== 0n) return Number((pde & ADDR_MASK & ~0x1f_ffffn) | (lin & 0x1f_ffffn));
    const pte = entry(pde & ADDR_MASK, (lin >> 12n) & 0x1ffn, 8);
    if (pte === null || (pte & P) === 0n) return null;
    return Number((pte & ADDR_MASK) | (lin & 0xfffn));
  }
  const pde = entry(s.cr3 & 0xffff_f000n, (lin >> 22n) & 0x3ffn, 4);
  if (pde === null || (pde & P) === 0n) return null;
  if ((pde & PS) !== 0n && (s.cr4 & CR4_PSE) !== 0n) return Number((pde & 0xffc0_0000n) | (lin & 0x3f_ffffn));
  const pte = entry(pde & 0xffff_f000n, (lin >> 12n) & 0x3ffn, 4);
  if (pte === null || (pte & P) === 0n) return null;
  return Number((pte & 0xffff_f000n) | (lin & 0xfffn));
}
