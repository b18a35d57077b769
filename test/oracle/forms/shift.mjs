// SHL SHR SAR ROL ROR RCL RCR by 1, by CL and by imm8, all widths, plus a memory form each.
// The count is masked to 5 bits (6 with REX.W); a masked count of 0 changes no flags.
// Undefined flags (Intel SDM vol 2 SAL/SAR/SHL/SHR and RCL/RCR/ROL/ROR "Flags Affected";
// AMD APM vol 3 same instructions):
//  - shifts, masked count != 0: AF undefined; OF undefined unless the masked count is 1;
//    SHL/SHR with masked count >= operand width (8/16-bit only): CF undefined (Intel; SAR excluded).
//  - rotates: OF undefined unless the masked count is 1 (RCL/RCR/ROL/ROR never touch SF ZF AF PF).
import { le } from '../encode.mjs';
import { AF, CF, OF } from '../flags.mjs';
import { form, h2, memReg, PFX, regReg, SZ, WIDTHS } from './common.mjs';

const F = 'shift';
const OPS = [
  ['rol', 0],
  ['ror', 1],
  ['rcl', 2],
  ['rcr', 3],
  ['shl', 4],
  ['shr', 5],
  ['sar', 7],
];

/** Flags the manuals leave undefined for `op` of width w with raw count byte `count`. */
export function shiftUndef(op, w, count) {
  const m = count & (w === 64 ? 63 : 31);
  if (m === 0) return 0;
  let u = m > 1 ? OF : 0;
  if (op === 'shl' || op === 'shr' || op === 'sar') u |= AF;
  if ((op === 'shl' || op === 'shr') && m >= w) u |= CF;
  return u;
}

const out = [];
for (const [name, n] of OPS) {
  for (const w of WIDTHS) {
    const b = w === 8 ? 0 : 1;
    out.push(
      form(F, `${name} r/m${w}, 1 (${PFX[w]}${h2(0xd0 + b)} /${n}) reg`, (c) => {
        c.uf = shiftUndef(name, w, 1);
        return regReg(c, { widths: [w], e: { ...SZ[w], op: [0xd0 + b], reg: n } });
      }),
    );
    out.push(
      form(F, `${name} r/m${w}, CL (${PFX[w]}${h2(0xd2 + b)} /${n}) reg`, (c) => {
        const code = regReg(c, {
          widths: [w],
          e: { ...SZ[w], op: [0xd2 + b], reg: n },
          setup: (c) => c.put(1, c.count(w), 8),
        });
        c.uf = shiftUndef(name, w, Number(c.gpr[1] & 0xffn));
        return code;
      }),
    );
    out.push(
      form(F, `${name} r/m${w}, imm8 (${PFX[w]}${h2(0xc0 + b)} /${n} ib) reg`, (c) => {
        const count = c.count(w);
        c.uf = shiftUndef(name, w, count);
        return regReg(c, { widths: [w], e: { ...SZ[w], op: [0xc0 + b], reg: n }, imm: () => le(count, 1) });
      }),
    );
  }
  out.push(
    form(F, `${name} r/m32, CL (D3 /${n}) mem`, (c) => {
      const code = memReg(c, {
        n: 4,
        e: { op: [0xd3], reg: n },
        exclude: [1],
        setup: (c) => c.put(1, c.count(32), 8),
      });
      c.uf = shiftUndef(name, 32, Number(c.gpr[1] & 0xffn));
      return code;
    }),
  );
}

export default out;
