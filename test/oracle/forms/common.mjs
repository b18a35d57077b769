// Shared helpers for the form tables.
import { enc } from '../encode.mjs';

/** Operand-size prefixes per width, as `enc` options. */
export const SZ = { 8: {}, 16: { o16: true }, 32: {}, 64: { w: true } };
/** Name prefix matching SZ (the encoding as the manuals write it). */
export const PFX = { 8: '', 16: '66 ', 32: '', 64: 'REX.W ' };
export const WIDTHS = [8, 16, 32, 64];
export const h2 = (n) => n.toString(16).toUpperCase().padStart(2, '0');

export function form(family, name, build, extra = {}) {
  return { family, name, build, ...extra };
}

/** Registers a memory operand must avoid: the operands' registers, and R8..R15 when REX is banned. */
export function memExclude(sel) {
  const ex = [];
  for (const o of sel.ops) ex.push(o.num, o.idx);
  if (sel.noRex) for (let i = 8; i < 16; i++) ex.push(i);
  return ex;
}

/**
 * Register form: ModRM.rm is a register of width widths[0]; ModRM.reg is a register of width
 * widths[1] or, with one width, the /digit `e.reg`. `e` holds the `enc` options (prefixes, op, w).
 * Random registers and values; `setup(c, rmOp, regOp)` may override values. Returns the code.
 */
export function regReg(c, { widths, e, imm, setup }) {
  const sel = c.pickRegs(widths, { rexW: !!e.w });
  const [rmOp, regOp] = sel.ops;
  c.set(rmOp, c.val(rmOp.w));
  if (regOp) c.set(regOp, c.val(regOp.w));
  setup?.(c, rmOp, regOp);
  const reg = regOp ? regOp.num : (e.reg ?? 0);
  return enc({ ...e, rex: sel.rex, noRex: sel.noRex, reg, rm: rmOp.num, imm: imm?.(c) ?? [] });
}

/**
 * Memory form: an n-byte memory operand (random value) and a register operand of width regW, or the
 * /digit `e.reg` when regW is 0; `exclude` keeps registers the form sets itself (e.g. RCX for CL)
 * out of the address. Returns the code; `setup(c, addr, regOp)` may override values.
 */
export function memReg(c, { n, regW = 0, e, imm, setup, align, exclude = [] }) {
  const sel = regW ? c.pickRegs([regW], { rexW: !!e.w }) : { ops: [], rex: false, noRex: false };
  const { addr, mem } = c.memOperand(n, [...memExclude(sel), ...exclude], { align });
  c.memPut(addr, c.val(n * 8), n);
  const regOp = sel.ops[0];
  if (regOp) c.set(regOp, c.val(regW));
  setup?.(c, addr, regOp);
  const reg = regOp ? regOp.num : (e.reg ?? 0);
  return enc({ ...e, rex: sel.rex, noRex: sel.noRex, reg, mem, imm: imm?.(c) ?? [] });
}
