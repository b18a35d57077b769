// The `--trace apic` hook on the APIC bus: one line per IPI with the ICR's fields in the SDM's words
// (11.6.1 figure 11-12) and the APIC IDs that took it, and one line per ESR error of an ICR write.
import { describe, expect, it } from 'vitest';
import type { ApicBus } from './apic-bus.js';
import { deliveryModeName, formatIcrError, formatIpi } from './ipi-trace.js';
import type { LocalApic } from './local-apic.js';
import { APIC_SVR, MSR_IA32_APIC_BASE, MSR_X2APIC_ICR } from './registers.js';
import { makeBus, sendXapic } from './test-helpers.js';

function traced(ids: number[]): { bus: ApicBus; apics: LocalApic[]; lines: string[] } {
  const { bus, apics } = makeBus(ids);
  const lines: string[] = [];
  bus.trace = (line) => lines.push(line);
  return { bus, apics, lines };
}

describe('IPI trace lines', () => {
  it('INIT-SIPI-SIPI from the BSP: mode, vector, shorthand and the APs that took it', () => {
    const { apics, lines } = traced([0, 1, 2, 3]);
    sendXapic(apics[0], 0xc4500);
    sendXapic(apics[0], 0xc4608);
    expect(lines).toEqual([
      'APIC 0x0: IPI INIT, All Excluding Self -> APIC 0x1 0x2 0x3',
      'APIC 0x0: IPI Start Up vector 0x08, All Excluding Self -> APIC 0x1 0x2 0x3',
    ]);
  });

  it('physical and logical destinations, and the targets that refused a Fixed IPI', () => {
    const { apics, lines } = traced([0, 1, 2]);
    apics[2].mmioWrite(APIC_SVR, 4, 0xff); // software-disabled: refuses Fixed (SDM 11.4.7.2)
    sendXapic(apics[0], 0x4041, 1);
    sendXapic(apics[0], 0x4041, 0xff);
    apics[1].mmioWrite(0xd0, 4, 0x02 << 24); // LDR: flat logical ID bit 1
    sendXapic(apics[0], 0x4842, 0x02);
    sendXapic(apics[0], 0xc043); // level-triggered Fixed
    expect(lines).toEqual([
      'APIC 0x0: IPI Fixed vector 0x41, Physical destination 0x01 -> APIC 0x1',
      'APIC 0x0: IPI Fixed vector 0x41, Physical destination 0xff -> APIC 0x0 0x1; refused by APIC 0x2',
      'APIC 0x0: IPI Fixed vector 0x42, Logical destination 0x02 -> APIC 0x1',
      'APIC 0x0: IPI Fixed vector 0x43 level-triggered, Physical destination 0x00 -> APIC 0x0',
    ]);
  });

  it('INIT Level De-assert, and a message nobody takes', () => {
    const { apics, lines } = traced([0, 1]);
    sendXapic(apics[0], 0xc8500);
    sendXapic(apics[0], 0x4400, 7); // NMI to an absent ID
    expect(lines).toEqual([
      'APIC 0x0: IPI INIT Level De-assert, All Excluding Self -> no APIC accepted it; refused by APIC 0x1',
      'APIC 0x0: IPI NMI, Physical destination 0x07 -> no APIC accepted it',
    ]);
  });

  it('x2APIC: 32-bit IDs, cluster destinations, and the SELF IPI register', () => {
    const { apics, lines } = traced([0x10, 0x3e8]);
    for (const a of apics) a.msrWrite(MSR_IA32_APIC_BASE, 0xfee00c00n);
    apics[0].msrWrite(MSR_X2APIC_ICR, (0x3e8n << 32n) | 0x4500n);
    apics[0].msrWrite(MSR_X2APIC_ICR, (0x003e_0100n << 32n) | 0x4c00n);
    apics[1].msrWrite(0x83f, 0x51n);
    expect(lines).toEqual([
      'APIC 0x10: IPI INIT, Physical destination 0x3e8 -> APIC 0x3e8',
      'APIC 0x10: IPI NMI, Logical destination 0x003e0100 (cluster 0x3e, members 0x0100) -> APIC 0x3e8',
      'APIC 0x3e8: IPI Fixed vector 0x51, Self -> APIC 0x3e8',
    ]);
  });

  it('ESR lines for illegal ICR writes (SDM 11.5.3)', () => {
    const { apics, lines } = traced([0, 1]);
    sendXapic(apics[0], 0x4305, 1); // delivery mode 011b
    sendXapic(apics[0], 0x4005, 1); // Fixed, vector 5
    expect(lines).toEqual([
      'APIC 0x0: ESR Send Accept Error (bit 2): Reserved (011b) IPI, vector 0x05, No Shorthand: not sent',
      'APIC 0x0: ESR Send Illegal Vector (bit 5): Fixed IPI, vector 0x05, No Shorthand',
      'APIC 0x0: IPI Fixed vector 0x05, Physical destination 0x01 -> no APIC accepted it; refused by APIC 0x1',
    ]);
    lines.length = 0;
    for (const a of apics) a.msrWrite(MSR_IA32_APIC_BASE, 0xfee00c00n);
    apics[0].msrWrite(MSR_X2APIC_ICR, (1n << 32n) | 0x4150n); // Lowest Priority: reserved in x2APIC
    expect(lines).toEqual([
      'APIC 0x0: ESR Redirectable IPI (bit 4): Lowest Priority IPI, vector 0x50, No Shorthand: not sent',
    ]);
  });

  it('costs nothing when no sink is attached', () => {
    const { bus, apics } = makeBus([0, 1]);
    expect(bus.trace).toBeNull();
    sendXapic(apics[0], 0x4041, 1);
    expect(apics[1].pendingVector()).toBe(0x41);
  });
});

describe('formatting', () => {
  it('names every ICR delivery mode as figure 11-12 does', () => {
    const names = [0, 1, 2, 3, 4, 5, 6, 7].map((m) => deliveryModeName((m << 8) | 0x4000));
    expect(names).toEqual([
      'Fixed',
      'Lowest Priority',
      'SMI',
      'Reserved (011b)',
      'NMI',
      'INIT',
      'Start Up',
      'ExtINT',
    ]);
    expect(deliveryModeName(0x8500)).toBe('INIT Level De-assert');
  });

  it('lists several ESR bits in one line', () => {
    expect(formatIcrError(1, 0xa0, 0x40003, true)).toBe(
      'APIC 0x1: ESR Send Illegal Vector (bit 5), Illegal Register Address (bit 7): Fixed IPI, vector 0x03, Self',
    );
  });

  it('shows All Including Self and SMI without a vector', () => {
    expect(formatIpi(2, false, 0x84200, 0, [0, 1, 2], [])).toBe(
      'APIC 0x2: IPI SMI, All Including Self -> APIC 0x0 0x1 0x2',
    );
  });
});
