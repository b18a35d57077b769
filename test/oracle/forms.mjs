// The table of instruction forms the oracle covers. Each form: { family, name, build(ctx) -> code
// bytes, uf? } where `uf` is the set of RFLAGS bits the manuals leave undefined for every case of the
// form (per-case additions come from build via ctx.uf / ctx.ug / ctx.um). See forms/*.mjs for
// the sources of each mask.
// Host (AMD EPYC, Zen 3) has MOVBE, LZCNT/ABM, POPCNT, BMI1 (TZCNT), CX16 and LAHF_LM; nothing is
// skipped for lack of a CPU feature. Forms left out on purpose: BSWAP r16 (undefined result),
// PUSHF/POPF (would expose host-only RFLAGS bits such as IF), 16-bit address size (impossible
// in 64-bit mode).
import alu from './forms/alu.mjs';
import bits from './forms/bits.mjs';
import cond from './forms/cond.mjs';
import lea from './forms/lea.mjs';
import misc from './forms/misc.mjs';
import mmx from './forms/mmx.mjs';
import mov from './forms/mov.mjs';
import muldiv from './forms/muldiv.mjs';
import shift from './forms/shift.mjs';
import shiftd from './forms/shiftd.mjs';
import stack from './forms/stack.mjs';
import string from './forms/string.mjs';
import unary from './forms/unary.mjs';
import x87 from './forms/x87.mjs';
import xchg from './forms/xchg.mjs';

export const FORMS = [
  ...mov,
  ...lea,
  ...alu,
  ...unary,
  ...shift,
  ...shiftd,
  ...muldiv,
  ...bits,
  ...cond,
  ...misc,
  ...xchg,
  ...string,
  ...stack,
  ...x87,
  ...mmx,
];

const seen = new Set();
for (const f of FORMS) {
  if (seen.has(f.name)) throw new Error(`duplicate form name: ${f.name}`);
  seen.add(f.name);
}
