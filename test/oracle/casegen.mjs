// Builds one concrete case for a form: background registers, random flags, the form's operands.
import { COMPARED, DF } from './flags.mjs';
import { Rng } from './prng.mjs';
import { COUNT_EDGES, edges, mask, randomValue } from './values.mjs';

export const CODE_ADDR = 0x100000;
export const DATA_ADDR = 0x200000;
/** Case windows live in the middle of the data region so negative offsets stay inside it. */
export const WIN = DATA_ADDR + 0x8000;
/** Default RSP: inside the data region but outside every case window. */
export const BG_RSP = BigInt(DATA_ADDR + 0xf000);

/** Distinct, recognisable values for registers the form does not use (a wrong write shows up). */
export function background(i) {
  if (i === 4) return BG_RSP;
  return 0x5a00000000000000n | (BigInt(i) << 48n) | (BigInt(i) * 0x0101010101n);
}

const FLAG_BITS = [0x1n, 0x4n, 0x10n, 0x40n, 0x80n, 0x800n];

export class CaseCtx {
  constructor(rng, index, total) {
    this.rng = rng;
    this.index = index;
    this.edge = index < Math.ceil(total / 2); // first half: edge values, second half: random
    this.gpr = Array.from({ length: 16 }, (_, i) => background(i));
    this.claimed = new Set();
    let f = 0n;
    for (const b of FLAG_BITS) if (rng.bool()) f |= b;
    if (rng.bool(0.2)) f |= BigInt(DF);
    this.rflags = f;
    this.mem = null; // { addr, bytes: Uint8Array }
    this.uf = 0; // flags undefined for this case (on top of the form's)
    this.ug = new Set(); // registers undefined for this case
    this.um = false; // memory window undefined for this case
    this.fx = null; // x87/MMX state in: the first 160 bytes of an FXSAVE image (Uint8Array)
    this.fswMask = 0xffff; // FSW bits to compare (C0-C3 are undefined after many instructions)
  }
  /**
   * Starts an x87/MMX/SSE state: FCW, FSW (with TOP), abridged tags, MXCSR 1F80h, ST images and
   * the first `xmm` XMM registers zero.
   */
  fpu(fcw, fsw, tags, xmm = 0) {
    const fx = new Uint8Array(160 + 16 * xmm);
    fx[0] = fcw & 0xff;
    fx[1] = fcw >> 8;
    fx[2] = fsw & 0xff;
    fx[3] = fsw >> 8;
    fx[4] = tags;
    fx[24] = 0x80;
    fx[25] = 0x1f;
    this.fx = fx;
    return fx;
  }
  /** Sets ST(i) (stack order, as FXSAVE lays it out) to an 80-bit image: sign/exponent and significand. */
  st(i, se, sig) {
    const o = 32 + 16 * i;
    let s = BigInt.asUintN(64, BigInt(sig));
    for (let k = 0; k < 8; k++, s >>= 8n) this.fx[o + k] = Number(s & 0xffn);
    this.fx[o + 8] = se & 0xff;
    this.fx[o + 9] = (se >> 8) & 0xff;
  }
  int(n) {
    return this.rng.int(n);
  }
  bool(p) {
    return this.rng.bool(p);
  }
  pick(a) {
    return this.rng.pick(a);
  }
  /** Operand value of width w: mostly edge values in the edge half, the random mix otherwise. */
  val(w) {
    if (this.edge && this.rng.bool(0.85)) return this.rng.pick(edges(w));
    return randomValue(this.rng, w);
  }
  /** Shift/rotate count byte. */
  count(w) {
    if (this.edge) return this.rng.pick(COUNT_EDGES(w));
    return this.rng.bool(0.6) ? this.rng.int(2 * w + 2) : this.rng.int(256);
  }
  /** Bits above an operand: random, zero or all ones (checks zero-extension and preservation). */
  garbage() {
    const k = this.rng.int(4);
    return k === 0 ? 0n : k === 1 ? mask(64) : this.rng.u64();
  }
  /** Writes v into bits [shift, shift+w) of register i; an unclaimed register gets garbage elsewhere. */
  put(i, v, w = 64, shift = 0) {
    if (!this.claimed.has(i)) {
      this.gpr[i] = this.garbage();
      this.claimed.add(i);
    }
    const m = mask(w) << BigInt(shift);
    this.gpr[i] = (this.gpr[i] & ~m) | ((BigInt(v) << BigInt(shift)) & m);
  }
  /** Writes an operand described by pickRegs(). */
  set(op, v) {
    this.put(op.idx, v, op.w, op.shift);
  }
  get(op) {
    return (this.gpr[op.idx] >> BigInt(op.shift)) & mask(op.w);
  }
  /**
   * Picks register operands of the given widths (distinct unless `same` allows a repeat).
   * For 8-bit operands it chooses either the legacy set (nums 4..7 = AH CH DH BH, no REX allowed,
   * all nums < 8) or the REX set (4..7 = SPL BPL SIL DIL). Returns { ops, rex, noRex }.
   */
  pickRegs(widths, { exclude = [], same = 0.1, rexW = false, legacy } = {}) {
    const has8 = widths.includes(8);
    const useLegacy = legacy ?? (has8 && !rexW && this.rng.bool(0.4));
    const limit = useLegacy ? 8 : 16;
    const ops = [];
    const used = new Set(exclude);
    for (const w of widths) {
      let num;
      if (ops.length && this.rng.bool(same)) num = ops[this.rng.int(ops.length)].num;
      else {
        const free = [...Array(limit).keys()].filter((n) => !used.has(n));
        num = this.rng.pick(free);
      }
      used.add(num);
      const high = w === 8 && useLegacy && num >= 4;
      ops.push({ num, w, idx: high ? num - 4 : num, shift: high ? 8 : 0 });
    }
    const rex = !useLegacy && ops.some((o) => o.w === 8 && o.num >= 4 && o.num < 8);
    return { ops, rex, noRex: useLegacy && ops.some((o) => o.w === 8 && o.num >= 4) };
  }
  /** Creates a zeroed memory window of n bytes at WIN + off and returns its address. */
  window(n, off = 0) {
    this.mem = { addr: WIN + off, bytes: new Uint8Array(n) };
    return WIN + off;
  }
  memPut(addr, v, n) {
    let x = BigInt.asUintN(n * 8, BigInt(v));
    for (let i = 0; i < n; i++, x >>= 8n) this.mem.bytes[addr - this.mem.addr + i] = Number(x & 0xffn);
  }
  memRandom(addr, n) {
    for (let i = 0; i < n; i++) this.mem.bytes[addr - this.mem.addr + i] = this.rng.int(256);
  }
  /**
   * A memory operand addressing `addr`: a random base (any GPR not excluded), sometimes an index
   * (scaled, possibly negative) and a disp8/disp32. Sets the registers; returns the ModRM operand.
   */
  memAt(addr, exclude = []) {
    const free = [...Array(16).keys()].filter((n) => !exclude.includes(n));
    const base = this.rng.pick(free);
    const m = { base };
    let ea = BigInt(addr);
    const dk = this.rng.int(4);
    if (dk === 1) m.disp = this.rng.int(256) - 128;
    else if (dk === 2) m.disp = this.rng.int(0x20000) - 0x10000;
    if (m.disp) ea -= BigInt(m.disp);
    if (this.rng.bool(0.3)) {
      const idxFree = free.filter((n) => n !== base && n !== 4);
      m.index = this.rng.pick(idxFree);
      m.scale = this.rng.pick([1, 2, 4, 8]);
      const iv = BigInt(this.rng.int(33) - 16);
      this.put(m.index, BigInt.asUintN(64, iv));
      ea -= iv * BigInt(m.scale);
    }
    this.put(base, BigInt.asUintN(64, ea));
    return m;
  }
  /** A window holding an n-byte operand (plus zeroed margins) and a memory operand addressing it. */
  memOperand(n, exclude = [], { align = 0 } = {}) {
    const slack = align ? 0 : this.rng.bool(0.3) ? this.rng.int(8) : 0;
    const base = this.window(n + 32);
    const addr = base + 16 + slack;
    const mem = this.memAt(addr, exclude);
    return { addr, mem };
  }
}

/** Hex of a byte array. */
export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Generates `perForm` cases for `form` from `seed`. A case: { form, family, code, gpr, rflags, mem,
 * mask: { flags, gpr, mem } } where mask.flags is the set of RFLAGS bits to compare.
 */
export function generateForm(form, seed, perForm) {
  const rng = new Rng(`${seed}/${form.name}`);
  const cases = [];
  for (let i = 0; i < perForm; i++) {
    const c = new CaseCtx(rng, i, perForm);
    const code = form.build(c);
    if (code.length > 15) throw new Error(`${form.name}: instruction longer than 15 bytes`);
    cases.push({
      form: form.name,
      family: form.family,
      code: hex(code),
      gpr: c.gpr,
      rflags: c.rflags | 2n,
      mem: c.mem,
      fx: c.fx,
      mask: {
        flags: COMPARED & ~(form.uf ?? 0) & ~c.uf,
        gpr: [...c.ug].sort((a, b) => a - b),
        mem: !c.um,
        ...(c.fx ? { fsw: c.fswMask } : {}),
      },
    });
  }
  return cases;
}
