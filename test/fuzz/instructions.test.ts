// Random instruction bytes in every mode (real, 16- and 32-bit protected, 64-bit, compatibility) on the
// bare processor, under SVM and VMX, and (real mode) inside an SEV-ES guest. One boot-sector image
// holds a prologue (guest/modes-prologue.asm) that enters the mode, a GDT, an IVT and both IDTs whose
// every vector goes to a stub writing 'V', vector to port 0xE9 and halting, identity page tables, and
// the random bytes at 0x9000. For every input: no host exception, an end within the instruction
// budget (and a wall-clock bound), one of the documented endings. The architectural answer is checked
// against iced-x86 (an independent decoder): bytes it calls invalid in that mode raise #UD (or #GP for
// more than 15 bytes) as the first event; a valid non-branch first instruction that completes advances
// RIP by iced's length. Whatever the first instruction raises on the bare processor, the same guest
// under SVM (AMD) and VMX (Intel) reports the same vector: the exception reaches the guest's IDT.
import fc from 'fast-check';
import { Decoder, DecoderOptions, FlowControl } from 'iced-x86';
import { afterAll, describe, expect, it } from 'vitest';
import type { Vendor } from '../../src/cpu/cpu.js';
import { setTier2 } from '../../src/cpu/jit/tier2.js';
import { run } from '../../src/cpu/run.js';
import { runSevEsVm } from '../../src/sev-boot.js';
import { runImageVm } from '../../src/vm-boot.js';
import { BareMetalPc } from '../../src/vmm/bare-metal.js';
import { bytesHex, fuzz, hexBytes, loadCorpus, printTallies, tally } from './support/fuzz.js';

// nasm -f bin test/fuzz/guest/modes-prologue.asm (236 bytes at 0x7C00).
const PROLOGUE = hexBytes(
  'fa31c08ed88ec08ed0bc0070a0707e3c0075100f011e487e6631c06631d2ea009000000f0116407e3c037322660f011e507e0f20c00c010f22c0803e707e017505ea977c080066eab07c00001800660f011e587e0f20e06683c8200f22e066b800c000000f22d866b9800000c00f32660d000100000f300f20c0660d010000800f22c0803e707e047405eace7c280066eab07c00001800b810008ed88ec08ee08ee88ed06631c06631c96631d2e9501366b820008ed88ec08ee08ee88ed0bc0070000031c031c931d2e93213000066b820008ed88ec08ee08ee88ed0bc0070000031c031c931d2e914130000',
);
const BASE = 0x7c00;
const CODE = 0x9000;
const STUBS = 0xa000;
const IMAGE_END = 0xf000;
const MODES = ['real', 'pm16', 'pm32', 'long64', 'compat'] as const;
type Mode = (typeof MODES)[number];
const BITS: Record<Mode, 16 | 32 | 64> = { real: 16, pm16: 16, pm32: 32, long64: 64, compat: 32 };
/** Instructions after the prologue: enough for a few faults in a row, bounded. */
const BUDGET = 400;
const PROLOGUE_STEPS = 200;
const HANG_MS = 15_000;

interface InsnInput {
  mode: Mode;
  /** The random bytes at 0x9000 (hex); the rest of the code page is HLT. */
  code: string;
}

/** The whole guest: prologue, descriptor tables, stubs, page tables, the bytes under test. */
function buildImage(mode: Mode, code: Uint8Array): Uint8Array {
  const img = new Uint8Array(IMAGE_END - BASE);
  const dv = new DataView(img.buffer);
  const at = (pa: number) => pa - BASE;
  img.set(PROLOGUE, 0);
  // GDT: null, 16-bit code 08, 16-bit data 10, 32-bit code 18, flat data 20, 64-bit code 28.
  const gdt = [
    0n,
    0x00009a000000ffffn,
    0x000092000000ffffn,
    0x00cf9a000000ffffn,
    0x00cf92000000ffffn,
    0x00af9a000000ffffn,
  ];
  for (let i = 0; i < gdt.length; i++) dv.setBigUint64(at(0x7e00 + i * 8), gdt[i], true);
  const dtr = (pa: number, limit: number, base: number) => {
    dv.setUint16(at(pa), limit, true);
    dv.setUint32(at(pa + 2), base, true);
  };
  dtr(0x7e40, gdt.length * 8 - 1, 0x7e00);
  dtr(0x7e48, 0x3ff, 0x8000); // real-mode IVT
  dtr(0x7e50, 0x7ff, 0x8400); // IDT32
  dtr(0x7e58, 0xfff, 0xb000); // IDT64
  img[at(0x7e70)] = MODES.indexOf(mode);
  for (let v = 0; v < 256; v++) {
    const stub = STUBS + v * 16;
    dv.setUint16(at(0x8000 + v * 4), stub, true); // IVT: 0000:stub
    // IDT32 interrupt gate to 18:stub; IDT64 interrupt gate to 28:stub.
    dv.setBigUint64(
      at(0x8400 + v * 8),
      (BigInt(stub >>> 16) << 48n) | (0x8en << 40n) | (0x18n << 16n) | BigInt(stub & 0xffff),
      true,
    );
    dv.setBigUint64(
      at(0xb000 + v * 16),
      (BigInt(stub >>> 16) << 48n) | (0x8en << 40n) | (0x28n << 16n) | BigInt(stub & 0xffff),
      true,
    );
    // mov al, 'V'; out 0xE9, al; mov al, v; out 0xE9, al; hlt; jmp $-1 (the same bytes in every mode)
    img.set([0xb0, 0x56, 0xe6, 0xe9, 0xb0, v, 0xe6, 0xe9, 0xf4, 0xeb, 0xfd], at(stub));
  }
  // Identity map of the first GiB with 2 MiB pages.
  dv.setUint32(at(0xc000), 0xd003, true);
  dv.setUint32(at(0xd000), 0xe003, true);
  for (let i = 0; i < 512; i++) dv.setBigUint64(at(0xe000 + i * 8), BigInt(i) * 0x200000n + 0x83n, true);
  img.fill(0xf4, at(CODE), at(STUBS));
  img.set(code, at(CODE));
  return img;
}

/** The first vector the guest reported ('V', vector on port 0xE9), or null. */
function firstVector(output: string): number | null {
  const i = output.indexOf('V');
  return i >= 0 && i + 1 < output.length ? output.charCodeAt(i + 1) : null;
}

/** The vector whose stub RIP is in: at its start, or after its first instruction (a step that
 * delivers an exception goes on to run the handler's first instruction). -1: not in a stub. */
const stubVector = (rip: number) =>
  rip >= STUBS && rip < STUBS + 0x1000 && ((rip & 15) === 0 || (rip & 15) === 2) ? (rip - STUBS) >> 4 : -1;

interface Bare {
  /** The first instruction raised this vector (-1: it completed). */
  first: number;
  ripAfter: number;
  output: string;
}

function runBare(mode: Mode, image: Uint8Array, vendor: Vendor): Bare {
  const pc = new BareMetalPc(4 << 20, { vendor });
  pc.loadBootSector(image);
  const cpu = pc.cpu;
  for (let i = 0; i < PROLOGUE_STEPS && cpu.rip !== CODE; i++) run(cpu, 1);
  expect(cpu.rip, `the ${mode} prologue reaches the code`).toBe(CODE);
  run(cpu, 1);
  const ripAfter = cpu.rip;
  const first = stubVector(ripAfter);
  const stop = run(cpu, BUDGET);
  expect(typeof stop).toBe('number');
  return { first, ripAfter, output: pc.output };
}

interface Iced {
  valid: boolean;
  length: number;
  sequential: boolean;
}

function iced(mode: Mode, code: Uint8Array, vendor: Vendor): Iced {
  // What is in memory at 0x9000: the bytes, then the HLT fill.
  const bytes = new Uint8Array(Math.max(16, code.length + 1)).fill(0xf4);
  bytes.set(code);
  const d = new Decoder(
    BITS[mode],
    bytes,
    vendor === 'AuthenticAMD' ? DecoderOptions.AMD : DecoderOptions.None,
  );
  const i = d.decode();
  const r = {
    valid: !i.isInvalid,
    length: i.length,
    // Straight-line, one step: no branch, no REP (one step may be one iteration).
    sequential:
      i.flowControl === FlowControl.Next && !i.hasRepPrefix && !i.hasRepePrefix && !i.hasRepnePrefix,
  };
  i.free();
  d.free();
  return r;
}

const VECTOR_NAMES: Record<number, string> = {
  0: '#DE',
  1: '#DB',
  3: '#BP',
  4: '#OF',
  5: '#BR',
  6: '#UD',
  7: '#NM',
  8: '#DF',
  10: '#TS',
  11: '#NP',
  12: '#SS',
  13: '#GP',
  14: '#PF',
  16: '#MF',
  17: '#AC',
  19: '#XM',
};
const vname = (v: number) => (v < 0 ? 'completed' : (VECTOR_NAMES[v] ?? `vector ${v}`));

function runInput(input: InsnInput): void {
  const t0 = performance.now();
  const code = hexBytes(input.code);
  const image = buildImage(input.mode, code);
  for (const [vendor, arch] of [
    ['AuthenticAMD', 'svm'],
    ['GenuineIntel', 'vmx'],
  ] as const) {
    const bare = runBare(input.mode, image, vendor);
    const ref = iced(input.mode, code, vendor);
    if (!ref.valid)
      expect(
        [6, 13],
        `iced-x86 says invalid in ${input.mode}: #UD (or #GP past 15 bytes), got ${vname(bare.first)}`,
      ).toContain(bare.first);
    else if (ref.sequential && bare.first < 0)
      expect(bare.ripAfter - CODE, `length in ${input.mode} against iced-x86`).toBe(ref.length);
    tally(
      `instructions/${input.mode}`,
      `${ref.valid ? 'iced valid' : 'iced invalid'}: bare ${vendor === 'AuthenticAMD' ? 'AMD' : 'Intel'} ${vname(bare.first)}`,
    );
    const vm = runImageVm(image, { arch, memoryBytes: 4 << 20, maxInstructions: PROLOGUE_STEPS + BUDGET });
    expect(['exit', 'triple-fault', 'max-instructions', 'halted']).toContain(vm.stop);
    // The first instruction's exception reaches the guest's IDT under the hypervisor too.
    if (bare.first >= 0) expect(firstVector(vm.output), `${arch}: first vector`).toBe(bare.first);
  }
  const ms = performance.now() - t0;
  if (ms > HANG_MS) throw new Error(`hang: ${ms.toFixed(0)} ms for a ${BUDGET}-instruction budget`);
}

// ---- SEV-ES: the same bytes in real mode inside an encrypted guest ----

/**
 * A 64 KiB firmware image whose reset vector copies the fuzz image from ROM (CS base FFFF0000) to
 * RAM at 0x7C00 and jumps there. Nothing reaches the hypervisor but #VC-driven exits, so only the
 * host's side is checked: no exception, a documented ending.
 */
function sevFirmware(image: Uint8Array): Uint8Array {
  const fw = new Uint8Array(0x10000);
  fw.set(image, BASE);
  // At FF00: xor ax,ax; mov es,ax; mov si,7C00; mov di,si; mov cx,len; cld; cs rep movsb; jmp 0:7C00
  const len = image.length;
  fw.set(
    [
      0x31,
      0xc0,
      0x8e,
      0xc0,
      0xbe,
      0x00,
      0x7c,
      0x89,
      0xf7,
      0xb9,
      len & 0xff,
      len >> 8,
      0xfc,
      0x2e,
      0xf3,
      0xa4,
      0xea,
      0x00,
      0x7c,
      0x00,
      0x00,
    ],
    0xff00,
  );
  const rel = 0xff00 - 0xfff3; // jmp near FF00 from the reset vector
  fw.set([0xe9, rel & 0xff, (rel >> 8) & 0xff], 0xfff0);
  return fw;
}

function runSevInput(input: InsnInput): void {
  const t0 = performance.now();
  const image = buildImage('real', hexBytes(input.code));
  const r = runSevEsVm(sevFirmware(image), { memoryBytes: 4 << 20, maxInstructions: 5000 });
  expect(['exit', 'triple-fault', 'max-instructions', 'halted', 'terminated', 'error']).toContain(r.stop);
  expect(r.message.length).toBeGreaterThan(0);
  tally('instructions/sev-es-real', r.stop);
  const ms = performance.now() - t0;
  if (ms > HANG_MS) throw new Error(`hang: ${ms.toFixed(0)} ms`);
}

// ---- generators ----

const prefix = fc.constantFrom(0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36);
const shaped = fc
  .tuple(
    fc.array(prefix, { maxLength: 3 }),
    fc.option(fc.integer({ min: 0x40, max: 0x4f }), { nil: undefined }),
    fc.constantFrom([], [], [0x0f], [0x0f], [0x0f, 0x38], [0x0f, 0x3a], [0xc4], [0xc5], [0x8f]),
    fc.nat(255),
    fc.uint8Array({ minLength: 0, maxLength: 10 }),
  )
  .map(([p, rex, map, op, tail]) =>
    Uint8Array.from([...p, ...(rex === undefined ? [] : [rex]), ...map, op, ...tail]),
  );
const codeArb = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 24 }),
  shaped,
  fc.array(prefix, { minLength: 14, maxLength: 17 }).map((p) => Uint8Array.from([...p, 0x90])),
);
const inputArb: fc.Arbitrary<InsnInput> = fc.record({
  mode: fc.constantFrom(...MODES),
  code: codeArb.map(bytesHex),
});

const TARGET = 'instructions';

describe('random instruction bytes in every mode: bare, SVM, VMX, SEV-ES', () => {
  afterAll(printTallies);
  const corpus = loadCorpus<InsnInput>(TARGET);
  it.each(corpus.map((c, i) => [i, c.note.slice(0, 70), c.input] as const))(
    'corpus #%i: %s',
    (_i, _n, input) => runInput(input),
  );

  // The same inputs with every block compiled by tier 2 at once (CI runs test/fuzz with the default
  // threshold, where a one-shot instruction is never compiled).
  it.each(corpus.map((c, i) => [i, c.note.slice(0, 70), c.input] as const))(
    'corpus #%i, every block compiled: %s',
    (_i, _n, input) => {
      const prev = setTier2(true, 0);
      try {
        runInput(input);
      } finally {
        setTier2(prev.enabled, prev.threshold);
      }
    },
  );

  it('the prologue enters each mode (a known instruction: UD2 gives #UD everywhere)', () => {
    for (const mode of MODES) runInput({ mode, code: '0f0b' });
    const bare = runBare('long64', buildImage('long64', Uint8Array.from([0x0f, 0x0b])), 'AuthenticAMD');
    expect(bare.first).toBe(6);
  });

  it('bare, SVM and VMX: the architectural answer for random bytes', () => {
    fuzz(TARGET, 'modes', inputArb, runInput, 60);
  });

  it('SEV-ES (real mode): the host survives any instruction bytes', () => {
    fuzz(
      TARGET,
      'sev-es',
      inputArb.map((i) => ({ ...i, mode: 'real' as const })),
      runSevInput,
      10,
    );
  });
});
