// Our decoder's instruction length against iced-x86 (an independent, exhaustively tested x86
// decoder): for every byte string iced-x86 decodes as a valid instruction and we implement (our
// op is not Op.UD), both must agree on the length, in 16-, 32- and 64-bit code. Random bytes
// reach the one-byte map well; the biased generator builds prefix / REX / 0F-map / ModRM / SIB
// shapes so the rarer forms are reached too. AMD vendor with iced's AMD option (66 on near
// branches in 64-bit mode is honoured), Intel vendor with iced's default (66 ignored there).
import fc from 'fast-check';
import { Code, Decoder, DecoderOptions } from 'iced-x86';
import { describe, expect, it } from 'vitest';
import { Cpu, FAULT, SEG_DB, SEG_L, type Vendor } from '../../src/cpu/cpu.js';
import { decode } from '../../src/cpu/decode.js';
import { Insn } from '../../src/cpu/insn.js';
import { Op } from '../../src/cpu/ops.js';
import { CR0_PE, CS, EFER_LMA, EFER_LME } from '../../src/cpu/regs.js';

const ADDR = 0x1000;
const RUNS = 1500;

function machine(bits: 16 | 32 | 64, vendor: Vendor = 'AuthenticAMD') {
  const buf = new ArrayBuffer(0x4000);
  const ram = new Uint8Array(buf);
  const cpu = new Cpu({
    ram: buf,
    vendor,
    io: { portRead: () => 0, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  if (bits !== 16) {
    cpu.cr0 |= CR0_PE;
    cpu.segAttr[CS] |= SEG_DB;
  }
  if (bits === 64) {
    cpu.efer = EFER_LME | EFER_LMA;
    cpu.segAttr[CS] = (cpu.segAttr[CS] & ~SEG_DB) | SEG_L;
  }
  cpu.updateMode();
  expect(cpu.codeSize).toBe(bits);
  const insn = new Insn();
  /** Our view of the 15 bytes: { len, op } or null when decoding raised a fault. */
  const ours = (bytes: Uint8Array) => {
    ram.fill(0);
    ram.set(bytes, ADDR);
    try {
      decode(cpu, ADDR, insn);
      return { len: insn.len, op: insn.op as Op };
    } catch (e) {
      if (e !== FAULT) throw e;
      return null;
    }
  };
  const icedOpts = vendor === 'AuthenticAMD' ? DecoderOptions.AMD : DecoderOptions.None;
  /** iced-x86's view: { len, code } or null when it is not a valid instruction. */
  const iced = (bytes: Uint8Array) => {
    const d = new Decoder(bits, bytes, icedOpts);
    const i = d.decode();
    const r = i.isInvalid ? null : { len: i.length, code: Code[i.code] };
    i.free();
    d.free();
    return r;
  };
  return { ours, iced };
}

const hex = (b: Uint8Array, n = 15) =>
  Array.from(b.slice(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');

/** The property: null when fine, else a description of the disagreement. */
function disagreement(m: ReturnType<typeof machine>, bytes: Uint8Array): string | null {
  const theirs = m.iced(bytes);
  if (theirs === null) return null;
  const o = m.ours(bytes);
  if (o === null) return `${hex(bytes)}: we fault, iced-x86 decodes ${theirs.code} (${theirs.len} bytes)`;
  if (o.op === Op.UD) return null; // not implemented here: #UD by design
  if (o.len !== theirs.len)
    return `${hex(bytes)}: ${theirs.code}: ours ${o.len} bytes, iced-x86 ${theirs.len}`;
  return null;
}

/** Property body: throws the disagreement so fast-check reports it with the shrunk bytes. */
function check(m: ReturnType<typeof machine>, bytes: Uint8Array): void {
  const d = disagreement(m, bytes);
  if (d !== null) throw new Error(d);
}

const PREFIXES = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];
function structured(bits: number) {
  return fc
    .record({
      prefixes: fc.array(fc.constantFrom(...PREFIXES), { maxLength: 4 }),
      rex: bits === 64 ? fc.option(fc.integer({ min: 0x40, max: 0x4f })) : fc.constant(null),
      map: fc.constantFrom([], [0x0f], [0x0f], [0x0f, 0x38], [0x0f, 0x3a]),
      opcode: fc.integer({ min: 0, max: 255 }),
      mod: fc.integer({ min: 0, max: 3 }),
      reg: fc.integer({ min: 0, max: 7 }),
      rm: fc.constantFrom(0, 1, 3, 4, 4, 5, 5, 6, 7),
      sib: fc.integer({ min: 0, max: 255 }),
      tail: fc.uint8Array({ minLength: 15, maxLength: 15 }),
    })
    .map((s) => {
      const head = [
        ...s.prefixes,
        ...(s.rex === null ? [] : [s.rex]),
        ...s.map,
        s.opcode,
        (s.mod << 6) | (s.reg << 3) | s.rm,
        s.sib,
      ];
      const b = new Uint8Array(15);
      b.set(s.tail);
      b.set(head.slice(0, 15));
      return b;
    });
}
const randomBytes = fc.uint8Array({ minLength: 15, maxLength: 15 });

describe.each([16, 32, 64] as const)('%i-bit code: decoded length equals iced-x86', (bits) => {
  const m = machine(bits);
  it('random bytes', () => {
    fc.assert(
      fc.property(randomBytes, (b) => check(m, b)),
      { numRuns: RUNS, seed: 0x1ced + bits },
    );
  });
  it('prefix / REX / map / ModRM / SIB shaped bytes', () => {
    fc.assert(
      fc.property(structured(bits), (b) => check(m, b)),
      { numRuns: RUNS * 2, seed: 0x5eed + bits },
    );
  });
});

describe('Intel vendor, 64-bit code', () => {
  it('shaped bytes agree with iced-x86 in Intel mode', () => {
    const m = machine(64, 'GenuineIntel');
    fc.assert(
      fc.property(structured(64), (b) => check(m, b)),
      { numRuns: RUNS, seed: 0x1a7e1 },
    );
  });
});

// Forms that disagreed before the fixes in decode.ts, kept as fixed cases.
describe('regressions', () => {
  const pad = (...b: number[]) => {
    const a = new Uint8Array(15).fill(0x11);
    a.set(b);
    return a;
  };
  it.each([
    [
      16,
      '67 67 00 25: a repeated 67 is one 67 (32-bit addressing with SIB + disp32)',
      pad(0x67, 0x67, 0x00, 0x25),
      8,
    ],
    [32, '67 67 00 25: a repeated 67 is one 67 (16-bit addressing)', pad(0x67, 0x67, 0x00, 0x25), 4],
    [16, '66 67 67 c1 25 ..: the same with an imm8', pad(0x66, 0x67, 0x67, 0xc1, 0x25), 10],
  ] as const)('%i-bit %s', (bits, _name, bytes, len) => {
    const m = machine(bits);
    expect(m.iced(bytes)?.len).toBe(len);
    expect(m.ours(bytes)?.len).toBe(len);
  });

  it.each([
    ['66 e9 rel32', pad(0x66, 0xe9), 4, 6],
    ['66 e8 rel32', pad(0x66, 0xe8), 4, 6],
    ['66 0f 84 rel32', pad(0x66, 0x0f, 0x84), 5, 7],
  ])('64-bit %s: AMD takes rel16, Intel ignores 66 and takes rel32', (_n, bytes, amdLen, intelLen) => {
    expect(machine(64, 'AuthenticAMD').ours(bytes)?.len).toBe(amdLen);
    expect(machine(64, 'AuthenticAMD').iced(bytes)?.len).toBe(amdLen);
    expect(machine(64, 'GenuineIntel').ours(bytes)?.len).toBe(intelLen);
    expect(machine(64, 'GenuineIntel').iced(bytes)?.len).toBe(intelLen);
  });

  it.each([
    ['0f 2b c0 (MOVNTPS register form)', pad(0x0f, 0x2b, 0xc0)],
    ['66 0f e7 c0 (MOVNTDQ register form)', pad(0x66, 0x0f, 0xe7, 0xc0)],
    ['f3 0f c7 f0 (RDRAND with F3)', pad(0xf3, 0x0f, 0xc7, 0xf0)],
  ])('%s is invalid for iced-x86 and #UD for us', (_n, bytes) => {
    const m = machine(32);
    expect(m.iced(bytes)).toBeNull();
    expect(m.ours(bytes)?.op).toBe(Op.UD);
  });
});
