// Host characters as a US keyboard types them, in scan code set 1 (IBM PC AT Technical Reference,
// keyboard scan codes; what the 8042 delivers with translation on): each key gives its make code
// and then its break code (make | 80h); shifted characters are wrapped in Left Shift (2Ah/AAh),
// control characters in Left Ctrl (1Dh/9Dh). Characters with no key are dropped.

const SHIFT = 0x2a;
const CTRL = 0x1d;
const BREAK = 0x80;

/** Unshifted and shifted characters of each key, by make code. */
const KEYS: [number, string, string][] = [
  [0x02, '1', '!'],
  [0x03, '2', '@'],
  [0x04, '3', '#'],
  [0x05, '4', '$'],
  [0x06, '5', '%'],
  [0x07, '6', '^'],
  [0x08, '7', '&'],
  [0x09, '8', '*'],
  [0x0a, '9', '('],
  [0x0b, '0', ')'],
  [0x0c, '-', '_'],
  [0x0d, '=', '+'],
  [0x10, 'q', 'Q'],
  [0x11, 'w', 'W'],
  [0x12, 'e', 'E'],
  [0x13, 'r', 'R'],
  [0x14, 't', 'T'],
  [0x15, 'y', 'Y'],
  [0x16, 'u', 'U'],
  [0x17, 'i', 'I'],
  [0x18, 'o', 'O'],
  [0x19, 'p', 'P'],
  [0x1a, '[', '{'],
  [0x1b, ']', '}'],
  [0x1e, 'a', 'A'],
  [0x1f, 's', 'S'],
  [0x20, 'd', 'D'],
  [0x21, 'f', 'F'],
  [0x22, 'g', 'G'],
  [0x23, 'h', 'H'],
  [0x24, 'j', 'J'],
  [0x25, 'k', 'K'],
  [0x26, 'l', 'L'],
  [0x27, ';', ':'],
  [0x28, "'", '"'],
  [0x29, '`', '~'],
  [0x2b, '\\', '|'],
  [0x2c, 'z', 'Z'],
  [0x2d, 'x', 'X'],
  [0x2e, 'c', 'C'],
  [0x2f, 'v', 'V'],
  [0x30, 'b', 'B'],
  [0x31, 'n', 'N'],
  [0x32, 'm', 'M'],
  [0x33, ',', '<'],
  [0x34, '.', '>'],
  [0x35, '/', '?'],
  [0x39, ' ', ' '],
];

/** Per host byte: the make code, with bit 8 = shifted, bit 9 = with Ctrl; 0 = no key. */
const TABLE = new Uint16Array(128);
for (const [code, plain, shifted] of KEYS) {
  TABLE[plain.charCodeAt(0)] = code;
  if (shifted !== plain) TABLE[shifted.charCodeAt(0)] = code | 0x100;
}
TABLE[0x0d] = 0x1c; // Enter (a terminal's CR)
TABLE[0x0a] = 0x1c; // Enter (a pipe's LF)
TABLE[0x08] = 0x0e; // Backspace
TABLE[0x7f] = 0x0e; // Backspace as terminals send it
TABLE[0x09] = 0x0f; // Tab
TABLE[0x1b] = 0x01; // Escape
// Ctrl-A .. Ctrl-Z, except the ones that are keys of their own above.
for (let c = 1; c <= 26; c++) if (TABLE[c] === 0) TABLE[c] = TABLE[0x60 + c] | 0x200;

/** Set 1 make and break codes that type the host bytes `text`. */
export function scancodesFor(text: Iterable<number>): number[] {
  const out: number[] = [];
  for (const b of text) {
    const e = b < 128 ? TABLE[b] : 0;
    if (e === 0) continue;
    const code = e & 0xff;
    const mod = e & 0x100 ? SHIFT : e & 0x200 ? CTRL : 0;
    if (mod) out.push(mod);
    out.push(code, code | BREAK);
    if (mod) out.push(mod | BREAK);
  }
  return out;
}
