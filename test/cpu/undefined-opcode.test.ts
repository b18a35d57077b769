// An undefined opcode is a guest event, not a host error: #UD (vector 6) is a fault, delivered
// through the real-mode IVT with the undefined instruction's own CS:IP saved (Intel SDM vol 3
// 6.15 "Interrupt 6", 20.1.4), and the debug hook onUndefined hears about it with its bytes.
import { describe, expect, it } from 'vitest';
import { run, Stop } from '../../src/cpu/run.js';
import { BareMetalPc } from '../../src/vmm/bare-metal.js';

// org 0x7C00 (nasm): IVT[6] = 0000:handler; first: ud2 / second: db 0xFE,0xD0 (FE /2, undefined) /
// mov byte [0x6030],0x42 / hlt.  handler: records the saved IP at 0x6000 + 2n, adds 2 to it, IRET.
const IMAGE = [
  0x31, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x70, 0x8e, 0xd8, 0xc7, 0x06, 0x18, 0x00, 0x25, 0x7c, 0xc7, 0x06, 0x1a,
  0x00, 0x00, 0x00, 0xc7, 0x06, 0x20, 0x60, 0x00, 0x00, 0x0f, 0x0b, 0xfe, 0xd0, 0xc6, 0x06, 0x30, 0x60, 0x42,
  0xf4, 0x55, 0x89, 0xe5, 0x8b, 0x46, 0x02, 0x8b, 0x36, 0x20, 0x60, 0x89, 0x84, 0x00, 0x60, 0x83, 0x06, 0x20,
  0x60, 0x02, 0x83, 0x46, 0x02, 0x02, 0x5d, 0xcf,
];
const FIRST = 0x7c1b,
  SECOND = 0x7c1d;

describe('#UD', () => {
  it('goes to the guest through IVT vector 6 and is reported to onUndefined', () => {
    const seen: Array<{ rip: number; bytes: number[] }> = [];
    const pc = new BareMetalPc(1 << 20, {
      onUndefined: (rip: number, bytes: ArrayLike<number>) => seen.push({ rip, bytes: Array.from(bytes) }),
    });
    pc.loadBootSector(Uint8Array.from(IMAGE));
    expect(run(pc.cpu, 1000)).toBe(Stop.HALT);
    const dv = new DataView(pc.ram);
    expect(dv.getUint16(0x6020, true)).toBe(4); // two #UDs
    expect(dv.getUint16(0x6000, true)).toBe(FIRST); // fault: IP of UD2 itself
    expect(dv.getUint16(0x6002, true)).toBe(SECOND);
    expect(dv.getUint8(0x6030)).toBe(0x42); // execution went on after the handler
    expect(seen.map((s) => s.rip)).toEqual([FIRST, SECOND]);
    expect(seen[0].bytes.slice(0, 2)).toEqual([0x0f, 0x0b]);
    expect(seen[1].bytes.slice(0, 2)).toEqual([0xfe, 0xd0]);
  });
});
