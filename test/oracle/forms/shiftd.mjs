// SHLD/SHRD with imm8 and CL counts, 16/32/64-bit, register and memory destinations.
// Undefined (Intel SDM vol 2 SHLD/SHRD; AMD APM vol 3 SHLD/SHRD): for a masked count != 0 AF is
// undefined and OF unless the count is 1. A masked count greater than the operand width (16-bit
// forms, counts 17..31) leaves the result and all six flags undefined. Older SDM editions say
// "COUNT >= SIZE" is bad, so a count equal to 16 is treated as undefined as well.
import { le } from '../encode.mjs';
import { AF, ARITH, OF } from '../flags.mjs';
import { form, memReg, PFX, regReg, SZ } from './common.mjs';

const F = 'shiftd';

function undef(c, w, count, dest) {
  const m = count & (w === 64 ? 63 : 31);
  if (m === 0) return;
  c.uf = AF | (m > 1 ? OF : 0);
  if (m >= w) {
    c.uf = ARITH;
    if (dest === 'mem') c.um = true;
    else c.ug.add(dest);
  }
}

const out = [];
for (const [name, base] of [
  ['shld', 0xa4],
  ['shrd', 0xac],
]) {
  for (const w of [16, 32, 64]) {
    const o = base.toString(16).toUpperCase();
    const oc = (base + 1).toString(16).toUpperCase();
    out.push(
      form(F, `${name} r/m${w}, r${w}, imm8 (${PFX[w]}0F ${o} /r ib) reg`, (c) => {
        const count = c.count(w);
        let dest;
        const code = regReg(c, {
          widths: [w, w],
          e: { ...SZ[w], op: [0x0f, base] },
          imm: () => le(count, 1),
          setup: (_c, d) => {
            dest = d.idx;
          },
        });
        undef(c, w, count, dest);
        return code;
      }),
    );
    out.push(
      form(F, `${name} r/m${w}, r${w}, CL (${PFX[w]}0F ${oc} /r) reg`, (c) => {
        let dest;
        const code = regReg(c, {
          widths: [w, w],
          e: { ...SZ[w], op: [0x0f, base + 1] },
          setup: (c, d) => {
            dest = d.idx;
            c.put(1, c.count(w), 8);
          },
        });
        undef(c, w, Number(c.gpr[1] & 0xffn), dest);
        return code;
      }),
    );
  }
}
out.push(
  form(F, 'shld r/m32, r32, CL (0F A5 /r) mem', (c) => {
    const code = memReg(c, {
      n: 4,
      regW: 32,
      e: { op: [0x0f, 0xa5] },
      exclude: [1],
      setup: (c) => c.put(1, c.count(32), 8),
    });
    undef(c, 32, Number(c.gpr[1] & 0xffn), 'mem');
    return code;
  }),
);
out.push(
  form(F, 'shrd r/m16, r16, imm8 (66 0F AC /r ib) mem', (c) => {
    const count = c.count(16);
    undef(c, 16, count, 'mem');
    return memReg(c, { n: 2, regW: 16, e: { o16: true, op: [0x0f, 0xac] }, imm: () => le(count, 1) });
  }),
);

export default out;
