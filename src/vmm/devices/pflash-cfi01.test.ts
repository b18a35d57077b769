// The CFI flash against the Intel/Sharp command set numbers (Intel 28F-series datasheets, JEDEC
// JESD68 for the query table) and the sequences OVMF's QemuFlash.c sends, with QEMU's answers.
import { describe, expect, it } from 'vitest';
import { PflashCfi01 } from './pflash-cfi01.js';

const SECTOR = 4096;

function flash(readOnly = false, changes: [number, number][] = []) {
  const bytes = new Uint8Array(4 * SECTOR);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
  return new PflashCfi01('test', bytes, readOnly, (o, l) => changes.push([o, l]));
}

describe('PflashCfi01', () => {
  it('reads the array in read-array mode, at every width', () => {
    const f = flash();
    expect(f.mmioRead(0x102, 1)).toBe(0x02);
    expect(f.mmioRead(0x102, 2)).toBe(0x0302);
    expect(f.mmioRead(0x104, 4)).toBe(0x07060504);
    expect(f.readingArray).toBe(true);
  });

  it("answers OVMF's flash detection as QEMU's pflash does: 50h keeps the array, 70h reads status 0", () => {
    // edk2 QemuFlashDetected: write CLEAR_STATUS (50h); a RAM would read back 50h, a flash its byte.
    const f = flash();
    const original = f.mmioRead(0x10, 1);
    f.mmioWrite(0x10, 1, 0x50);
    expect(f.mmioRead(0x10, 1)).toBe(original);
    // Then READ_STATUS (70h): a flash reads CLEARED_ARRAY_STATUS (0), a ROM its byte again.
    f.mmioWrite(0x10, 1, 0x70);
    expect(f.mmioRead(0x10, 1)).toBe(0x00);
    f.mmioWrite(0x10, 1, 0xff);
    expect(f.mmioRead(0x10, 1)).toBe(original);
  });

  it('programs a byte (10h, then the data), reports ready in the status, back to the array on FFh', () => {
    const changes: [number, number][] = [];
    const f = flash(false, changes);
    f.mmioWrite(0x123, 1, 0x10);
    f.mmioWrite(0x123, 1, 0xab);
    expect(f.mmioRead(0x123, 1)).toBe(0x80); // status: SR.7 ready
    f.mmioWrite(0, 1, 0xff);
    expect(f.mmioRead(0x123, 1)).toBe(0xab);
    expect(f.bytes[0x123]).toBe(0xab);
    expect(changes).toEqual([[0x123, 1]]);
    // 40h is the same program command.
    f.mmioWrite(0x200, 1, 0x40);
    f.mmioWrite(0x200, 4, 0x11223344);
    f.mmioWrite(0, 1, 0xff);
    expect(f.mmioRead(0x200, 4)).toBe(0x11223344);
  });

  it('erases the 4 KiB sector on 20h then D0h, and not on 20h alone followed by FFh', () => {
    const changes: [number, number][] = [];
    const f = flash(false, changes);
    f.mmioWrite(SECTOR + 0x10, 1, 0x20);
    f.mmioWrite(SECTOR + 0x10, 1, 0xff); // not confirmed: read array, nothing erased
    expect(f.mmioRead(SECTOR + 0x10, 1)).toBe(0x10);
    f.mmioWrite(SECTOR + 0x10, 1, 0x20);
    f.mmioWrite(SECTOR + 0x10, 1, 0xd0);
    expect(f.mmioRead(SECTOR, 1)).toBe(0x80);
    f.mmioWrite(0, 1, 0xff);
    expect(f.bytes.subarray(SECTOR, 2 * SECTOR).every((b) => b === 0xff)).toBe(true);
    expect(f.bytes[SECTOR - 1]).toBe((SECTOR - 1) & 0xff);
    expect(f.bytes[2 * SECTOR]).toBe(0);
    expect(changes).toEqual([[SECTOR, SECTOR]]);
  });

  it('read-only: programs and erases fail with SR.4 and SR.5, the array is unchanged', () => {
    const f = flash(true);
    f.mmioWrite(8, 1, 0x10);
    f.mmioWrite(8, 1, 0x00);
    expect(f.mmioRead(8, 1)).toBe(0x90); // ready + program error
    f.mmioWrite(0, 1, 0x20);
    f.mmioWrite(0, 1, 0xd0);
    expect(f.mmioRead(0, 1)).toBe(0xb0); // + erase error
    f.mmioWrite(0, 1, 0x50); // clear status
    f.mmioWrite(0, 1, 0x70);
    expect(f.mmioRead(0, 1)).toBe(0);
    f.mmioWrite(0, 1, 0xff);
    expect(f.mmioRead(8, 1)).toBe(8);
  });

  it('CFI query (98h): "QRY" at 10h, command set 0001h, the size and the sector layout', () => {
    const f = flash();
    f.mmioWrite(0x55, 1, 0x98);
    const q = (o: number) => f.mmioRead(o, 1);
    expect([q(0x10), q(0x11), q(0x12)]).toEqual([0x51, 0x52, 0x59]);
    expect(q(0x13) | (q(0x14) << 8)).toBe(1);
    expect(1 << q(0x27)).toBe(4 * SECTOR);
    expect(q(0x2c)).toBe(1); // one erase-block region
    expect((q(0x2d) | (q(0x2e) << 8)) + 1).toBe(4); // four blocks
    expect((q(0x2f) | (q(0x30) << 8)) * 256).toBe(SECTOR);
    f.mmioWrite(0, 1, 0xff);
    expect(q(0x10)).toBe(0x10);
  });

  it('write to buffer (E8h, count N-1, N data writes, D0h)', () => {
    const f = flash();
    f.mmioWrite(0x300, 1, 0xe8);
    f.mmioWrite(0x300, 1, 1); // two bytes follow
    f.mmioWrite(0x300, 1, 0xaa);
    f.mmioWrite(0x301, 1, 0xbb);
    f.mmioWrite(0x300, 1, 0xd0);
    f.mmioWrite(0, 1, 0xff);
    expect(f.mmioRead(0x300, 2)).toBe(0xbbaa);
  });

  it('refuses an image that is not whole sectors', () => {
    expect(() => new PflashCfi01('odd', new Uint8Array(100), false)).toThrow(/whole 4096-byte sectors/);
  });
});
