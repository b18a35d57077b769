// XCHG, CMPXCHG, CMPXCHG8B/16B, XADD. Flags: CMPXCHG sets them like CMP; CMPXCHG8B/16B change
// only ZF; XADD like ADD; XCHG none. Nothing is undefined.
import { enc, encR } from '../encode.mjs';
import { form, memReg, PFX, regReg, SZ, WIDTHS } from './common.mjs';

const F = 'xchg';
const out = [];
const hx = (n) => n.toString(16).toUpperCase();

for (const w of WIDTHS) {
  out.push(
    form(F, `xchg r/m${w}, r${w} (${PFX[w]}${w === 8 ? '86' : '87'} /r) reg`, (c) =>
      regReg(c, { widths: [w, w], e: { ...SZ[w], op: [w === 8 ? 0x86 : 0x87] } }),
    ),
  );
}
for (const [w, reg] of [
  [16, 'ax'],
  [32, 'eax'],
  [64, 'rax'],
]) {
  // Register 0 with REX.B is R8 (41 90 = xchg eax, r8d), never plain NOP.
  out.push(
    form(F, `xchg ${reg}, r${w} (${PFX[w]}90+r) r != 0`, (c) => {
      const r = 1 + c.int(15);
      c.put(0, c.val(64));
      c.put(r, c.val(64));
      return encR({ ...SZ[w], op: [0x90], r });
    }),
  );
}
out.push(
  form(F, 'xchg r32, eax (41 90 = xchg r8d, eax)', (c) => {
    c.put(0, c.val(64));
    c.put(8, c.val(64));
    return [0x41, 0x90];
  }),
);
out.push(
  form(F, 'xchg m64, r64 (REX.W 87 /r) mem', (c) =>
    memReg(c, { n: 8, regW: 64, e: { w: true, op: [0x87] } }),
  ),
);
out.push(form(F, 'xchg m8, r8 (86 /r) mem', (c) => memReg(c, { n: 1, regW: 8, e: { op: [0x86] } })));

/** Makes the accumulator equal to the destination half of the time, so both outcomes occur. */
const accMatch = (c, w, value) => c.put(0, c.bool(0.5) ? value : c.val(w), w);
for (const w of WIDTHS) {
  const op = [0x0f, w === 8 ? 0xb0 : 0xb1];
  out.push(
    form(F, `cmpxchg r/m${w}, r${w} (${PFX[w]}0F ${hx(op[1])} /r) reg`, (c) =>
      regReg(c, { widths: [w, w], e: { ...SZ[w], op }, setup: (c, d) => accMatch(c, w, c.get(d)) }),
    ),
  );
}
const memValue = (c, addr, n) =>
  c.mem.bytes
    .slice(addr - c.mem.addr, addr - c.mem.addr + n)
    .reduceRight((a, b) => (a << 8n) | BigInt(b), 0n);
for (const [w, lock] of [
  [32, false],
  [64, true],
  [8, true],
  [16, false],
]) {
  const op = [0x0f, w === 8 ? 0xb0 : 0xb1];
  out.push(
    form(
      F,
      `${lock ? 'lock ' : ''}cmpxchg m${w}, r${w} (${lock ? 'F0 ' : ''}${PFX[w]}0F ${hx(op[1])} /r) mem`,
      (c) =>
        memReg(c, {
          n: w / 8,
          regW: w,
          exclude: [0],
          e: { ...SZ[w], pre: lock ? [0xf0] : [], op },
          setup: (c, addr) => accMatch(c, w, memValue(c, addr, w / 8)),
        }),
    ),
  );
}

/** CMPXCHG8B/16B: rDX:rAX compared with the memory operand, rCX:rBX stored on a match. */
function cmpxchgNb(name, n, { lock = false, misalign = false } = {}) {
  return form(F, name, (c) => {
    const w = n * 4;
    const base = c.window(n + 32);
    const addr = base + 16 + (misalign ? 1 + c.int(15) : 0);
    c.memPut(addr, c.val(w), n / 2);
    c.memPut(addr + n / 2, c.val(w), n / 2);
    const mem = c.memAt(addr, [0, 1, 2, 3]);
    const lo = memValue(c, addr, n / 2);
    const hi = memValue(c, addr + n / 2, n / 2);
    const match = c.bool(0.5);
    c.put(0, match ? lo : c.val(w), w);
    c.put(2, match && c.bool(0.9) ? hi : c.val(w), w);
    c.put(3, c.val(64));
    c.put(1, c.val(64));
    return enc({ pre: lock ? [0xf0] : [], w: n === 16, op: [0x0f, 0xc7], reg: 1, mem });
  });
}
out.push(
  cmpxchgNb('cmpxchg8b m64 (0F C7 /1) mem', 8),
  cmpxchgNb('lock cmpxchg8b m64 (F0 0F C7 /1) mem', 8, { lock: true }),
);
out.push(
  cmpxchgNb('cmpxchg16b m128 (REX.W 0F C7 /1) mem aligned', 16),
  cmpxchgNb('lock cmpxchg16b m128 (F0 REX.W 0F C7 /1) mem aligned', 16, { lock: true }),
);
out.push(cmpxchgNb('cmpxchg16b m128 (REX.W 0F C7 /1) misaligned #GP', 16, { misalign: true }));

for (const w of WIDTHS) {
  const op = [0x0f, w === 8 ? 0xc0 : 0xc1];
  out.push(
    form(F, `xadd r/m${w}, r${w} (${PFX[w]}0F ${hx(op[1])} /r) reg`, (c) =>
      regReg(c, { widths: [w, w], e: { ...SZ[w], op } }),
    ),
  );
}
out.push(
  form(F, 'lock xadd m32, r32 (F0 0F C1 /r) mem', (c) =>
    memReg(c, { n: 4, regW: 32, e: { pre: [0xf0], op: [0x0f, 0xc1] } }),
  ),
);
out.push(
  form(F, 'xadd m64, r64 (REX.W 0F C1 /r) mem', (c) =>
    memReg(c, { n: 8, regW: 64, e: { w: true, op: [0x0f, 0xc1] } }),
  ),
);
export default out;
