// BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT, POPCNT, BSWAP.
// Undefined flags and registers (Intel SDM vol 2 / AMD APM vol 3, each instruction):
//  - BT*: OF SF AF PF undefined; CF = the bit; ZF unaffected (so compared).
//  - BSF/BSR: CF OF SF AF PF undefined. With a zero source AMD documents the destination as
//    unchanged but Intel as undefined, so the destination register is masked for those cases.
//  - TZCNT/LZCNT: OF SF AF PF undefined (CF and ZF defined).
//  - POPCNT: all defined (ZF from the source, the other five cleared).
//  - BSWAP with a 16-bit operand is undefined, so only the 32/64-bit forms are tested.
import { enc, encR, le } from '../encode.mjs';
import { AF, CF, OF, PF, SF } from '../flags.mjs';
import { form, memExclude, memReg, PFX, regReg, SZ } from './common.mjs';

const F = 'bits';
const BT_UF = OF | SF | AF | PF;
const BT = [
  ['bt', 0xa3, 4],
  ['bts', 0xab, 5],
  ['btr', 0xb3, 6],
  ['btc', 0xbb, 7],
];
const hx = (n) => n.toString(16).toUpperCase();

const out = [];
for (const [name, op, digit] of BT) {
  for (const w of [16, 32, 64]) {
    out.push(
      form(
        F,
        `${name} r/m${w}, r${w} (${PFX[w]}0F ${hx(op)} /r) reg`,
        (c) => regReg(c, { widths: [w, w], e: { ...SZ[w], op: [0x0f, op] } }),
        { uf: BT_UF },
      ),
    );
    out.push(
      form(
        F,
        `${name} r/m${w}, imm8 (${PFX[w]}0F BA /${digit} ib) reg`,
        (c) =>
          regReg(c, {
            widths: [w],
            e: { ...SZ[w], op: [0x0f, 0xba], reg: digit },
            imm: (c) => le(c.count(w), 1),
          }),
        { uf: BT_UF },
      ),
    );
  }
}

/**
 * Bit-string forms: a register bit offset in [-64, 191] may address bytes outside the operand
 * (Intel SDM vol 1 3.7.5 / "BT"): the window is random bytes around the operand.
 */
function btMem(name, op, w) {
  return form(
    F,
    `${name} m${w}, r${w} (${PFX[w]}0F ${hx(op)} /r) mem bit string`,
    (c) => {
      const sel = c.pickRegs([w], { rexW: w === 64 });
      const base = c.window(64);
      c.memRandom(base, 64);
      const mem = c.memAt(base + 24, memExclude(sel));
      c.set(sel.ops[0], BigInt.asUintN(w, BigInt(c.int(256) - 64)));
      return enc({ ...SZ[w], rex: sel.rex, op: [0x0f, op], reg: sel.ops[0].num, mem });
    },
    { uf: BT_UF },
  );
}
out.push(
  btMem('bt', 0xa3, 32),
  btMem('bts', 0xab, 32),
  btMem('btr', 0xb3, 64),
  btMem('btc', 0xbb, 16),
  btMem('bts', 0xab, 16),
);
for (const [name, , digit] of BT) {
  const w = { bt: 32, bts: 64, btr: 16, btc: 32 }[name];
  out.push(
    form(
      F,
      `${name} m${w}, imm8 (${PFX[w]}0F BA /${digit} ib) mem`,
      (c) =>
        memReg(c, { n: w / 8, e: { ...SZ[w], op: [0x0f, 0xba], reg: digit }, imm: (c) => le(c.count(w), 1) }),
      { uf: BT_UF },
    ),
  );
}

/** Masks the destination when the source is zero (BSF/BSR only). */
const zeroSrcUndef = (c, dest, src) => {
  if (src === 0n) c.ug.add(dest.idx);
};
for (const [name, pre, op, uf] of [
  ['bsf', [], 0xbc, CF | OF | SF | AF | PF],
  ['bsr', [], 0xbd, CF | OF | SF | AF | PF],
  ['tzcnt', [0xf3], 0xbc, OF | SF | AF | PF],
  ['lzcnt', [0xf3], 0xbd, OF | SF | AF | PF],
  ['popcnt', [0xf3], 0xb8, 0],
]) {
  const p = pre.length ? 'F3 ' : '';
  const isBs = name.startsWith('bs');
  for (const w of [16, 32, 64]) {
    out.push(
      form(
        F,
        `${name} r${w}, r/m${w} (${p}${PFX[w]}0F ${hx(op)} /r) reg`,
        (c) =>
          regReg(c, {
            widths: [w, w],
            e: { ...SZ[w], pre, op: [0x0f, op] },
            // ModRM.rm is the source here; sparse and zero sources matter most.
            setup: (c, src, dst) => {
              if (c.bool(0.15)) c.set(src, 0n);
              if (isBs) zeroSrcUndef(c, dst, c.get(src));
            },
          }),
        { uf },
      ),
    );
  }
  const mw = name === 'popcnt' ? 64 : 32;
  out.push(
    form(
      F,
      `${name} r${mw}, r/m${mw} (${p}${PFX[mw]}0F ${hx(op)} /r) mem`,
      (c) =>
        memReg(c, {
          n: mw / 8,
          regW: mw,
          e: { ...SZ[mw], pre, op: [0x0f, op] },
          setup: (c, addr, dst) => {
            if (c.bool(0.15)) c.memPut(addr, 0n, mw / 8);
            const b = c.mem.bytes.slice(addr - c.mem.addr, addr - c.mem.addr + mw / 8);
            if (isBs && b.every((x) => x === 0)) c.ug.add(dst.idx);
          },
        }),
      { uf },
    ),
  );
}

for (const w of [32, 64]) {
  out.push(
    form(F, `bswap r${w} (${PFX[w]}0F C8+rd)`, (c) => {
      const r = c.int(16);
      c.put(r, c.val(64));
      return encR({ w: w === 64, op: [0x0f, 0xc8], r });
    }),
  );
}

export default out;
