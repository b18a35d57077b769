// EPT (Intel SDM vol 3C 28.2; 29.3 in later editions): guest-physical addresses go through the EPT
// paging structures at Cpu.eptRoot. A not-present entry or missing permission is an EPT violation
// whose exit qualification (Table 27-7) gives the access (read 0, write 1, fetch 2), what the entries
// allowed (bits 5:3), guest-linear valid (7) and final translation (8); a write-only entry, a reserved
// bit or memory type is an EPT misconfiguration. Both reach the intercept port with the GPA.
import { describe, expect, it } from 'vitest';
import { Cpu, VMEXIT } from '../../src/cpu/cpu.js';
import { ACC_EXEC, ACC_READ, ACC_WRITE, translate } from '../../src/cpu/mmu.js';
import { InterceptKind } from '../../src/cpu/ports.js';
import { CR0_PE, CR0_PG } from '../../src/cpu/regs.js';
import { tlbFlushAll } from '../../src/cpu/tlb.js';

const EPT = 0x100000; // PML4; PDPT at +0x1000, PD at +0x2000, PT at +0x3000
const GUEST_BASE = 0x400000; // guest-physical 0 lives here in host memory
const WB = 6 << 3; // memory type write-back in a leaf

function setup() {
  const ram = new SharedArrayBuffer(16 * 1024 * 1024);
  const dv = new DataView(ram);
  const cpu = new Cpu({
    vendor: 'GenuineIntel',
    ram,
    io: { portRead: () => 0xff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const exits: { kind: InterceptKind; info1: number; info2: number; lin: number }[] = [];
  cpu.intercept = {
    intercept(kind, info1, info2) {
      exits.push({ kind, info1, info2, lin: cpu.eptLinear });
      return true;
    },
  };
  // gpa 0-2 MiB: 4 KiB pages (RWX); gpa 2-4 MiB: one 2 MiB page, read/execute only.
  dv.setUint32(EPT, EPT + 0x1000 + 7, true);
  dv.setUint32(EPT + 0x1000, EPT + 0x2000 + 7, true);
  dv.setUint32(EPT + 0x2000, EPT + 0x3000 + 7, true);
  dv.setUint32(EPT + 0x2000 + 8, GUEST_BASE + 0x200000 + 0x80 + WB + 5, true);
  for (let i = 0; i < 512; i++) dv.setUint32(EPT + 0x3000 + i * 8, GUEST_BASE + i * 0x1000 + WB + 7, true);
  cpu.eptRoot = EPT;
  return { cpu, dv, exits };
}

function exits(fn: () => unknown): void {
  expect(fn).toThrow(expect.objectContaining({ kind: VMEXIT.kind }));
}

describe('EPT', () => {
  it('translates guest-physical to host-physical, 4 KiB and 2 MiB pages', () => {
    const { cpu } = setup();
    cpu.cr0 = CR0_PE;
    cpu.updateMode();
    expect(translate(cpu, 0x1234, ACC_READ)).toBe(GUEST_BASE + 0x1234);
    expect(translate(cpu, 0x2abcde, ACC_READ)).toBe(GUEST_BASE + 0x2abcde);
    expect(translate(cpu, 0x2abcde, ACC_EXEC)).toBe(GUEST_BASE + 0x2abcde);
  });

  it('maps a 1 GiB page from a PDPTE with bit 7', () => {
    const { cpu, dv } = setup();
    dv.setUint32(EPT + 0x1000 + 8, 0x0 + 0x80 + WB + 7, true); // gpa 1-2 GiB -> hpa 0-1 GiB
    expect(translate(cpu, 0x40000000 + 0x123456, ACC_WRITE)).toBe(0x123456);
  });

  it('reports a not-present entry as an EPT violation: read, nothing allowed, linear valid, final', () => {
    const { cpu, dv, exits: log } = setup();
    dv.setUint32(EPT + 0x3000 + 5 * 8, 0, true);
    exits(() => translate(cpu, 0x5010, ACC_READ));
    expect(log).toEqual([
      { kind: InterceptKind.EPT_VIOLATION, info1: 0x1 | 0x80 | 0x100, info2: 0x5010, lin: 0x5010 },
    ]);
  });

  it('reports a write to a read/execute page with what the entries allowed (bits 3 and 5)', () => {
    const { cpu, exits: log } = setup();
    exits(() => translate(cpu, 0x200008, ACC_WRITE));
    expect(log[0]).toMatchObject({ kind: InterceptKind.EPT_VIOLATION, info1: 0x2 | 0x8 | 0x20 | 0x180 });
  });

  it('reports a fetch from a read/write page (bit 2 clear) and allows execute-only pages', () => {
    const { cpu, dv, exits: log } = setup();
    dv.setUint32(EPT + 0x3000 + 3 * 8, GUEST_BASE + 0x3000 + WB + 3, true); // RW, no X
    exits(() => translate(cpu, 0x3000, ACC_EXEC));
    expect(log[0].info1).toBe(0x4 | 0x8 | 0x10 | 0x180);
    dv.setUint32(EPT + 0x3000 + 4 * 8, GUEST_BASE + 0x4000 + WB + 4, true); // execute-only
    expect(translate(cpu, 0x4000, ACC_EXEC)).toBe(GUEST_BASE + 0x4000);
    exits(() => translate(cpu, 0x4000, ACC_READ));
    expect(log[1].info1).toBe(0x1 | 0x20 | 0x180);
  });

  it('reports write-only and write/execute entries, reserved bits and memory types as misconfigurations', () => {
    const { cpu, dv, exits: log } = setup();
    dv.setUint32(EPT + 0x3000 + 6 * 8, GUEST_BASE + 0x6000 + WB + 2, true); // write-only
    exits(() => translate(cpu, 0x6000, ACC_READ));
    dv.setUint32(EPT + 0x3000 + 6 * 8, GUEST_BASE + 0x6000 + WB + 6, true); // write/execute
    exits(() => translate(cpu, 0x6000, ACC_EXEC));
    dv.setUint32(EPT + 0x3000 + 6 * 8, GUEST_BASE + 0x6000 + (2 << 3) + 7, true); // memory type 2
    exits(() => translate(cpu, 0x6000, ACC_READ));
    dv.setUint32(EPT + 0x3000 + 6 * 8, GUEST_BASE + 0x6000 + WB + 7, true);
    dv.setUint32(EPT + 0x3000 + 6 * 8 + 4, 0x00010000, true); // bit 48: beyond MAXPHYADDR
    exits(() => translate(cpu, 0x6000, ACC_READ));
    expect(log.map((e) => [e.kind, e.info1, e.info2])).toEqual(
      Array(4).fill([InterceptKind.EPT_MISCONFIG, 0, 0x6000]),
    );
  });

  it('treats bits 7:3 of a PML4E as reserved', () => {
    const { cpu, dv, exits: log } = setup();
    dv.setUint32(EPT, EPT + 0x1000 + 0x30 + 7, true);
    exits(() => translate(cpu, 0x1000, ACC_READ));
    expect(log[0].kind).toBe(InterceptKind.EPT_MISCONFIG);
  });

  it('walks the guest page tables through EPT, and reports a walk fault without bit 8', () => {
    const { cpu, dv, exits: log } = setup();
    cpu.cr0 = CR0_PE | CR0_PG;
    cpu.cr3 = 0x10000;
    cpu.updateMode();
    tlbFlushAll(cpu);
    dv.setUint32(GUEST_BASE + 0x10000, 0x11000 + 7, true);
    dv.setUint32(GUEST_BASE + 0x11000 + 7 * 4, 0x30000 + 7, true);
    expect(translate(cpu, 0x7abc, ACC_READ)).toBe(GUEST_BASE + 0x30abc);
    expect(dv.getUint32(GUEST_BASE + 0x11000 + 7 * 4, true) & 0x20).toBe(0x20);
    // The page table made read-only: accessed bits already set, so reads still walk.
    dv.setUint32(EPT + 0x3000 + 0x11 * 8, GUEST_BASE + 0x11000 + WB + 1, true);
    tlbFlushAll(cpu);
    expect(translate(cpu, 0x7abc, ACC_READ)).toBe(GUEST_BASE + 0x30abc);
    // A write needs the dirty bit set in the PTE: a write access to the table, a walk fault.
    exits(() => translate(cpu, 0x7abc, ACC_WRITE));
    expect(log[0]).toEqual({
      kind: InterceptKind.EPT_VIOLATION,
      info1: 0x2 | 0x8 | 0x80,
      info2: 0x11000 + 7 * 4,
      lin: 0x7abc,
    });
  });
});
