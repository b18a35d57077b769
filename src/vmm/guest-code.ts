// The guest's next instruction as a hypervisor finds it (KVM's kvm_fetch_guest_virt): RIP and CS
// from KVM_GET_REGS/KVM_GET_SREGS, the linear address walked through the guest's own page tables
// (SDM vol 3 4.3-4.5, APM vol 2 5.3) by reading guest RAM on the host path. Only for unprotected
// vCPUs: an SEV-ES vCPU's registers are in its encrypted VMSA and its code in private pages, so the
// types give this no way in. For traces: once per traced exit or instruction, never on the hot path.
import type { HostMemory } from '../host/host-memory.js';
import type { CodeRegs } from './backend-api.js';

const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const EFER_LMA = 1n << 10n;
const ADDR = 0x000f_ffff_ffff_f000n; // bits 51:12
const MAX_INSN = 15;

export interface GuestInstruction {
  /** The linear address (CS base + RIP) and the 16/32/64-bit code size the decoder needs. */
  linear: bigint;
  codeSize: 16 | 32 | 64;
  /** Up to 15 bytes from the linear address (fewer where a page is not present). */
  bytes: Uint8Array;
}

/** The guest-physical address of `linear`, or null where the walk finds a non-present entry. */
export function guestPhysical(mem: HostMemory, ramBytes: number, s: CodeRegs, linear: bigint): bigint | null {
  if (!(s.cr0 & CR0_PG)) return linear & 0xffff_ffffn;
  const entry = (table: bigint, index: bigint, wide: boolean): bigint | null => {
    const at = Number(table + index * (wide ? 8n : 4n));
    if (at + (wide ? 8 : 4) > ramBytes) return null;
    const b = mem.read(at, wide ? 8 : 4);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const e = wide ? v.getBigUint64(0, true) : BigInt(v.getUint32(0, true));
    return e & 1n ? e : null;
  };
  if (!(s.cr4 & CR4_PAE)) {
    // 32-bit paging: a 4 MiB page with CR4.PSE and PDE.PS, else a page table.
    const pde = entry(s.cr3 & 0xffff_f000n, (linear >> 22n) & 0x3ffn, false);
    if (pde === null) return null;
    if (s.cr4 & CR4_PSE && pde & 0x80n) return (pde & 0xffc0_0000n) | (linear & 0x3f_ffffn);
    const pte = entry(pde & 0xffff_f000n, (linear >> 12n) & 0x3ffn, false);
    return pte === null ? null : (pte & 0xffff_f000n) | (linear & 0xfffn);
  }
  let table: bigint;
  let shift: bigint;
  if (s.efer & EFER_LMA) {
    const pml4e = entry(s.cr3 & ADDR, (linear >> 39n) & 0x1ffn, true);
    if (pml4e === null) return null;
    table = pml4e & ADDR;
    shift = 30n;
  } else {
    const pdpte = entry(s.cr3 & 0xffff_ffe0n, (linear >> 30n) & 3n, true);
    if (pdpte === null) return null;
    table = pdpte & ADDR;
    shift = 21n;
  }
  // PDPT (1 GiB pages) in long mode, then PD (2 MiB pages), then PT.
  for (; shift >= 12n; shift -= 9n) {
    const e = entry(table, (linear >> shift) & 0x1ffn, true);
    if (e === null) return null;
    const size = 1n << shift;
    if (shift === 12n || e & 0x80n) return (e & ADDR & ~(size - 1n)) | (linear & (size - 1n));
    table = e & ADDR;
  }
  return null;
}

/** The bytes at CS:RIP, read through the guest's paging; null if its first byte is not mapped. */
export function fetchGuestInstruction(
  mem: HostMemory,
  ramBytes: number,
  rip: bigint,
  s: CodeRegs,
): GuestInstruction | null {
  const long = (s.efer & EFER_LMA) !== 0n && s.csL;
  const codeSize = long ? 64 : s.csDb ? 32 : 16;
  const linear = long ? rip : (s.csBase + rip) & 0xffff_ffffn;
  const bytes = new Uint8Array(MAX_INSN);
  let got = 0;
  while (got < MAX_INSN) {
    const la = linear + BigInt(got);
    const pa = guestPhysical(mem, ramBytes, s, la);
    if (pa === null || pa >= BigInt(ramBytes)) break;
    const inPage = Math.min(MAX_INSN - got, 4096 - Number(la & 0xfffn), ramBytes - Number(pa));
    bytes.set(mem.read(Number(pa), inPage), got);
    got += inPage;
  }
  return got === 0 ? null : { linear, codeSize, bytes: bytes.subarray(0, got) };
}
