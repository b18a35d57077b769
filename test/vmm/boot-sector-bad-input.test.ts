// runBootSector refuses images it cannot load (ImageError, before anything runs) and reports a
// guest that shuts down (triple fault) as a stop with the exception chain, never as a host error.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR } from '../../guests/guest-list.js';
import { BOOT_ADDR, ImageError, runBootSector } from '../../src/vmm/bare-metal.js';

describe('images that cannot be loaded', () => {
  it('an empty image', () => {
    expect(() => runBootSector(new Uint8Array(0))).toThrow(ImageError);
    expect(() => runBootSector(new Uint8Array(0))).toThrow(/empty/);
  });

  it('an image that would reach 0xA0000 (the VGA hole) is refused with its size and the limit', () => {
    const room = 0xa0000 - BOOT_ADDR;
    const big = new Uint8Array(room + 1);
    expect(() => runBootSector(big)).toThrow(ImageError);
    expect(() => runBootSector(big)).toThrow(new RegExp(`${room + 1} bytes.*0xA0000.*${room}`));
  });

  it('the largest image that fits loads and runs', () => {
    const r = runBootSector(new Uint8Array(0xa0000 - BOOT_ADDR), { maxInstructions: 10 });
    expect(r.stop).toBe('max-instructions');
    expect(r.instructions).toBe(10);
  });

  it('with little RAM the limit is the end of RAM', () => {
    const memoryBytes = 0x8000; // room for 0x400 bytes above 0x7C00
    expect(() => runBootSector(new Uint8Array(0x401), { memoryBytes })).toThrow(/at most 1024 bytes/);
    expect(runBootSector(new Uint8Array(0x400), { memoryBytes, maxInstructions: 5 }).stop).toBe(
      'max-instructions',
    );
  });
});

describe('triple fault', () => {
  it('a real-mode INT3 with an IDT limit of 0: #GP -> #DF -> shutdown, reported with the chain', () => {
    // xor ax,ax / mov ds,ax / mov al,'T' / out 0xe9,al / lidt [idtr0] / int3 / mov al,1 / out 0xf4,al /
    // idtr0: dw 0, dd 0.  QEMU (guests/qemu-run.sh) prints "T" and shuts down on this image too.
    const image = Uint8Array.from([
      0x31, 0xc0, 0x8e, 0xd8, 0xb0, 0x54, 0xe6, 0xe9, 0x0f, 0x01, 0x1e, 0x12, 0x7c, 0xcc, 0xb0, 0x01, 0xe6,
      0xf4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]);
    const r = runBootSector(image);
    expect(r.stop).toBe('triple-fault');
    expect(r.output).toBe('T');
    expect(r.exitStatus).toBeNull();
    expect(r.message).toMatch(/triple fault/);
    expect(r.message).toMatch(/#GP.*->.*#DF.*triple fault/);
  });

  it('guests/faults (checked against QEMU): #DE -> #GP -> #DF -> triple fault', () => {
    const r = runBootSector(readFileSync(join(GUESTS_DIR, 'faults', 'faults.img')));
    expect(r.stop).toBe('triple-fault');
    expect(r.output).toBe(readFileSync(join(GUESTS_DIR, 'faults', 'expected.txt'), 'latin1'));
    expect(r.message).toMatch(/#DE.*->.*#GP.*while delivering #DE.*->.*#DF.*triple fault/);
  });
});
