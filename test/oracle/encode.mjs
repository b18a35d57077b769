// Minimal x86-64 encoder for the forms table: legacy prefixes, 66, REX, opcode, ModRM/SIB/disp, imm.
// Register numbers are 0..15 in encoding order (RAX RCX RDX RBX RSP RBP RSI RDI R8..R15).

/** Little-endian bytes of a BigInt/number. */
export function le(v, n) {
  let x = BigInt.asUintN(n * 8, BigInt(v));
  const out = [];
  for (let i = 0; i < n; i++, x >>= 8n) out.push(Number(x & 0xffn));
  return out;
}

const fitsI8 = (d) => d >= -128 && d <= 127;

/** ModRM (+SIB +disp) for a memory operand {base, index?, scale?, disp?, rip?, noBase?, disp32?}. */
function memBytes(reg, m) {
  const r = (reg & 7) << 3;
  const disp = m.disp ?? 0;
  if (m.rip) return { bytes: [0x05 | r, ...le(disp, 4)], x: 0, b: 0 };
  if (m.noBase) {
    // SIB with base=101 and mod=00: [index*scale + disp32], no base register.
    const ss = { 1: 0, 2: 1, 4: 2, 8: 3 }[m.scale ?? 1];
    return { bytes: [0x04 | r, (ss << 6) | ((m.index & 7) << 3) | 5, ...le(disp, 4)], x: m.index >> 3, b: 0 };
  }
  const base = m.base;
  const hasIndex = m.index !== undefined;
  if (hasIndex && m.index === 4) throw new Error('RSP cannot be an index');
  let mod;
  if (m.disp32) mod = 2;
  else if (disp === 0 && (base & 7) !== 5) mod = 0;
  else mod = fitsI8(disp) ? 1 : 2;
  const dispBytes = mod === 0 ? [] : le(disp, mod === 1 ? 1 : 4);
  if (!hasIndex && (base & 7) !== 4)
    return { bytes: [(mod << 6) | r | (base & 7), ...dispBytes], x: 0, b: base >> 3 };
  const ss = { 1: 0, 2: 1, 4: 2, 8: 3 }[m.scale ?? 1];
  const idx = hasIndex ? m.index : 4;
  const sib = (ss << 6) | ((idx & 7) << 3) | (base & 7);
  return { bytes: [(mod << 6) | r | 4, sib, ...dispBytes], x: idx >> 3, b: base >> 3 };
}

/**
 * Encodes prefixes + opcode + ModRM form. `reg` is the ModRM.reg register or /digit; `rm` a register
 * (mod=3) or `mem` a memory operand. `rex` forces a REX byte (SPL..DIL), `noRex` forbids one (AH..BH).
 */
export function enc({
  pre = [],
  o16 = false,
  w = false,
  rex = false,
  noRex = false,
  op,
  reg = 0,
  rm,
  mem,
  imm = [],
}) {
  let body;
  let x = 0;
  let b = 0;
  if (mem) ({ bytes: body, x, b } = memBytes(reg, mem));
  else {
    body = [0xc0 | ((reg & 7) << 3) | (rm & 7)];
    b = rm >> 3;
  }
  const r = (reg >> 3) & 1;
  const rexByte = 0x40 | (w ? 8 : 0) | (r << 2) | (x << 1) | b;
  const needRex = rex || rexByte !== 0x40;
  if (needRex && noRex) throw new Error('encoding needs REX but uses AH..BH');
  return [...pre, ...(o16 ? [0x66] : []), ...(needRex ? [rexByte] : []), ...op, ...body, ...imm];
}

/** Encodes an opcode with the register in its low 3 bits (B8+r, 50+r, 0F C8+r ...). */
export function encR({ pre = [], o16 = false, w = false, rex = false, noRex = false, op, r, imm = [] }) {
  const rexByte = 0x40 | (w ? 8 : 0) | (r >> 3);
  const needRex = rex || rexByte !== 0x40;
  if (needRex && noRex) throw new Error('encoding needs REX but uses AH..BH');
  const last = op[op.length - 1] + (r & 7);
  return [...pre, ...(o16 ? [0x66] : []), ...(needRex ? [rexByte] : []), ...op.slice(0, -1), last, ...imm];
}
