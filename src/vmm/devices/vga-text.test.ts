// VGA text mode against the IBM VGA Technical Reference's CRT controller registers: index/data
// access at 3D4h/3D5h (and a 16-bit OUT that writes both), cursor location 0Eh/0Fh, cursor start
// and end 0Ah/0Bh (bit 5 of 0Ah: cursor off), start address 0Ch/0Dh, the write protection of
// registers 0-7 by 11h bit 7, mode 3's values; and the screen read from B8000h with the console
// mirror's rule (a row is printed once the cursor is below it; scrolling does not repeat rows).
import { describe, expect, it } from 'vitest';
import { VGA_TEXT_BASE, VgaConsoleMirror, VgaCrtc, VgaTextScreen } from './vga-text.js';

function makeScreen() {
  const ram = new Uint8Array(0x100000);
  const crtc = new VgaCrtc();
  const screen = new VgaTextScreen(crtc, { read: (gpa, len) => ram.slice(gpa, gpa + len) });
  const put = (row: number, col: number, text: string) => {
    for (let i = 0; i < text.length; i++) {
      ram[VGA_TEXT_BASE + (row * 80 + col + i) * 2] = text.charCodeAt(i);
      ram[VGA_TEXT_BASE + (row * 80 + col + i) * 2 + 1] = 0x07;
    }
  };
  const setCursor = (cell: number) => {
    crtc.write(0x3d4, 1, 0x0e);
    crtc.write(0x3d5, 1, cell >> 8);
    crtc.write(0x3d4, 1, 0x0f);
    crtc.write(0x3d5, 1, cell & 0xff);
  };
  return { ram, crtc, screen, put, setCursor };
}

describe('CRT controller registers', () => {
  it('cursor location 0Eh/0Fh is written and read back through index and data', () => {
    const { crtc, setCursor } = makeScreen();
    setCursor(5 * 80 + 7);
    crtc.write(0x3d4, 1, 0x0e);
    expect(crtc.read(0x3d4, 1)).toBe(0x0e); // the index register reads back
    expect(crtc.read(0x3d5, 1)).toBe((5 * 80 + 7) >> 8);
    crtc.write(0x3d4, 1, 0x0f);
    expect(crtc.read(0x3d5, 1)).toBe((5 * 80 + 7) & 0xff);
    expect(crtc.cursorLocation).toBe(407);
  });

  it('a 16-bit OUT to 3D4h sets the index (low byte) and writes the data (high byte)', () => {
    const { crtc } = makeScreen();
    crtc.write(0x3d4, 2, 0x120f);
    crtc.write(0x3d4, 2, 0x010e);
    expect(crtc.cursorLocation).toBe(0x0112);
  });

  it('mode 3 cursor shape: lines 13-14; 0Ah bit 5 hides the cursor', () => {
    const { crtc } = makeScreen();
    expect(crtc.cursorShape).toEqual([0x0d, 0x0e]);
    expect(crtc.cursorVisible).toBe(true);
    crtc.write(0x3d4, 1, 0x0a);
    crtc.write(0x3d5, 1, 0x20);
    expect(crtc.cursorVisible).toBe(false);
    crtc.write(0x3d4, 1, 0x0b);
    crtc.write(0x3d5, 1, 0x0f);
    expect(crtc.cursorShape).toEqual([0x00, 0x0f]);
  });

  it('11h bit 7 protects registers 0-7 (except 07h bit 4) and not the cursor registers', () => {
    const { crtc } = makeScreen();
    expect(crtc.register(0x11) & 0x80).toBe(0x80); // mode 3 leaves them protected
    crtc.write(0x3d4, 2, 0x0001);
    expect(crtc.register(1)).toBe(0x4f);
    crtc.write(0x3d4, 2, 0xff07);
    expect(crtc.register(7)).toBe(0x1f | 0x10);
    crtc.write(0x3d4, 2, 0x0e11); // clear the protection
    crtc.write(0x3d4, 2, 0x2701);
    expect(crtc.register(1)).toBe(0x27);
  });

  it('3DAh toggles the retrace bits on every read', () => {
    const { crtc } = makeScreen();
    const a = crtc.read(0x3da, 1);
    const b = crtc.read(0x3da, 1);
    expect((a ^ b) & 0x08).toBe(0x08);
  });
});

describe('the screen and its console mirror', () => {
  it('reads the rows from B8000h through the start address', () => {
    const { crtc, screen, put } = makeScreen();
    put(0, 0, 'hello');
    put(2, 3, 'world');
    expect(screen.text()).toBe('hello\n\n   world\n');
    crtc.write(0x3d4, 2, 0x500d); // start at cell 80: row 1 becomes the top
    expect(screen.text()).toBe('\n   world\n');
  });

  it('prints a row once the cursor is below it, each row once; the cursor row at the end', () => {
    const { screen, put, setCursor } = makeScreen();
    const lines: string[] = [];
    const m = new VgaConsoleMirror(screen, (l) => lines.push(l));
    put(0, 0, 'boot');
    setCursor(4);
    m.tick();
    expect(lines).toEqual([]); // the cursor is still on row 0
    setCursor(80);
    m.tick();
    m.tick();
    expect(lines).toEqual(['boot']);
    put(1, 0, '$ ');
    setCursor(82);
    m.tick(true);
    expect(lines).toEqual(['boot', '$']);
  });

  it('a scroll moves what was printed up with it: only the new row is printed', () => {
    const { ram, screen, put, setCursor } = makeScreen();
    const lines: string[] = [];
    const m = new VgaConsoleMirror(screen, (l) => lines.push(l));
    for (let r = 0; r < 24; r++) put(r, 0, `line ${r}`);
    setCursor(24 * 80);
    m.tick();
    expect(lines.length).toBe(24);
    // Scroll by one (as a console driver does) and write the last row.
    ram.copyWithin(VGA_TEXT_BASE, VGA_TEXT_BASE + 160, VGA_TEXT_BASE + 4000);
    ram.fill(0, VGA_TEXT_BASE + 24 * 160, VGA_TEXT_BASE + 4000);
    put(23, 0, 'line 24');
    m.tick();
    expect(lines.slice(24)).toEqual(['line 24']);
  });

  it('a guest that never sets the cursor: rows above the last row with text are finished', () => {
    const { screen, put } = makeScreen();
    const lines: string[] = [];
    const m = new VgaConsoleMirror(screen, (l) => lines.push(l));
    put(0, 0, 'one');
    put(1, 0, 'two');
    m.tick();
    expect(lines).toEqual(['one']);
    m.tick(true);
    expect(lines).toEqual(['one', 'two']);
  });
});
