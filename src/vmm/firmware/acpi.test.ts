// The ACPI tables parsed back against ACPI 6.5 chapter 5: RSDP (5.2.5.3) found by the OS search in
// 0xE0000-0xFFFFF with both checksums, RSDT/XSDT (5.2.7, 5.2.8) pointing at the MADT, and the MADT
// (5.2.12) structures at their field offsets; every table sums to 0 modulo 256.
import { describe, expect, it } from 'vitest';
import { AcpiError, writeAcpiTables } from './acpi.js';

const sum = (ram: Uint8Array, at: number, len: number) =>
  ram.subarray(at, at + len).reduce((a, b) => a + b, 0) & 0xff;
const str = (ram: Uint8Array, at: number, len: number) => String.fromCharCode(...ram.subarray(at, at + len));

function findRsdp(ram: Uint8Array): number | undefined {
  for (let a = 0xe0000; a < 0x100000; a += 16)
    if (str(ram, a, 8) === 'RSD PTR ' && sum(ram, a, 20) === 0) return a;
  return undefined;
}

interface Sdt {
  sig: string;
  length: number;
  revision: number;
  at: number;
}

function sdt(ram: Uint8Array, at: number): Sdt {
  const dv = new DataView(ram.buffer);
  const length = dv.getUint32(at + 4, true);
  expect(sum(ram, at, length)).toBe(0);
  expect(str(ram, at + 10, 6)).toBe('HVEMU ');
  return { sig: str(ram, at, 4), length, revision: ram[at + 8], at };
}

interface MadtEntry {
  type: number;
  bytes: number[];
}

function madtEntries(ram: Uint8Array, madt: Sdt): MadtEntry[] {
  const out: MadtEntry[] = [];
  for (let p = madt.at + 44; p < madt.at + madt.length; p += ram[p + 1]) {
    expect(ram[p + 1]).toBeGreaterThan(1);
    out.push({ type: ram[p], bytes: [...ram.subarray(p, p + ram[p + 1])] });
  }
  return out;
}

const u32 = (b: number[], o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

describe('RSDP revision 2 with XSDT', () => {
  const ram = new Uint8Array(2 << 20);
  const dv = new DataView(ram.buffer);
  const layout = writeAcpiTables(ram, { cpus: 4, rsdpAddr: 0xf5a40, tablesAddr: 0x1f0000, ioApicId: 0 });

  it('the RSDP is found by the search, with both checksums, revision 2, length 36', () => {
    const r = findRsdp(ram)!;
    expect(r).toBe(0xf5a40);
    expect(ram[r + 15]).toBe(2);
    expect(dv.getUint32(r + 20, true)).toBe(36);
    expect(sum(ram, r, 36)).toBe(0);
    expect(dv.getUint32(r + 16, true)).toBe(layout.rsdt);
    expect(Number(dv.getBigUint64(r + 24, true))).toBe(layout.xsdt);
  });

  it('RSDT (32-bit entries) and XSDT (64-bit entries) both list the MADT', () => {
    const rsdt = sdt(ram, layout.rsdt);
    expect(rsdt.sig).toBe('RSDT');
    expect(rsdt.length).toBe(40);
    expect(dv.getUint32(rsdt.at + 36, true)).toBe(layout.madt);
    const xsdt = sdt(ram, layout.xsdt!);
    expect(xsdt.sig).toBe('XSDT');
    expect(xsdt.length).toBe(44);
    expect(Number(dv.getBigUint64(xsdt.at + 36, true))).toBe(layout.madt);
  });

  it('MADT: header fields, LAPIC address, PCAT_COMPAT, then type 0, 1, 2, 4 entries', () => {
    const madt = sdt(ram, layout.madt);
    expect(madt.sig).toBe('APIC');
    expect(madt.length).toBe(44 + 4 * 8 + 12 + 10 + 6);
    expect(dv.getUint32(madt.at + 36, true)).toBe(0xfee00000);
    expect(dv.getUint32(madt.at + 40, true)).toBe(1);
    const e = madtEntries(ram, madt);
    expect(e.map((x) => x.type)).toEqual([0, 0, 0, 0, 1, 2, 4]);
    // Processor Local APIC: [type, length, UID, APIC ID, flags(4)]
    expect(e[0].bytes).toEqual([0, 8, 0, 0, 1, 0, 0, 0]);
    expect(e[3].bytes).toEqual([0, 8, 3, 3, 1, 0, 0, 0]);
    // I/O APIC: [type, length, ID, reserved, address(4), GSI base(4)]
    expect(e[4].bytes.slice(0, 4)).toEqual([1, 12, 0, 0]);
    expect(u32(e[4].bytes, 4)).toBe(0xfec00000);
    expect(u32(e[4].bytes, 8)).toBe(0);
    // Interrupt Source Override: [type, length, bus 0, source IRQ 0, GSI(4) = 2, flags(2) = 0]
    expect(e[5].bytes).toEqual([2, 10, 0, 0, 2, 0, 0, 0, 0, 0]);
    // Local APIC NMI: [type, length, UID 0xFF = all, flags(2), LINT# 1]
    expect(e[6].bytes).toEqual([4, 6, 0xff, 0, 0, 1]);
  });
});

describe('RSDP revision 0 (ACPI 1.0)', () => {
  it('20 bytes, RSDT only', () => {
    const ram = new Uint8Array(1 << 20);
    ram.fill(0xee, 0xe0000, 0xe0040);
    const l = writeAcpiTables(ram, { cpus: 1, rsdpAddr: 0xe0000, tablesAddr: 0xe0100, revision: 0 });
    expect(findRsdp(ram)).toBe(0xe0000);
    expect(ram[0xe0000 + 15]).toBe(0);
    expect(l.xsdt).toBeUndefined();
    expect(ram[0xe0000 + 20]).toBe(0xee); // nothing written past the 20 bytes
    expect(sdt(ram, l.rsdt).sig).toBe('RSDT');
    expect(sdt(ram, l.madt).sig).toBe('APIC');
  });
});

describe('x2APIC IDs', () => {
  it('IDs >= 255 use Processor Local x2APIC (type 9) and the NMI becomes Local x2APIC NMI (type 0xA)', () => {
    const ram = new Uint8Array(1 << 20);
    const l = writeAcpiTables(ram, {
      cpus: [{ apicId: 0 }, { apicId: 254 }, { apicId: 255 }, { apicId: 0x1234, enabled: false }],
      rsdpAddr: 0xe0000,
      tablesAddr: 0xe0100,
    });
    const madt = sdt(ram, l.madt);
    expect(madt.revision).toBe(4);
    const e = madtEntries(ram, madt);
    expect(e.map((x) => x.type)).toEqual([0, 0, 9, 9, 1, 2, 0xa]);
    expect(e[1].bytes).toEqual([0, 8, 1, 254, 1, 0, 0, 0]);
    // x2APIC: [type, length 16, reserved(2), x2APIC ID(4), flags(4), UID(4)]
    expect(e[2].bytes.slice(0, 4)).toEqual([9, 16, 0, 0]);
    expect(u32(e[2].bytes, 4)).toBe(255);
    expect(u32(e[2].bytes, 8)).toBe(1);
    expect(u32(e[2].bytes, 12)).toBe(2);
    expect(u32(e[3].bytes, 4)).toBe(0x1234);
    expect(u32(e[3].bytes, 8)).toBe(0); // not enabled
    // x2APIC NMI: [type, length 12, flags(2), UID(4) = all, LINT# 1, reserved(3)]
    expect(e[6].bytes).toEqual([0xa, 12, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
  });

  it('refuses a misaligned RSDP', () => {
    expect(() =>
      writeAcpiTables(new Uint8Array(1 << 20), { cpus: 1, rsdpAddr: 0xe0004, tablesAddr: 0xe0100 }),
    ).toThrow(AcpiError);
  });
});
