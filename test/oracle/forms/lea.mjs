// LEA with 64/32/16-bit operand size and 64/32-bit address size (67 prefix), RIP-relative and
// base-less SIB forms. 16-bit address size does not exist in 64-bit mode (67 selects 32-bit).
// LEA does not access memory, so base/index hold arbitrary values. No flags change.
import { enc } from '../encode.mjs';
import { form } from './common.mjs';

const F = 'lea';

/** Random addressing: base (any GPR), optional index (not RSP) and scale, disp of 0/8/32 bits. */
function randomMem(c, kind) {
  const dispSizes = [0, 8, 32];
  const ds = c.pick(dispSizes);
  const disp = ds === 0 ? 0 : ds === 8 ? c.int(256) - 128 : Number(BigInt.asIntN(32, c.val(32)));
  if (kind === 'rip') return { rip: true, disp: Number(BigInt.asIntN(32, c.val(32))) };
  const idxOk = [...Array(16).keys()].filter((n) => n !== 4);
  if (kind === 'nobase') {
    const index = c.pick(idxOk);
    c.put(index, c.val(64));
    return { noBase: true, index, scale: c.pick([1, 2, 4, 8]), disp: Number(BigInt.asIntN(32, c.val(32))) };
  }
  const m = { base: c.int(16), disp, disp32: ds === 32 };
  c.put(m.base, c.val(64));
  if (c.bool(0.6)) {
    m.index = c.pick(idxOk);
    m.scale = c.pick([1, 2, 4, 8]);
    c.put(m.index, c.val(64));
  }
  return m;
}

const out = [];
for (const [name, pre, o16, w, kind] of [
  ['lea r64, m (REX.W 8D /r)', [], false, true, 'any'],
  ['lea r32, m (8D /r)', [], false, false, 'any'],
  ['lea r16, m (66 8D /r)', [], true, false, 'any'],
  ['lea r64, m with 32-bit addressing (67 REX.W 8D /r)', [0x67], false, true, 'any'],
  ['lea r32, m with 32-bit addressing (67 8D /r)', [0x67], false, false, 'any'],
  ['lea r16, m with 32-bit addressing (66 67 8D /r)', [0x67], true, false, 'any'],
  ['lea r64, [rip+disp32] (REX.W 8D /r)', [], false, true, 'rip'],
  ['lea r64, [eip+disp32] (67 REX.W 8D /r)', [0x67], false, true, 'rip'],
  ['lea r64, [index*scale+disp32] no base (REX.W 8D /r SIB base=101)', [], false, true, 'nobase'],
]) {
  out.push(
    form(F, name, (c) => {
      const dest = c.int(16);
      c.put(dest, c.val(64));
      const mem = randomMem(c, kind);
      return enc({ pre, o16, w, op: [0x8d], reg: dest, mem });
    }),
  );
}

export default out;
