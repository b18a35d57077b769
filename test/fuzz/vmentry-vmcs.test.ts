// Fuzzing VM entry (Intel SDM vol 3C 26.2-26.3, "Checks on VMX controls" and "Checks on the guest
// state area") on the VMX hardware: a legal VMCS (an unrestricted real-mode guest behind EPT, as in
// src/vmx/hw/vm-entry.test.ts) gets random control and guest-state fields through VMWRITE. A selection
// of the SDM's checks is modelled here on its own: a control-field violation must make VMLAUNCH fail
// with VMfailValid and VM-instruction error 7, a guest-state violation must be a VM-entry failure
// (exit reason 33 with bit 31 set). For every input, modelled or not, the host throws nothing and
// VMLAUNCH returns within the instruction budget.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { standaloneProcessor } from '../../src/host/host-machine.js';
import { VMX_FAIL_VALID, VmxHardware } from '../../src/vmx/hw/vm-entry.js';
import {
  adjustControls,
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  controlsAllowed,
  PIN_BASED_EXT_INTR_MASK,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  VMX_CAPS,
} from '../../src/vmx/hw/vmx-controls.js';
import { VMCS_REVISION_ID, Vmcs } from '../../src/vmx/vmcs.js';
import { VMCS_FIELD as F } from '../../src/vmx/vmcs-fields.js';
import { fuzz, hex64, loadCorpus, printTallies, tally, u64Hex } from './support/fuzz.js';

const RAM = 16 << 20;
const EPT = 0x100000;
const VMCS_PA = 0x200000;
const GUEST = 0x400000;
const ENTRY_FAILURE = (0x8000_0000 | 33) >>> 0;

/** Fields the fuzzer writes: controls, then guest state. */
const FIELDS = [
  'PIN_BASED_VM_EXEC_CONTROL',
  'CPU_BASED_VM_EXEC_CONTROL',
  'SECONDARY_VM_EXEC_CONTROL',
  'VM_EXIT_CONTROLS',
  'VM_ENTRY_CONTROLS',
  'CR3_TARGET_COUNT',
  'IO_BITMAP_A',
  'MSR_BITMAP',
  'EPT_POINTER',
  'VM_ENTRY_INTR_INFO_FIELD',
  'VM_ENTRY_EXCEPTION_ERROR_CODE',
  'VM_ENTRY_INSTRUCTION_LEN',
  'GUEST_CR0',
  'GUEST_CR3',
  'GUEST_CR4',
  'GUEST_DR7',
  'GUEST_RFLAGS',
  'GUEST_RIP',
  'GUEST_RSP',
  'GUEST_IA32_EFER',
  'GUEST_ACTIVITY_STATE',
  'GUEST_INTERRUPTIBILITY_INFO',
  'GUEST_PENDING_DBG_EXCEPTIONS',
  'VMCS_LINK_POINTER',
  'GUEST_CS_AR_BYTES',
  'GUEST_CS_LIMIT',
  'GUEST_CS_BASE',
  'GUEST_CS_SELECTOR',
  'GUEST_SS_AR_BYTES',
  'GUEST_DS_AR_BYTES',
  'GUEST_TR_AR_BYTES',
  'GUEST_LDTR_AR_BYTES',
  'GUEST_GDTR_LIMIT',
  'GUEST_IDTR_BASE',
] as const satisfies readonly (keyof typeof F)[];
type Field = (typeof FIELDS)[number];
interface VmcsInput {
  writes: { field: Field; value: string }[];
}

function setup() {
  const ram = new SharedArrayBuffer(RAM);
  const dv = new DataView(ram);
  dv.setUint32(EPT, EPT + 0x1007, true);
  dv.setUint32(EPT + 0x1000, EPT + 0x2007, true);
  dv.setUint32(EPT + 0x2000, EPT + 0x3007, true);
  for (let i = 0; i < 512; i++) dv.setUint32(EPT + 0x3000 + i * 8, GUEST + i * 0x1000 + (6 << 3) + 7, true);
  new Uint8Array(ram).fill(0xf4, GUEST, GUEST + 0x10000);
  const cpu = new Cpu({
    vendor: 'GenuineIntel',
    ram,
    io: { portRead: () => 0xff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const vmcs = new Vmcs(dv, VMCS_PA);
  vmcs.revisionId = VMCS_REVISION_ID;
  vmcs.vmclear();
  const w = (enc: number, v: number | bigint) => vmcs.vmwrite(enc, BigInt(v));
  w(F.PIN_BASED_VM_EXEC_CONTROL, adjustControls(PIN_BASED_EXT_INTR_MASK, VMX_CAPS.pin));
  w(
    F.CPU_BASED_VM_EXEC_CONTROL,
    adjustControls(CPU_BASED_HLT_EXITING | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS, VMX_CAPS.proc),
  );
  w(
    F.SECONDARY_VM_EXEC_CONTROL,
    adjustControls(SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST, VMX_CAPS.proc2),
  );
  w(F.VM_EXIT_CONTROLS, adjustControls(0, VMX_CAPS.exit));
  w(F.VM_ENTRY_CONTROLS, adjustControls(0, VMX_CAPS.entry));
  w(F.EPT_POINTER, EPT | (3 << 3) | 6);
  w(F.VMCS_LINK_POINTER, 0xffff_ffff_ffff_ffffn);
  for (const s of ['ES', 'SS', 'DS', 'FS', 'GS'] as const) {
    w(F[`GUEST_${s}_LIMIT`], 0xffff);
    w(F[`GUEST_${s}_AR_BYTES`], 0x93);
  }
  w(F.GUEST_CS_LIMIT, 0xffff);
  w(F.GUEST_CS_AR_BYTES, 0x9b);
  w(F.GUEST_LDTR_AR_BYTES, 0x10000);
  w(F.GUEST_TR_LIMIT, 0xffff);
  w(F.GUEST_TR_AR_BYTES, 0x8b);
  w(F.GUEST_GDTR_LIMIT, 0xffff);
  w(F.GUEST_IDTR_LIMIT, 0x3ff);
  w(F.GUEST_CR0, 0x30);
  w(F.GUEST_CR4, 0x2000);
  w(F.GUEST_RFLAGS, 2);
  w(F.GUEST_RIP, 0x7c00);
  w(F.GUEST_RSP, 0x7000);
  return { hw: new VmxHardware(standaloneProcessor(cpu)), vmcs };
}

const MAXPHY = 2n ** 48n;

/** The SDM checks modelled here: 'control' (26.2.1), 'guest' (26.3.1) or null (not modelled as failing). */
function sdmViolation(v: Vmcs): { kind: 'control' | 'guest'; why: string } | null {
  const c = (why: string) => ({ kind: 'control' as const, why });
  const g = (why: string) => ({ kind: 'guest' as const, why });
  const pin = v.read32(F.PIN_BASED_VM_EXEC_CONTROL);
  const proc = v.read32(F.CPU_BASED_VM_EXEC_CONTROL);
  const proc2 = proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? v.read32(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  const entry = v.read32(F.VM_ENTRY_CONTROLS);
  // 26.2.1.1-26.2.1.3: the capability MSRs' allowed settings.
  if (!controlsAllowed(pin, VMX_CAPS.pin)) return c('pin-based controls outside IA32_VMX_PINBASED_CTLS');
  if (!controlsAllowed(proc, VMX_CAPS.proc)) return c('processor-based controls outside their MSR');
  if (proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS && !controlsAllowed(proc2, VMX_CAPS.proc2))
    return c('secondary controls outside IA32_VMX_PROCBASED_CTLS2');
  if (!controlsAllowed(v.read32(F.VM_EXIT_CONTROLS), VMX_CAPS.exit))
    return c('exit controls outside their MSR');
  if (!controlsAllowed(entry, VMX_CAPS.entry)) return c('entry controls outside their MSR');
  if (v.read32(F.CR3_TARGET_COUNT) > 4) return c('CR3-target count above 4');
  // A page must be aligned and below MAXPHYADDR; hvemu's bound is its memory (docs/robustness.md).
  const addrBad = (a: bigint) => (a & 0xfffn) !== 0n || a >= MAXPHY || a + 4096n > BigInt(RAM);
  if (proc & CPU_BASED_USE_IO_BITMAPS && addrBad(v.read(F.IO_BITMAP_A))) return c('I/O bitmap A address');
  if (proc & CPU_BASED_USE_MSR_BITMAPS && addrBad(v.read(F.MSR_BITMAP))) return c('MSR bitmap address');
  if (proc2 & (1 << 5)) return c('enable VPID with VPID 0');
  if (proc2 & SECONDARY_EXEC_ENABLE_EPT) {
    // 26.2.1.1 and the EPTP format (24.6.11): UC or WB, a 4-level walk, bits 11:7 zero, no A/D
    // (IA32_VMX_EPT_VPID_CAP does not offer it here), the root page in memory.
    const eptp = v.read(F.EPT_POINTER);
    const mt = Number(eptp & 7n);
    if (mt !== 0 && mt !== 6) return c('EPTP memory type');
    if (((eptp >> 3n) & 7n) !== 3n) return c('EPTP page-walk length');
    if (eptp & 0xfc0n) return c('EPTP reserved bits or A/D');
    if (addrBad(eptp & ~0xfffn)) return c('EPTP address');
  }
  if (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST && !(proc2 & SECONDARY_EXEC_ENABLE_EPT))
    return c('unrestricted guest without EPT');
  const info = v.read32(F.VM_ENTRY_INTR_INFO_FIELD);
  if (info & 0x8000_0000) {
    const type = (info >>> 8) & 7;
    const vector = info & 0xff;
    if (info & 0x7fff_f000) return c('interruption information reserved bits');
    if (type === 1) return c('interruption type 1');
    if (type === 2 && vector !== 2) return c('NMI with a vector other than 2');
    if (type === 3 && vector > 31) return c('hardware exception above vector 31');
    // Type 7 (other event) needs the monitor trap flag, which IA32_VMX_PROCBASED_CTLS does not offer.
    if (type === 7) return c('other event without the monitor trap flag');
    // Bit 11 (deliver error code) is 1 if and only if: protected mode (or no unrestricted guest),
    // a hardware exception, and a vector that pushes an error code (8, 10-14, 17).
    const pe = (v.read(F.GUEST_CR0) & 1n) !== 0n || !(proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST);
    const hasCode = type === 3 && [8, 10, 11, 12, 13, 14, 17].includes(vector);
    if (((info & 0x800) !== 0) !== (pe && hasCode)) return c('deliver-error-code does not match the event');
    if (info & 0x800 && v.read32(F.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff_8000)
      return c('error code bits 31:15');
    // Software interrupts and exceptions (4, 5, 6): an instruction length of 1-15 (no zero-length
    // injection in IA32_VMX_MISC).
    const len = v.read32(F.VM_ENTRY_INSTRUCTION_LEN);
    if (type >= 4 && type <= 6 && (len < 1 || len > 15))
      return c('software event with an instruction length outside 1-15');
  }
  // 26.3.1.1: CR0, CR4, RFLAGS.
  const unrestricted = (proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST) !== 0;
  const cr0 = v.read(F.GUEST_CR0);
  const cr4 = v.read(F.GUEST_CR4);
  const ia32e = (entry & (1 << 9)) !== 0;
  if (!(cr0 & 0x20n)) return g('CR0.NE is fixed to 1');
  if (!unrestricted && (cr0 & 0x8000_0001n) !== 0x8000_0001n) return g('CR0.PE and PG are fixed to 1');
  if (cr0 & 0x8000_0000n && !(cr0 & 1n)) return g('CR0.PG without CR0.PE');
  if (!(cr4 & 0x2000n)) return g('CR4.VMXE is fixed to 1');
  if (cr0 >> 32n) return g('CR0 bits 63:32');
  if (ia32e && (!(cr0 & 0x8000_0000n) || !(cr4 & 0x20n)))
    return g('IA-32e mode guest without CR0.PG and CR4.PAE');
  const rflags = v.read(F.GUEST_RFLAGS);
  if (rflags >> 22n || rflags & 0x8028n || !(rflags & 2n)) return g('RFLAGS reserved bits');
  if (ia32e && rflags & (1n << 17n)) return g('RFLAGS.VM in an IA-32e mode guest');
  // 26.3.1.5: activity state and interruptibility.
  if (v.read32(F.GUEST_ACTIVITY_STATE) > 3) return g('activity state above 3');
  const intr = v.read32(F.GUEST_INTERRUPTIBILITY_INFO);
  if (intr >>> 5) return g('interruptibility-state reserved bits');
  if ((intr & 3) === 3) return g('blocking by STI and by MOV SS together');
  // 26.3.1.5: the VMCS link pointer (no VMCS shadowing): all ones, or a VMCS of this revision,
  // which no page but the current VMCS here holds.
  const link = v.read(F.VMCS_LINK_POINTER);
  if (link !== 0xffff_ffff_ffff_ffffn && link !== BigInt(VMCS_PA)) return g('VMCS link pointer');
  return null;
}

// ---- generators ----

const bitsOf = (n: number) => fc.nat(n - 1).map((b) => hex64(1n << BigInt(b)));
const value = fc.oneof(
  u64Hex,
  bitsOf(64),
  bitsOf(32),
  fc.nat(0xffff_ffff).map((n) => hex64(BigInt(n))),
  fc.constantFrom(
    '0x0',
    '0x2',
    '0x30',
    '0x2000',
    '0x80000031',
    '0x1000',
    '0x80000b0e',
    '0x80000302',
    '0xffffffffffffffff',
  ),
);
const write = fc.record({ field: fc.constantFrom(...FIELDS), value });
/** Mostly a flip of one bit of the legal value, so single checks are reached. */
const flip = fc.record({ field: fc.constantFrom(...FIELDS), bit: fc.nat(63) });
const inputArb: fc.Arbitrary<VmcsInput> = fc
  .tuple(fc.array(write, { maxLength: 3 }), fc.array(flip, { maxLength: 2 }))
  .map(([writes, flips]) => ({
    writes: [...writes, ...flips.map((f) => ({ field: f.field, value: `flip:${f.bit}` }))],
  }));

function runInput(input: VmcsInput): void {
  const { hw, vmcs } = setup();
  for (const { field, value: v } of input.writes) {
    const enc = F[field];
    const val = v.startsWith('flip:') ? vmcs.read(enc) ^ (1n << BigInt(v.slice(5))) : BigInt(v);
    vmcs.vmwrite(enc, val);
  }
  const model = sdmViolation(vmcs);
  let r: number;
  try {
    r = hw.vmlaunch(VMCS_PA, 200);
  } catch (e) {
    throw new Error(
      `VMLAUNCH threw (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}); the SDM model says: ${model?.why ?? 'no modelled violation'}`,
    );
  }
  tally(
    'vm-entry',
    model !== null
      ? `${model.kind === 'control' ? 'VMfailValid(7)' : 'entry failure (33)'}: ${model.why}`
      : r === VMX_FAIL_VALID
        ? 'VMfailValid (an unmodelled check)'
        : r >>> 0 === ENTRY_FAILURE
          ? 'entry failure (an unmodelled check)'
          : `entered, exit reason ${r}`,
  );
  if (model?.kind === 'control') {
    expect(r, `SDM 26.2: ${model.why}`).toBe(VMX_FAIL_VALID);
    expect(vmcs.read32(F.VM_INSTRUCTION_ERROR)).toBe(7);
  } else if (model?.kind === 'guest') expect(r >>> 0, `SDM 26.3: ${model.why}`).toBe(ENTRY_FAILURE);
  else expect(typeof r).toBe('number');
}

const TARGET = 'vmentry-vmcs';

describe('VM entry checks against the SDM, with random VMCS fields', () => {
  afterAll(printTallies);
  const corpus = loadCorpus<VmcsInput>(TARGET);
  it.each(corpus.map((c, i) => [i, c.note.slice(0, 70), c.input] as const))(
    'corpus #%i: %s',
    (_i, _n, input) => runInput(input),
  );
  it('the legal base VMCS enters (to the HLT exit)', () => {
    const { hw } = setup();
    expect(hw.vmlaunch(VMCS_PA, 200)).toBe(12);
  });
  it('random control and guest-state fields: the SDM failure for modelled violations, never a host exception', () => {
    fuzz(TARGET, 'fields', inputArb, runInput, 200);
  });
});
