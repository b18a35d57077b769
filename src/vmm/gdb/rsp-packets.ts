// The GDB remote serial protocol's framing (GDB manual, "Remote Protocol", E.1 Overview): a packet
// is `$data#cs` with cs the two-hex-digit sum of the data bytes mod 256; the receiver answers `+`
// (or `-`: send it again); a lone 0x03 outside a packet is the client's interrupt (Ctrl-C).
// '#', '$', '}' and '*' inside data are escaped as '}' followed by the byte XOR 0x20.

export const INTERRUPT = 0x03;

/** What the decoder found in the client's bytes, in order. */
export type RspInput = { kind: 'packet'; data: string } | { kind: 'interrupt' } | { kind: 'bad-checksum' };

/** Splits the client's byte stream into packets, interrupts and acks (acks are dropped). */
export class RspDecoder {
  private state: 'idle' | 'data' | 'cs1' | 'cs2' = 'idle';
  private data: number[] = [];
  private sum = 0;
  private cs = 0;

  feed(bytes: Uint8Array, out: RspInput[]): void {
    for (const b of bytes) {
      switch (this.state) {
        case 'idle':
          if (b === 0x24 /* $ */) {
            this.state = 'data';
            this.data = [];
            this.sum = 0;
          } else if (b === INTERRUPT) out.push({ kind: 'interrupt' });
          break; // '+', '-' and noise between packets
        case 'data':
          if (b === 0x23 /* # */) this.state = 'cs1';
          else {
            this.data.push(b);
            this.sum = (this.sum + b) & 0xff;
          }
          break;
        case 'cs1':
          this.cs = hexDigit(b) << 4;
          this.state = 'cs2';
          break;
        case 'cs2': {
          this.cs |= hexDigit(b);
          this.state = 'idle';
          if (this.cs !== this.sum) out.push({ kind: 'bad-checksum' });
          else out.push({ kind: 'packet', data: unescapeData(this.data) });
          break;
        }
      }
    }
  }
}

function hexDigit(b: number): number {
  const c = String.fromCharCode(b);
  const v = Number.parseInt(c, 16);
  return Number.isNaN(v) ? 0x100 : v; // a bad digit never matches a checksum
}

function unescapeData(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    s += String.fromCharCode(b === 0x7d /* } */ && i + 1 < bytes.length ? bytes[++i] ^ 0x20 : b);
  }
  return s;
}

/** `$data#cs`, with the bytes that need it escaped. `data` is latin1 (one char per byte). */
export function framePacket(data: string): string {
  let body = '';
  let sum = 0;
  for (const ch of data) {
    const c = ch.charCodeAt(0);
    const esc = c === 0x23 || c === 0x24 || c === 0x7d || c === 0x2a;
    const part = esc ? `}${String.fromCharCode(c ^ 0x20)}` : ch;
    for (const p of part) sum = (sum + p.charCodeAt(0)) & 0xff;
    body += part;
  }
  return `$${body}#${sum.toString(16).padStart(2, '0')}`;
}

/** Bytes as the protocol's hex (two lowercase digits a byte). */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Hex digits to bytes; null for an odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Text as hex (qThreadExtraInfo, qRcmd output). */
export function textToHex(text: string): string {
  return toHex(Buffer.from(text, 'utf8'));
}
