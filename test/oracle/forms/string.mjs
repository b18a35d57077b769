// MOVS STOS LODS SCAS CMPS, byte to qword, with and without REP/REPE/REPNE, DF either way, and a few
// 32-bit address-size (67) forms that must use ESI/EDI/ECX only. Flags: SCAS/CMPS like CMP (from
// the last comparison; unchanged when RCX=0), the others none. Nothing is undefined.
import { DF } from '../flags.mjs';
import { form } from './common.mjs';

const F = 'string';
const SIZES = { b: 1, w: 2, d: 4, q: 8 };
const OPC = { movs: 0xa4, cmps: 0xa6, stos: 0xaa, lods: 0xac, scas: 0xae };
const WIN_LEN = 160;
/** Fixed, position-dependent fill: every byte differs from its neighbours and compresses well. */
const fill = (i) => (i * 7 + 0x11) & 0xff;

function stringForm(kind, sz, rep, a32 = false) {
  const n = SIZES[sz];
  const pre = [...(a32 ? [0x67] : []), ...(rep ? [{ rep: 0xf3, repe: 0xf3, repne: 0xf2 }[rep]] : [])];
  const code = [...pre, ...(n === 2 ? [0x66] : n === 8 ? [0x48] : []), OPC[kind] + (n === 1 ? 0 : 1)];
  const name = `${a32 ? 'a32 ' : ''}${rep ? `${rep} ` : ''}${kind}${sz} (${code.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ')})`;
  return form(F, name, (c) => {
    const base = c.window(WIN_LEN);
    for (let i = 0; i < WIN_LEN; i++) c.mem.bytes[i] = fill(i);
    c.rflags = (c.rflags & ~BigInt(DF)) | (c.bool(0.5) ? BigInt(DF) : 0n);
    const down = (c.rflags & BigInt(DF)) !== 0n;
    const rsi = base + 36 + c.int(8);
    const rdi = base + 116 + c.int(8);
    const max = Math.floor(32 / n);
    const count = rep ? (c.edge ? c.pick([0, 1, 2, 3, max]) : c.int(max + 1)) : 1;
    const step = down ? -n : n;
    // CMPS: make the destination equal to the source with at most one mutation, so REPE runs on.
    if (kind === 'cmps') {
      const m = c.mem.bytes;
      for (let e = 0; e < count; e++) {
        for (let b = 0; b < n; b++) m[rdi - base + e * step + b] = m[rsi - base + e * step + b];
      }
      if (c.bool(0.7)) m[rdi - base + step * c.int(Math.max(count, 1)) + c.int(n)] ^= 1 << c.int(8);
    }
    const wide = (v) => (a32 ? (c.rng.u64() << 32n) | BigInt(v) : BigInt(v));
    c.put(6, wide(rsi));
    c.put(7, wide(rdi));
    if (rep) c.put(1, wide(count));
    c.put(0, c.val(64));
    // SCAS: search for an element that is present half of the time.
    if (kind === 'scas' && c.bool(0.5)) {
      const at = rdi + step * c.int(Math.max(count, 1));
      let v = 0n;
      for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(c.mem.bytes[at - base + i]);
      c.put(0, v, n * 8);
    }
    return code;
  });
}

const out = [];
for (const sz of Object.keys(SIZES)) {
  for (const kind of ['movs', 'stos', 'lods', 'scas', 'cmps']) out.push(stringForm(kind, sz, null));
  out.push(stringForm('movs', sz, 'rep'), stringForm('stos', sz, 'rep'));
}
out.push(stringForm('lods', 'b', 'rep'));
for (const [kind, sz, rep] of [
  ['scas', 'b', 'repe'],
  ['scas', 'b', 'repne'],
  ['scas', 'w', 'repe'],
  ['scas', 'd', 'repne'],
  ['scas', 'q', 'repe'],
  ['scas', 'q', 'repne'],
  ['cmps', 'b', 'repe'],
  ['cmps', 'b', 'repne'],
  ['cmps', 'w', 'repe'],
  ['cmps', 'd', 'repe'],
  ['cmps', 'q', 'repne'],
]) {
  out.push(stringForm(kind, sz, rep));
}
out.push(
  stringForm('movs', 'b', 'rep', true),
  stringForm('lods', 'd', null, true),
  stringForm('scas', 'b', 'repne', true),
);

export default out;
