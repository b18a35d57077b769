// MMX (no prefix, MM0-7 aliasing the x87 registers) and the same packed-integer forms with 66 on
// XMM0-7 (Intel SDM vol 1 ch. 9, vol 2; AMD APM vol 5). Each case starts from a random x87 state
// (TOP, tags, register images, sometimes a pending unmasked exception: #MF) and random XMM0-7;
// every MMX instruction must leave TOP = 0 and all tags valid, and writes set the register's
// exponent field to all ones. Operand values mix element-wise edge values (0, 1, the signed and
// unsigned limits) with random ones, so the saturating forms meet their limits.
import { enc } from '../encode.mjs';
import { form } from './common.mjs';
import { value80 } from './x87.mjs';

const F = 'mmx';
const XMM = 8;

/** A 64-bit packed value of `esize`-byte elements. */
function packed64(c, esize) {
  let v = 0n;
  const bits = BigInt(8 * esize);
  const m = (1n << bits) - 1n;
  const edges = [0n, 1n, m, m - 1n, m >> 1n, (m >> 1n) + 1n, (m >> 1n) - 1n];
  for (let i = 0; i < 8 / esize; i++) {
    const e = c.bool(0.5) ? c.pick(edges) : c.rng.u64() & m;
    v |= e << (bits * BigInt(i));
  }
  return v;
}

/**
 * A random x87 state (and XMM0-7 for the 66 forms); MM registers (stack slots, written in stack
 * order) get packed values.
 */
function state(c, esize, xmm = false) {
  const masks = c.bool(0.9) ? 0x3f : c.int(64);
  let sticky = c.bool(0.3) ? c.int(64) & masks : 0;
  if (c.bool(0.04)) sticky |= c.int(64);
  const es = sticky & ~masks & 0x3f ? 0x8080 : 0;
  const top = c.int(8);
  c.fpu(0x40 | masks | 0x300, sticky | es | (top << 11), c.int(256), xmm ? XMM : 0);
  for (let i = 0; i < 8; i++) {
    if (c.bool(0.2)) {
      const [se, sig] = value80(c);
      c.st(i, se, sig);
    } else c.st(i, c.bool(0.5) ? 0xffff : c.int(0x10000), packed64(c, esize));
  }
  for (let i = 0; i < (xmm ? XMM : 0); i++) {
    const lo = packed64(c, esize);
    const hi = packed64(c, esize);
    for (let k = 0; k < 8; k++) {
      c.fx[160 + 16 * i + k] = Number((lo >> BigInt(8 * k)) & 0xffn);
      c.fx[168 + 16 * i + k] = Number((hi >> BigInt(8 * k)) & 0xffn);
    }
  }
}

const out = [];
const add = (name, build) => out.push(form(F, name, build));
const h = (b) => b.toString(16).toUpperCase().padStart(2, '0');

/** The packed-integer forms: [name, opcode, element size]. */
const OPS = [
  ['paddb', 0xfc, 1],
  ['paddw', 0xfd, 2],
  ['paddd', 0xfe, 4],
  ['paddq', 0xd4, 8],
  ['psubb', 0xf8, 1],
  ['psubw', 0xf9, 2],
  ['psubd', 0xfa, 4],
  ['psubq', 0xfb, 8],
  ['paddsb', 0xec, 1],
  ['paddsw', 0xed, 2],
  ['paddusb', 0xdc, 1],
  ['paddusw', 0xdd, 2],
  ['psubsb', 0xe8, 1],
  ['psubsw', 0xe9, 2],
  ['psubusb', 0xd8, 1],
  ['psubusw', 0xd9, 2],
  ['pcmpeqb', 0x74, 1],
  ['pcmpeqw', 0x75, 2],
  ['pcmpeqd', 0x76, 4],
  ['pcmpgtb', 0x64, 1],
  ['pcmpgtw', 0x65, 2],
  ['pcmpgtd', 0x66, 4],
  ['pand', 0xdb, 8],
  ['pandn', 0xdf, 8],
  ['por', 0xeb, 8],
  ['pxor', 0xef, 8],
  ['punpcklbw', 0x60, 1],
  ['punpcklwd', 0x61, 2],
  ['punpckldq', 0x62, 4],
  ['punpckhbw', 0x68, 1],
  ['punpckhwd', 0x69, 2],
  ['punpckhdq', 0x6a, 4],
  ['packsswb', 0x63, 2],
  ['packssdw', 0x6b, 4],
  ['packuswb', 0x67, 2],
  ['pmullw', 0xd5, 2],
  ['pmulhw', 0xe5, 2],
  ['pmaddwd', 0xf5, 2],
  ['pminub', 0xda, 1],
  ['pmaxub', 0xde, 1],
  ['psrlw', 0xd1, 2],
  ['psrld', 0xd2, 4],
  ['psrlq', 0xd3, 8],
  ['psraw', 0xe1, 2],
  ['psrad', 0xe2, 4],
  ['psllw', 0xf1, 2],
  ['pslld', 0xf2, 4],
  ['psllq', 0xf3, 8],
];
const SHIFT_BY_REG = new Set([0xd1, 0xd2, 0xd3, 0xe1, 0xe2, 0xf1, 0xf2, 0xf3]);

/** A shift count operand: mostly small, sometimes past the element width or beyond 64 bits. */
function count64(c) {
  const k = c.int(6);
  if (k === 0) return c.rng.u64();
  if (k === 1) return BigInt(c.int(256));
  return BigInt(c.int(70));
}

for (const [mn, op, esize] of OPS) {
  for (const xmm of [false, true]) {
    const pre = xmm ? [0x66] : [];
    const reg = xmm ? 'xmm' : 'mm';
    const mem = xmm ? 'm128' : 'm64';
    const tag = `${xmm ? '66 ' : ''}0F ${h(op)}`;
    add(`${mn} ${reg}, ${reg} (${tag})`, (c) => {
      state(c, esize, xmm);
      const d = c.int(8);
      const s = c.int(8);
      if (SHIFT_BY_REG.has(op)) {
        const v = count64(c);
        if (xmm) for (let k = 0; k < 8; k++) c.fx[160 + 16 * s + k] = Number((v >> BigInt(8 * k)) & 0xffn);
        else c.st((s - (c.fx[3] >> 3)) & 7, c.int(0x10000), v);
      }
      return enc({ pre, op: [0x0f, op], reg: d, rm: s });
    });
    add(`${mn} ${reg}, ${mem} (${tag})`, (c) => {
      state(c, esize, xmm);
      const n = xmm ? 16 : 8;
      const { addr, mem: m } = c.memOperand(n, [], { align: xmm ? 16 : 0 });
      if (SHIFT_BY_REG.has(op)) c.memPut(addr, count64(c), 8);
      else c.memPut(addr, packed64(c, esize), 8);
      if (xmm) c.memPut(addr + 8, packed64(c, esize), 8);
      return enc({ pre, op: [0x0f, op], reg: c.int(8), mem: m });
    });
  }
}

// Shifts by an immediate: groups 71 (words), 72 (dwords), 73 (qwords; 66 /3 /7 bytes of XMM).
for (const [mn, op, r, xmmOnly] of [
  ['psrlw', 0x71, 2],
  ['psraw', 0x71, 4],
  ['psllw', 0x71, 6],
  ['psrld', 0x72, 2],
  ['psrad', 0x72, 4],
  ['pslld', 0x72, 6],
  ['psrlq', 0x73, 2],
  ['psllq', 0x73, 6],
  ['psrldq', 0x73, 3, true],
  ['pslldq', 0x73, 7, true],
]) {
  for (const xmm of xmmOnly ? [true] : [false, true]) {
    add(`${mn} ${xmm ? 'xmm' : 'mm'}, imm8 (${xmm ? '66 ' : ''}0F ${h(op)} /${r} ib)`, (c) => {
      state(c, op === 0x71 ? 2 : op === 0x72 ? 4 : 8, xmm);
      const imm = c.bool(0.7) ? c.int(70) : c.int(256);
      return enc({ pre: xmm ? [0x66] : [], op: [0x0f, op], reg: r, rm: c.int(8), imm: [imm] });
    });
  }
}
// The byte shifts do not exist for MMX registers.
add('psrldq mm, imm8 (0F 73 /3 ib) #UD', (c) => {
  state(c, 8);
  return enc({ op: [0x0f, 0x73], reg: 3, rm: c.int(8), imm: [c.int(16)] });
});

// Moves between MM registers, general registers and memory.
add('movd mm, r32 (0F 6E)', (c) => {
  state(c, 4);
  const r = c.int(16);
  c.put(r, c.val(64));
  return enc({ op: [0x0f, 0x6e], reg: c.int(8), rm: r });
});
add('movq mm, r64 (REX.W 0F 6E)', (c) => {
  state(c, 4);
  const r = c.int(16);
  c.put(r, c.val(64));
  return enc({ w: true, op: [0x0f, 0x6e], reg: c.int(8), rm: r });
});
add('movd mm, m32 (0F 6E)', (c) => {
  state(c, 4);
  const { addr, mem } = c.memOperand(4);
  c.memPut(addr, c.val(32), 4);
  return enc({ op: [0x0f, 0x6e], reg: c.int(8), mem });
});
add('movq mm, m64 (REX.W 0F 6E)', (c) => {
  state(c, 4);
  const { addr, mem } = c.memOperand(8);
  c.memPut(addr, c.val(64), 8);
  return enc({ w: true, op: [0x0f, 0x6e], reg: c.int(8), mem });
});
add('movd r32, mm (0F 7E)', (c) => {
  state(c, 4);
  const r = c.int(16);
  c.put(r, c.val(64));
  return enc({ op: [0x0f, 0x7e], reg: c.int(8), rm: r });
});
add('movq r64, mm (REX.W 0F 7E)', (c) => {
  state(c, 4);
  return enc({ w: true, op: [0x0f, 0x7e], reg: c.int(8), rm: c.int(16) });
});
add('movd m32, mm (0F 7E)', (c) => {
  state(c, 4);
  const { mem } = c.memOperand(4);
  return enc({ op: [0x0f, 0x7e], reg: c.int(8), mem });
});
add('movq m64, mm (REX.W 0F 7E)', (c) => {
  state(c, 4);
  const { mem } = c.memOperand(8);
  return enc({ w: true, op: [0x0f, 0x7e], reg: c.int(8), mem });
});
add('movq mm, mm (0F 6F)', (c) => {
  state(c, 8);
  return enc({ op: [0x0f, 0x6f], reg: c.int(8), rm: c.int(8) });
});
add('movq mm, m64 (0F 6F)', (c) => {
  state(c, 8);
  const { addr, mem } = c.memOperand(8);
  c.memPut(addr, c.val(64), 8);
  return enc({ op: [0x0f, 0x6f], reg: c.int(8), mem });
});
add('movq mm, mm (0F 7F)', (c) => {
  state(c, 8);
  return enc({ op: [0x0f, 0x7f], reg: c.int(8), rm: c.int(8) });
});
add('movq m64, mm (0F 7F)', (c) => {
  state(c, 8);
  const { mem } = c.memOperand(8);
  return enc({ op: [0x0f, 0x7f], reg: c.int(8), mem });
});
add('emms (0F 77)', (c) => {
  state(c, 8);
  return [0x0f, 0x77];
});

// The SSE half-register moves (0F 12/13/16/17 and their 66 forms) on XMM0-7, checked the same way.
for (const [name, pre, op, memOnly] of [
  ['movlps xmm, m64 (0F 12)', [], 0x12, true],
  ['movhlps xmm, xmm (0F 12)', [], 0x12, false],
  ['movlps m64, xmm (0F 13)', [], 0x13, true],
  ['movhps xmm, m64 (0F 16)', [], 0x16, true],
  ['movlhps xmm, xmm (0F 16)', [], 0x16, false],
  ['movhps m64, xmm (0F 17)', [], 0x17, true],
  ['movlpd xmm, m64 (66 0F 12)', [0x66], 0x12, true],
  ['movhpd m64, xmm (66 0F 17)', [0x66], 0x17, true],
]) {
  add(name, (c) => {
    state(c, 8, true);
    const head = { pre, op: [0x0f, op], reg: c.int(XMM) };
    if (!memOnly) return enc({ ...head, rm: c.int(XMM) });
    const { addr, mem } = c.memOperand(8);
    c.memPut(addr, c.val(64), 8);
    return enc({ ...head, mem });
  });
}

export default out;
