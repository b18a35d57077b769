// Physical addresses with no RAM behind them behave like a PC's open bus: reads return all ones,
// writes are dropped, instruction fetches see FF bytes (FF FF is FF /7, an undefined opcode, so
// the guest gets #UD) - and nothing throws in the host.
import { describe, expect, it } from 'vitest';
import { FAULT } from '../../src/cpu/cpu.js';
import { ACC_READ, physRead, physWrite, translate } from '../../src/cpu/mmu.js';
import { run, Stop } from '../../src/cpu/run.js';
import { BareMetalPc } from '../../src/vmm/bare-metal.js';
import { PageTables, PFE } from '../support/paging.js';

const RAM = 0x10000; // 64 KiB: everything from 0x10000 up is unbacked

// Real mode, org 0x7C00 (nasm): IVT[6] -> ud_handler; ES = 0x2000 (physical 0x20000):
//   mov word [es:0x10],0x1234 / mov ax,[es:0x10] / mov [0x6000],ax / mov eax,[es:0x20] / mov [0x6004],eax
//   mov byte [0xffff],0xab / mov ax,0x0fff / mov fs,ax / mov ax,[fs:0xf] / mov [0x600c],ax
//   jmp 0x2000:0x0000
// ud_handler: pop ax / mov [0x6010],ax / pop ax / mov [0x6012],ax / hlt
const IMAGE = [
  0x31, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x70, 0x8e, 0xd8, 0xc7, 0x06, 0x18, 0x00, 0x47, 0x7c, 0xc7, 0x06, 0x1a,
  0x00, 0x00, 0x00, 0xb8, 0x00, 0x20, 0x8e, 0xc0, 0x26, 0xc7, 0x06, 0x10, 0x00, 0x34, 0x12, 0x26, 0xa1, 0x10,
  0x00, 0xa3, 0x00, 0x60, 0x26, 0x66, 0xa1, 0x20, 0x00, 0x66, 0xa3, 0x04, 0x60, 0xc6, 0x06, 0xff, 0xff, 0xab,
  0xb8, 0xff, 0x0f, 0x8e, 0xe0, 0x64, 0xa1, 0x0f, 0x00, 0xa3, 0x0c, 0x60, 0xea, 0x00, 0x00, 0x00, 0x20, 0x58,
  0xa3, 0x10, 0x60, 0x58, 0xa3, 0x12, 0x60, 0xf4,
];

describe('unbacked physical memory', () => {
  it('guest view: reads all ones, writes dropped, a fetch there raises #UD at the right address', () => {
    const undefinedSeen: Array<[number, number[]]> = [];
    const pc = new BareMetalPc(RAM, {
      onUndefined: (rip: number, bytes: ArrayLike<number>) => undefinedSeen.push([rip, Array.from(bytes)]),
    });
    pc.loadBootSector(Uint8Array.from(IMAGE));
    expect(run(pc.cpu, 1000)).toBe(Stop.HALT);
    const dv = new DataView(pc.ram);
    expect(dv.getUint16(0x6000, true)).toBe(0xffff); // the 0x1234 store went nowhere
    expect(dv.getUint32(0x6004, true)).toBe(0xffffffff);
    expect(dv.getUint16(0x600c, true)).toBe(0xffab); // low byte from RAM, high byte from the hole
    expect(dv.getUint16(0x6010, true)).toBe(0x0000); // #UD: saved IP = the undefined instruction
    expect(dv.getUint16(0x6012, true)).toBe(0x2000); // saved CS
    expect(undefinedSeen.length).toBe(1);
    expect(undefinedSeen[0][0]).toBe(0); // IP of the fetch from the hole
    expect(undefinedSeen[0][1].slice(0, 2)).toEqual([0xff, 0xff]); // the open-bus bytes
  });

  it('core view: physRead/physWrite above RAM go to the bus and never throw', () => {
    const pc = new BareMetalPc(RAM);
    const cpu = pc.cpu;
    physWrite(cpu, 0x20000, 4, 0x12345678);
    expect(physRead(cpu, 0x20000, 4)).toBe(-1); // int32 all ones
    expect(physRead(cpu, 0x20000, 2)).toBe(0xffff);
    expect(physRead(cpu, 2 ** 40, 1)).toBe(0xff);
    expect(physRead(cpu, RAM - 4, 4)).toBe(0); // the last RAM dword is RAM
  });

  it('a page walk through unbacked memory sees all-ones entries (reserved bits: #PF, not a crash)', () => {
    const pt = new PageTables('long', { ramBytes: 4 << 20 });
    pt.cpu.cr3 = 0x4000_0000; // 1 GiB: far above the 4 MiB of RAM
    let err = -1;
    try {
      translate(pt.cpu, 0x1000, ACC_READ);
    } catch (e) {
      if (e !== FAULT) throw e;
      err = pt.cpu.excError;
    }
    expect(err).toBe(PFE.P | PFE.RSVD); // bits 51:48 of 0xFFFF... entries are reserved
  });
});
