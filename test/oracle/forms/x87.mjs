// x87 arithmetic, loads, stores, comparisons, stack and environment instructions (Intel SDM vol 1
// ch. 8, vol 2 "F..."; AMD APM vol 5). Each case starts from a random x87 state loaded with
// FXRSTOR64: TOP, a stack depth (sometimes too shallow or full, for stack faults), FCW with random
// rounding (RC) and precision (PC) control and usually masked exceptions, sticky status bits, and
// operands from a mix of specials (zeros, denormals, pseudo-denormals, infinities, NaNs,
// unsupported encodings), rounding ties, integers and random values over the exponent range.
// FSW.C0/C2/C3 are undefined after arithmetic, loads and stores (SDM vol 2 "FPU Flags Affected")
// and are not compared there.
import { enc } from '../encode.mjs';
import { form } from './common.mjs';

const F = 'x87';
const J = 1n << 63n;
const Q = 1n << 62n;
const C0 = 0x100,
  C2 = 0x400,
  C3 = 0x4000;
/** FSW bits compared after arithmetic, loads and stores: all but C0 C2 C3. */
export const ARITH_FSW = 0xffff & ~(C0 | C2 | C3);

const u64 = (c) => c.rng.u64();

/** A random 80-bit value as [sign/exponent, significand]. */
export function value80(c) {
  const sign = c.bool() ? 0x8000 : 0;
  const k = c.int(c.edge ? 22 : 40);
  switch (k) {
    case 0:
      return [sign, 0n];
    case 1:
      return [sign | 0x3fff, J];
    case 2:
      return [sign | 0x7fff, J]; // infinity
    case 3:
      return [sign | 0x7fff, J | Q | (u64(c) & (Q - 1n))]; // QNaN
    case 4:
      return [sign | 0x7fff, J | (u64(c) & (Q - 1n)) | 1n]; // SNaN
    case 5:
      return [0xffff, J | Q]; // the real indefinite
    case 6:
      return [sign, u64(c) & (J - 1n)]; // denormal
    case 7:
      return [sign, J | (u64(c) & (J - 1n))]; // pseudo-denormal
    case 8:
      return [sign | (1 + c.int(0x7ffe)), u64(c) & (J - 1n)]; // unnormal: unsupported
    case 9:
      return [sign | 0x7fff, c.bool() ? 0n : u64(c) & (J - 1n)]; // pseudo-infinity / pseudo-NaN
    case 10:
      return [sign | (0x7ffe - c.int(3)), J | (u64(c) & (J - 1n))]; // near overflow
    case 11:
      return [sign | (1 + c.int(3)), J | (u64(c) & (J - 1n))]; // near underflow
    case 12:
    case 13: {
      // An integer of up to 64 bits.
      const bits = 1 + c.int(64);
      const v = (u64(c) & ((1n << BigInt(bits)) - 1n)) | (1n << BigInt(bits - 1));
      return [sign | (0x3fff + bits - 1), v << BigInt(64 - bits)];
    }
    case 14:
    case 15: {
      // A rounding tie or near-tie for 24, 53 or 64 bits.
      const p = c.pick([24, 53]);
      const low = 1n << BigInt(63 - p);
      const sig = (J | (u64(c) & (J - 1n))) & ~((low << 1n) - 1n);
      return [sign | (0x3fff + c.int(40) - 20), sig | low | (c.bool() ? 0n : BigInt(c.int(3)))];
    }
    case 16:
    case 17: {
      // Exactly a double or a single.
      const p = c.pick([24, 53]);
      const sig = (J | (u64(c) & (J - 1n))) & ~((1n << BigInt(64 - p)) - 1n);
      return [sign | (0x3fff + c.int(200) - 100), sig];
    }
    case 18:
      return [sign | (1 + c.int(80)), J | (u64(c) & (J - 1n))]; // results may underflow
    default: {
      const e = c.bool(0.8) ? 0x3fff + c.int(140) - 70 : 1 + c.int(0x7ffe);
      return [sign | e, J | (u64(c) & (J - 1n))];
    }
  }
}

/** A random binary32 image, biased towards specials. */
function f32(c) {
  const sign = c.bool() ? 0x80000000 : 0;
  const k = c.int(10);
  let exp;
  if (k === 0) exp = 0;
  else if (k === 1) exp = 0xff;
  else if (k < 5) exp = 127 + c.int(40) - 20;
  else exp = c.int(256);
  let frac = c.rng.u32() & 0x7fffff;
  if (c.bool(0.2)) frac = 0;
  else if (c.bool(0.1)) frac = c.int(4);
  return BigInt((sign | (exp << 23) | frac) >>> 0);
}

/** A random binary64 image. */
function f64(c) {
  const sign = c.bool() ? 1n << 63n : 0n;
  const k = c.int(10);
  let exp;
  if (k === 0) exp = 0;
  else if (k === 1) exp = 0x7ff;
  else if (k < 5) exp = 1023 + c.int(100) - 50;
  else exp = c.int(0x800);
  let frac = u64(c) & ((1n << 52n) - 1n);
  if (c.bool(0.2)) frac = 0n;
  else if (c.bool(0.1)) frac = BigInt(c.int(4));
  return sign | (BigInt(exp) << 52n) | frac;
}

/** Integer operand of `bits`: edges, small, random. */
function int(c, bits) {
  return c.val(bits);
}

/**
 * A random x87 state with `need` operands on the stack (ST(0)..ST(need-1) valid); sometimes fewer
 * (stack underflow) or, with `push`, a full stack (overflow). Returns TOP.
 */
function state(c, need, { push = false, fswMask = ARITH_FSW } = {}) {
  const masks = c.bool(0.8) ? 0x3f : c.int(64);
  const pc = c.pick([3, 3, 3, 3, 3, 3, 2, 2, 0, 1]);
  const rc = c.int(4);
  const fcw = 0x40 | masks | (pc << 8) | (rc << 10);
  const topv = c.int(8);
  let depth = need + (c.bool(0.5) ? 0 : c.int(8 - need + 1));
  if (need > 0 && c.bool(0.08)) depth = c.int(need);
  if (push && c.bool(0.1)) depth = 8;
  if (push && depth === 8 && c.bool(0.5)) depth = 7;
  let tags = 0;
  for (let i = 0; i < depth; i++) tags |= 1 << ((topv + i) & 7);
  let sticky = c.bool(0.5) ? c.int(64) & masks : 0;
  if (c.bool(0.03)) sticky |= c.int(64); // sometimes an unmasked exception pending: #MF
  const es = sticky & ~masks & 0x3f ? 0x8080 : 0;
  const cc = c.bool() ? c.int(16) : 0;
  const fsw =
    sticky |
    es |
    (topv << 11) |
    (cc & 1 ? C0 : 0) |
    (cc & 2 ? 0x200 : 0) |
    (cc & 4 ? C2 : 0) |
    (cc & 8 ? C3 : 0);
  c.fpu(fcw, fsw, tags);
  for (let i = 0; i < 8; i++) {
    const [se, sig] = value80(c);
    c.st(i, se, sig);
  }
  c.fswMask = fswMask;
  return topv;
}

/** Register form: escape byte, ModRM 11 reg i. */
const rr = (esc, reg, i) => [esc, 0xc0 | (reg << 3) | i];

/** Memory form with an n-byte operand written by put(c, addr). */
function memForm(c, esc, reg, n, put, { o16 = false } = {}) {
  const { addr, mem } = c.memOperand(n);
  put?.(c, addr);
  return enc({ o16, op: [esc], reg, mem });
}

const out = [];
const add = (name, build) => out.push(form(F, name, build));

// ---- two-operand arithmetic with a memory operand: D8 m32fp, DC m64fp, DA m32int, DE m16int
const ARITH = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
const MEMSRC = [
  [0xd8, 'm32fp', 4, (c, a) => c.memPut(a, f32(c), 4)],
  [0xdc, 'm64fp', 8, (c, a) => c.memPut(a, f64(c), 8)],
  [0xda, 'm32int', 4, (c, a) => c.memPut(a, int(c, 32), 4)],
  [0xde, 'm16int', 2, (c, a) => c.memPut(a, int(c, 16), 2)],
];
for (const [esc, kind, n, put] of MEMSRC) {
  ARITH.forEach((mn, reg) => {
    const name = `${kind.endsWith('int') ? mn.replace('f', 'fi') : mn} ${kind} (${esc.toString(16).toUpperCase()} /${reg})`;
    add(name, (c) => {
      state(c, 1, { fswMask: reg === 2 || reg === 3 ? 0xffff : ARITH_FSW });
      return memForm(c, esc, reg, n, put);
    });
  });
}

// ---- register arithmetic: D8 ST(0) op= ST(i); DC ST(i) op= ST(0); DE ... and pop
const DC_NAMES = ['fadd', 'fmul', 'fcom (alias)', 'fcomp (alias)', 'fsubr', 'fsub', 'fdivr', 'fdiv'];
for (const [esc, names, pname] of [
  [0xd8, ARITH, 'st(0), st(i)'],
  [0xdc, DC_NAMES, 'st(i), st(0)'],
  [0xde, DC_NAMES.map((n) => (n.includes('alias') ? n : `${n}p`)), 'st(i), st(0)'],
]) {
  names.forEach((mn, reg) => {
    if (esc === 0xde && reg === 3) {
      add('fcompp (DE D9)', (c) => {
        state(c, 2, { fswMask: 0xffff });
        return rr(0xde, 3, 1);
      });
      return;
    }
    const cmp = reg === 2 || reg === 3;
    add(`${mn} ${cmp ? 'st(i)' : pname} (${esc.toString(16).toUpperCase()} /${reg})`, (c) => {
      const i = c.int(8);
      state(c, Math.max(i + 1, 1), { fswMask: cmp ? 0xffff : ARITH_FSW });
      return rr(esc, reg, i);
    });
  });
}

// ---- loads
const LOADS = [
  ['fld m32fp (D9 /0)', 0xd9, 0, 4, (c, a) => c.memPut(a, f32(c), 4)],
  ['fld m64fp (DD /0)', 0xdd, 0, 8, (c, a) => c.memPut(a, f64(c), 8)],
  [
    'fld m80fp (DB /5)',
    0xdb,
    5,
    10,
    (c, a) => {
      const [se, sig] = value80(c);
      c.memPut(a, sig, 8);
      c.memPut(a + 8, se, 2);
    },
  ],
  ['fild m16int (DF /0)', 0xdf, 0, 2, (c, a) => c.memPut(a, int(c, 16), 2)],
  ['fild m32int (DB /0)', 0xdb, 0, 4, (c, a) => c.memPut(a, int(c, 32), 4)],
  ['fild m64int (DF /5)', 0xdf, 5, 8, (c, a) => c.memPut(a, int(c, 64), 8)],
];
for (const [name, esc, reg, n, put] of LOADS) {
  add(name, (c) => {
    state(c, 0, { push: true });
    return memForm(c, esc, reg, n, put);
  });
}
add('fld st(i) (D9 C0+i)', (c) => {
  const i = c.int(8);
  state(c, i + 1, { push: true });
  return rr(0xd9, 0, i);
});
['fld1', 'fldl2t', 'fldl2e', 'fldpi', 'fldlg2', 'fldln2', 'fldz'].forEach((mn, i) => {
  add(`${mn} (D9 ${(0xe8 + i).toString(16).toUpperCase()})`, (c) => {
    state(c, 0, { push: true });
    return rr(0xd9, 5, i);
  });
});

// ---- stores
const STORES = [
  ['fst m32fp (D9 /2)', 0xd9, 2, 4],
  ['fstp m32fp (D9 /3)', 0xd9, 3, 4],
  ['fst m64fp (DD /2)', 0xdd, 2, 8],
  ['fstp m64fp (DD /3)', 0xdd, 3, 8],
  ['fstp m80fp (DB /7)', 0xdb, 7, 10],
  ['fist m16int (DF /2)', 0xdf, 2, 2],
  ['fistp m16int (DF /3)', 0xdf, 3, 2],
  ['fisttp m16int (DF /1)', 0xdf, 1, 2],
  ['fist m32int (DB /2)', 0xdb, 2, 4],
  ['fistp m32int (DB /3)', 0xdb, 3, 4],
  ['fisttp m32int (DB /1)', 0xdb, 1, 4],
  ['fistp m64int (DF /7)', 0xdf, 7, 8],
  ['fisttp m64int (DD /1)', 0xdd, 1, 8],
];
for (const [name, esc, reg, n] of STORES) {
  add(name, (c) => {
    state(c, 1);
    // Integer stores get values in and around their range more often.
    if (esc !== 0xd9 && !(esc === 0xdd && reg !== 1) && !(esc === 0xdb && reg === 7) && c.bool(0.6)) {
      const bits = 8 * n;
      const mag = c.int(bits + 2);
      const v = (u64(c) & ((1n << BigInt(Math.max(mag, 1))) - 1n)) | (1n << BigInt(Math.max(mag - 1, 0)));
      const lz = 64 - mag;
      c.st(
        0,
        (c.bool() ? 0x8000 : 0) | (0x3fff + Math.max(mag - 1, 0) - c.int(2)),
        BigInt.asUintN(64, v << BigInt(Math.max(lz, 0))),
      );
    }
    return memForm(c, esc, reg, n);
  });
}
for (const [name, reg] of [
  ['fst st(i) (DD D0+i)', 2],
  ['fstp st(i) (DD D8+i)', 3],
]) {
  add(name, (c) => {
    const i = c.int(8);
    state(c, 1);
    return rr(0xdd, reg, i);
  });
}

// ---- comparisons and classification (C0-C3 defined)
for (const [name, esc, reg] of [
  ['fucom st(i) (DD E0+i)', 0xdd, 4],
  ['fucomp st(i) (DD E8+i)', 0xdd, 5],
  ['fucomi st(0), st(i) (DB E8+i)', 0xdb, 5],
  ['fcomi st(0), st(i) (DB F0+i)', 0xdb, 6],
  ['fucomip st(0), st(i) (DF E8+i)', 0xdf, 5],
  ['fcomip st(0), st(i) (DF F0+i)', 0xdf, 6],
]) {
  add(name, (c) => {
    const i = c.int(8);
    state(c, i + 1, { fswMask: 0xffff });
    if (c.bool(0.3)) c.fx.set(c.fx.subarray(32 + 16 * i, 42 + 16 * i), 32); // equal operands
    return rr(esc, reg, i);
  });
}
add('fucompp (DA E9)', (c) => {
  state(c, 2, { fswMask: 0xffff });
  return rr(0xda, 5, 1);
});
add('ftst (D9 E4)', (c) => {
  state(c, 1, { fswMask: 0xffff });
  return rr(0xd9, 4, 4);
});
add('fxam (D9 E5)', (c) => {
  state(c, 1, { fswMask: 0xffff });
  return rr(0xd9, 4, 5);
});

// ---- one-operand ST(0) operations
for (const [name, i] of [
  ['fchs (D9 E0)', 0],
  ['fabs (D9 E1)', 1],
]) {
  add(name, (c) => {
    state(c, 1);
    return rr(0xd9, 4, i);
  });
}
add('fxtract (D9 F4)', (c) => {
  state(c, 1, { push: true });
  return rr(0xd9, 6, 4);
});
add('fprem1 (D9 F5)', (c) => {
  state(c, 2, { fswMask: 0xffff });
  if (c.bool(0.7)) {
    const e1 = c.fx[32 + 8] | ((c.fx[32 + 9] & 0x7f) << 8);
    const e = Math.min(Math.max(e1 - c.int(63), 1), 0x7ffe);
    c.fx[48 + 8] = e & 0xff;
    c.fx[48 + 9] = (c.fx[48 + 9] & 0x80) | (e >> 8);
    c.fx[48 + 7] |= 0x80;
  }
  return rr(0xd9, 6, 5);
});
for (const [name, i, n] of [
  ['fprem (D9 F8)', 0, 2],
  ['fsqrt (D9 FA)', 2, 1],
  ['frndint (D9 FC)', 4, 1],
  ['fscale (D9 FD)', 5, 2],
]) {
  add(name, (c) => {
    state(c, n, { fswMask: i === 0 ? 0xffff : ARITH_FSW });
    if (i === 0 && c.bool(0.7)) {
      // FPREM: exponent difference below 64 (complete reduction) for most cases.
      const e1 = c.fx[32 + 8] | ((c.fx[32 + 9] & 0x7f) << 8);
      const e = Math.min(Math.max(e1 - c.int(63), 1), 0x7ffe);
      c.fx[48 + 8] = e & 0xff;
      c.fx[48 + 9] = (c.fx[48 + 9] & 0x80) | (e >> 8);
      c.fx[48 + 7] |= 0x80;
    }
    if (i === 5 && c.bool(0.7)) {
      // FSCALE: a moderate scale factor in ST(1).
      const n = c.int(200) - 100;
      const mag = Math.abs(n);
      if (mag === 0) c.st(1, 0, 0n);
      else {
        const bits = 32 - Math.clz32(mag);
        c.st(1, (n < 0 ? 0x8000 : 0) | (0x3fff + bits - 1), BigInt(mag) << BigInt(64 - bits));
      }
    }
    return rr(0xd9, 7, i);
  });
}

// ---- stack management
add('fxch st(i) (D9 C8+i)', (c) => {
  const i = c.int(8);
  state(c, i + 1);
  return rr(0xd9, 1, i);
});
add('ffree st(i) (DD C0+i)', (c) => {
  state(c, c.int(8), { fswMask: ARITH_FSW & ~0x200 });
  return rr(0xdd, 0, c.int(8));
});
// Register-form aliases the processors execute (AMD APM vol 5 and Intel's opcode maps list them
// as reserved encodings of FXCH, FSTP and FFREE+pop); the 287 no-ops FENI, FDISI, FSETPM.
for (const [name, esc, reg] of [
  ['fxch st(i) alias (DD C8+i)', 0xdd, 1],
  ['fxch st(i) alias (DF C8+i)', 0xdf, 1],
  ['fstp st(i) alias (D9 D8+i)', 0xd9, 3],
  ['fstp st(i) alias (DF D0+i)', 0xdf, 2],
  ['fstp st(i) alias (DF D8+i)', 0xdf, 3],
  ['ffreep st(i) (DF C0+i)', 0xdf, 0],
]) {
  add(name, (c) => {
    const i = c.int(8);
    state(c, i + 1, { fswMask: reg === 0 ? ARITH_FSW & ~0x200 : ARITH_FSW });
    return rr(esc, reg, i);
  });
}
for (const [name, i] of [
  ['feni (DB E0) no-op', 0],
  ['fdisi (DB E1) no-op', 1],
  ['fsetpm (DB E4) no-op', 4],
]) {
  add(name, (c) => {
    state(c, c.int(8), { fswMask: 0xffff });
    return rr(0xdb, 4, i);
  });
}
add('fdecstp (D9 F6)', (c) => {
  state(c, c.int(8));
  return rr(0xd9, 6, 6);
});
add('fincstp (D9 F7)', (c) => {
  state(c, c.int(8));
  return rr(0xd9, 6, 7);
});
add('fnop (D9 D0)', (c) => {
  state(c, c.int(8), { fswMask: 0xffff });
  return rr(0xd9, 2, 0);
});
['fcmovb', 'fcmove', 'fcmovbe', 'fcmovu', 'fcmovnb', 'fcmovne', 'fcmovnbe', 'fcmovnu'].forEach((mn, k) => {
  const esc = k < 4 ? 0xda : 0xdb;
  add(`${mn} st(0), st(i) (${esc.toString(16).toUpperCase()} /${k & 3})`, (c) => {
    const i = c.int(8);
    state(c, i + 1);
    return rr(esc, k & 3, i);
  });
});

// ---- control and environment
add('fnstsw ax (DF E0)', (c) => {
  state(c, c.int(8), { fswMask: 0xffff });
  c.put(0, c.val(64));
  return [0xdf, 0xe0];
});
add('fnclex (DB E2)', (c) => {
  state(c, c.int(8), { fswMask: 0xffff });
  return [0xdb, 0xe2];
});
add('fninit (DB E3)', (c) => {
  state(c, c.int(8), { fswMask: 0xffff });
  return [0xdb, 0xe3];
});
add('fwait (9B)', (c) => {
  state(c, c.int(8), { fswMask: 0xffff });
  return [0x9b];
});
for (const o16 of [false, true]) {
  const n = o16 ? 14 : 28;
  const p = o16 ? '66 ' : '';
  add(`fnstenv m${n}byte (${p}D9 /6)`, (c) => {
    state(c, c.int(9), { fswMask: 0xffff });
    return memForm(c, 0xd9, 6, n, null, { o16 });
  });
  add(`fldenv m${n}byte (${p}D9 /4)`, (c) => {
    state(c, c.int(9), { fswMask: 0xffff });
    return memForm(c, 0xd9, 4, n, (c2, a) => putEnv(c2, a, o16), { o16 });
  });
  add(`fnsave m${n + 80}byte (${p}DD /6)`, (c) => {
    state(c, c.int(9), { fswMask: 0xffff });
    return memForm(c, 0xdd, 6, n + 80, null, { o16 });
  });
  add(`frstor m${n + 80}byte (${p}DD /4)`, (c) => {
    state(c, c.int(9), { fswMask: 0xffff });
    return memForm(
      c,
      0xdd,
      4,
      n + 80,
      (c2, a) => {
        putEnv(c2, a, o16);
        for (let i = 0; i < 8; i++) {
          const [se, sig] = value80(c2);
          c2.memPut(a + n + 10 * i, sig, 8);
          c2.memPut(a + n + 10 * i + 8, se, 2);
        }
      },
      { o16 },
    );
  });
}

/** An environment image: FCW, FSW (ES consistent with the masks), a random full tag word. */
function putEnv(c, a, o16) {
  const step = o16 ? 2 : 4;
  const masks = c.bool(0.8) ? 0x3f : c.int(64);
  const fcw = 0x40 | masks | (c.int(4) << 8) | (c.int(4) << 10);
  const sticky = c.int(64);
  const fsw = sticky | (sticky & ~masks & 0x3f ? 0x8080 : 0) | (c.int(8) << 11) | ((c.int(16) << 8) & 0x4700);
  c.memPut(a, fcw, 2);
  c.memPut(a + step, fsw, 2);
  c.memPut(a + 2 * step, c.int(0x10000), 2);
}

export default out;
