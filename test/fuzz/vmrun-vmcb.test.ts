// Fuzzing VMRUN's consistency checks (AMD APM vol 2 15.5.1) on the SVM hardware: a legal VMCB (a
// real-mode guest behind nested paging, as in src/svm/hw/world-switch.test.ts) gets random control and
// save-area fields. The APM's list of illegal states is modelled here on its own, with "MBZ" taken
// from what this processor's CPUID offers (as KVM's checks do); VMRUN must return VMEXIT_INVALID
// (EXITCODE -1, with a reason) for exactly those and run the guest for every other state, to some
// exit within the budget. The host throws nothing either way.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { cpuid } from '../../src/cpu/cpuid.js';
import { standaloneProcessor } from '../../src/host/host-machine.js';
import { SvmHardware } from '../../src/svm/hw/world-switch.js';
import {
  INTERCEPT_CPUID,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VMRUN,
  SVM_EXIT_ERR,
  Vmcb,
} from '../../src/svm/vmcb-layout.js';
import { fuzz, hex64, loadCorpus, printTallies, tally, u64Hex } from './support/fuzz.js';

const RAM = 16 << 20;
const NPT = 0x100000;
const VMCB_PA = 0x200000;
const IOPM_PA = 0x201000;
const MSRPM_PA = 0x204000;
const GUEST = 0x400000;
const IOPM_SIZE = 12 * 1024;
const MSRPM_SIZE = 8 * 1024;

const U64 = [
  'efer',
  'cr0',
  'cr3',
  'cr4',
  'dr6',
  'dr7',
  'rflags',
  'rip',
  'rsp',
  'nested_cr3',
  'iopm_base_pa',
  'msrpm_base_pa',
  'nested_ctl',
] as const;
const U32 = ['asid', 'event_inj', 'tlb_ctl', 'int_state', 'cpl'] as const;
const SEGS = ['cs', 'ss', 'ds', 'gdtr', 'idtr', 'tr'] as const;

type Mutation =
  | { kind: 'u64'; field: (typeof U64)[number]; value: string }
  | { kind: 'u32'; field: (typeof U32)[number]; value: number }
  | { kind: 'seg'; seg: (typeof SEGS)[number]; attrib: number; limit: number; base: string }
  | { kind: 'intercept'; bit: number; on: boolean };
interface VmcbInput {
  mutations: Mutation[];
}

function setup() {
  const ram = new SharedArrayBuffer(RAM);
  const dv = new DataView(ram);
  dv.setUint32(NPT, NPT + 0x1007, true);
  dv.setUint32(NPT + 0x1000, NPT + 0x2007, true);
  dv.setUint32(NPT + 0x2000, NPT + 0x3007, true);
  for (let i = 0; i < 512; i++) dv.setUint32(NPT + 0x3000 + i * 8, GUEST + i * 0x1000 + 7, true);
  new Uint8Array(ram).fill(0xf4, GUEST, GUEST + 0x10000); // HLT everywhere the guest may start
  const cpu = new Cpu({
    ram,
    io: { portRead: () => 0xff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const vmcb = new Vmcb(dv, VMCB_PA);
  for (const s of ['es', 'ss', 'ds', 'fs', 'gs'] as const)
    vmcb.setSegment(s, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
  vmcb.setSegment('cs', { selector: 0, attrib: 0x9b, limit: 0xffff, base: 0n });
  vmcb.setSegment('ldtr', { selector: 0, attrib: 0x82, limit: 0xffff, base: 0n });
  vmcb.setSegment('tr', { selector: 0, attrib: 0x8b, limit: 0xffff, base: 0n });
  vmcb.setSegment('idtr', { selector: 0, attrib: 0, limit: 0x3ff, base: 0n });
  vmcb.setSegment('gdtr', { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
  vmcb.set64('efer', 1n << 12n);
  vmcb.set64('cr0', 0x10n);
  vmcb.set64('rflags', 2n);
  vmcb.set64('rip', 0x7c00n);
  vmcb.set64('rsp', 0x7000n);
  vmcb.set('asid', 1);
  for (const bit of [
    INTERCEPT_VMRUN,
    INTERCEPT_CPUID,
    INTERCEPT_HLT,
    INTERCEPT_IOIO_PROT,
    INTERCEPT_INTR,
    INTERCEPT_SHUTDOWN,
  ])
    vmcb.setIntercept(bit, true);
  vmcb.set64('iopm_base_pa', BigInt(IOPM_PA));
  vmcb.set64('msrpm_base_pa', BigInt(MSRPM_PA));
  vmcb.set64('nested_ctl', 1n);
  vmcb.set64('nested_cr3', BigInt(NPT));
  return { hw: new SvmHardware(standaloneProcessor(cpu)), vmcb, cpu };
}

const bit = (v: bigint, n: number) => (v >> BigInt(n)) & 1n;

/** CR4 and EFER bits this processor offers (CPUID): the rest are MBZ (APM 3.1.3, 3.1.7). */
function offered(cpu: Cpu): { cr4: bigint; efer: bigint } {
  const r = new Int32Array(4);
  cpuid(cpu, 1, 0, r);
  const ecx1 = r[2];
  cpuid(cpu, 7, 0, r);
  const ebx7 = r[1];
  const ecx7 = r[2];
  cpuid(cpu, 0x8000_0001, 0, r);
  const ecxE = r[2];
  const edxE = r[3];
  let cr4 = 0n;
  const on = (cond: number | boolean, b: number) => {
    if (cond) cr4 |= 1n << BigInt(b);
  };
  // Bits 10:0 (VME .. OSXMMEXCPT) are reserved in no x86-64 processor (KVM's CR4_RESERVED_BITS too);
  // the later ones exist only where CPUID offers their feature.
  cr4 = 0x7ffn;
  on(ecx7 & (1 << 2), 11); // UMIP
  on(ecx7 & (1 << 16), 12); // LA57
  on(ebx7 & 1, 16); // FSGSBASE
  on(ecx1 & (1 << 17), 17); // PCIDE
  on(ecx1 & (1 << 26), 18); // OSXSAVE
  on(ebx7 & (1 << 7), 20); // SMEP
  on(ebx7 & (1 << 20), 21); // SMAP
  on(ecx7 & (1 << 3), 22); // PKE
  let efer = (1n << 0n) | (1n << 8n) | (1n << 10n) | (1n << 11n) | (1n << 12n); // SCE LME LMA NXE SVME
  if (edxE & (1 << 25)) efer |= 1n << 14n; // FFXSR
  if (ecxE & (1 << 17)) efer |= 1n << 15n; // TCE
  return { cr4, efer };
}

/** APM vol 2 15.5.1's illegal states (and 15.20's illegal EVENTINJ), or null when VMRUN may enter. */
function apmIllegal(v: Vmcb, cpu: Cpu): string | null {
  const efer = v.get64('efer');
  const cr0 = v.get64('cr0');
  const cr4 = v.get64('cr4');
  const ok = offered(cpu);
  if (!bit(efer, 12)) return 'EFER.SVME is zero';
  if (!bit(cr0, 30) && bit(cr0, 29)) return 'CR0.CD is zero and CR0.NW is set';
  if (cr0 >> 32n) return 'CR0[63:32] are not zero';
  if (v.get64('cr3') >> 52n) return 'an MBZ bit of CR3 is set';
  if (cr4 & ~ok.cr4) return 'an MBZ bit of CR4 is set';
  if (v.get64('dr6') >> 32n) return 'DR6[63:32] are not zero';
  if (v.get64('dr7') >> 32n) return 'DR7[63:32] are not zero';
  if (efer & ~ok.efer) return 'an MBZ bit of EFER is set';
  const lmePg = bit(efer, 8) && bit(cr0, 31);
  if (lmePg && !bit(cr4, 5)) return 'EFER.LME and CR0.PG are set and CR4.PAE is zero';
  if (lmePg && !bit(cr0, 0)) return 'EFER.LME and CR0.PG are set and CR0.PE is zero';
  const cs = v.getSegment('cs').attrib;
  if (lmePg && bit(cr4, 5) && cs & (1 << 9) && cs & (1 << 10))
    return 'EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are set';
  if (!v.isIntercepted(INTERCEPT_VMRUN)) return 'the VMRUN intercept bit is clear';
  // The permission maps must lie in physical memory (hvemu's bound: the machine's memory).
  const iopm = Number(v.get64('iopm_base_pa') & ~0xfffn);
  const msrpm = Number(v.get64('msrpm_base_pa') & ~0xfffn);
  if (iopm + IOPM_SIZE > RAM || msrpm + MSRPM_SIZE > RAM)
    return 'the IOPM or MSRPM extends past physical memory';
  if (v.get('asid') === 0) return 'ASID is zero';
  const inj = v.get('event_inj');
  if (inj & 0x8000_0000) {
    const type = (inj >>> 8) & 7;
    if (type === 1 || type >= 5) return 'EVENTINJ has a reserved type';
    if (type === 3 && ((inj & 0xff) === 2 || (inj & 0xff) > 31))
      return 'EVENTINJ: exception vector 2 or above 31';
  }
  // APM 15.34/15.35: SEV or SEV-ES needs nested paging and a launched ASID; this machine has no keys.
  if (bit(v.get64('nested_ctl'), 1) || bit(v.get64('nested_ctl'), 2))
    return 'SEV or SEV-ES on an ASID without a key';
  return null;
}

// ---- generators: each mutation aims at one check, or at nothing in particular ----

const bits64 = fc.nat(63).map((n) => hex64(1n << BigInt(n)));
const u64Field = fc.record({
  kind: fc.constant('u64' as const),
  field: fc.constantFrom(...U64),
  value: fc.oneof(
    u64Hex,
    bits64,
    fc.constantFrom('0x0', '0x1000', '0x10', '0x11', '0x80000011', '0x1100', '0x1500', '0x20', '0x60000010'),
  ),
});
const u32Field = fc.record({
  kind: fc.constant('u32' as const),
  field: fc.constantFrom(...U32),
  value: fc.oneof(fc.nat(0xffff_ffff), fc.nat(4), fc.integer({ min: 0x8000_0000, max: 0x8000_07ff })),
});
const segField = fc.record({
  kind: fc.constant('seg' as const),
  seg: fc.constantFrom(...SEGS),
  attrib: fc.oneof(fc.nat(0xfff), fc.constantFrom(0x9b, 0x29b, 0x49b, 0x69b, 0x93, 0)),
  limit: fc.oneof(fc.nat(0xffff_ffff), fc.constantFrom(0, 0xffff, 0xffffffff)),
  base: fc.oneof(u64Hex, fc.constant('0x0')),
});
const interceptField = fc.record({
  kind: fc.constant('intercept' as const),
  bit: fc.oneof(fc.constant(INTERCEPT_VMRUN), fc.nat(159)),
  on: fc.boolean(),
});
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: u64Field },
  { weight: 2, arbitrary: u32Field },
  { weight: 1, arbitrary: segField },
  { weight: 1, arbitrary: interceptField },
);
const inputArb: fc.Arbitrary<VmcbInput> = fc.record({
  mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
});

function runInput(input: VmcbInput): void {
  const { hw, vmcb, cpu } = setup();
  for (const m of input.mutations) {
    if (m.kind === 'u64') vmcb.set64(m.field, BigInt(m.value));
    else if (m.kind === 'u32') vmcb.set(m.field, m.value >>> 0);
    else if (m.kind === 'seg')
      vmcb.setSegment(m.seg, { selector: 0, attrib: m.attrib, limit: m.limit >>> 0, base: BigInt(m.base) });
    else vmcb.setIntercept(m.bit, m.on);
  }
  const illegal = apmIllegal(vmcb, cpu);
  let code: number;
  try {
    code = hw.vmrun(VMCB_PA, 200);
  } catch (e) {
    throw new Error(
      `VMRUN threw (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}); the APM says: ${illegal ?? 'legal'}`,
    );
  }
  tally(
    'vmrun',
    illegal !== null ? `VMEXIT_INVALID: ${illegal}` : `entered, #VMEXIT 0x${(code >>> 0).toString(16)}`,
  );
  if (illegal !== null) {
    expect(code, `APM 15.5.1: ${illegal}`).toBe(SVM_EXIT_ERR);
    expect(vmcb.get64('exit_code')).toBe(0xffff_ffff_ffff_ffffn);
    expect(hw.invalidReason.length).toBeGreaterThan(0);
  } else expect(code, `legal state refused: ${hw.invalidReason}`).not.toBe(SVM_EXIT_ERR);
}

const TARGET = 'vmrun-vmcb';

describe('VMRUN consistency checks against the APM, with random VMCB fields', () => {
  afterAll(printTallies);
  const corpus = loadCorpus<VmcbInput>(TARGET);
  it.each(corpus.map((c, i) => [i, c.note.slice(0, 70), c.input] as const))(
    'corpus #%i: %s',
    (_i, _n, input) => runInput(input),
  );
  it('the legal base VMCB runs (to the HLT intercept)', () => {
    const { hw } = setup();
    expect(hw.vmrun(VMCB_PA, 200)).toBe(0x78);
  });
  it('random control and save-area fields: VMEXIT_INVALID exactly for the APM list', () => {
    fuzz(TARGET, 'fields', inputArb, runInput, 300);
  });
});
