// LAHF/SAHF, CBW/CWDE/CDQE/CWD/CDQ/CQO, NOP forms, and opcodes that must raise #UD in 64-bit mode.
// No flags are undefined here (SAHF loads SF ZF AF PF CF from AH and leaves OF alone).
import { enc } from '../encode.mjs';
import { form } from './common.mjs';

const F = 'misc';
const out = [];

/** A form whose only operands are RAX (and RDX), with random values. */
const acc = (name, code) =>
  form(F, name, (c) => {
    c.put(0, c.val(64));
    c.put(2, c.val(64));
    return code;
  });
out.push(acc('lahf (9F)', [0x9f]), acc('sahf (9E)', [0x9e]));
out.push(acc('cbw (66 98)', [0x66, 0x98]), acc('cwde (98)', [0x98]), acc('cdqe (REX.W 98)', [0x48, 0x98]));
out.push(acc('cwd (66 99)', [0x66, 0x99]), acc('cdq (99)', [0x99]), acc('cqo (REX.W 99)', [0x48, 0x99]));

// NOPs: 90 is NOP in 64-bit mode (it does not zero-extend EAX, unlike 87 C0).
out.push(
  acc('nop (90)', [0x90]),
  acc('xchg ax, ax / nop (66 90)', [0x66, 0x90]),
  acc('pause (F3 90)', [0xf3, 0x90]),
);
for (const [name, o16] of [
  ['nop r/m32 (0F 1F /0), random addressing', false],
  ['nop r/m16 (66 0F 1F /0), random addressing', true],
]) {
  out.push(
    form(F, name, (c) => {
      // The operand is never accessed: point it anywhere, no window.
      const mem = c.memAt(c.int(0x7fffffff), []);
      return enc({ o16, op: [0x0f, 0x1f], reg: 0, mem });
    }),
  );
}

// Invalid in 64-bit mode (Intel SDM vol 2 opcode map "i64"; AMD APM vol 3 Appendix A): #UD.
for (const [name, code] of [
  ['ud2 (0F 0B) #UD', [0x0f, 0x0b]],
  ['add r/m8, imm8 (82 /0) invalid in 64-bit #UD', [0x82, 0xc0, 0x01]],
  ['push cs (0E) invalid in 64-bit #UD', [0x0e]],
  ['aaa (37) invalid in 64-bit #UD', [0x37]],
  ['daa (27) invalid in 64-bit #UD', [0x27]],
  ['aam (D4 0A) invalid in 64-bit #UD', [0xd4, 0x0a]],
  ['pusha (60) invalid in 64-bit #UD', [0x60]],
]) {
  out.push(acc(name, code));
}

export default out;
