// Fuzzing the image loaders as a user meets them: Multiboot kernels (a.out kludge and ELF32),
// SEV-ES firmware images with an OVMF GUIDed table, boot sectors, and mutations of the committed
// guests (truncated, byte-flipped, grown). Every input is either refused with an ImageError whose
// message says what is wrong (the CLI's exit 8), or loaded correctly (each segment's file bytes at its
// physical address, its bss zeroed, nothing over the information structure or the BIOS area) and run
// for a short budget to one of the documented endings. `hvemu inspect` says something about every
// input and never throws. A few inputs also go through the built CLI to check exit status 8.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectImage } from '../../src/inspect.js';
import { runSevEsVm } from '../../src/sev-boot.js';
import { createPcVm, loadMultibootKernel, runImageVm, runPcVm } from '../../src/vm-boot.js';
import { ImageError, runBootSector } from '../../src/vmm/bare-metal.js';
import { bytesHex, fuzz, hexBytes, loadCorpus, printTallies, tally, typedOnly } from './support/fuzz.js';

const ROOT = join(import.meta.dirname, '..', '..');
const STOPS = ['exit', 'triple-fault', 'max-instructions', 'halted', 'terminated', 'error'];
const BUDGET = 1000;
/** Wall-clock bound per input: past it the run is reported as a hang. */
const HANG_MS = 15_000;

/** What the loader must put in RAM if it accepts the image: [physical address, bytes, zeroed bss]. */
interface Expect {
  addr: number;
  bytes: string;
  bss: number;
}
interface ImageInput {
  kind: 'multiboot' | 'firmware' | 'boot-sector' | 'mutant';
  /** The image as hex text. */
  image: string;
  memMiB: number;
  arch: 'none' | 'svm' | 'vmx';
  cpus: number;
  /** For generated Multiboot kernels: the segments a correct load produces. */
  expect?: Expect[];
}

// ---- generators ----

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];

/** Addresses where loads go wrong: RAM's edges, the info structure, the EBDA, the BIOS area, 4 GiB. */
const interestingAddr = fc.oneof(
  fc.constantFrom(
    0,
    0x7c00,
    0x9000,
    0x9050,
    0x9fc00,
    0xa0000,
    0xf0000,
    0xff000,
    0x100000,
    0x1ff000,
    0x200000,
  ),
  fc.constantFrom(0x3ff000, 0x400000, 0xfffff000, 0xffffffff, 0x80000000),
  fc.integer({ min: 0x100000, max: 0x400000 }),
  fc.nat(0xffff_ffff),
);
const size = fc.oneof(fc.nat(0x40), fc.nat(0x4000), fc.constantFrom(0, 0xffffffff, 0x100000));

const MB_MAGIC = 0x1badb002;

/** A Multiboot header with the a.out kludge; the file holds the header at `hdrOff` and payload. */
const aoutKernel = fc
  .record({
    hdrOff: fc.oneof(
      fc.constantFrom(0, 4, 8188, 8192, 8180),
      fc.nat(1024).map((n) => n * 4),
    ),
    flags: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(0x10003, 0x10000, 0x10002) },
      { weight: 1, arbitrary: fc.constant(0x10004) },
      { weight: 1, arbitrary: fc.nat(0xffff_ffff) },
    ),
    loadAddr: fc.oneof(
      { weight: 2, arbitrary: fc.integer({ min: 0x100000, max: 0x1f0000 }) },
      interestingAddr,
    ),
    back: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, fc.nat(0x100), fc.nat(0xffff_ffff)), // header_addr - load_addr
    loadLen: fc.oneof(fc.constant(-1), size), // -1: load_end_addr = 0 (the whole file)
    bss: fc.oneof(fc.constant(-1), size), // -1: bss_end_addr = 0
    entryOff: fc.oneof(
      { weight: 5, arbitrary: fc.nat(0x40) },
      fc.integer({ min: -0x10, max: 0x10 }),
      fc.nat(0xffff_ffff),
    ),
    fileLen: fc.oneof(fc.nat(0x400), fc.nat(0x3000)),
    payload: fc.nat(255),
  })
  .map((r): Omit<ImageInput, 'memMiB' | 'arch' | 'cpus'> => {
    const headerAddr = (r.loadAddr + r.back) >>> 0;
    const fileLen = Math.max(r.fileLen, r.hdrOff + 32);
    const loadEnd = r.loadLen < 0 ? 0 : (r.loadAddr + r.loadLen) >>> 0;
    const bssEnd = r.bss < 0 ? 0 : (r.loadAddr + Math.max(r.loadLen, 0) + r.bss) >>> 0;
    const entry = (r.loadAddr + r.entryOff) >>> 0;
    const img = new Uint8Array(fileLen);
    for (let i = 0; i < fileLen; i++) img[i] = (i * 31 + r.payload) & 0xff;
    const hdr = [
      ...le32(MB_MAGIC),
      ...le32(r.flags),
      ...le32(-(MB_MAGIC + r.flags) >>> 0),
      ...le32(headerAddr),
      ...le32(r.loadAddr),
      ...le32(loadEnd),
      ...le32(bssEnd),
      ...le32(entry),
    ];
    img.set(hdr.slice(0, Math.max(0, Math.min(32, fileLen - r.hdrOff))), r.hdrOff);
    // The expected load, for an image that has one (the loader decides whether it is acceptable).
    const fileOffset = r.hdrOff - r.back;
    const loadSize = loadEnd === 0 ? fileLen - fileOffset : loadEnd - r.loadAddr;
    const expect: Expect[] =
      fileOffset >= 0 && loadSize >= 0 && fileOffset + loadSize <= fileLen
        ? [
            {
              addr: r.loadAddr,
              bytes: bytesHex(img.subarray(fileOffset, fileOffset + Math.min(loadSize, 0x10000))),
              bss: bssEnd === 0 ? 0 : Math.max(0, bssEnd - (r.loadAddr + loadSize)),
            },
          ]
        : [];
    return { kind: 'multiboot', image: bytesHex(img), expect };
  });

const programHeader = fc.record({
  type: fc.oneof(
    { weight: 4, arbitrary: fc.constant(1) },
    { weight: 1, arbitrary: fc.constantFrom(0, 2, 4, 6, 0x6474e551) },
  ),
  off: fc.oneof({ weight: 4, arbitrary: fc.nat(0x1000) }, fc.nat(0x2000), fc.nat(0xffff_ffff)),
  paddr: fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 0x100000, max: 0x1f0000 }) }, interestingAddr),
  vaddrDelta: fc.oneof(fc.constant(0), fc.constant(0xc0000000), fc.nat(0xffff_ffff)),
  filesz: fc.oneof({ weight: 4, arbitrary: fc.nat(0x1000) }, size),
  extra: fc.oneof(fc.constant(0), fc.nat(0x2000), fc.nat(0xffff_ffff)), // memsz - filesz
});

/** An ELF32 executable with a Multiboot header (no a.out kludge) and random program headers. */
const elfKernel = fc
  .record({
    phs: fc.oneof(
      { weight: 8, arbitrary: fc.array(programHeader, { minLength: 1, maxLength: 4 }) },
      fc.array(programHeader, { maxLength: 0 }),
    ),
    cls: fc.oneof({ weight: 12, arbitrary: fc.constant(1) }, fc.constantFrom(2, 0)),
    data: fc.oneof({ weight: 12, arbitrary: fc.constant(1) }, fc.constant(2)),
    type: fc.oneof({ weight: 12, arbitrary: fc.constant(2) }, fc.constant(3)),
    machine: fc.oneof({ weight: 12, arbitrary: fc.constant(3) }, fc.constant(62)),
    phentsize: fc.oneof({ weight: 8, arbitrary: fc.constant(32) }, fc.constantFrom(0, 16, 56)),
    phoff: fc.oneof({ weight: 6, arbitrary: fc.constant(52) }, fc.nat(0x3000), fc.constant(0xffffff00)),
    entryPick: fc.nat(8),
    entryRaw: fc.nat(0xffff_ffff),
    truncate: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(0x2100) }),
  })
  .map((r): Omit<ImageInput, 'memMiB' | 'arch' | 'cpus'> => {
    const fileLen = 0x2100;
    const img = new Uint8Array(fileLen);
    for (let i = 0x100; i < fileLen; i++) img[i] = (i * 13) & 0xff;
    const dv = new DataView(img.buffer);
    img.set([0x7f, 0x45, 0x4c, 0x46, r.cls, r.data, 1], 0);
    dv.setUint16(16, r.type, true);
    dv.setUint16(18, r.machine, true);
    const loads = r.phs.filter((p) => p.type === 1);
    const ep = loads[r.entryPick % Math.max(1, loads.length)];
    const entry =
      ep !== undefined && r.entryPick < 6 ? (ep.paddr + ep.vaddrDelta + (r.entryPick % 3)) >>> 0 : r.entryRaw;
    dv.setUint32(24, entry, true);
    dv.setUint32(28, r.phoff, true);
    dv.setUint16(42, r.phentsize, true);
    dv.setUint16(44, r.phs.length, true);
    // The Multiboot header (flags 3: page-align, memory info) after the ELF header, before the headers.
    const mb = [...le32(MB_MAGIC), ...le32(3), ...le32(-(MB_MAGIC + 3) >>> 0)];
    img.set(mb, 0x800); // clear of the ELF header and of program headers at e_phoff 52
    r.phs.forEach((p, i) => {
      const at = r.phoff + i * Math.max(r.phentsize, 32);
      if (at + 32 > fileLen) return;
      dv.setUint32(at, p.type, true);
      dv.setUint32(at + 4, p.off, true);
      dv.setUint32(at + 8, (p.paddr + p.vaddrDelta) >>> 0, true);
      dv.setUint32(at + 12, p.paddr, true);
      dv.setUint32(at + 16, p.filesz, true);
      dv.setUint32(at + 20, Math.min(0xffffffff, p.filesz + p.extra), true);
    });
    const file = r.truncate >= 0 ? img.subarray(0, r.truncate) : img;
    // A correct load leaves, in file order, the last segment to cover an address as its owner:
    // only segments that no later segment overlaps are checked byte for byte.
    const segs = loads.map((p) => ({
      addr: p.paddr,
      fsz: p.filesz,
      msz: Math.min(0xffffffff, p.filesz + p.extra),
      off: p.off,
    }));
    const expect: Expect[] = segs
      .filter((s, i) => segs.slice(i + 1).every((t) => t.addr >= s.addr + s.msz || s.addr >= t.addr + t.msz))
      .filter((s) => s.off + s.fsz <= file.length)
      .map((s) => ({
        addr: s.addr,
        bytes: bytesHex(file.subarray(s.off, s.off + Math.min(s.fsz, 0x10000))),
        bss: Math.min(s.msz - s.fsz, 0x10000),
      }));
    return { kind: 'multiboot', image: bytesHex(file), expect };
  });

const guidBytes = (g: string): number[] => {
  const h = g.replace(/-/g, '');
  const b = Array.from({ length: 16 }, (_, i) => Number.parseInt(h.slice(i * 2, i * 2 + 2), 16));
  return [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15].map((i) => b[i]);
};
const FOOTER = '96b582de-1fb2-45f7-baea-a366c55a082d';
const RESET_BLOCK = '00f771de-1a7e-4fcb-890e-68c77e2fb44e';

/** A firmware volume ending in an OVMF GUIDed table: random entries, lengths and a reset block. */
const firmware = fc
  .record({
    pages: fc.oneof(fc.constantFrom(1, 2, 16), fc.integer({ min: 1, max: 600 })),
    tail: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(4095) }),
    entries: fc.array(
      fc.record({
        guid: fc.oneof(fc.constant(RESET_BLOCK), fc.uuid()),
        data: fc.uint8Array({ maxLength: 24 }),
        lenDelta: fc.oneof(
          { weight: 5, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: -40, max: 40 }) },
        ),
      }),
      { maxLength: 4 },
    ),
    tableLenDelta: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -0x30, max: 0x10000 }) },
    ),
    withFooter: fc.oneof(
      { weight: 6, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    resetCode: fc.boolean(),
  })
  .map(({ pages, tail, entries, tableLenDelta, withFooter, resetCode }) => {
    const img = new Uint8Array(pages * 4096 + tail);
    // At the reset vector (F000:FFF0 = the last 16 bytes): hlt; jmp $-1 or garbage.
    if (resetCode && img.length >= 16) img.set([0xf4, 0xeb, 0xfd], img.length - 16);
    const footerAt = img.length - 48;
    if (withFooter && footerAt >= 2) {
      let ptr = footerAt - 2;
      let total = 18;
      for (const e of entries) {
        const len = 18 + e.data.length;
        const at = ptr - len;
        if (at < 0) break;
        img.set(e.data, at);
        img.set(le16(Math.max(0, len + e.lenDelta)), ptr - 18);
        img.set(guidBytes(e.guid), ptr - 16);
        ptr = at;
        total += len;
      }
      img.set(le16(Math.max(0, Math.min(0xffff, total + tableLenDelta))), footerAt - 2);
      img.set(guidBytes(FOOTER), footerAt);
    }
    return { kind: 'firmware' as const, image: bytesHex(img) };
  });

const bootSector = fc
  .oneof(
    fc.uint8Array({ minLength: 0, maxLength: 600 }),
    fc.constantFrom(0, 512, 0x98400, 0x98401).map((n) => new Uint8Array(n).fill(0xf4)),
  )
  .map((b) => ({ kind: 'boot-sector' as const, image: bytesHex(b) }));

const GUESTS = ['hello64', 'faults', 'modes', 'legacy', 'smc', 'sev-smoke'].map((g) =>
  readFileSync(join(ROOT, 'guests', g, `${g}.img`)),
);
const mutant = fc
  .record({
    guest: fc.nat(GUESTS.length - 1),
    cut: fc.oneof(fc.constant(-1), fc.nat(0x10000)),
    flips: fc.array(fc.tuple(fc.nat(0xfffff), fc.nat(255)), { maxLength: 8 }),
    grow: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(0x3000) }),
  })
  .map(({ guest, cut, flips, grow }) => {
    const g = GUESTS[guest];
    const b = new Uint8Array((cut >= 0 ? Math.min(cut, g.length) : g.length) + grow);
    b.set(g.subarray(0, Math.min(g.length, b.length)));
    for (const [at, v] of flips) if (b.length) b[at % b.length] ^= v;
    return { kind: 'mutant' as const, image: bytesHex(b) };
  });

const withMachine = <T extends Omit<ImageInput, 'memMiB' | 'arch' | 'cpus'>>(a: fc.Arbitrary<T>) =>
  fc
    .tuple(a, fc.constantFrom(1, 2, 4, 16), fc.constantFrom('none', 'svm', 'vmx'), fc.constantFrom(1, 1, 2))
    .map(
      ([x, memMiB, arch, cpus]): ImageInput => ({
        ...x,
        memMiB,
        arch: arch as ImageInput['arch'],
        cpus,
      }),
    );

// ---- the check ----

/** An ImageError's message without its numbers, to group outcomes. */
const shortReason = (m: string) =>
  m
    .replace(/0x[0-9A-Fa-f]+|\d+/g, 'N')
    .replace(/GUID [0-9a-f-]+/g, 'GUID')
    .slice(0, 90);

function checkLoad(input: ImageInput, image: Uint8Array): void {
  // Load alone first, to compare RAM with what the file says, then run a little.
  const pc = createPcVm({
    arch: input.arch === 'vmx' ? 'vmx' : 'svm',
    memoryBytes: input.memMiB << 20,
  });
  try {
    loadMultibootKernel(pc, image, 'fuzz');
  } catch (e) {
    const err = typedOnly(e, [ImageError]);
    expect(err.message.length).toBeGreaterThan(10);
    tally(`images/${input.kind}`, `refused: ${shortReason(err.message)}`);
    return;
  }
  // Guest RAM as the VMM reads it once the loaders' pages are in DRAM (as before the first KVM_RUN).
  pc.vm.commitLoadedRam();
  const read = (addr: number, len: number) => pc.vm.memory.read(addr, len);
  for (const x of input.expect ?? []) {
    const want = hexBytes(x.bytes);
    const got = read(x.addr, want.length);
    expect(Buffer.from(got).equals(Buffer.from(want)), `segment bytes at 0x${x.addr.toString(16)}`).toBe(
      true,
    );
    const bssAt = x.addr + want.length;
    const bss = read(bssAt, Math.min(x.bss, 256));
    for (let i = 0; i < bss.length; i++) expect(bss[i], `bss at 0x${(bssAt + i).toString(16)}`).toBe(0);
  }
  const r = runPcVm(pc, { maxInstructions: BUDGET });
  expect(STOPS).toContain(r.stop);
  tally(`images/${input.kind}`, `loaded (${input.expect?.length ?? 0} segments checked), ran: ${r.stop}`);
}

function runImage(input: ImageInput): void {
  const t0 = performance.now();
  runImageOnce(input);
  const ms = performance.now() - t0;
  if (process.env.HVEMU_FUZZ_SLOW && ms > 300)
    console.warn(
      `slow ${ms.toFixed(0)} ms: ${JSON.stringify({ ...input, image: `${input.image.slice(0, 64)}... (${input.image.length / 2} bytes)` })}`,
    );
  if (ms > HANG_MS) throw new Error(`hang: ${ms.toFixed(0)} ms for a ${BUDGET}-instruction budget`);
}

function runImageOnce(input: ImageInput): void {
  const image = hexBytes(input.image);
  const memoryBytes = input.memMiB << 20;
  // `inspect` is a tool: it says something about any file.
  expect(inspectImage(image, 'fuzz.img').length).toBeGreaterThan(0);
  if (input.kind === 'multiboot') {
    checkLoad(input, image);
    return;
  }
  let result: { stop: string; message: string } | undefined;
  try {
    if (input.kind === 'firmware' || (input.kind === 'mutant' && input.arch === 'svm' && input.cpus === 2))
      result = runSevEsVm(image, { memoryBytes, cpus: input.cpus, maxInstructions: BUDGET });
    else if (input.arch === 'none') result = runBootSector(image, { memoryBytes, maxInstructions: BUDGET });
    else
      result = runImageVm(image, {
        arch: input.arch,
        memoryBytes,
        cpus: input.cpus,
        maxInstructions: BUDGET,
      });
  } catch (e) {
    const err = typedOnly(e, [ImageError]);
    expect(err.message.length, 'an ImageError says what is wrong').toBeGreaterThan(10);
    tally(`images/${input.kind}`, `refused: ${shortReason(err.message)}`);
    return;
  }
  expect(STOPS).toContain(result.stop);
  tally(`images/${input.kind}`, `ran: ${result.stop}`);
  expect(result.message.length).toBeGreaterThan(0);
}

const TARGET = 'images';

describe('image fuzzing: Multiboot, ELF, firmware, boot sectors, mutated guests', () => {
  afterAll(printTallies);
  const corpus = loadCorpus<ImageInput>(TARGET);
  it.each(corpus.map((c, i) => [i, c.note.slice(0, 70), c.input] as const))(
    'corpus #%i: %s',
    (_i, _n, input) => runImage(input),
  );

  it('Multiboot a.out-kludge kernels: ImageError or a correct load', () => {
    fuzz(TARGET, 'aout', withMachine(aoutKernel), runImage, 60);
  });
  it('Multiboot ELF32 kernels (overlapping, out of RAM, truncated): ImageError or a correct load', () => {
    fuzz(TARGET, 'elf', withMachine(elfKernel), runImage, 60);
  });
  it('SEV-ES firmware with an OVMF GUIDed table: ImageError or a launch', () => {
    fuzz(TARGET, 'firmware', withMachine(firmware), runImage, 40);
  });
  it('boot sectors and mutated guests: ImageError or a run to a documented ending', () => {
    fuzz(TARGET, 'boot', withMachine(fc.oneof(bootSector, mutant)), runImage, 40);
  });

  it('the CLI exits 8 and says what is wrong for refused images', () => {
    const cli = join(ROOT, 'dist', 'src', 'cli.js');
    if (!existsSync(cli)) return; // test/cli builds dist/ and checks the CLI itself
    const dir = mkdtempSync(join(tmpdir(), 'hvemu-fuzz-'));
    try {
      const cases: [string, Uint8Array, string[]][] = [
        ['empty.img', new Uint8Array(0), []],
        [
          'mb-no-segments.img',
          Uint8Array.from([...le32(MB_MAGIC), ...le32(0), ...le32(-MB_MAGIC >>> 0)]),
          [],
        ],
        ['fw-odd.img', new Uint8Array(4097), ['--sev-es']],
      ];
      for (const [name, bytes, extra] of cases) {
        writeFileSync(join(dir, name), bytes);
        const r = spawnSync(process.execPath, [cli, 'run', join(dir, name), ...extra], {
          encoding: 'utf8',
          timeout: 30_000,
        });
        expect(r.status, `${name}: ${r.stderr}`).toBe(8);
        expect(r.stderr).toMatch(/^hvemu: .{20,}/); // what is wrong with the file, in words
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
