// NEG NOT INC DEC. All flags they touch are defined (INC/DEC leave CF alone, NOT touches none).
import { form, memReg, PFX, regReg, SZ, WIDTHS } from './common.mjs';

const F = 'unary';
const OPS = [
  ['not', 2, 0xf6],
  ['neg', 3, 0xf6],
  ['inc', 0, 0xfe],
  ['dec', 1, 0xfe],
];
const MEM = { not: [4, ''], neg: [8, 'REX.W '], inc: [1, ''], dec: [2, '66 '] };

const out = [];
for (const [name, n, b] of OPS) {
  for (const w of WIDTHS) {
    const op = [w === 8 ? b : b + 1];
    out.push(
      form(F, `${name} r/m${w} (${PFX[w]}${op[0].toString(16).toUpperCase()} /${n}) reg`, (c) =>
        regReg(c, { widths: [w], e: { ...SZ[w], op, reg: n } }),
      ),
    );
  }
  const [bytes, p] = MEM[name];
  const w = bytes * 8;
  const op = [w === 8 ? b : b + 1];
  out.push(
    form(F, `${name} r/m${w} (${p}${op[0].toString(16).toUpperCase()} /${n}) mem`, (c) =>
      memReg(c, { n: bytes, e: { ...SZ[w], op, reg: n } }),
    ),
  );
}
out.push(
  form(F, 'lock inc r/m64 (F0 REX.W FF /0) mem', (c) =>
    memReg(c, { n: 8, e: { pre: [0xf0], w: true, op: [0xff], reg: 0 } }),
  ),
);

export default out;
