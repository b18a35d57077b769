// The APIC timer against a hand-moved clock (SDM 11.5.4 and 11.5.4.1).
import { describe, expect, it } from 'vitest';
import { dcrDivisor } from './apic-timer.js';
import { LocalApic } from './local-apic.js';
import {
  APIC_LVT_TIMER,
  APIC_SVR,
  APIC_TIMER_CCR,
  APIC_TIMER_DCR,
  APIC_TIMER_ICR,
  MSR_IA32_TSC_DEADLINE,
} from './registers.js';
import { FakeClock } from './test-helpers.js';

const ONE_SHOT = 0;
const PERIODIC = 1 << 17;
const TSC_DEADLINE = 2 << 17;

function setup(ticksPerBusClock = 1): { a: LocalApic; clock: FakeClock } {
  const clock = new FakeClock();
  const a = new LocalApic({ apicId: 0, clock, ticksPerBusClock });
  a.mmioWrite(APIC_SVR, 4, 0x1ff);
  return { a, clock };
}

const rd = (a: LocalApic, off: number): number => a.mmioRead(off, 4);
const wr = (a: LocalApic, off: number, v: number): void => a.mmioWrite(off, 4, v);

describe('divide configuration (SDM figure 11-10)', () => {
  it('maps bits 3,1,0 to the divisor', () => {
    expect([0b0000, 0b0001, 0b0010, 0b0011, 0b1000, 0b1001, 0b1010, 0b1011].map(dcrDivisor)).toEqual([
      2, 4, 8, 16, 32, 64, 128, 1,
    ]);
  });
});

describe('one-shot', () => {
  it('counts down from the initial count, interrupts once at zero, then reads 0', () => {
    const { a, clock } = setup();
    wr(a, APIC_TIMER_DCR, 0b1011); // divide by 1
    wr(a, APIC_LVT_TIMER, ONE_SHOT | 0x40);
    wr(a, APIC_TIMER_ICR, 100);
    expect(a.nextTimerDeadline()).toBe(100);
    clock.t = 30;
    expect(rd(a, APIC_TIMER_CCR)).toBe(70);
    clock.t = 99;
    expect(a.pollTimer()).toBe(false);
    clock.t = 100;
    expect(a.pollTimer()).toBe(true);
    expect(a.pendingVector()).toBe(0x40);
    expect(rd(a, APIC_TIMER_CCR)).toBe(0);
    expect(a.nextTimerDeadline()).toBe(-1);
    clock.t = 500;
    expect(a.pollTimer()).toBe(false);
  });

  it('the divider slows the count', () => {
    const { a, clock } = setup();
    wr(a, APIC_TIMER_DCR, 0b0001); // divide by 4
    wr(a, APIC_LVT_TIMER, 0x40);
    wr(a, APIC_TIMER_ICR, 10);
    clock.t = 9;
    expect(rd(a, APIC_TIMER_CCR)).toBe(8); // two full counts of 4 ticks elapsed
    expect(a.nextTimerDeadline()).toBe(40);
  });

  it('the bus clock may be slower than the TSC', () => {
    const { a } = setup(3);
    wr(a, APIC_TIMER_DCR, 0b1011);
    wr(a, APIC_TIMER_ICR, 10);
    expect(a.nextTimerDeadline()).toBe(30);
  });

  it('writing 0 to the initial count stops the timer', () => {
    const { a, clock } = setup();
    wr(a, APIC_TIMER_ICR, 10);
    wr(a, APIC_TIMER_ICR, 0);
    clock.t = 1000;
    expect(a.pollTimer()).toBe(false);
    expect(a.nextTimerDeadline()).toBe(-1);
  });

  it('a masked LVT timer still counts but raises nothing', () => {
    const { a, clock } = setup();
    wr(a, APIC_LVT_TIMER, 0x10040);
    wr(a, APIC_TIMER_DCR, 0b1011);
    wr(a, APIC_TIMER_ICR, 10);
    clock.t = 4;
    expect(rd(a, APIC_TIMER_CCR)).toBe(6);
    clock.t = 10;
    expect(a.pollTimer()).toBe(false);
    expect(a.pendingVector()).toBe(-1);
  });
});

describe('periodic', () => {
  it('reloads from the initial count and interrupts every period', () => {
    const { a, clock } = setup();
    wr(a, APIC_TIMER_DCR, 0b0000); // divide by 2
    wr(a, APIC_LVT_TIMER, PERIODIC | 0x41);
    wr(a, APIC_TIMER_ICR, 50); // period 100 ticks
    clock.t = 100;
    expect(a.pollTimer()).toBe(true);
    expect(a.nextTimerDeadline()).toBe(200);
    clock.t = 130;
    expect(rd(a, APIC_TIMER_CCR)).toBe(35);
    a.acknowledge(0x41);
    clock.t = 200;
    expect(a.pollTimer()).toBe(true);
    expect(a.pendingVector()).toBe(-1); // 41h is still in service: same class
    expect(a.irr[2] & 2).toBe(2);
  });

  it('missed periods collapse into one interrupt and the phase is kept', () => {
    const { a, clock } = setup();
    wr(a, APIC_TIMER_DCR, 0b1011);
    wr(a, APIC_LVT_TIMER, PERIODIC | 0x41);
    wr(a, APIC_TIMER_ICR, 10);
    clock.t = 35;
    expect(a.pollTimer()).toBe(true);
    expect(a.nextTimerDeadline()).toBe(40);
  });

  it('a DCR change keeps the counts already elapsed', () => {
    const { a, clock } = setup();
    wr(a, APIC_TIMER_DCR, 0b1011); // 1
    wr(a, APIC_LVT_TIMER, 0x40);
    wr(a, APIC_TIMER_ICR, 100);
    clock.t = 40;
    wr(a, APIC_TIMER_DCR, 0b0000); // 2
    expect(rd(a, APIC_TIMER_CCR)).toBe(60);
    expect(a.nextTimerDeadline()).toBe(160);
  });
});

describe('TSC-deadline (SDM 11.5.4.1)', () => {
  it('fires when the TSC reaches IA32_TSC_DEADLINE, then disarms and clears it', () => {
    const { a, clock } = setup();
    wr(a, APIC_LVT_TIMER, TSC_DEADLINE | 0x42);
    a.msrWrite(MSR_IA32_TSC_DEADLINE, 500n);
    expect(a.msrRead(MSR_IA32_TSC_DEADLINE)).toBe(500n);
    expect(a.nextTimerDeadline()).toBe(500);
    clock.t = 499;
    expect(a.pollTimer()).toBe(false);
    clock.t = 500;
    expect(a.pollTimer()).toBe(true);
    expect(a.pendingVector()).toBe(0x42);
    expect(a.msrRead(MSR_IA32_TSC_DEADLINE)).toBe(0n);
    expect(a.nextTimerDeadline()).toBe(-1);
  });

  it('writing 0 disarms; the initial count is ignored and the current count reads 0', () => {
    const { a, clock } = setup();
    wr(a, APIC_LVT_TIMER, TSC_DEADLINE | 0x42);
    a.msrWrite(MSR_IA32_TSC_DEADLINE, 50n);
    a.msrWrite(MSR_IA32_TSC_DEADLINE, 0n);
    wr(a, APIC_TIMER_ICR, 10);
    expect(rd(a, APIC_TIMER_ICR)).toBe(0);
    expect(rd(a, APIC_TIMER_CCR)).toBe(0);
    clock.t = 100;
    expect(a.pollTimer()).toBe(false);
  });

  it('a deadline in the past fires at once', () => {
    const { a, clock } = setup();
    clock.t = 1000;
    wr(a, APIC_LVT_TIMER, TSC_DEADLINE | 0x42);
    a.msrWrite(MSR_IA32_TSC_DEADLINE, 10n);
    expect(a.pollTimer()).toBe(true);
  });

  it('writes to IA32_TSC_DEADLINE are ignored in other modes', () => {
    const { a } = setup();
    wr(a, APIC_LVT_TIMER, ONE_SHOT | 0x42);
    a.msrWrite(MSR_IA32_TSC_DEADLINE, 10n);
    expect(a.msrRead(MSR_IA32_TSC_DEADLINE)).toBe(0n);
    expect(a.nextTimerDeadline()).toBe(-1);
  });

  it('switching between TSC-deadline and another mode disarms the timer', () => {
    const { a } = setup();
    wr(a, APIC_LVT_TIMER, ONE_SHOT | 0x42);
    wr(a, APIC_TIMER_ICR, 10);
    wr(a, APIC_LVT_TIMER, TSC_DEADLINE | 0x42);
    expect(a.nextTimerDeadline()).toBe(-1);
    a.msrWrite(MSR_IA32_TSC_DEADLINE, 10n);
    wr(a, APIC_LVT_TIMER, PERIODIC | 0x42);
    expect(a.nextTimerDeadline()).toBe(-1);
  });
});
