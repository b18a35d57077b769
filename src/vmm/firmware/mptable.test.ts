// The MP tables parsed back against the MultiProcessor Specification 1.4: floating pointer fields
// (4.1), configuration table header (4.2), entry layouts (4.3.1-4.3.5), checksums summing to 0.
import { describe, expect, it } from 'vitest';
import { MpTableError, writeMpTable } from './mptable.js';

const sum = (ram: Uint8Array, at: number, len: number) =>
  ram.subarray(at, at + len).reduce((a, b) => a + b, 0) & 0xff;
const str = (ram: Uint8Array, at: number, len: number) => String.fromCharCode(...ram.subarray(at, at + len));

/** Find the floating pointer the way an OS does: "_MP_" on 16-byte boundaries with a good checksum. */
function scan(ram: Uint8Array, from: number, to: number): number | undefined {
  for (let a = from; a < to; a += 16) if (str(ram, a, 4) === '_MP_' && sum(ram, a, 16) === 0) return a;
  return undefined;
}

describe('MP floating pointer and configuration table', () => {
  const ram = new Uint8Array(1 << 20);
  const dv = new DataView(ram.buffer);
  const layout = writeMpTable(ram, { cpus: 4, floatAddr: 0xf5a50, tableAddr: 0xf5a60 });

  it('the floating pointer is found by a 0xF0000-0xFFFFF scan and has the 4.1 fields', () => {
    const f = scan(ram, 0xf0000, 0x100000)!;
    expect(f).toBe(0xf5a50);
    expect(dv.getUint32(f + 4, true)).toBe(0xf5a60); // PHYSICAL ADDRESS POINTER
    expect(ram[f + 8]).toBe(1); // LENGTH in paragraphs
    expect(ram[f + 9]).toBe(4); // SPEC_REV 1.4
    expect(sum(ram, f, 16)).toBe(0);
    expect(ram[f + 11]).toBe(0); // MP FEATURE INFORMATION BYTE 1: table present
    expect(ram[f + 12] & 0x80).toBe(0); // IMCRP clear
  });

  it('the header has the 4.2 fields and the base table sums to 0', () => {
    const t = 0xf5a60;
    expect(str(ram, t, 4)).toBe('PCMP');
    const len = dv.getUint16(t + 4, true);
    expect(len).toBe(layout.tableLength);
    expect(len).toBe(44 + 4 * 20 + 8 + 8 + 15 * 8 + 2 * 8);
    expect(ram[t + 6]).toBe(4);
    expect(sum(ram, t, len)).toBe(0);
    expect(str(ram, t + 8, 8)).toBe('HVEMU   ');
    expect(str(ram, t + 16, 12)).toBe('HVEMU PC    ');
    expect(dv.getUint16(t + 34, true)).toBe(4 + 1 + 1 + 15 + 2); // ENTRY COUNT
    expect(dv.getUint32(t + 36, true)).toBe(0xfee00000); // ADDRESS OF LOCAL APIC
    expect(dv.getUint16(t + 40, true)).toBe(0); // no extended table
  });

  it('entries in type order: processors (BSP flagged), ISA bus, I/O APIC, IRQ routing, local interrupts', () => {
    const t = 0xf5a60;
    let p = t + 44;
    const cpus: [number, number][] = [];
    while (ram[p] === 0) {
      cpus.push([ram[p + 1], ram[p + 3]]); // LOCAL APIC ID, CPU FLAGS
      expect(ram[p + 2]).toBe(0x14);
      p += 20;
    }
    expect(cpus).toEqual([
      [0, 3],
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    expect(ram[p]).toBe(1);
    expect(str(ram, p + 2, 6)).toBe('ISA   ');
    p += 8;
    expect(ram[p]).toBe(2);
    expect(ram[p + 1]).toBe(layout.ioApicId);
    expect(layout.ioApicId).toBe(4); // the first ID no CPU uses
    expect(ram[p + 3] & 1).toBe(1); // EN
    expect(dv.getUint32(p + 4, true)).toBe(0xfec00000);
    p += 8;
    const routes: [number, number][] = [];
    while (ram[p] === 3) {
      expect(ram[p + 1]).toBe(0); // INT
      expect(dv.getUint16(p + 2, true)).toBe(0); // conforms to bus
      expect(ram[p + 4]).toBe(0); // source bus: ISA
      expect(ram[p + 6]).toBe(layout.ioApicId);
      routes.push([ram[p + 5], ram[p + 7]]);
      p += 8;
    }
    expect(routes).toEqual([[0, 2], ...[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map((i) => [i, i])]);
    expect([...ram.subarray(p, p + 8)]).toEqual([4, 3, 0, 0, 0, 0, 0, 0]); // ExtINT -> BSP LINT0
    expect([...ram.subarray(p + 8, p + 16)]).toEqual([4, 1, 0, 0, 0, 0, 0xff, 1]); // NMI -> all LINT1
    expect(p + 16 - t).toBe(layout.tableLength);
  });

  it('the last KiB of base memory works too, with explicit APIC IDs and a disabled CPU', () => {
    const r = new Uint8Array(1 << 20);
    writeMpTable(r, {
      cpus: [{ apicId: 2 }, { apicId: 0 }, { apicId: 5, enabled: false }],
      floatAddr: 0x9fc00,
      tableAddr: 0x9fc10,
      ioApicId: 8,
    });
    expect(scan(r, 0x9fc00, 0xa0000)).toBe(0x9fc00);
    expect([r[0x9fc10 + 44 + 1], r[0x9fc10 + 44 + 3]]).toEqual([2, 3]);
    expect([r[0x9fc10 + 84 + 1], r[0x9fc10 + 84 + 3]]).toEqual([5, 0]);
    expect(sum(r, 0x9fc10, new DataView(r.buffer).getUint16(0x9fc14, true))).toBe(0);
  });

  it('refuses what it cannot describe', () => {
    const r = new Uint8Array(1 << 20);
    expect(() => writeMpTable(r, { cpus: 1, floatAddr: 0xf0008, tableAddr: 0xf0100 })).toThrow(MpTableError);
    expect(() =>
      writeMpTable(r, { cpus: [{ apicId: 300 }], floatAddr: 0xf0000, tableAddr: 0xf0100 }),
    ).toThrow(/APIC ID 300/);
  });
});
