// Fuzzing the hypervisor's VMGEXIT handling end to end on a real SEV-ES VM (the sev-smoke firmware,
// launched and measured): random GHCB pages (valid bitmap, exit codes, exit information, scratch
// pointers in and out of the GHCB, of RAM, of the shared buffer) and random GHCB MSR values go through
// SevEsVcpu's VMGEXIT path, and userspace completes whatever KVM_EXIT_IO it is handed, as the VMM does.
// For every input the host throws nothing and the guest gets what the GHCB specification (AMD 56421
// 4.1, 2.3.1) and KVM give: an answer in sw_exit_info_1/2 (0 success, 1 an exception to take, 2
// malformed input with a GHCB_ERR_* reason), the MSR protocol's response code, AP Reset Hold, or a
// termination. The spec's error order (usage, then the three exit fields, then the event) is checked
// from its own model here, not from src/ghcb's.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { dramOf, memoryControllerOf } from '../../src/host/core-access.js';
import { HOST_KEY } from '../../src/host/memory-controller.js';
import { createSevEsVm, type SevEsVm } from '../../src/sev-boot.js';
import type { SevEsVcpu } from '../../src/svm/sev-es/vcpu.js';
import { RESUME, RunState, TO_USER } from '../../src/vmm/backend-api.js';
import {
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_MMIO,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../../src/vmm/kvm-abi.js';
import { big, fuzz, hex64, loadCorpus, printTallies, tally, u64Hex } from './support/fuzz.js';

const SMOKE = readFileSync(new URL('../../guests/sev-smoke/sev-smoke.img', import.meta.url));
const RAM = 8 << 20;
const GHCB = 0x20000;

// Offsets and valid-bitmap indexes from the GHCB specification's layout table (quadword n = bit n).
const FIELD = {
  cpl: 0x0cb,
  rax: 0x1f8,
  rcx: 0x308,
  rdx: 0x310,
  rbx: 0x318,
  sw_exit_code: 0x390,
  sw_exit_info_1: 0x398,
  sw_exit_info_2: 0x3a0,
  sw_scratch: 0x3a8,
  xcr0: 0x3e8,
} as const;
type FieldName = keyof typeof FIELD;
const BITMAP = 0x3f0;
/** What the hypervisor may write back into a GHCB: the four GPRs and the two answer fields. */
const ANSWER_FIELDS = ['rax', 'rbx', 'rcx', 'rdx', 'sw_exit_info_1', 'sw_exit_info_2'] as const;

/** SEV-ES events of the spec's table 6 and the intercepts a #VC handler forwards. */
const ES_EVENTS = [
  0x027, 0x037, 0x06e, 0x06f, 0x072, 0x076, 0x07b, 0x07c, 0x081, 0x087, 0x089, 0x08a, 0x08b, 0x8000_0001,
  0x8000_0002, 0x8000_0003, 0x8000_0004, 0x8000_0005, 0x8000_fffd, 0x8000_fffe, 0x8000_ffff,
];
const SNP_EVENTS = [0x8000_0010, 0x8000_0011, 0x8000_0012, 0x8000_0013];

/** One VMGEXIT as the guest would set it up. Values are hex text so a failing input is kept as JSON. */
interface Request {
  /** The GHCB MSR at VMGEXIT: a page GPA (low 12 bits 0) or an MSR-protocol request. */
  msr: string;
  /** Whether the guest mapped the GHCB page shared (C-bit clear) before writing it. */
  shared: boolean;
  fields: Partial<Record<FieldName, string>>;
  /** Valid-bitmap bytes as hex text (16 bytes), or null: valid bits exactly for the fields given. */
  bitmap: string | null;
  usage: number;
  version: number;
  /** What userspace answers to every IN it is asked for. */
  userIn: number;
}
interface Input {
  requests: Request[];
}

// ---- arbitraries ----

const ioioInfo1 = fc
  .record({
    port: fc.oneof(
      fc.constantFrom(0xe9, 0x3f8, 0x3fd, 0x70, 0x71, 0x20, 0x21, 0x40, 0x61, 0xcf8, 0xf4),
      fc.nat(0xffff),
    ),
    size: fc.constantFrom(1, 2, 4, 0, 3, 7),
    str: fc.boolean(),
    rep: fc.boolean(),
    isIn: fc.boolean(),
    junk: fc.nat(0xff),
  })
  .map(({ port, size, str, rep, isIn, junk }) =>
    hex64(
      BigInt(
        ((port << 16) >>> 0) | (size << 4) | (str ? 4 : 0) | (rep ? 8 : 0) | (isIn ? 1 : 0) | (junk & 0xf00),
      ),
    ),
  );

const scratchGpa = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x800, max: 0xfef }).map((o) => hex64(BigInt(GHCB + o))) }, // in the shared buffer
  fc.integer({ min: 0, max: 0xfff }).map((o) => hex64(BigInt(GHCB + o))), // anywhere in the GHCB page
  fc.integer({ min: 0x7f0, max: 0x810 }).map((o) => hex64(BigInt(GHCB + o))), // shared buffer start
  fc.integer({ min: 0xfe0, max: 0x1000 }).map((o) => hex64(BigInt(GHCB + o))), // shared buffer end
  fc.integer({ min: 0, max: RAM + 0x2000 }).map((a) => hex64(BigInt(a))), // RAM and just past it
  fc.integer({ min: RAM - 0x11000, max: RAM }).map((a) => hex64(BigInt(a))), // RAM's top
  u64Hex,
);

const exitCode = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0x7b) }, // IOIO: the richest request (ports, strings, scratch)
  { weight: 2, arbitrary: fc.constantFrom(0x8000_0001, 0x8000_0002) }, // MMIO read/write
  { weight: 5, arbitrary: fc.constantFrom(...ES_EVENTS) },
  { weight: 1, arbitrary: fc.constantFrom(...SNP_EVENTS, 0x400, 0x403, 0x8000_0018) },
  { weight: 1, arbitrary: u64Hex.map((h) => big(h)) },
);

const smallCount = fc.integer({ min: 0, max: 4 }).map((n) => hex64(BigInt(n))); // repeat counts, MMIO lengths
const mmioAddress = fc.oneof(
  fc.constantFrom(0xfee00000, 0xfee00030, 0xfee000b0, 0xfec00000, 0xfec00010, 0xfed00000, 0x10000000, 0),
  fc.nat(0xffff_ffff),
);

/** The fields of one request, shaped by its exit code (sw_exit_info_1 is an IOIO word for IOIO, ...). */
const fieldsArb = exitCode.chain((code) =>
  fc.record({
    sw_exit_code: fc.constant(hex64(BigInt(code))),
    sw_exit_info_1:
      code === 0x7b
        ? ioioInfo1
        : code === 0x8000_0001 || code === 0x8000_0002
          ? mmioAddress.map((a) => hex64(BigInt(a)))
          : fc.oneof(u64Hex, fc.constantFrom('0x0', '0x1', '0x2')),
    sw_exit_info_2: fc.oneof(
      { weight: 4, arbitrary: smallCount },
      { weight: 1, arbitrary: u64Hex },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x2000 }).map((n) => hex64(BigInt(n))) },
    ),
    sw_scratch: scratchGpa,
    rax: fc.oneof(u64Hex, fc.constantFrom('0x0', '0x1', '0xd', '0x80000000', '0x8000001f')),
    rcx: fc.oneof(
      u64Hex,
      fc.constantFrom('0x0', '0x1b', '0x802', '0x808', '0x830', '0x83f', '0x80b', '0xc0000080', '0xc0010130'),
    ),
    rdx: u64Hex,
    rbx: u64Hex,
    cpl: fc.nat(255).map((n) => hex64(BigInt(n))),
    xcr0: u64Hex,
  }),
);
const FIELD_NAMES = Object.keys(FIELD) as FieldName[];
/** Most requests supply every field; some leave a few out (neither written nor marked valid). */
const omitted = fc.oneof(
  { weight: 3, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: fc.subarray(FIELD_NAMES) },
);
const fieldsWithGaps = fc.tuple(fieldsArb, omitted).map(([f, drop]) => {
  const out: Partial<Record<FieldName, string>> = { ...f };
  for (const k of drop) delete out[k];
  return out;
});

const pageRequest: fc.Arbitrary<Request> = fc.record({
  msr: fc.oneof(
    { weight: 8, arbitrary: fc.constant(hex64(BigInt(GHCB))) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '0x0',
        hex64(BigInt(RAM - 0x1000)),
        hex64(BigInt(RAM)),
        '0xfee00000',
        '0xfffff000',
      ),
    },
    { weight: 1, arbitrary: u64Hex.map((v) => hex64(big(v) & ~0xfffn)) },
  ),
  shared: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  fields: fieldsWithGaps,
  bitmap: fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    },
  ),
  usage: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(0xffff_ffff) }),
  version: fc.constantFrom(0, 1, 2, 3, 0xffff),
  userIn: fc.nat(0xffff_ffff),
});

const msrRequest: fc.Arbitrary<Request> = fc
  .record({
    info: fc.oneof(
      fc.constantFrom(0x002, 0x004, 0x006, 0x010, 0x012, 0x014, 0x080, 0x100, 0x001, 0x005, 0x007),
      fc.integer({ min: 1, max: 0xfff }),
    ),
    data: fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
      fc
        .record({
          fn: fc.oneof(fc.constantFrom(0, 1, 0xd, 0x8000_0000, 0x8000_001f), fc.nat(0xffff_ffff)),
          reg: fc.nat(3),
        })
        .map(({ fn, reg }) => (BigInt(fn) << 20n) | (BigInt(reg) << 18n)),
    ),
  })
  .map(({ info, data }) => ({
    msr: hex64((data << 12n) | BigInt(info)),
    shared: true,
    fields: {},
    bitmap: null,
    usage: 0,
    version: 2,
    userIn: 0,
  }));

const inputArb: fc.Arbitrary<Input> = fc.record({
  requests: fc.array(fc.oneof({ weight: 4, arbitrary: pageRequest }, { weight: 1, arbitrary: msrRequest }), {
    minLength: 1,
    maxLength: 4,
  }),
});

// ---- the machine and the spec's model ----

function bootVm(): { s: SevEsVm; v: SevEsVcpu; lines: string[] } {
  const lines: string[] = [];
  const s = createSevEsVm(SMOKE, { memoryBytes: RAM, trace: (_c, l) => lines.push(l) });
  return { s, v: s.vm.vcpus[0].backend as SevEsVcpu, lines };
}

/**
 * The GHCB page as the guest writes it: shared (DRAM holds the bytes; the hypervisor's host-memory
 * interface reads them) or private (held decrypted for the guest's ASID, which the hypervisor reads
 * only as ciphertext). One place that knows how a page reaches DRAM.
 */
function guestMemory(s: SevEsVm) {
  const mc = memoryControllerOf(s.vm.host);
  return {
    write: (gpa: number, bytes: Uint8Array, priv: boolean) => {
      mc.ensureForm(gpa, priv ? s.launch.asid : HOST_KEY);
      if (priv) dramOf(s.vm.host).set(bytes, gpa);
      else s.vm.memory.write(gpa, bytes);
    },
    read: (gpa: number, len: number) => s.vm.memory.read(gpa, len),
  };
}

function buildPage(r: Request): Uint8Array {
  const page = new Uint8Array(4096);
  const dv = new DataView(page.buffer);
  for (let i = 0x800; i < 0xff0; i++) page[i] = (i * 7) & 0xff; // a recognizable shared buffer
  for (const [k, val] of Object.entries(r.fields) as [FieldName, string][]) {
    const off = FIELD[k];
    if (k === 'cpl') page[off] = Number(big(val) & 0xffn);
    else dv.setBigUint64(off, big(val), true);
    if (r.bitmap === null) page[BITMAP + ((off >> 3) >> 3)] |= 1 << ((off >> 3) & 7);
  }
  if (r.bitmap !== null) page.set(Buffer.from(r.bitmap, 'hex'), BITMAP);
  dv.setUint16(0xffa, r.version, true);
  dv.setUint32(0xffc, r.usage >>> 0, true);
  return page;
}

const validBit = (page: Uint8Array, off: number) =>
  (page[BITMAP + ((off >> 3) >> 3)] >> ((off >> 3) & 7)) & 1;

/** The spec's answer for what it fixes before any event-specific check, or null. */
function specError(page: Uint8Array): { info2: bigint; why: string } | null {
  const dv = new DataView(page.buffer);
  if (dv.getUint32(0xffc, true) !== 0) return { info2: 2n, why: 'ghcb_usage not 0: GHCB_ERR_INVALID_USAGE' };
  for (const f of ['sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2'] as const)
    if (!validBit(page, FIELD[f])) return { info2: 4n, why: `${f} not valid: GHCB_ERR_MISSING_INPUT` };
  const code = dv.getBigUint64(FIELD.sw_exit_code, true);
  if (SNP_EVENTS.includes(Number(code)) && code <= 0xffff_ffffn)
    return { info2: 4n, why: 'an SNP event from an SEV-ES guest' };
  if (code > 0xffff_ffffn || !ES_EVENTS.includes(Number(code)))
    return { info2: 6n, why: 'unknown event: GHCB_ERR_INVALID_EVENT' };
  return null;
}

const toUserspace = (run: RunState) => run.exitReason === KVM_EXIT_IO || run.exitReason === KVM_EXIT_MMIO;

/**
 * Userspace's part: complete every KVM_EXIT_IO of a (string) IOIO and every KVM_EXIT_MMIO of an MMIO
 * request, as the VMM's run loop does, answering reads with `userIn`.
 */
function completeIo(v: SevEsVcpu, run: RunState, userIn: number): number {
  let r = TO_USER;
  for (let n = 0; r === TO_USER && toUserspace(run); n++) {
    if (n > 70_000) throw new Error('a string IOIO or MMIO request did not finish within 70000 exits');
    if (run.exitReason === KVM_EXIT_IO && run.ioDirection === KVM_EXIT_IO_IN) run.ioData = userIn;
    if (run.exitReason === KVM_EXIT_MMIO && !run.mmioIsWrite) run.mmioData = userIn;
    v.completeUserspace(run);
    run.exitReason = 0;
    r = v.vmgexits.pendingUserIo(run);
    if (r === -1) return RESUME;
  }
  return r;
}

function checkPageAnswer(before: Uint8Array, after: Uint8Array, r: Request): void {
  const dv = new DataView(after.buffer, after.byteOffset, 4096);
  const info1 = dv.getBigUint64(FIELD.sw_exit_info_1, true);
  const info2 = dv.getBigUint64(FIELD.sw_exit_info_2, true);
  // Both answer fields are marked valid, and only answer fields are (KVM clears the bitmap first).
  expect(validBit(after, FIELD.sw_exit_info_1) && validBit(after, FIELD.sw_exit_info_2)).toBe(1);
  const allowed = new Set(ANSWER_FIELDS.map((f) => FIELD[f] >> 3));
  for (let bit = 0; bit < 128; bit++)
    if ((after[BITMAP + (bit >> 3)] >> (bit & 7)) & 1)
      expect(allowed.has(bit), `valid bit ${bit}`).toBe(true);
  expect([0n, 1n, 2n]).toContain(info1);
  if (info1 === 2n) expect(info2 >= 1n && info2 <= 6n, `GHCB_ERR reason ${info2}`).toBe(true);
  if (info1 === 1n) expect(info2 & 0x8000_0700n).toBe(0x8000_0300n); // EVENTINJ: valid, type exception
  const spec = specError(before);
  if (spec) expect({ info1, info2 }, spec.why).toEqual({ info1: 2n, info2: spec.info2 });
  // The save area outside the answer fields, the version and usage are the guest's own: untouched.
  const answer = new Set<number>();
  for (const f of ANSWER_FIELDS) for (let i = 0; i < 8; i++) answer.add(FIELD[f] + i);
  for (let i = 0; i < 0x800; i++)
    if (!answer.has(i) && (i < BITMAP || i >= BITMAP + 16) && after[i] !== before[i])
      throw new Error(`the hypervisor changed GHCB byte 0x${i.toString(16)} (${before[i]} -> ${after[i]})`);
  for (let i = 0xff0; i < 0x1000; i++) expect(after[i], `GHCB byte 0x${i.toString(16)}`).toBe(before[i]);
  // The shared buffer changes only as the data of an IN or an MMIO read.
  const code = dv.getBigUint64(FIELD.sw_exit_code, true);
  const mayFill =
    info1 === 0n &&
    ((code === 0x7bn && (big(r.fields.sw_exit_info_1 ?? '0x0') & 5n) === 5n) || code === 0x8000_0001n);
  if (!mayFill)
    for (let i = 0x800; i < 0xff0; i++)
      if (after[i] !== before[i])
        throw new Error(`shared buffer byte 0x${i.toString(16)} changed by ${code}`);
}

function checkMsrAnswer(req: bigint, resp: bigint, outcome: number, run: RunState): void {
  const info = Number(req & 0xfffn);
  const data = req >> 12n;
  switch (info) {
    case 0x002: // SEV_INFO: max version, min version, C-bit position
      expect(outcome).toBe(RESUME);
      expect(resp & 0xfffn).toBe(0x001n);
      expect(Number(resp >> 48n)).toBeGreaterThanOrEqual(Number((resp >> 32n) & 0xffffn));
      return;
    case 0x004: // CPUID: the register named in bits 31:30 comes back with them
      expect(outcome).toBe(RESUME);
      expect(resp & 0xfffn).toBe(0x005n);
      expect((resp >> 30n) & 3n).toBe((data >> 18n) & 3n);
      return;
    case 0x006:
      expect(outcome).toBe(RESUME); // the vCPU halts in KVM_MP_STATE_AP_RESET_HOLD
      expect(resp).toBe(0x007n);
      return;
    case 0x080:
      expect(outcome).toBe(RESUME);
      expect(resp & 0xfffn).toBe(0x081n);
      return;
    case 0x100:
    case 0x010:
    case 0x012:
    case 0x014: // termination, or an SNP-only request from an SEV-ES guest
      expect(outcome).toBe(TO_USER);
      expect(run.exitReason).toBe(KVM_EXIT_SYSTEM_EVENT);
      expect(run.systemEventType).toBe(KVM_SYSTEM_EVENT_SEV_TERM);
      return;
    default: // unknown request: KVM leaves the MSR as it was
      expect(outcome).toBe(RESUME);
      expect(resp).toBe(req);
  }
}

function runInput(input: Input): void {
  const { s, v, lines } = bootVm();
  const mem = guestMemory(s);
  for (const r of input.requests) {
    const msr = big(r.msr);
    const run = new RunState();
    let before: Uint8Array | null = null;
    const pageMode = (msr & 0xfffn) === 0n;
    const gpa = Number(msr);
    const inRam = pageMode && msr !== 0n && gpa + 4096 <= RAM;
    if (inRam) {
      before = buildPage(r);
      mem.write(gpa, before, !r.shared);
      if (!r.shared) before = null; // DRAM holds ciphertext: the hypervisor sees garbage
    }
    v.vmcb.set64('ghcb_gpa', msr);
    let outcome: number;
    try {
      outcome = v.vmgexits.handle(run);
      if (outcome === TO_USER && toUserspace(run)) outcome = completeIo(v, run, r.userIn);
    } catch (e) {
      throw new Error(`VMGEXIT threw (${(e as Error).message}); trace:\n${lines.slice(-5).join('\n')}`);
    }
    expect([RESUME, TO_USER]).toContain(outcome);
    const OUT = outcome === RESUME ? 'RESUME' : 'TO_USER';
    if (!pageMode) {
      checkMsrAnswer(msr, v.vmcb.get64('ghcb_gpa'), outcome, run);
      if ((msr & 0xfffn) === 0x006n) expect(s.vm.vcpus[0].mpState).toBe(KVM_MP_STATE_AP_RESET_HOLD);
      const info = Number(msr & 0xfffn);
      const known = [0x002, 0x004, 0x006, 0x010, 0x012, 0x014, 0x080, 0x100].includes(info);
      tally(
        'ghcb/msr-protocol',
        `${known ? `request 0x${info.toString(16).padStart(3, '0')}` : 'unknown request'}: ${OUT}`,
      );
      if (outcome === TO_USER) return; // the VM stopped
      continue;
    }
    if (outcome !== RESUME || msr === 0n || before === null)
      tally(
        'ghcb/page',
        `${OUT}${before === null && inRam ? ' (private GHCB)' : !inRam ? ' (GHCB not in RAM or 0)' : ''}`,
      );
    if (outcome === TO_USER) {
      // The only way a page request leaves the kernel unfinished is the VM stopping, with a reason.
      expect(run.exitReason).toBe(KVM_EXIT_SYSTEM_EVENT);
      expect(run.explanation.length).toBeGreaterThan(0);
      if (!inRam) expect(run.explanation).toMatch(/not in guest RAM/);
      return;
    }
    if (msr === 0n || before === null) continue; // GHCB MSR 0 (nothing to do) or a private page
    const after = mem.read(gpa, 4096);
    checkPageAnswer(before, after, r);
    const adv = new DataView(after.buffer, after.byteOffset, 4096);
    const i1 = adv.getBigUint64(FIELD.sw_exit_info_1, true);
    tally(
      'ghcb/page',
      i1 === 2n
        ? `malformed, GHCB_ERR ${adv.getBigUint64(FIELD.sw_exit_info_2, true)}`
        : i1 === 1n
          ? 'exception for the guest'
          : 'answered (success)',
    );
  }
}

const TARGET = 'ghcb-vmgexit';

describe('VMGEXIT fuzzing on an SEV-ES VM (GHCB pages and the MSR protocol)', () => {
  afterAll(printTallies);
  const corpus = loadCorpus<Input>(TARGET);
  it.each(corpus.map((c, i) => [i, c.note.slice(0, 70), c.input] as const))(
    'corpus #%i: %s',
    (_i, _note, input) => runInput(input),
  );

  it('random GHCB requests and MSR values: the spec answer, no host exception', () => {
    fuzz(TARGET, 'requests', inputArb, runInput, 250);
  });
});
