// Host characters as a US keyboard types them, in scan code set 1 (IBM PC AT Technical Reference,
// keyboard scan codes; what the 8042 delivers with translation on): each key gives its make code
// and then its break code (make | 80h); shifted characters are wrapped in Left Shift (2Ah/AAh),
// control characters in Left Ctrl (1Dh/9Dh). Characters with no key are dropped. `toSet2` gives
// the same keys in scan code set 2 (the keyboard's own codes, which a guest sees with the
// controller's translation off): the make code of the key, and F0h before it for a break.

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

/** Set 2 make codes of the keys above, by set 1 make code (01h-39h). */
const SET2 = Uint8Array.from([
  0x00, 0x76, 0x16, 0x1e, 0x26, 0x25, 0x2e, 0x36, 0x3d, 0x3e, 0x46, 0x45, 0x4e, 0x55, 0x66, 0x0d, 0x15, 0x1d,
  0x24, 0x2d, 0x2c, 0x35, 0x3c, 0x43, 0x44, 0x4d, 0x54, 0x5b, 0x5a, 0x14, 0x1c, 0x1b, 0x23, 0x2b, 0x34, 0x33,
  0x3b, 0x42, 0x4b, 0x4c, 0x52, 0x0e, 0x12, 0x5d, 0x1a, 0x22, 0x21, 0x2a, 0x32, 0x31, 0x3a, 0x41, 0x49, 0x4a,
  0x59, 0x7c, 0x11, 0x29,
]);

/** Set 1 codes (as scancodesFor gives them) in set 2; codes without a set 2 entry are dropped. */
export function toSet2(set1: Iterable<number>): number[] {
  const out: number[] = [];
  for (const c of set1) {
    const code = SET2[c & 0x7f] ?? 0;
    if (code === 0) continue;
    if (c & BREAK) out.push(0xf0);
    out.push(code);
  }
  return out;
}
