// SETcc and CMOVcc for all 16 conditions. No flags change, so nothing is masked.
// CMOVcc r32 writes (zero-extends) the destination even when the condition is false.
import { form, memReg, PFX, regReg, SZ } from './common.mjs';

const F = 'cond';
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const hx = (n) => n.toString(16).toUpperCase();

const out = [];
CC.forEach((cc, i) => {
  out.push(
    form(F, `set${cc} r/m8 (0F ${hx(0x90 + i)} /0) reg`, (c) =>
      regReg(c, { widths: [8], e: { op: [0x0f, 0x90 + i], reg: 0 } }),
    ),
  );
});
CC.forEach((cc, i) => {
  out.push(
    form(F, `cmov${cc} r32, r/m32 (0F ${hx(0x40 + i)} /r) reg`, (c) =>
      regReg(c, { widths: [32, 32], e: { op: [0x0f, 0x40 + i] } }),
    ),
  );
});
out.push(
  form(F, 'setcc r/m8 (0F 90+cc /0) mem, random cc', (c) =>
    memReg(c, { n: 1, e: { op: [0x0f, 0x90 + c.int(16)], reg: 0 } }),
  ),
);
for (const w of [16, 64]) {
  out.push(
    form(F, `cmovcc r${w}, r/m${w} (${PFX[w]}0F 40+cc /r) reg, random cc`, (c) =>
      regReg(c, { widths: [w, w], e: { ...SZ[w], op: [0x0f, 0x40 + c.int(16)] } }),
    ),
  );
}
out.push(
  form(F, 'cmovcc r32, r/m32 (0F 40+cc /r) mem, random cc', (c) =>
    memReg(c, { n: 4, regW: 32, e: { op: [0x0f, 0x40 + c.int(16)] } }),
  ),
);

export default out;
