// The decisions of VMX non-root operation (Intel SDM vol 3C 25.1.3 and 25.2, 2016 numbering): I/O and
// MSR bitmaps, the #PF error-code mask/match rule, the CR0/CR4 guest/host mask rules for MOV, CLTS and
// LMSW, and the access-rights conversion between the VMCS and the processor's descriptor caches.
import { describe, expect, it } from 'vitest';
import { SEG_UNUSABLE } from '../../cpu/cpu.js';
import { arToAttr, attrToAr } from './vm-entry-checks.js';
import {
  cltsExits,
  crReadValue,
  crWriteExits,
  ioBitmapExits,
  lmswExits,
  msrBitmapExits,
  pageFaultExits,
} from './vmx-intercepts.js';

describe('VMX intercept rules', () => {
  it('I/O bitmaps: A for 0-7FFFh, B for 8000h-FFFFh, any byte of a wide access, a wrap always exits', () => {
    const a = new Uint8Array(4096);
    const b = new Uint8Array(4096);
    a[0x80 >> 3] = 1 << (0x80 & 7);
    b[(0x8001 & 0x7fff) >> 3] = 1 << (0x8001 & 7);
    expect(ioBitmapExits(a, b, 0x80, 1)).toBe(true);
    expect(ioBitmapExits(a, b, 0x7e, 2)).toBe(false);
    expect(ioBitmapExits(a, b, 0x7f, 2)).toBe(true); // the second byte is port 80h
    expect(ioBitmapExits(a, b, 0x8001, 1)).toBe(true);
    expect(ioBitmapExits(a, b, 0x7ffe, 4)).toBe(true); // crosses into bitmap B at 8001h
    expect(ioBitmapExits(a, b, 0xfffe, 4)).toBe(true); // wraps past FFFFh
  });

  it('MSR bitmaps: low and high read/write quarters, MSRs outside both ranges always exit', () => {
    const map = new Uint8Array(4096);
    map[0x10 >> 3] |= 1 << (0x10 & 7); // read 10h
    map[1024 + (0x80 >> 3)] |= 1 << 0; // read C0000080h
    map[2048 + (0x1b >> 3)] |= 1 << (0x1b & 7); // write 1Bh
    map[3072 + (0x102 >> 3)] |= 1 << (0x102 & 7); // write C0000102h
    expect(msrBitmapExits(map, 0x10, false)).toBe(true);
    expect(msrBitmapExits(map, 0x10, true)).toBe(false);
    expect(msrBitmapExits(map, 0xc000_0080, false)).toBe(true);
    expect(msrBitmapExits(map, 0xc000_0080, true)).toBe(false);
    expect(msrBitmapExits(map, 0x1b, true)).toBe(true);
    expect(msrBitmapExits(map, 0xc000_0102, true)).toBe(true);
    expect(msrBitmapExits(map, 0x4000_0000, false)).toBe(true);
  });

  it('#PF exits when (PFEC & mask) == match with bitmap bit 14 set, when it differs with bit 14 clear', () => {
    expect(pageFaultExits(1 << 14, 0, 0, 7)).toBe(true); // all #PF
    expect(pageFaultExits(0, 0, 0, 7)).toBe(false); // none
    expect(pageFaultExits(1 << 14, 2, 2, 3)).toBe(true); // writes only
    expect(pageFaultExits(1 << 14, 2, 2, 1)).toBe(false);
    expect(pageFaultExits(0, 2, 2, 1)).toBe(true); // everything but writes
  });

  it('CR0/CR4: a write exits when a host-owned bit differs from the shadow; reads see the shadow', () => {
    expect(crWriteExits(0x20, 0x20, 0x31)).toBe(false);
    expect(crWriteExits(0x20, 0x20, 0x11)).toBe(true);
    expect(crWriteExits(0, 0, 0xffff_ffff)).toBe(false);
    expect(crReadValue(0x8000_0031, 0x8000_0020, 0x11)).toBe(0x11);
    expect(cltsExits(8, 8)).toBe(true);
    expect(cltsExits(8, 0)).toBe(false);
    expect(lmswExits(1, 0, 1)).toBe(true); // setting a host-owned PE the guest believes clear
    expect(lmswExits(1, 1, 0)).toBe(false); // LMSW cannot clear PE
    expect(lmswExits(8, 0, 8)).toBe(true);
    expect(lmswExits(8, 8, 8)).toBe(false);
  });

  it('converts VMX access rights (AVL L D/B G in 15:12, unusable 16) to and from the 12-bit packing', () => {
    expect(arToAttr(0xa09b)).toBe(0xa9b); // 64-bit code: L and G
    expect(arToAttr(0xc093)).toBe(0xc93); // flat 32-bit data: D/B and G
    expect(arToAttr(0x10000)).toBe(SEG_UNUSABLE);
    for (const ar of [0x9b, 0xa09b, 0xc093, 0x1c093, 0x8b]) expect(attrToAr(arToAttr(ar))).toBe(ar);
  });
});
