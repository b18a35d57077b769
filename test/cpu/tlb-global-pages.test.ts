// The TLB as guest code sees it (Intel SDM vol 3 4.10.2.4 and 4.10.4.1, AMD APM vol 2 5.5):
// a MOV to CR3 drops non-global translations but keeps global ones (G = 1) while CR4.PGE = 1;
// without PGE it drops everything; INVLPG drops a global translation too, and INVLPG of any
// address in a large page drops the whole large page. Runs real instructions with 32-bit paging.
import { describe, expect, it } from 'vitest';
import { CR0_PG, CR4_PGE, CR4_PSE } from '../../src/cpu/regs.js';
import { run, Stop } from '../../src/cpu/run.js';
import { tlbFlushAll } from '../../src/cpu/tlb.js';
import { makePm32 } from '../support/pm32.js';

const CODE = 0x40000;
const PD1 = 0x10000,
  PT1 = 0x11000,
  PD2 = 0x12000,
  PT2 = 0x13000;
// Frames: the first tables map 0x400000 -> 0x20000 (global) and 0x401000 -> 0x21000; the second
// map them to 0x30000 (global) and 0x31000.
const OLD_G = 0xaaaa0001,
  OLD_NG = 0xbbbb0001,
  NEW_G = 0xcccc0002,
  NEW_NG = 0xdddd0002;

function machine(cr4: number) {
  const pm = makePm32();
  const { cpu, dv } = pm;
  for (const [pd, pt] of [
    [PD1, PT1],
    [PD2, PT2],
  ]) {
    dv.setUint32(pd, 0x00000083, true); // 0-4 MiB identity, 4 MiB page (code, data, tables)
    dv.setUint32(pd + 4, pt | 3, true);
  }
  dv.setUint32(PT1, 0x20000 | 0x103, true); // G | W | P
  dv.setUint32(PT1 + 4, 0x21000 | 0x003, true);
  dv.setUint32(PT2, 0x30000 | 0x103, true);
  dv.setUint32(PT2 + 4, 0x31000 | 0x003, true);
  dv.setUint32(0x20000, OLD_G, true);
  dv.setUint32(0x21000, OLD_NG, true);
  dv.setUint32(0x30000, NEW_G, true);
  dv.setUint32(0x31000, NEW_NG, true);
  cpu.cr4 = cr4;
  cpu.cr3 = PD1;
  cpu.cr0 |= CR0_PG;
  cpu.updateMode();
  tlbFlushAll(cpu);
  cpu.rip = CODE;
  return pm;
}

// mov eax,[0x400000] / mov [0x5000],eax / mov eax,[0x401000] / mov [0x5004],eax / mov ecx,0x12000 /
// mov cr3,ecx / mov eax,[0x400000] / mov [0x5008],eax / mov eax,[0x401000] / mov [0x500c],eax /
// invlpg [0x400000] / mov eax,[0x400000] / mov [0x5010],eax / hlt          (nasm, org 0x40000)
const CR3_PROGRAM = [
  0xa1, 0x00, 0x00, 0x40, 0x00, 0xa3, 0x00, 0x50, 0x00, 0x00, 0xa1, 0x00, 0x10, 0x40, 0x00, 0xa3, 0x04, 0x50,
  0x00, 0x00, 0xb9, 0x00, 0x20, 0x01, 0x00, 0x0f, 0x22, 0xd9, 0xa1, 0x00, 0x00, 0x40, 0x00, 0xa3, 0x08, 0x50,
  0x00, 0x00, 0xa1, 0x00, 0x10, 0x40, 0x00, 0xa3, 0x0c, 0x50, 0x00, 0x00, 0x0f, 0x01, 0x3d, 0x00, 0x00, 0x40,
  0x00, 0xa1, 0x00, 0x00, 0x40, 0x00, 0xa3, 0x10, 0x50, 0x00, 0x00, 0xf4,
];

describe('TLB and global pages', () => {
  it('CR4.PGE = 1: a CR3 write keeps the global translation, INVLPG drops it', () => {
    const { cpu, dv, load } = machine(CR4_PSE | CR4_PGE);
    load(CODE, CR3_PROGRAM);
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(OLD_G);
    expect(dv.getUint32(0x5004, true)).toBe(OLD_NG);
    expect(dv.getUint32(0x5008, true)).toBe(OLD_G); // global: still the old frame
    expect(dv.getUint32(0x500c, true)).toBe(NEW_NG); // non-global: re-walked
    expect(dv.getUint32(0x5010, true)).toBe(NEW_G); // after INVLPG
  });

  it('CR4.PGE = 0: G is ignored and a CR3 write drops every translation', () => {
    const { cpu, dv, load } = machine(CR4_PSE);
    load(CODE, CR3_PROGRAM);
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5008, true)).toBe(NEW_G);
    expect(dv.getUint32(0x500c, true)).toBe(NEW_NG);
  });

  it('INVLPG of one address in a 4 MiB page drops the translation for all of it', () => {
    const { cpu, dv, load } = machine(CR4_PSE | CR4_PGE);
    dv.setUint32(PD1 + 8, 0x00000183, true); // 0x800000: 4 MiB global page on frame 0
    dv.setUint32(0x6000, 0x600d600d, true);
    // mov eax,[0x806000] / mov [0x5000],eax / mov dword [0x10008],0x00400083 (frame above RAM) /
    // invlpg [0x800000] / mov eax,[0x806000] / mov [0x5008],eax / hlt
    load(
      CODE,
      [
        0xa1, 0x00, 0x60, 0x80, 0x00, 0xa3, 0x00, 0x50, 0x00, 0x00, 0xc7, 0x05, 0x08, 0x00, 0x01, 0x00, 0x83,
        0x00, 0x40, 0x00, 0x0f, 0x01, 0x3d, 0x00, 0x00, 0x80, 0x00, 0xa1, 0x00, 0x60, 0x80, 0x00, 0xa3, 0x08,
        0x50, 0x00, 0x00, 0xf4,
      ],
    );
    expect(run(cpu, 100)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5000, true)).toBe(0x600d600d);
    expect(dv.getUint32(0x5008, true)).toBe(0xffffffff); // unbacked frame: open bus
  });
});
