// The VMCB's number accessors for 8-byte fields (lo/hi/getNum/setNum/setHalves) that the world
// switch and the exit handlers use instead of BigInt (issue 12): they must agree with get64/set64.
import { describe, expect, it } from 'vitest';
import { VMCB_CONTROL, VMCB_SAVE, Vmcb, type Vmcb64FieldName } from './vmcb-layout.js';

const FIELDS = Object.entries({ ...VMCB_CONTROL, ...VMCB_SAVE })
  .filter(([, f]) => f.size === 8)
  .map(([n]) => n as Vmcb64FieldName);
const VALUES = [0, 1, 0xfff0, 0xffff_ffff, 2 ** 32, 2 ** 47 - 1, -(2 ** 47), -1, -4096, 2 ** 52 + 3];

describe('VMCB 8-byte fields as halves', () => {
  it('setNum stores the 64-bit two’s complement; getNum, lo and hi read it back', () => {
    const c = new Vmcb(new DataView(new ArrayBuffer(0x2000)), 0x1000);
    for (const name of FIELDS)
      for (const n of VALUES) {
        c.setNum(name, n);
        const want = BigInt.asUintN(64, BigInt(n));
        expect(c.get64(name)).toBe(want);
        expect(c.getNum(name)).toBe(n);
        expect(c.lo(name)).toBe(Number(want & 0xffff_ffffn));
        expect(c.hi(name)).toBe(Number(want >> 32n));
      }
  });

  it('setHalves and set64 write the same bytes', () => {
    const c = new Vmcb(new DataView(new ArrayBuffer(0x2000)), 0x1000);
    c.setHalves('rip', 0x8000_1234, 0xffff_8000);
    expect(c.get64('rip')).toBe(0xffff_8000_8000_1234n);
    expect(c.getNum('rip')).toBe(-(2 ** 47) + 0x8000_1234);
    c.set64('ghcb_gpa', 0x0000_0001_0000_2000n);
    expect([c.lo('ghcb_gpa'), c.hi('ghcb_gpa')]).toEqual([0x2000, 1]);
  });
});
