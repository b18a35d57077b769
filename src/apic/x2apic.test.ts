// x2APIC mode: IA32_APIC_BASE transitions (SDM 11.12.5, figure 11-27) and the MSR interface rules
// (11.12.1.2 table 11-6, 11.12.1.3 reserved bits, 11.12.9 ICR, 11.12.10 logical IDs, 11.12.11 SELF IPI).
import { describe, expect, it } from 'vitest';
import { LAPIC_MODE_DISABLED, LAPIC_MODE_X2APIC, LAPIC_MODE_XAPIC, LocalApic } from './local-apic.js';
import { APIC_TPR, MSR_IA32_APIC_BASE, MSR_IA32_TSC_DEADLINE } from './registers.js';
import { makeBus } from './test-helpers.js';
import { ApicGpError } from './x2apic.js';

const XAPIC = 0xfee00800n;
const X2APIC = 0xfee00c00n;
const DISABLED = 0xfee00000n;

function x2(id = 0x1234): LocalApic {
  const a = makeBus([id]).apics[0];
  a.msrWrite(MSR_IA32_APIC_BASE, X2APIC);
  return a;
}

const gp = (f: () => unknown): void => {
  expect(f).toThrow(ApicGpError);
};

describe('IA32_APIC_BASE transitions (SDM 11.12.5)', () => {
  it('xAPIC → x2APIC → disabled → xAPIC are legal', () => {
    const a = makeBus([1]).apics[0];
    expect(a.mode).toBe(LAPIC_MODE_XAPIC);
    a.msrWrite(MSR_IA32_APIC_BASE, X2APIC);
    expect(a.mode).toBe(LAPIC_MODE_X2APIC);
    a.msrWrite(MSR_IA32_APIC_BASE, DISABLED);
    expect(a.mode).toBe(LAPIC_MODE_DISABLED);
    a.msrWrite(MSR_IA32_APIC_BASE, XAPIC);
    expect(a.mode).toBe(LAPIC_MODE_XAPIC);
  });

  it('x2APIC → xAPIC is illegal', () => {
    const a = x2();
    gp(() => a.msrWrite(MSR_IA32_APIC_BASE, XAPIC));
    expect(a.mode).toBe(LAPIC_MODE_X2APIC);
  });

  it('disabled → x2APIC is illegal, and EXTD without EN is an invalid state', () => {
    const a = makeBus([1]).apics[0];
    gp(() => a.msrWrite(MSR_IA32_APIC_BASE, 0xfee00400n));
    a.msrWrite(MSR_IA32_APIC_BASE, DISABLED);
    gp(() => a.msrWrite(MSR_IA32_APIC_BASE, X2APIC));
    expect(a.mode).toBe(LAPIC_MODE_DISABLED);
  });

  it('reserved bits (7:0, 9, above MAXPHYADDR) fault', () => {
    const a = makeBus([1]).apics[0];
    gp(() => a.msrWrite(MSR_IA32_APIC_BASE, XAPIC | 0x200n));
    gp(() => a.msrWrite(MSR_IA32_APIC_BASE, XAPIC | 1n));
    gp(() => a.msrWrite(MSR_IA32_APIC_BASE, XAPIC | (1n << 40n)));
  });

  it('EXTD is reserved when the CPU does not report x2APIC', () => {
    const a = new LocalApic({ apicId: 0, clock: { now: () => 0 }, x2apic: false });
    gp(() => a.setApicBase(X2APIC));
  });

  it('the base is relocatable', () => {
    const a = makeBus([1]).apics[0];
    a.msrWrite(MSR_IA32_APIC_BASE, 0xfed00800n);
    expect(a.mmioBase).toBe(0xfed00000);
    expect(a.msrRead(MSR_IA32_APIC_BASE)).toBe(0xfed00800n);
  });

  it('going through disabled resets the APIC state (11.4.3)', () => {
    const a = makeBus([1]).apics[0];
    a.mmioWrite(APIC_TPR, 4, 0x40);
    a.msrWrite(MSR_IA32_APIC_BASE, DISABLED);
    a.msrWrite(MSR_IA32_APIC_BASE, XAPIC);
    expect(a.mmioRead(APIC_TPR, 4)).toBe(0);
    expect(a.swEnabled).toBe(false);
  });

  it('in x2APIC mode the xAPIC page is off (11.12.1.2)', () => {
    const a = x2();
    expect(a.mmioActive).toBe(false);
    a.mmioWrite(APIC_TPR, 4, 0x40);
    expect(a.msrRead(0x808)).toBe(0n);
  });
});

describe('x2APIC MSRs (SDM 11.12.1.2, table 11-6)', () => {
  it('the MSR range faults outside x2APIC mode', () => {
    const a = makeBus([1]).apics[0];
    gp(() => a.msrRead(0x802));
    gp(() => a.msrWrite(0x808, 0n));
  });

  it('ID is the 32-bit x2APIC ID and LDR is derived from it (11.12.10.2)', () => {
    const a = x2(0x1234);
    expect(a.msrRead(0x802)).toBe(0x1234n);
    // Logical x2APIC ID = (x2APIC ID[19:4] << 16) | (1 << x2APIC ID[3:0])
    expect(a.msrRead(0x80d)).toBe(0x01230010n);
  });

  it('writes to read-only registers fault', () => {
    const a = x2();
    for (const msr of [0x802, 0x803, 0x80a, 0x80d, 0x810, 0x818, 0x820, 0x839]) gp(() => a.msrWrite(msr, 0n));
  });

  it('reads of write-only registers fault (EOI, SELF IPI)', () => {
    const a = x2();
    gp(() => a.msrRead(0x80b));
    gp(() => a.msrRead(0x83f));
  });

  it('registers absent in x2APIC mode fault: APR, RRD, DFR, ICR high, reserved slots', () => {
    const a = x2();
    for (const msr of [0x800, 0x809, 0x80c, 0x80e, 0x831, 0x83d, 0x840, 0x8ff]) {
      gp(() => a.msrRead(msr));
      gp(() => a.msrWrite(msr, 0n));
    }
  });

  it('non-zero writes to reserved bits fault (11.12.1.3)', () => {
    const a = x2();
    gp(() => a.msrWrite(0x808, 0x100n)); // TPR bits 31:8
    gp(() => a.msrWrite(0x808, 1n << 32n)); // bits 63:32 of a 32-bit register
    gp(() => a.msrWrite(0x80f, 0x1000n)); // SVR bit 12: EOI-broadcast suppression not reported
    gp(() => a.msrWrite(0x83e, 0x4n)); // DCR bit 2
    gp(() => a.msrWrite(0x83f, 0x100n)); // SELF IPI bits 31:8
    a.msrWrite(0x808, 0xffn);
    expect(a.msrRead(0x808)).toBe(0xffn);
  });

  it('EOI and ESR accept only zero', () => {
    const a = x2();
    gp(() => a.msrWrite(0x80b, 1n));
    gp(() => a.msrWrite(0x828, 1n));
    a.msrWrite(0x80b, 0n);
    a.msrWrite(0x828, 0n);
  });

  it('ICR is one 64-bit MSR; reserved bits fault, bit 12 is ignored (11.12.9)', () => {
    const a = x2();
    gp(() => a.msrWrite(0x830, 1n << 13n));
    gp(() => a.msrWrite(0x830, 1n << 16n));
    a.msrWrite(0x830, (0x1234n << 32n) | 0x1000n | 0x4050n);
    expect(a.msrRead(0x830) & ~0x1000n).toBe((0x1234n << 32n) | 0x4050n);
    expect(a.pendingVector()).toBe(0x50); // destination 1234h is this APIC
  });

  it('SELF IPI sends a fixed edge interrupt to this APIC (11.12.11)', () => {
    const a = x2();
    a.msrWrite(0x83f, 0x45n);
    expect(a.pendingVector()).toBe(0x45);
    expect(a.msrRead(0x820 + 2) & (1n << 5n)).toBe(1n << 5n); // IRR word 2, bit 5
  });

  it('SELF IPI with an illegal vector sets Send Illegal Vector (11.12.8)', () => {
    const a = x2();
    a.msrWrite(0x83f, 0x0an);
    a.msrWrite(0x828, 0n);
    expect(a.msrRead(0x828) & 0x20n).toBe(0x20n);
  });

  it('lowest priority is reserved in x2APIC: Re-directible IPI is set and nothing is sent (11.12.9)', () => {
    const a = x2();
    a.msrWrite(0x830, (0x1234n << 32n) | 0x100n | 0x60n);
    a.msrWrite(0x828, 0n);
    expect(a.msrRead(0x828)).toBe(0x10n);
    expect(a.pendingVector()).toBe(-1);
  });

  it('IA32_TSC_DEADLINE is reachable in any mode', () => {
    const a = makeBus([1]).apics[0];
    expect(a.msrRead(MSR_IA32_TSC_DEADLINE)).toBe(0n);
    expect(a.owns(MSR_IA32_TSC_DEADLINE) && a.owns(0x800) && a.owns(0x1b) && !a.owns(0x900)).toBe(true);
  });
});
