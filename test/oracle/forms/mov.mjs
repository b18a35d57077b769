// MOV (all encodings incl. moffs, RIP-relative and 32-bit addressing), MOVZX, MOVSX, MOVSXD, MOVBE.
// None of these touch flags.

import { CODE_ADDR } from '../casegen.mjs';
import { enc, encR, le } from '../encode.mjs';
import { form, h2, memExclude, memReg, PFX, regReg, SZ, WIDTHS } from './common.mjs';

const F = 'mov';
const out = [];
const add = (name, build) => out.push(form(F, name, build));

for (const w of WIDTHS) {
  const st = w === 8 ? 0x88 : 0x89;
  const ld = w === 8 ? 0x8a : 0x8b;
  add(`mov r/m${w}, r${w} (${PFX[w]}${h2(st)} /r) reg`, (c) =>
    regReg(c, { widths: [w, w], e: { ...SZ[w], op: [st] } }),
  );
  add(`mov r${w}, m${w} (${PFX[w]}${h2(ld)} /r) mem`, (c) =>
    memReg(c, { n: w / 8, regW: w, e: { ...SZ[w], op: [ld] } }),
  );
  add(`mov m${w}, r${w} (${PFX[w]}${h2(st)} /r) mem`, (c) =>
    memReg(c, { n: w / 8, regW: w, e: { ...SZ[w], op: [st] } }),
  );
  const iw = w / 8;
  add(`mov r${w}, imm${w} (${PFX[w]}${w === 8 ? 'B0' : 'B8'}+r)`, (c) => {
    const sel = c.pickRegs([w], { rexW: w === 64 });
    const r = sel.ops[0];
    c.set(r, c.val(w));
    return encR({
      ...SZ[w],
      rex: sel.rex,
      noRex: sel.noRex,
      op: [w === 8 ? 0xb0 : 0xb8],
      r: r.num,
      imm: le(c.val(w), iw),
    });
  });
  const mi = Math.min(w, 32) / 8;
  add(`mov m${w}, imm${mi * 8} (${PFX[w]}${w === 8 ? 'C6' : 'C7'} /0) mem`, (c) =>
    memReg(c, {
      n: w / 8,
      e: { ...SZ[w], op: [w === 8 ? 0xc6 : 0xc7], reg: 0 },
      imm: (c) => le(c.val(mi * 8), mi),
    }),
  );
}
add('mov r8, r/m8 (8A /r) reg', (c) => regReg(c, { widths: [8, 8], e: { op: [0x8a] } }));
add('mov r32, r/m32 (8B /r) reg', (c) => regReg(c, { widths: [32, 32], e: { op: [0x8b] } }));
add('mov r/m64, imm32 sign-extended (REX.W C7 /0) reg', (c) =>
  regReg(c, { widths: [64], e: { w: true, op: [0xc7], reg: 0 }, imm: (c) => le(c.val(32), 4) }),
);

/** moffs forms: a full 64-bit absolute address follows the opcode. */
for (const [name, pre, op, n] of [
  ['mov al, moffs8 (A0)', [], 0xa0, 1],
  ['mov eax, moffs32 (A1)', [], 0xa1, 4],
  ['mov moffs64, rax (REX.W A3)', [0x48], 0xa3, 8],
  ['mov moffs16, ax (66 A3)', [0x66], 0xa3, 2],
]) {
  add(name, (c) => {
    const base = c.window(n + 32);
    const addr = base + 16 + c.int(8);
    c.memPut(addr, c.val(n * 8), n);
    c.put(0, c.val(64));
    return [...pre, op, ...le(addr, 8)];
  });
}

add('mov r32, [rip+disp32] (8B /r) mem', (c) => {
  const sel = c.pickRegs([32]);
  const base = c.window(36);
  const addr = base + 16 + c.int(8);
  c.memPut(addr, c.val(32), 4);
  c.set(sel.ops[0], c.val(32));
  const len = enc({ op: [0x8b], reg: sel.ops[0].num, mem: { rip: true } }).length;
  return enc({ op: [0x8b], reg: sel.ops[0].num, mem: { rip: true, disp: addr - (CODE_ADDR + len) } });
});
add('mov r32, m32 with 32-bit addressing (67 8B /r) mem', (c) => {
  // The effective address wraps at 32 bits: garbage above bit 31 of the base must not matter.
  const sel = c.pickRegs([32]);
  const { addr, mem } = c.memOperand(4, memExclude(sel));
  c.memPut(addr, c.val(32), 4);
  c.put(mem.base, (c.gpr[mem.base] & 0xffffffffn) | (c.rng.u64() << 32n));
  c.set(sel.ops[0], c.val(32));
  return enc({ pre: [0x67], op: [0x8b], reg: sel.ops[0].num, mem });
});

for (const [name, op] of [
  ['movzx', 0xb6],
  ['movsx', 0xbe],
]) {
  for (const [dw, sw] of [
    [16, 8],
    [32, 8],
    [64, 8],
    [32, 16],
    [64, 16],
  ]) {
    const o = sw === 8 ? op : op + 1;
    add(`${name} r${dw}, r/m${sw} (${PFX[dw]}0F ${h2(o)} /r) reg`, (c) =>
      regReg(c, { widths: [sw, dw], e: { ...SZ[dw], op: [0x0f, o] } }),
    );
  }
  add(`${name} r32, m8 (0F ${h2(op)} /r) mem`, (c) => memReg(c, { n: 1, regW: 32, e: { op: [0x0f, op] } }));
  add(`${name} r64, m16 (REX.W 0F ${h2(op + 1)} /r) mem`, (c) =>
    memReg(c, { n: 2, regW: 64, e: { w: true, op: [0x0f, op + 1] } }),
  );
}
add('movsxd r64, r/m32 (REX.W 63 /r) reg', (c) =>
  regReg(c, { widths: [32, 64], e: { w: true, op: [0x63] } }),
);
add('movsxd r64, m32 (REX.W 63 /r) mem', (c) => memReg(c, { n: 4, regW: 64, e: { w: true, op: [0x63] } }));

for (const w of [16, 32, 64]) {
  add(`movbe r${w}, m${w} (${PFX[w]}0F 38 F0 /r) mem`, (c) =>
    memReg(c, { n: w / 8, regW: w, e: { ...SZ[w], op: [0x0f, 0x38, 0xf0] } }),
  );
  add(`movbe m${w}, r${w} (${PFX[w]}0F 38 F1 /r) mem`, (c) =>
    memReg(c, { n: w / 8, regW: w, e: { ...SZ[w], op: [0x0f, 0x38, 0xf1] } }),
  );
}

export default out;
