// Nested paging (AMD APM vol 2 15.25): guest-physical addresses go through the nested tables;
// a missing or protected nested entry ends the run with #NPF whose EXITINFO1 holds the page-fault
// error code (U always set: nested accesses are user accesses) plus bit 32 for the final
// translation or bit 33 for a guest page-table access, and EXITINFO2 the guest-physical address.
import { describe, expect, it } from 'vitest';
import { Cpu, VMEXIT } from '../../src/cpu/cpu.js';
import { ACC_EXEC, ACC_READ, ACC_WRITE, translate } from '../../src/cpu/mmu.js';
import { InterceptKind } from '../../src/cpu/ports.js';
import { CR0_PE, CR0_PG } from '../../src/cpu/regs.js';
import { tlbFlushAll } from '../../src/cpu/tlb.js';

const NPT = 0x100000; // nested PML4; PDPT at +0x1000, PD at +0x2000, PT at +0x3000
const GUEST_BASE = 0x400000; // guest-physical 0 lives here in host memory
const BIT32 = 2 ** 32;
const BIT33 = 2 ** 33;

function setup() {
  const ram = new SharedArrayBuffer(16 * 1024 * 1024);
  const dv = new DataView(ram);
  const cpu = new Cpu({
    ram,
    io: { portRead: () => 0xff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const exits: { info1: number; info2: number }[] = [];
  cpu.intercept = {
    intercept(kind, info1, info2) {
      if (kind === InterceptKind.NPF) exits.push({ info1, info2 });
      return true;
    },
  };
  // gpa 0-2 MiB: 4 KiB pages through a PT (user, writable), gpa 2-4 MiB: one 2 MiB page (user, read-only).
  dv.setUint32(NPT, NPT + 0x1000 + 7, true);
  dv.setUint32(NPT + 0x1000, NPT + 0x2000 + 7, true);
  dv.setUint32(NPT + 0x2000, NPT + 0x3000 + 7, true);
  dv.setUint32(NPT + 0x2000 + 8, GUEST_BASE + 0x200000 + 0x85, true); // P U PS, not writable
  for (let i = 0; i < 512; i++) dv.setUint32(NPT + 0x3000 + i * 8, GUEST_BASE + i * 0x1000 + 7, true);
  cpu.nptRoot = NPT;
  return { cpu, dv, exits };
}

function npf(fn: () => unknown): void {
  expect(fn).toThrow(expect.objectContaining({ kind: VMEXIT.kind }));
}

describe('nested paging', () => {
  it('translates guest-physical to host-physical with paging off in the guest', () => {
    const { cpu } = setup();
    cpu.cr0 = CR0_PE;
    cpu.updateMode();
    expect(translate(cpu, 0x1234, ACC_READ)).toBe(GUEST_BASE + 0x1234);
    expect(translate(cpu, 0x2abcde, ACC_READ)).toBe(GUEST_BASE + 0x2abcde); // inside the 2 MiB page
  });

  it('reports a missing nested entry on the final translation: U set, P clear, bit 32', () => {
    const { cpu, dv, exits } = setup();
    dv.setUint32(NPT + 0x3000 + 5 * 8, 0, true); // gpa 0x5000 not present
    npf(() => translate(cpu, 0x5010, ACC_READ));
    expect(exits).toEqual([{ info1: BIT32 + 0x4, info2: 0x5010 }]);
  });

  it('reports a write to a read-only nested page: P W U and bit 32', () => {
    const { cpu, exits } = setup();
    npf(() => translate(cpu, 0x200008, ACC_WRITE));
    expect(exits).toEqual([{ info1: BIT32 + 0x7, info2: 0x200008 }]);
  });

  it('requires U in every nested level (supervisor-only nested entry faults)', () => {
    const { cpu, dv, exits } = setup();
    dv.setUint32(NPT + 0x3000 + 8, GUEST_BASE + 0x1000 + 3, true); // P W, no U
    npf(() => translate(cpu, 0x1000, ACC_READ));
    expect(exits[0]).toEqual({ info1: BIT32 + 0x5, info2: 0x1000 });
  });

  it('reports reserved bits with RSV and NX on fetch with ID', () => {
    const { cpu, dv, exits } = setup();
    dv.setUint32(NPT + 0x3000 + 2 * 8 + 4, 0x00100000, true); // bit 52: above MAXPHYADDR 48
    npf(() => translate(cpu, 0x2000, ACC_READ));
    expect(exits[0]).toEqual({ info1: BIT32 + 0xd, info2: 0x2000 });
    dv.setUint32(NPT + 0x3000 + 3 * 8 + 4, 0x80000000, true); // NX
    npf(() => translate(cpu, 0x3000, ACC_EXEC));
    expect(exits[1]).toEqual({ info1: BIT32 + 0x15, info2: 0x3000 });
  });

  it('translates the guest page tables through the nested tables, and faults there with bit 33', () => {
    const { cpu, dv, exits } = setup();
    cpu.cr0 = CR0_PE | CR0_PG;
    cpu.cr3 = 0x10000; // guest-physical page directory
    cpu.updateMode();
    tlbFlushAll(cpu);
    // Guest 32-bit paging: PDE 0 -> PT at gpa 0x11000; PTE 7 -> gpa 0x30000.
    dv.setUint32(GUEST_BASE + 0x10000, 0x11000 + 7, true);
    dv.setUint32(GUEST_BASE + 0x11000 + 7 * 4, 0x30000 + 7, true);
    expect(translate(cpu, 0x7abc, ACC_READ)).toBe(GUEST_BASE + 0x30abc);
    // The guest's accessed bits were set in guest memory (through the nested mapping).
    expect(dv.getUint32(GUEST_BASE + 0x11000 + 7 * 4, true) & 0x20).toBe(0x20);
    // Take away the page holding the guest's page table: the walk itself faults (bit 33).
    dv.setUint32(NPT + 0x3000 + 0x11 * 8, 0, true);
    tlbFlushAll(cpu);
    npf(() => translate(cpu, 0x7abc, ACC_READ));
    expect(exits[0].info2).toBe(0x11000 + 7 * 4);
    expect(exits[0].info1).toBe(BIT33 + 0x4);
  });
});
