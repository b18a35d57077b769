// MUL, IMUL (one, two and three operands), DIV, IDIV.
// Undefined flags: MUL/IMUL leave SF ZF AF PF undefined (CF/OF defined); DIV/IDIV leave all six
// undefined (Intel SDM vol 2 and AMD APM vol 3, "Flags Affected" of each instruction).
// DIV/IDIV cases mix valid quotients, divide-by-zero and quotient overflow (#DE, vector 0).
import { enc, le } from '../encode.mjs';
import { AF, ARITH, PF, SF, ZF } from '../flags.mjs';
import { mask } from '../values.mjs';
import { form, memReg, PFX, regReg, SZ, WIDTHS } from './common.mjs';

const F = 'muldiv';
const MUL_UF = SF | ZF | AF | PF;

/** Sets the implicit operands (AX, or rDX:rAX) of a one-operand multiply/divide. */
function putAcc(c, w, lo, hi) {
  if (w === 8) c.put(0, (hi << 8n) | lo, 16);
  else {
    c.put(0, lo, w);
    c.put(2, hi, w);
  }
}

/** A divisor and a dividend that usually divide cleanly, sometimes by zero or with overflow. */
function divOperands(c, w, signed) {
  const m = mask(w);
  const k = c.int(20);
  let d = c.val(w);
  if (k === 0) d = 0n;
  let hi;
  let lo = c.val(w);
  if (k === 1) {
    hi = c.val(w); // usually overflows
  } else if (k === 2 && signed) {
    d = m; // -1
    hi = m; // dividend = minimum negative value: quotient overflows
    lo = 1n << BigInt(w - 1);
    putAcc(c, w, lo, hi);
    return d;
  } else if (!signed) {
    hi = d === 0n ? 0n : BigInt.asUintN(w, c.rng.u64()) % d; // high part < divisor: no overflow
  } else {
    // Signed: quotient q and remainder r chosen so the dividend is q*d + r.
    const sd = BigInt.asIntN(w, d) || 1n;
    d = BigInt.asUintN(w, sd);
    const q = BigInt.asIntN(w, c.val(w)) >> BigInt(c.int(w));
    let r = BigInt.asUintN(64, c.rng.u64()) % (sd < 0n ? -sd : sd);
    if (q * sd < 0n) r = -r;
    const dividend = BigInt.asUintN(2 * w, q * sd + r);
    hi = dividend >> BigInt(w);
    lo = dividend & m;
  }
  putAcc(c, w, lo, hi);
  return d;
}

const out = [];
for (const [name, n] of [
  ['mul', 4],
  ['imul', 5],
]) {
  for (const w of WIDTHS) {
    const op = [w === 8 ? 0xf6 : 0xf7];
    out.push(
      form(
        F,
        `${name} r/m${w} (${PFX[w]}${w === 8 ? 'F6' : 'F7'} /${n}) reg`,
        (c) => {
          putAcc(c, w, c.val(w), c.val(w));
          return regReg(c, { widths: [w], e: { ...SZ[w], op, reg: n }, setup: (c, r) => c.set(r, c.val(w)) });
        },
        { uf: MUL_UF },
      ),
    );
  }
}
out.push(
  form(
    F,
    'mul r/m64 (REX.W F7 /4) mem',
    (c) => {
      putAcc(c, 64, c.val(64), c.val(64));
      return memReg(c, { n: 8, e: { w: true, op: [0xf7], reg: 4 }, exclude: [0, 2] });
    },
    { uf: MUL_UF },
  ),
);
out.push(
  form(
    F,
    'imul r/m32 (F7 /5) mem',
    (c) => {
      putAcc(c, 32, c.val(32), c.val(32));
      return memReg(c, { n: 4, e: { op: [0xf7], reg: 5 }, exclude: [0, 2] });
    },
    { uf: MUL_UF },
  ),
);
for (const w of [16, 32, 64]) {
  out.push(
    form(
      F,
      `imul r${w}, r/m${w} (${PFX[w]}0F AF /r) reg`,
      (c) => regReg(c, { widths: [w, w], e: { ...SZ[w], op: [0x0f, 0xaf] } }),
      { uf: MUL_UF },
    ),
  );
  out.push(
    form(
      F,
      `imul r${w}, r/m${w}, imm8 (${PFX[w]}6B /r ib) reg`,
      (c) => regReg(c, { widths: [w, w], e: { ...SZ[w], op: [0x6b] }, imm: (c) => le(c.val(8), 1) }),
      { uf: MUL_UF },
    ),
  );
  const iw = Math.min(w, 32);
  out.push(
    form(
      F,
      `imul r${w}, r/m${w}, imm${iw} (${PFX[w]}69 /r i${iw === 16 ? 'w' : 'd'}) reg`,
      (c) => regReg(c, { widths: [w, w], e: { ...SZ[w], op: [0x69] }, imm: (c) => le(c.val(iw), iw / 8) }),
      { uf: MUL_UF },
    ),
  );
}
out.push(
  form(
    F,
    'imul r64, r/m64 (REX.W 0F AF /r) mem',
    (c) => memReg(c, { n: 8, regW: 64, e: { w: true, op: [0x0f, 0xaf] } }),
    { uf: MUL_UF },
  ),
);
out.push(
  form(
    F,
    'imul r32, r/m32, imm32 (69 /r id) mem',
    (c) => memReg(c, { n: 4, regW: 32, e: { op: [0x69] }, imm: (c) => le(c.val(32), 4) }),
    { uf: MUL_UF },
  ),
);

for (const [name, n, signed] of [
  ['div', 6, false],
  ['idiv', 7, true],
]) {
  for (const w of WIDTHS) {
    const op = [w === 8 ? 0xf6 : 0xf7];
    out.push(
      form(
        F,
        `${name} r/m${w} (${PFX[w]}${w === 8 ? 'F6' : 'F7'} /${n}) reg`,
        (c) => {
          // The divisor register is usually not an implicit operand (it may be, rarely).
          const implicit = w === 8 ? [0] : [0, 2];
          const sel = c.pickRegs([w], {
            legacy: w === 8 ? c.bool(0.3) : false,
            exclude: c.bool(0.9) ? implicit : [],
          });
          const r = sel.ops[0];
          const d = divOperands(c, w, signed);
          if (!implicit.includes(r.idx)) c.set(r, d);
          return enc({ ...SZ[w], rex: sel.rex, noRex: sel.noRex, op, reg: n, rm: r.num });
        },
        { uf: ARITH },
      ),
    );
  }
}
out.push(
  form(
    F,
    'div r/m32 (F7 /6) mem',
    (c) =>
      memReg(c, {
        n: 4,
        e: { op: [0xf7], reg: 6 },
        exclude: [0, 2],
        setup: (c, addr) => c.memPut(addr, divOperands(c, 32, false), 4),
      }),
    { uf: ARITH },
  ),
);
out.push(
  form(
    F,
    'idiv r/m64 (REX.W F7 /7) mem',
    (c) =>
      memReg(c, {
        n: 8,
        e: { w: true, op: [0xf7], reg: 7 },
        exclude: [0, 2],
        setup: (c, addr) => c.memPut(addr, divOperands(c, 64, true), 8),
      }),
    { uf: ARITH },
  ),
);

export default out;
