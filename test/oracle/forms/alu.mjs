// ADD OR ADC SBB AND SUB XOR CMP and TEST in every encoding family.
// Undefined flags: AND/OR/XOR/TEST leave AF undefined (Intel SDM vol 2 "Flags Affected"; AMD APM
// vol 3 rFLAGS tables mark AF "U"). ADD/ADC/SUB/SBB/CMP define all six.
import { le } from '../encode.mjs';
import { AF } from '../flags.mjs';
import { form, h2, memReg, PFX, regReg, SZ, WIDTHS } from './common.mjs';

const F = 'alu';
const OPS = [
  ['add', 0],
  ['or', 1],
  ['adc', 2],
  ['sbb', 3],
  ['and', 4],
  ['sub', 5],
  ['xor', 6],
  ['cmp', 7],
];
const LOGIC = new Set(['and', 'or', 'xor']);

function aluForms(name, n) {
  const b = n * 8;
  const uf = LOGIC.has(name) ? AF : 0;
  const out = [];
  const add = (fname, build) => out.push(form(F, fname, build, { uf }));
  for (const w of WIDTHS) {
    const op = [w === 8 ? b : b + 1];
    add(`${name} r/m${w}, r${w} (${PFX[w]}${h2(op[0])} /r) reg`, (c) =>
      regReg(c, { widths: [w, w], e: { ...SZ[w], op } }),
    );
  }
  add(`${name} r64, r/m64 (REX.W ${h2(b + 3)} /r) mem`, (c) =>
    memReg(c, { n: 8, regW: 64, e: { w: true, op: [b + 3] } }),
  );
  add(`${name} r/m32, r32 (${h2(b + 1)} /r) mem`, (c) => memReg(c, { n: 4, regW: 32, e: { op: [b + 1] } }));
  add(`${name} r8, r/m8 (${h2(b + 2)} /r) mem`, (c) => memReg(c, { n: 1, regW: 8, e: { op: [b + 2] } }));
  add(`${name} r/m8, imm8 (80 /${n}) reg`, (c) =>
    regReg(c, { widths: [8], e: { op: [0x80], reg: n }, imm: (c) => le(c.val(8), 1) }),
  );
  add(`${name} r/m16, imm8 (66 83 /${n}) reg`, (c) =>
    regReg(c, { widths: [16], e: { o16: true, op: [0x83], reg: n }, imm: (c) => le(c.val(8), 1) }),
  );
  add(`${name} r/m32, imm32 (81 /${n}) reg`, (c) =>
    regReg(c, { widths: [32], e: { op: [0x81], reg: n }, imm: (c) => le(c.val(32), 4) }),
  );
  add(`${name} r/m64, imm8 (REX.W 83 /${n}) reg`, (c) =>
    regReg(c, { widths: [64], e: { w: true, op: [0x83], reg: n }, imm: (c) => le(c.val(8), 1) }),
  );
  add(`${name} r/m64, imm32 (REX.W 81 /${n}) reg`, (c) =>
    regReg(c, { widths: [64], e: { w: true, op: [0x81], reg: n }, imm: (c) => le(c.val(32), 4) }),
  );
  for (const [w, reg] of [
    [8, 'AL'],
    [16, 'AX'],
    [32, 'EAX'],
    [64, 'RAX'],
  ]) {
    const iw = Math.min(w, 32) / 8;
    add(`${name} ${reg}, imm${iw * 8} (${PFX[w]}${h2(w === 8 ? b + 4 : b + 5)})`, (c) => {
      c.put(0, c.val(w), w);
      return [
        ...(w === 16 ? [0x66] : w === 64 ? [0x48] : []),
        w === 8 ? b + 4 : b + 5,
        ...le(c.val(iw * 8), iw),
      ];
    });
  }
  // LOCK needs a memory destination and a read-modify-write op: CMP with LOCK is #UD.
  add(`lock ${name} r/m32, imm8 (F0 83 /${n}) mem${name === 'cmp' ? ' #UD' : ''}`, (c) =>
    memReg(c, { n: 4, e: { pre: [0xf0], op: [0x83], reg: n }, imm: (c) => le(c.val(8), 1) }),
  );
  return out;
}

function testForms() {
  const out = [];
  const add = (fname, build) => out.push(form(F, fname, build, { uf: AF }));
  for (const w of WIDTHS) {
    add(`test r/m${w}, r${w} (${PFX[w]}${h2(w === 8 ? 0x84 : 0x85)} /r) reg`, (c) =>
      regReg(c, { widths: [w, w], e: { ...SZ[w], op: [w === 8 ? 0x84 : 0x85] } }),
    );
  }
  add('test r/m32, r32 (85 /r) mem', (c) => memReg(c, { n: 4, regW: 32, e: { op: [0x85] } }));
  add('test r/m8, imm8 (F6 /0) reg', (c) =>
    regReg(c, { widths: [8], e: { op: [0xf6], reg: 0 }, imm: (c) => le(c.val(8), 1) }),
  );
  add('test r/m32, imm32 (F7 /0) reg', (c) =>
    regReg(c, { widths: [32], e: { op: [0xf7], reg: 0 }, imm: (c) => le(c.val(32), 4) }),
  );
  add('test r/m64, imm32 (REX.W F7 /0) reg', (c) =>
    regReg(c, { widths: [64], e: { w: true, op: [0xf7], reg: 0 }, imm: (c) => le(c.val(32), 4) }),
  );
  add('test r/m16, imm16 (66 F7 /0) mem', (c) =>
    memReg(c, { n: 2, e: { o16: true, op: [0xf7], reg: 0 }, imm: (c) => le(c.val(16), 2) }),
  );
  for (const [w, reg] of [
    [8, 'AL'],
    [16, 'AX'],
    [32, 'EAX'],
    [64, 'RAX'],
  ]) {
    const iw = Math.min(w, 32) / 8;
    add(`test ${reg}, imm${iw * 8} (${PFX[w]}${w === 8 ? 'A8' : 'A9'})`, (c) => {
      c.put(0, c.val(w), w);
      return [
        ...(w === 16 ? [0x66] : w === 64 ? [0x48] : []),
        w === 8 ? 0xa8 : 0xa9,
        ...le(c.val(iw * 8), iw),
      ];
    });
  }
  return out;
}

/** `lock add r/m32, r32` with a register destination: LOCK is only legal with memory. */
const lockReg = form(F, 'lock add r/m32, r32 (F0 01 /r) register dest #UD', (c) =>
  regReg(c, { widths: [32, 32], e: { pre: [0xf0], op: [0x01] } }),
);

export default [...OPS.flatMap(([name, n]) => aluForms(name, n)), ...testForms(), lockReg];
