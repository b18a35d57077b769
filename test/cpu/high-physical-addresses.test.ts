// Physical addresses from 2 GiB up with paging off (the local APIC page at 0xFEE00000, the top of
// the 4 GiB space): they must stay unsigned all the way to the MMIO bus; a signed 32-bit address
// would index RAM backwards and throw in the host.
import { describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { ACC_READ, readLin32, translate, writeLin32 } from '../../src/cpu/mmu.js';
import { CR0_PE } from '../../src/cpu/regs.js';

describe('physical addresses at and above 2 GiB', () => {
  it('reach the MMIO bus as the unsigned address, reads and writes alike', () => {
    const seen: string[] = [];
    const cpu = new Cpu({
      ram: new SharedArrayBuffer(1 << 20),
      io: { portRead: () => 0xff, portWrite: () => {} },
      mmio: {
        mmioRead: (a, s) => {
          seen.push(`r ${a.toString(16)} ${s}`);
          return 0x12345678;
        },
        mmioWrite: (a, s, v) => {
          seen.push(`w ${a.toString(16)} ${s} ${v.toString(16)}`);
        },
      },
    });
    cpu.cr0 |= CR0_PE;
    cpu.updateMode();
    expect(translate(cpu, 0xfee00300, ACC_READ)).toBe(0xfee00300);
    writeLin32(cpu, 0xfee00300, 0x000c4500);
    expect(readLin32(cpu, 0xfffffff0)).toBe(0x12345678);
    expect(seen).toEqual(['w fee00300 4 c4500', 'r fffffff0 4']);
  });
});
