// Local APIC register file, priorities, EOI, ESR and acceptance. Expected values come from the Intel
// SDM vol 3 ch. 11 (section numbers in each test) and KVM's __apic_accept_irq for the event latching.
import { describe, expect, it } from 'vitest';
import { EV_EXTINT, EV_INIT, EV_NMI, EV_SIPI, EV_SMI, LocalApic } from './local-apic.js';
import {
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HIGH,
  APIC_ICR_LOW,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVT_ERROR,
  APIC_LVT_LINT0,
  APIC_LVT_LINT1,
  APIC_LVT_THERMAL,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_SVR,
  APIC_TIMER_CCR,
  APIC_TIMER_DCR,
  APIC_TIMER_ICR,
  APIC_TMR,
  APIC_TPR,
  APIC_VERSION,
  DM_EXTINT,
  DM_FIXED,
  DM_INIT,
  DM_LOWEST,
  DM_NMI,
  DM_SMI,
  DM_STARTUP,
} from './registers.js';
import { FakeClock } from './test-helpers.js';

function apic(id = 0, opts: { kick?: () => void; eoiBroadcast?: (v: number) => void } = {}): LocalApic {
  return new LocalApic({ apicId: id, clock: new FakeClock(), ...opts });
}

function enabled(id = 0, opts: { kick?: () => void; eoiBroadcast?: (v: number) => void } = {}): LocalApic {
  const a = apic(id, opts);
  a.mmioWrite(APIC_SVR, 4, 0x1ff);
  return a;
}

const rd = (a: LocalApic, off: number): number => a.mmioRead(off, 4);
const wr = (a: LocalApic, off: number, v: number): void => a.mmioWrite(off, 4, v);
/** Latch and read the ESR: write, then read (SDM 11.5.3). */
const esr = (a: LocalApic): number => {
  wr(a, APIC_ESR, 0);
  return rd(a, APIC_ESR);
};

describe('power-up state (SDM 11.4.7.1)', () => {
  it('has the documented reset values', () => {
    const a = apic(3);
    expect(rd(a, APIC_ID)).toBe(0x03000000); // xAPIC ID in bits 31:24 (11.4.6)
    expect(rd(a, APIC_TPR)).toBe(0);
    expect(rd(a, APIC_LDR)).toBe(0);
    expect(rd(a, APIC_DFR)).toBe(0xffffffff);
    expect(rd(a, APIC_SVR)).toBe(0xff);
    for (const off of [APIC_LVT_TIMER, APIC_LVT_THERMAL, APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_ERROR])
      expect(rd(a, off)).toBe(0x10000); // masked
    expect(rd(a, APIC_TIMER_ICR)).toBe(0);
    expect(rd(a, APIC_TIMER_CCR)).toBe(0);
    expect(rd(a, APIC_TIMER_DCR)).toBe(0);
    expect(rd(a, APIC_ICR_LOW)).toBe(0);
    for (let i = 0; i < 8; i++)
      expect(rd(a, APIC_IRR + i * 16) | rd(a, APIC_ISR + i * 16) | rd(a, APIC_TMR + i * 16)).toBe(0);
  });

  it('IA32_APIC_BASE is FEE00000h with EN, and BSP on the bootstrap processor (11.4.4)', () => {
    expect(apic(0).apicBase).toBe(0xfee00800n);
    expect(new LocalApic({ apicId: 0, clock: new FakeClock(), bsp: true }).apicBase).toBe(0xfee00900n);
  });

  it('version register: Max LVT Entry in bits 23:16, version in bits 7:0 (11.4.8)', () => {
    const v = rd(apic(), APIC_VERSION);
    expect((v >>> 16) & 0xff).toBe(6); // seven LVT entries including CMCI
    expect(v & 0xff).toBeGreaterThanOrEqual(0x10); // 10h-15h: integrated APIC
    expect(v & 0xff).toBeLessThanOrEqual(0x15);
  });
});

describe('xAPIC register access', () => {
  it('ID is writable in bits 31:24 and byte reads see single bytes', () => {
    const a = apic();
    wr(a, APIC_ID, 0x05000000);
    expect(a.physicalId).toBe(5);
    expect(a.mmioRead(APIC_ID + 3, 1)).toBe(5);
    expect(a.mmioRead(APIC_ID + 2, 2)).toBe(0x0500);
  });

  it('LDR keeps bits 31:24; DFR keeps bits 31:28 and reads ones in 27:0 (11.6.2.2)', () => {
    const a = apic();
    wr(a, APIC_LDR, 0x12345678);
    expect(rd(a, APIC_LDR)).toBe(0x12000000);
    wr(a, APIC_DFR, 0);
    expect(rd(a, APIC_DFR)).toBe(0x0fffffff);
  });

  it('ignores writes that are not aligned 32-bit stores (11.4.1)', () => {
    const a = apic();
    a.mmioWrite(APIC_TPR, 1, 0x20);
    a.mmioWrite(APIC_TPR + 4, 4, 0x20);
    expect(rd(a, APIC_TPR)).toBe(0);
  });

  it('delivery status reads idle after an ICR write (11.6.1)', () => {
    const a = enabled();
    wr(a, APIC_ICR_HIGH, 0x01000000);
    wr(a, APIC_ICR_LOW, 0x4030);
    expect(rd(a, APIC_ICR_LOW) & (1 << 12)).toBe(0);
    expect(rd(a, APIC_ICR_LOW)).toBe(0x4030);
    expect(rd(a, APIC_ICR_HIGH)).toBe(0x01000000);
  });
});

describe('priorities (SDM 11.8.3)', () => {
  it('PPR is TPR while no interrupt is in service', () => {
    const a = enabled();
    wr(a, APIC_TPR, 0x2b);
    expect(rd(a, APIC_PPR)).toBe(0x2b);
  });

  it('an interrupt is deliverable only if its priority class is above the PPR class', () => {
    const a = enabled();
    wr(a, APIC_TPR, 0x20);
    a.accept(DM_FIXED, 0x2f, false, true); // class 2: not above 2
    expect(a.pendingVector()).toBe(-1);
    a.accept(DM_FIXED, 0x30, false, true);
    expect(a.pendingVector()).toBe(0x30);
  });

  it('PPR follows the in-service class when it is above TPR, and TPR when not', () => {
    const a = enabled();
    wr(a, APIC_TPR, 0x20);
    a.accept(DM_FIXED, 0x51, false, true);
    a.acknowledge(0x51);
    expect(rd(a, APIC_PPR)).toBe(0x50); // PPR[7:4] = ISRV[7:4], PPR[3:0] = 0
    wr(a, APIC_TPR, 0x7f);
    expect(rd(a, APIC_PPR)).toBe(0x7f); // TPR[7:4] >= ISRV[7:4]: PPR = TPR
    wr(a, APIC_TPR, 0x5a);
    expect(rd(a, APIC_PPR)).toBe(0x5a); // equal classes: TPR wins
  });

  it('an in-service interrupt blocks its own class and lower, not higher ones', () => {
    const a = enabled();
    a.accept(DM_FIXED, 0x51, false, true);
    a.acknowledge(0x51);
    a.accept(DM_FIXED, 0x5f, false, true);
    expect(a.pendingVector()).toBe(-1);
    a.accept(DM_FIXED, 0x60, false, true);
    expect(a.pendingVector()).toBe(0x60);
  });

  it('the highest IRR vector is delivered first, and acknowledge moves it IRR → ISR (11.8.4)', () => {
    const a = enabled();
    a.accept(DM_FIXED, 0x40, false, true);
    a.accept(DM_FIXED, 0x80, false, true);
    expect(a.pendingVector()).toBe(0x80);
    a.acknowledge(0x80);
    expect(rd(a, APIC_IRR + 4 * 16)).toBe(0); // vector 80h is bit 0 of IRR word 4
    expect(rd(a, APIC_ISR + 4 * 16)).toBe(1);
    expect(rd(a, APIC_IRR + 2 * 16)).toBe(1); // 40h still requested
  });

  it('APR is TPR when TPR dominates IRR and ISR (11.6.2.4)', () => {
    const a = enabled();
    wr(a, APIC_TPR, 0x35);
    a.accept(DM_FIXED, 0x21, false, true);
    expect(rd(a, 0x90)).toBe(0x35);
    a.accept(DM_FIXED, 0x61, false, true);
    expect(rd(a, 0x90)).toBe(0x60);
  });
});

describe('EOI (SDM 11.8.5)', () => {
  it('retires in-service vectors highest first', () => {
    const a = enabled();
    a.accept(DM_FIXED, 0x40, false, true);
    a.acknowledge(0x40);
    a.accept(DM_FIXED, 0x80, false, true); // nests above 40h
    expect(a.pendingVector()).toBe(0x80);
    a.acknowledge(0x80);
    wr(a, APIC_EOI, 0);
    expect(rd(a, APIC_ISR + 4 * 16)).toBe(0);
    expect(rd(a, APIC_ISR + 2 * 16)).toBe(1);
    wr(a, APIC_EOI, 0);
    expect(rd(a, APIC_ISR + 2 * 16)).toBe(0);
    wr(a, APIC_EOI, 0); // nothing in service: no effect
  });

  it('broadcasts the EOI only for level-triggered vectors (TMR set at acceptance, 11.8.4)', () => {
    const seen: number[] = [];
    const a = enabled(0, { eoiBroadcast: (v) => seen.push(v) });
    a.accept(DM_FIXED, 0x90, true, true);
    expect(rd(a, APIC_TMR + 4 * 16)).toBe(1 << 0x10);
    a.acknowledge(0x90);
    wr(a, APIC_EOI, 0);
    expect(seen).toEqual([0x90]);
    a.accept(DM_FIXED, 0x90, false, true); // edge acceptance clears the TMR bit
    expect(rd(a, APIC_TMR + 4 * 16)).toBe(0);
    a.acknowledge(0x90);
    wr(a, APIC_EOI, 0);
    expect(seen).toEqual([0x90]);
  });
});

describe('ESR (SDM 11.5.3)', () => {
  it('reads 0 until a write latches the errors; back-to-back writes clear it', () => {
    const a = enabled();
    wr(a, APIC_ICR_LOW, 0x40005); // fixed, vector 5, self
    expect(rd(a, APIC_ESR)).toBe(0); // not latched yet
    wr(a, APIC_ESR, 0);
    expect(rd(a, APIC_ESR) & 0x20).toBe(0x20); // Send Illegal Vector
    wr(a, APIC_ESR, 0);
    expect(rd(a, APIC_ESR)).toBe(0);
  });

  it('Send Illegal Vector at the sender and Receive Illegal Vector at the receiver (bits 5, 6)', () => {
    const a = enabled();
    wr(a, APIC_ICR_LOW, 0x4000f); // self IPI with vector 0Fh
    expect(esr(a)).toBe(0x20 | 0x40);
    expect(a.pendingVector()).toBe(-1); // "the local APIC will never set an IRR bit in the range 0 to 15"
  });

  it('Receive Illegal Vector for an illegal vector arriving from outside', () => {
    const a = enabled();
    expect(a.accept(DM_FIXED, 3, false, true)).toBe(false);
    expect(esr(a)).toBe(0x40);
    expect(rd(a, APIC_IRR)).toBe(0);
  });

  it('Illegal Register Address for reserved offsets (bit 7)', () => {
    const a = enabled();
    expect(rd(a, 0x40)).toBe(0);
    expect(esr(a)).toBe(0x80);
    wr(a, 0x3a0, 1);
    expect(esr(a)).toBe(0x80);
    rd(a, 0x3f0); // SELF IPI exists only in x2APIC mode
    expect(esr(a)).toBe(0x80);
  });

  it('a reserved delivery mode (011b) is not sent and is logged as Send Accept Error', () => {
    // Figure 11-12 marks 011b reserved and the SDM names no ESR bit for it; no APIC accepts it, which
    // is what bit 2 reports. See local-apic.ts sendIcr.
    const a = enabled();
    wr(a, APIC_ICR_LOW, 0x40000 | (3 << 8) | 0x40);
    expect(esr(a)).toBe(0x04);
    expect(a.pendingVector()).toBe(-1);
  });

  it('an error raises the LVT error interrupt when it is unmasked', () => {
    const a = enabled();
    wr(a, APIC_LVT_ERROR, 0xe3);
    rd(a, 0x40);
    expect(a.pendingVector()).toBe(0xe3);
  });

  it('errors are collected while the LVT error entry is masked, without an interrupt', () => {
    const a = enabled();
    rd(a, 0x40);
    expect(a.pendingVector()).toBe(-1);
    expect(esr(a)).toBe(0x80);
  });
});

describe('software enable (SVR bit 8, SDM 11.4.7.2)', () => {
  it('a software-disabled APIC refuses fixed interrupts but takes NMI, SMI, INIT and SIPI', () => {
    const a = apic();
    expect(a.accept(DM_FIXED, 0x40, false, true)).toBe(false);
    expect(a.accept(DM_LOWEST, 0x40, false, true)).toBe(false);
    expect(a.accept(DM_NMI, 0, false, true)).toBe(true);
    expect(a.accept(DM_SMI, 0, false, true)).toBe(true);
    expect(a.accept(DM_INIT, 0, false, true)).toBe(true);
    expect(a.accept(DM_STARTUP, 0x12, false, true)).toBe(true);
    expect(a.pendingEvents).toBe(EV_NMI | EV_SMI | EV_INIT | EV_SIPI);
  });

  it('LVT mask bits cannot be cleared while software-disabled', () => {
    const a = apic();
    wr(a, APIC_LVT_LINT0, 0x700);
    expect(rd(a, APIC_LVT_LINT0)).toBe(0x10700);
    wr(a, APIC_SVR, 0x1ff);
    wr(a, APIC_LVT_LINT0, 0x700);
    expect(rd(a, APIC_LVT_LINT0)).toBe(0x700);
  });

  it('software disable sets every LVT mask bit', () => {
    const a = enabled();
    wr(a, APIC_LVT_TIMER, 0x30);
    wr(a, APIC_LVT_LINT1, 0x400);
    wr(a, APIC_SVR, 0xff);
    expect(rd(a, APIC_LVT_TIMER)).toBe(0x10030);
    expect(rd(a, APIC_LVT_LINT1)).toBe(0x10400);
  });

  it('registers stay readable and writable while software-disabled; re-enabling keeps the LVT masks', () => {
    const a = enabled();
    wr(a, APIC_LVT_LINT1, 0x400);
    wr(a, APIC_SVR, 0xff); // software disable
    wr(a, APIC_TPR, 0x20);
    expect(rd(a, APIC_TPR)).toBe(0x20);
    expect(rd(a, APIC_ID)).toBe(0); // APIC 0
    expect(rd(a, APIC_SVR)).toBe(0xff);
    expect(a.accept(DM_FIXED, 0x50, false, true)).toBe(false);
    wr(a, APIC_SVR, 0x1ff); // re-enable: the masks stay until software clears them (11.4.7.2)
    expect(rd(a, APIC_LVT_LINT1)).toBe(0x10400);
    expect(a.accept(DM_FIXED, 0x50, false, true)).toBe(true);
    expect(a.pendingVector()).toBe(0x50);
    wr(a, APIC_LVT_LINT1, 0x400);
    expect(rd(a, APIC_LVT_LINT1)).toBe(0x400);
  });

  it('interrupts already in the IRR stay deliverable (they are "held")', () => {
    const a = enabled();
    a.accept(DM_FIXED, 0x40, false, true);
    wr(a, APIC_SVR, 0xff);
    expect(a.pendingVector()).toBe(0x40);
  });
});

describe('accept: events latched as KVM does', () => {
  it('INIT and SIPI latch, with the SIPI vector, and kick the owner', () => {
    let kicks = 0;
    const a = apic(1, { kick: () => kicks++ });
    a.accept(DM_INIT, 0, true, true); // level assert
    a.accept(DM_STARTUP, 0x9a, false, true);
    expect(a.pendingEvents).toBe(EV_INIT | EV_SIPI);
    expect(a.sipiVector).toBe(0x9a);
    expect(kicks).toBe(2);
    expect(a.takeEvents()).toBe(EV_INIT | EV_SIPI);
    expect(a.pendingEvents).toBe(0);
  });

  it('INIT level de-assert is ignored (SDM 11.6.1: not supported since the Pentium 4)', () => {
    const a = apic();
    expect(a.accept(DM_INIT, 0, true, false)).toBe(false);
    expect(a.pendingEvents).toBe(0);
  });

  it('a new INIT drops a SIPI that was not acted on', () => {
    const a = apic();
    a.accept(DM_STARTUP, 0x10, false, true);
    a.accept(DM_INIT, 0, false, true);
    expect(a.pendingEvents).toBe(EV_INIT);
  });

  it('ExtINT and NMI latch as events', () => {
    const a = enabled();
    a.accept(DM_EXTINT, 0, false, true);
    a.accept(DM_NMI, 0, false, true);
    expect(a.pendingEvents).toBe(EV_EXTINT | EV_NMI);
  });

  it('a globally disabled APIC accepts nothing', () => {
    const a = enabled();
    a.setApicBase(0xfee00000n);
    expect(a.accept(DM_INIT, 0, false, true)).toBe(false);
    expect(a.accept(DM_NMI, 0, false, true)).toBe(false);
    expect(a.pendingVector()).toBe(-1);
  });
});

describe('LVT local interrupts (SDM 11.5.1)', () => {
  it('LINT0 as ExtINT and LINT1 as NMI, the virtual-wire setup', () => {
    const a = enabled();
    wr(a, APIC_LVT_LINT0, 7 << 8);
    wr(a, APIC_LVT_LINT1, 4 << 8);
    expect(a.localInterrupt(APIC_LVT_LINT0)).toBe(true);
    expect(a.localInterrupt(APIC_LVT_LINT1)).toBe(true);
    expect(a.pendingEvents).toBe(EV_EXTINT | EV_NMI);
  });

  it('a masked entry delivers nothing', () => {
    const a = enabled();
    wr(a, APIC_LVT_THERMAL, 0x10050);
    expect(a.localInterrupt(APIC_LVT_THERMAL)).toBe(false);
    expect(a.pendingVector()).toBe(-1);
  });

  it('a level-triggered fixed LINT holds remote IRR (bit 14) until the EOI', () => {
    const a = enabled();
    wr(a, APIC_LVT_LINT0, 0x8000 | 0x61);
    expect(a.localInterrupt(APIC_LVT_LINT0)).toBe(true);
    expect(rd(a, APIC_LVT_LINT0) & 0x4000).toBe(0x4000);
    expect(a.localInterrupt(APIC_LVT_LINT0)).toBe(false);
    a.acknowledge(0x61);
    wr(a, APIC_EOI, 0);
    expect(rd(a, APIC_LVT_LINT0) & 0x4000).toBe(0);
  });
});

describe('INIT reset (SDM 11.4.7.3)', () => {
  it('resets the registers but keeps the APIC ID and IA32_APIC_BASE', () => {
    const a = enabled(2);
    wr(a, APIC_ID, 0x07000000);
    wr(a, APIC_TPR, 0x30);
    a.accept(DM_FIXED, 0x40, false, true);
    a.reset(true);
    expect(rd(a, APIC_ID)).toBe(0x07000000);
    expect(rd(a, APIC_TPR)).toBe(0);
    expect(rd(a, APIC_SVR)).toBe(0xff);
    expect(a.pendingVector()).toBe(-1);
    expect(a.apicBase).toBe(0xfee00800n);
  });
});
