// The region compiler (tier 2) against the interpreter: a random loop of random instructions (ALU,
// shifts and rotates, INC/DEC, loads and stores, flag readers such as SETcc, ADC, PUSHF, CMC,
// conditional branches on random conditions, compares and tests with memory, PAUSE, a CALL to a
// random routine, and now and then a store that patches an instruction of the loop itself) runs on
// fresh machines with tier 2 off, eager, and after a few runs of each block (so regions span several
// blocks). Every machine runs in the same random slices of instructions; after each slice the
// architectural state must be the same: RIP, all general registers, RFLAGS, the instruction count,
// the stop reason, and at the end the data page and the stack; with an intercept port that counts
// PAUSEs and exits on every n-th (as a pause filter does), also the port's calls and the instruction
// count at each. Faults are part of the game (a random index can leave RAM): the tiers must agree on
// them too. 32-bit protected mode and 64-bit mode; in 64-bit mode a pick may carry REX.W (64-bit
// ALU, moves, shifts, LEA, loads and stores in register pairs), and the registers start with random
// upper halves.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cpu } from '../../src/cpu/cpu.js';
import { getFlags } from '../../src/cpu/flags.js';
import { setTier2 } from '../../src/cpu/jit/tier2.js';
import { InterceptKind } from '../../src/cpu/ports.js';
import { run } from '../../src/cpu/run.js';
import { makeLong64 } from '../support/long64.js';
import { makePm32 } from '../support/pm32.js';
import { fuzz } from './support/fuzz.js';

const CODE = 0x10000;
const DATA = 0x20000;
const STACK = 0x80000;

/** One random instruction: [kind, a, b, c] picked by fast-check, encoded by `encode`. */
type Pick = [number, number, number, number];
interface Program {
  bits: 32 | 64;
  a: Pick[];
  b: Pick[];
  c: Pick[];
  f: Pick[];
  cc: number;
  /** Flag-setting instructions right before the Jcc (compare, test, INC/DEC, shift, rotate). */
  pre: Pick[];
  call: boolean;
  patch: boolean;
  iters: number;
  /** 64-bit: RSP in the upper half (0xffffffff80080000, the same physical stack), as kernels have it. */
  highStack: boolean;
  regs: number[];
  /** 64-bit: the upper halves of the registers (ECX, ESP and EBP keep theirs at 0). */
  regsHi: number[];
  slices: number[];
  /** 0: PAUSE is not intercepted; n: an intercept port counts PAUSEs and exits on every n-th (a pause filter). */
  pauseFilter: number;
}

// Registers the random code may write: not ECX (the loop counter), ESP (the stack), EBP (the data pointer).
const DST = [0, 2, 3, 6, 7];
const SRC = [0, 1, 2, 3, 5, 6, 7];

/** Forms of `encode` where REX.W selects the 64-bit operation (in 64-bit mode). */
const WIDE = new Set([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);

/** Machine code for one pick; in 64-bit mode, bit 7 of `c` adds REX.W where it widens the form. */
function encode(p: Pick, bits: 32 | 64): number[] {
  const code = encode32(p);
  const k = p[0] % 29;
  return bits === 64 && p[3] & 0x80 && WIDE.has(k) ? [0x48, ...code] : code;
}

/** Machine code for one pick without REX (the same bytes mean the same in both modes). */
function encode32(p: Pick): number[] {
  const [kind, a, b, c] = p;
  const d = DST[a % DST.length];
  const s = SRC[b % SRC.length];
  const modrm = (reg: number, rm: number) => 0xc0 | (reg << 3) | rm;
  switch (kind % 29) {
    case 0:
      return [0x89, modrm(s, d)]; // mov d, s
    case 1:
    case 2:
      return [((c & 7) << 3) | 1, modrm(s, d)]; // add/or/adc/sbb/and/sub/xor/cmp d, s
    case 3:
      return [0x83, modrm(c & 7, d), b & 0xff]; // alu d, imm8
    case 4:
      return [0x81, modrm(c & 7, d), c & 0xff, b & 0xff, (b >> 3) & 0xff, 0x80]; // alu d, imm32
    case 5:
      return [0x85, modrm(s, d)]; // test d, s
    case 6:
      return [0xf6, modrm(0, b & 7), c & 0xff]; // test r8, imm8
    case 7:
    case 8:
      return [0xc1, modrm(c & 7, d), b & 31]; // rol/ror/rcl/rcr/shl/shr/sal/sar d, imm8
    case 9:
      return [0xff, modrm(c & 1, d)]; // inc/dec d
    case 10:
      return [0x8b, 0x45 | (d << 3), (b & 31) * 4]; // mov d, [ebp + disp8]
    case 11:
      return [0x89, 0x45 | (s << 3), (b & 31) * 4]; // mov [ebp + disp8], s
    case 12:
      return [0x0f, 0x90 | (c & 15), modrm(0, d & 3)]; // setcc r8
    case 13:
      return [0x9c, 0x58 | d]; // pushf; pop d
    case 14:
      return [[0xf5, 0xf8, 0xf9][c % 3]]; // cmc / clc / stc
    case 15:
      return [0x8d, 0x44 | (d << 3), (b & 7) === 4 ? 0x05 : ((c & 3) << 6) | ((b & 7) << 3) | 5, c & 0x7f]; // lea
    case 16:
      return [0x0f, 0xaf, modrm(d, s)]; // imul d, s
    case 17:
      return [0xf7, modrm(2 + (c & 1), d)]; // not/neg d
    case 18:
      return [0x0f, 0x40 | (c & 15), modrm(d, s)]; // cmovcc d, s
    case 19:
      return [0x8b, 0x44 | (d << 3), 0x85 | ((s & 7) << 3), 0]; // mov d, [ebp + s*4] (may fault)
    case 20:
      return [0xd1, modrm(c & 7, d)]; // shift by 1
    case 22:
      return [0x0f, 0xb6 | (c & 1) | (b & 8), 0x45 | (d << 3), b & 0x7f]; // movzx/movsx d, byte/word [ebp + disp8]
    case 23:
      return [0x0f, 0xb6 | (c & 9), modrm(d, s & 3)]; // movzx/movsx d, r8/r16
    case 24:
      return [0x63, modrm(d, s)]; // movsxd d, s (64-bit; ARPL in 32-bit, a #UD-free no-op at CPL 0 or #GP)
    case 25:
      return [0x50 | s, 0x58 | d]; // push s; pop d
    case 26:
      return [0x88 | (c & 2), 0x45 | ((s & 3) << 3), b & 0x7f]; // mov byte [ebp + disp8], r8 / mov r8, byte [ebp + disp8]
    case 27:
      return [((c & 7) << 3) | (b & 2), modrm(s & 3, d & 3)]; // byte alu r8, r8
    case 28:
      return [0xf3, 0x90]; // pause (a NOP, or asks the intercept port: Program.pauseFilter)
    default:
      return [0x0f, 0xba, modrm(4 + (c & 3), d), b & 31]; // bt/bts/btr/btc d, imm8
  }
}

/** Instructions whose flags a Jcc right after them reads. */
function flagSetter(p: Pick, bits: 32 | 64): number[] {
  const code = flagSetter32(p);
  return bits === 64 && p[3] & 0x80 && p[0] % 15 !== 8 ? [0x48, ...code] : code;
}

function flagSetter32(p: Pick): number[] {
  const [kind, a, b, c] = p;
  const d = DST[a % DST.length];
  const s = (c & 0x30) === 0 ? d : SRC[b % SRC.length]; // equal operands often: the boundary of every condition
  const modrm = (reg: number, rm: number) => 0xc0 | (reg << 3) | rm;
  const disp = (b & 31) * 4 + (c & 3); // in the data page, now and then unaligned
  switch (kind % 15) {
    case 0:
      return [0x39, modrm(s, d)]; // cmp d, s
    case 1:
      return [0x83, modrm(7, d), [0, 1, 0xff, 0x80, 0x7f][c % 5]]; // cmp d, imm8
    case 2:
      return [0x29, modrm(s, d)]; // sub d, s
    case 3:
      return [0x85, modrm(s, d)]; // test d, s
    case 4:
      return [0xff, modrm(c & 1, d)]; // inc/dec d
    case 5:
      return [0xc1, modrm(c & 1, d), 1 + (b % 31)]; // rol/ror d, imm8: CF and OF on the earlier record
    case 6:
      return [0xc1, modrm(4 + (c & 3), d), b & 31]; // shl/shr/sal/sar d, imm8
    case 7:
      return [0x01, modrm(s, d)]; // add d, s
    case 9:
      return [0x83, 0x7d, disp, [0, 1, 0xff, 0x80, 0x7f][c % 5]]; // cmp dword [ebp + disp8], imm8
    case 10:
      return [0x80, 0x7d, disp, [0, 1, 0xff, 0x80, 0x7f][c % 5]]; // cmp byte [ebp + disp8], imm8
    case 11:
      return [0x39 | (c & 2), 0x45 | (s << 3), disp]; // cmp [ebp + disp8], s / cmp s, [ebp + disp8]
    case 12:
      return [0xf7, 0x45, disp, c & 0xff, 0, a & 1 ? 0x80 : 0, 0]; // test dword [ebp + disp8], imm32
    case 13:
      return [0xf6, 0x45, disp, c & 0xff]; // test byte [ebp + disp8], imm8
    case 14:
      return [0xf3, 0x90, 0x83, 0x7d, disp, c & 1]; // pause; cmp dword [ebp + disp8], 0/1 (a spin loop)
    default:
      return [0xf6, modrm(0, b & 3), c & 0xff]; // test r8, imm8
  }
}

interface Built {
  bytes: number[];
}

/**
 * L: A [call F] jcc X  B  X: C [mov edi, imm32 (patched by a store in A)] dec ecx  jnz L  hlt  F: D ret
 */
function build(p: Program): Built {
  const out: number[] = [];
  const emit = (xs: number[]) => out.push(...xs);
  const rel32 = (from: number, to: number) => {
    const r = to - from;
    return [r & 0xff, (r >>> 8) & 0xff, (r >>> 16) & 0xff, (r >>> 24) & 0xff];
  };
  const fixups: { at: number; to: () => number }[] = [];
  let patchStore = -1;
  let patchSite = -1;
  let fAt = 0;
  let xAt = 0;
  let lAt = 0;
  lAt = out.length;
  for (const q of p.a) emit(encode(q, p.bits));
  if (p.patch) {
    // mov [abs32], eax (32-bit) / mov [rip + rel32], eax (64-bit): fixed up below.
    emit([0x89, 0x05, 0, 0, 0, 0]);
    patchStore = out.length - 4;
  }
  if (p.call) {
    emit([0xe8, 0, 0, 0, 0]);
    const at = out.length - 4;
    fixups.push({ at, to: () => fAt });
  }
  for (const q of p.pre) emit(flagSetter(q, p.bits));
  emit([0x0f, 0x80 | (p.cc & 15), 0, 0, 0, 0]);
  fixups.push({ at: out.length - 4, to: () => xAt });
  for (const q of p.b) emit(encode(q, p.bits));
  xAt = out.length;
  for (const q of p.c) emit(encode(q, p.bits));
  if (p.patch) {
    emit([0xbf, 1, 2, 3, 4]); // mov edi, imm32
    patchSite = out.length - 4;
  }
  emit([0xff, 0xc9]); // dec ecx
  emit([0x0f, 0x85, 0, 0, 0, 0]);
  fixups.push({ at: out.length - 4, to: () => lAt });
  emit([0xf4]); // hlt
  fAt = out.length;
  for (const q of p.f) emit(encode(q, p.bits));
  emit([0xc3]);
  for (const f of fixups) out.splice(f.at, 4, ...rel32(f.at + 4, f.to()));
  if (patchStore >= 0) {
    const target = p.bits === 32 ? CODE + patchSite : patchSite - (patchStore + 4);
    out.splice(patchStore, 4, ...rel32(0, target));
  }
  return { bytes: out };
}

function machine(p: Program, code: number[]): { cpu: Cpu; ram: Uint8Array; calls: number[] } {
  const m = p.bits === 32 ? makePm32() : makeLong64();
  m.ram.set(code, CODE);
  for (let i = 0; i < 128; i++) m.ram[DATA + i] = (i * 37 + p.iters) & 0xff;
  const cpu = m.cpu;
  for (let r = 0; r < 8; r++) {
    cpu.r32[2 * r] = p.regs[r];
    cpu.r32[2 * r + 1] = p.bits === 64 && r !== 1 && r !== 4 && r !== 5 ? p.regsHi[r] : 0;
  }
  cpu.r32[2 * 1] = p.iters; // ecx
  cpu.r32[2 * 4] = STACK; // esp
  if (p.bits === 64 && p.highStack) {
    cpu.r32[2 * 4] = (0x80000000 + STACK) | 0; // rsp = 0xffffffff80000000 + STACK
    cpu.r32[2 * 4 + 1] = -1;
  }
  cpu.r32[2 * 5] = DATA; // ebp
  cpu.rip = CODE;
  const calls: number[] = [];
  if (p.pauseFilter > 0) {
    cpu.interceptMask |= 1 << InterceptKind.PAUSE;
    cpu.intercept = {
      intercept: (kind) => {
        // Where the core stands when it asks: the port (SVM's pause filter, VMX's PLE) may read it.
        calls.push(kind, cpu.icount);
        return kind === InterceptKind.PAUSE && calls.length % (2 * p.pauseFilter) === 0;
      },
    };
  }
  return { cpu, ram: m.ram, calls };
}

interface Snapshot {
  stop: number;
  rip: number;
  icount: number;
  flags: number;
  regs: number[];
  halted: boolean;
}
function snap(cpu: Cpu, stop: number): Snapshot {
  return {
    stop,
    rip: cpu.rip,
    icount: cpu.icount,
    flags: getFlags(cpu),
    regs: Array.from(cpu.r32.subarray(0, 16)),
    halted: cpu.halted,
  };
}

const TIERS = [
  { name: 'eager', enabled: true, threshold: 0 },
  { name: 'after 3 runs', enabled: true, threshold: 3 },
];
const saved = setTier2(false);
afterAll(() => setTier2(saved.enabled, saved.threshold));

/** Run the program in slices on one machine per tier; every tier's trace must be the interpreter's. */
function check(p: Program): void {
  const { bytes } = build(p);
  const traces: { name: string; states: Snapshot[]; memory: number[]; calls: number[] }[] = [];
  for (const t of [{ name: 'interpreter', enabled: false, threshold: 0 }, ...TIERS]) {
    setTier2(t.enabled, t.threshold);
    const { cpu, ram, calls } = machine(p, bytes);
    const states: Snapshot[] = [];
    for (const n of p.slices) {
      const stop = run(cpu, n);
      states.push(snap(cpu, stop));
      if (cpu.halted) break;
    }
    const memory = [...ram.subarray(DATA, DATA + 128), ...ram.subarray(STACK - 64, STACK)];
    traces.push({ name: t.name, states, memory, calls });
  }
  setTier2(false);
  for (const t of traces.slice(1)) {
    expect({ tier: t.name, states: t.states }).toEqual({ tier: t.name, states: traces[0].states });
    expect({ tier: t.name, memory: t.memory }).toEqual({ tier: t.name, memory: traces[0].memory });
    expect({ tier: t.name, calls: t.calls }).toEqual({ tier: t.name, calls: traces[0].calls });
  }
}

const pick = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const program = (bits: 32 | 64) =>
  fc.record({
    bits: fc.constant(bits),
    a: fc.array(pick, { maxLength: 8 }),
    b: fc.array(pick, { maxLength: 6 }),
    c: fc.array(pick, { maxLength: 6 }),
    f: fc.array(pick, { maxLength: 6 }),
    cc: fc.nat(15),
    pre: fc.array(pick, { maxLength: 3 }),
    call: fc.boolean(),
    patch: fc.boolean(),
    iters: fc.integer({ min: 1, max: 40 }),
    highStack: fc.boolean(),
    // Values at the edges of the conditions (equal, zero, sign and overflow boundaries) as often as random ones.
    regs: fc.array(
      fc.oneof(
        fc.constantFrom(0, 1, -1, 2, 0x7fffffff, -0x80000000, 0x80),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      ),
      { minLength: 8, maxLength: 8 },
    ),
    regsHi: fc.array(
      fc.oneof(fc.constantFrom(0, -1, 0x7fffffff), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      {
        minLength: 8,
        maxLength: 8,
      },
    ),
    slices: fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 12 }),
    pauseFilter: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
  });

describe('region compiler against the interpreter (random loops)', () => {
  it('32-bit protected mode: same state after every slice', () => {
    fuzz('region-compiler', 'pm32', program(32), check, 80);
  });
  it('64-bit mode: same state after every slice', () => {
    fuzz('region-compiler', 'long64', program(64), check, 80);
  });
});
