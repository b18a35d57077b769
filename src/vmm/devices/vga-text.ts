// VGA text mode as a guest without a BIOS finds it: mode 3 (80x25, 16 colours), the text buffer at
// B8000h (a character byte and an attribute byte per cell) and the CRT controller's index/data
// ports 3D4h/3D5h (IBM VGA Technical Reference, CRT Controller Registers): start address
// (0Ch/0Dh), cursor start/end (0Ah/0Bh: scan lines, bit 5 of 0Ah turns the cursor off) and cursor
// location (0Eh/0Fh, in character cells from the start of the buffer). 3DAh (Input Status 1)
// toggles its retrace bits so wait-for-retrace loops end.
//
// The text buffer stays ordinary RAM, so the guest writes it at full speed; the screen is read from
// RAM when someone looks (VgaTextScreen: a scheduler tick, the end of the run).
import type { PortDevice } from '../io-bus.js';

export const VGA_TEXT_BASE = 0xb8000;
export const VGA_COLS = 80;
export const VGA_ROWS = 25;
export const CRTC_INDEX = 0x3d4;
export const CRTC_DATA = 0x3d5;
export const INPUT_STATUS_1 = 0x3da;

// CRT controller register indices.
export const CR_CURSOR_START = 0x0a;
export const CR_CURSOR_END = 0x0b;
export const CR_START_HIGH = 0x0c;
export const CR_START_LOW = 0x0d;
export const CR_CURSOR_HIGH = 0x0e;
export const CR_CURSOR_LOW = 0x0f;
export const CR_VRETRACE_END = 0x11; // bit 7 protects registers 0-7
const CRTC_REGISTERS = 0x19;

/** Mode 3's CRT controller values as the VGA BIOS programs them (IBM VGA Technical Reference). */
const MODE3_CRTC = [
  0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
  0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
];

/** Guest-physical memory as a device reads it (one place to rewire for encrypted guests). */
export interface GuestMemoryReader {
  read(gpa: number, length: number): Uint8Array;
}

export class VgaCrtc implements PortDevice {
  readonly name = 'vga-crtc';
  private index = 0;
  private readonly regs = Uint8Array.from(MODE3_CRTC);
  private retrace = 0;
  /** The guest has written the cursor location (so the cursor's row means something). */
  cursorMoved = false;

  read(port: number, _size: number): number {
    if (port === CRTC_INDEX) return this.index;
    if (port === CRTC_DATA) return this.index < CRTC_REGISTERS ? this.regs[this.index] : 0xff;
    // Input Status 1: display-enable and vertical-retrace bits alternate on every read.
    this.retrace ^= 0x09;
    return this.retrace;
  }

  write(port: number, size: number, value: number): void {
    if (port === CRTC_INDEX) {
      this.index = value & 0xff;
      // A 16-bit OUT to 3D4h writes the index and the data port at once.
      if (size === 2) this.writeRegister((value >>> 8) & 0xff);
      return;
    }
    if (port === CRTC_DATA) this.writeRegister(value & 0xff);
  }

  private writeRegister(v: number): void {
    const i = this.index;
    if (i >= CRTC_REGISTERS) return;
    if (this.regs[CR_VRETRACE_END] & 0x80 && i <= 7) {
      if (i === 7) this.regs[7] = (this.regs[7] & ~0x10) | (v & 0x10); // line compare bit 8 stays writable
      return;
    }
    this.regs[i] = v;
    if (i === CR_CURSOR_HIGH || i === CR_CURSOR_LOW) this.cursorMoved = true;
  }

  register(i: number): number {
    return this.regs[i];
  }

  /** The cursor's cell offset from the start of the text buffer. */
  get cursorLocation(): number {
    return (this.regs[CR_CURSOR_HIGH] << 8) | this.regs[CR_CURSOR_LOW];
  }

  /** The first cell shown, in cells from B8000h. */
  get startAddress(): number {
    return (this.regs[CR_START_HIGH] << 8) | this.regs[CR_START_LOW];
  }

  get cursorVisible(): boolean {
    return (this.regs[CR_CURSOR_START] & 0x20) === 0;
  }

  /** Scan lines the cursor covers (start, end), from 0Ah and 0Bh bits 4:0. */
  get cursorShape(): [number, number] {
    return [this.regs[CR_CURSOR_START] & 0x1f, this.regs[CR_CURSOR_END] & 0x1f];
  }
}

/** The screen's characters, read from RAM through the CRTC's start address. */
export class VgaTextScreen {
  constructor(
    readonly crtc: VgaCrtc,
    private readonly mem: GuestMemoryReader,
  ) {}

  /** The visible cells: 80x25 (character, attribute) pairs. */
  cells(): Uint8Array {
    const start = (this.crtc.startAddress * 2) & 0x7fff;
    return this.mem.read(VGA_TEXT_BASE + start, VGA_COLS * VGA_ROWS * 2);
  }

  /** The rows as text (characters only; NULs as spaces; trailing spaces kept). */
  rows(cells = this.cells()): string[] {
    const rows: string[] = [];
    for (let r = 0; r < VGA_ROWS; r++) {
      let s = '';
      for (let c = 0; c < VGA_COLS; c++) {
        const ch = cells[(r * VGA_COLS + c) * 2];
        s += ch === 0 ? ' ' : String.fromCharCode(ch);
      }
      rows.push(s);
    }
    return rows;
  }

  /** The whole screen as text, trailing spaces and trailing blank rows dropped. */
  text(): string {
    const rows = this.rows().map((r) => r.trimEnd());
    while (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
    return rows.length ? `${rows.join('\n')}\n` : '';
  }

  /** The cursor's row on the screen, or -1 when off the visible page. */
  cursorRow(): number {
    const cell = this.crtc.cursorLocation - this.crtc.startAddress;
    return cell >= 0 && cell < VGA_COLS * VGA_ROWS ? Math.floor(cell / VGA_COLS) : -1;
  }
}

/**
 * Mirrors the screen to a line sink as a terminal would show it. The rule: a row is finished when
 * the cursor has moved below it (or, for a guest that never sets the cursor, when a row below it
 * holds text); each finished row is emitted once, when its text differs from what was last emitted
 * at that row. When the screen scrolls (its rows moved up by k), what was emitted moves up with it,
 * so scrolled text is not repeated. At the end of the run the cursor's row is emitted too.
 */
export class VgaConsoleMirror {
  private shown: string[] = new Array(VGA_ROWS).fill('');
  private last: string[] = new Array(VGA_ROWS).fill('');
  private lastCells = new Uint8Array(0);
  private lastCursor = -1;

  constructor(
    private readonly screen: VgaTextScreen,
    private readonly sink: (line: string) => void,
  ) {}

  /** Look at the screen (cheap when nothing changed: one 4000-byte comparison). */
  tick(final = false): void {
    const cells = this.screen.cells();
    const cursor = this.screen.crtc.cursorLocation;
    if (!final && cursor === this.lastCursor && sameBytes(cells, this.lastCells)) return;
    this.lastCells = cells.slice();
    this.lastCursor = cursor;
    const rows = this.screen.rows(cells).map((r) => r.trimEnd());
    const k = scrolledBy(this.last, rows);
    if (k > 0) this.shown = [...this.shown.slice(k), ...new Array(k).fill('')];
    this.last = rows;
    let current = this.screen.crtc.cursorMoved ? this.screen.cursorRow() : -1;
    if (current < 0) {
      current = VGA_ROWS - 1;
      while (current > 0 && rows[current] === '') current--;
    }
    const end = final ? Math.min(VGA_ROWS, current + 1) : current;
    for (let r = 0; r < end; r++) {
      if (rows[r] !== this.shown[r]) {
        this.shown[r] = rows[r];
        this.sink(rows[r]);
      }
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * How many rows the screen scrolled up from `before` to `after` (0 when it did not): the smallest k
 * for which every row that had text is now k rows higher (new rows at the bottom may differ). A
 * screen whose rows with text all stayed in place did not scroll.
 */
function scrolledBy(before: string[], after: string[]): number {
  let inPlace = true;
  for (let r = 0; r < VGA_ROWS && inPlace; r++)
    if (before[r] !== '' && before[r] !== after[r]) inPlace = false;
  if (inPlace) return 0;
  for (let k = 1; k < VGA_ROWS; k++) {
    let kept = 0;
    let same = true;
    for (let r = 0; r + k < VGA_ROWS; r++) {
      if (before[r + k] === '') continue;
      if (after[r] !== before[r + k]) {
        same = false;
        break;
      }
      kept++;
    }
    if (same && kept > 0) return k;
  }
  return 0;
}
