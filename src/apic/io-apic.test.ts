// The I/O APIC: indirect register access, redirection, masking, edge and level pins with remote IRR
// and the EOI broadcast. Expected values from the Intel 82093AA datasheet section 3 (register
// layout) and the SDM 11.8.5 EOI broadcast.
import { describe, expect, it } from 'vitest';
import type { ApicBus } from './apic-bus.js';
import { IOAPIC_EOI, IOWIN, IoApic } from './io-apic.js';
import type { LocalApic } from './local-apic.js';
import { APIC_EOI, APIC_LDR, APIC_TPR } from './registers.js';
import { makeBus } from './test-helpers.js';

function setup(): { io: IoApic; apics: LocalApic[]; bus: ApicBus } {
  const { bus, apics } = makeBus([0, 1]);
  const io = new IoApic(bus, 2);
  bus.onEoi((v) => io.eoi(v));
  return { io, apics, bus };
}

const reg = (io: IoApic, index: number): number => {
  io.mmioWrite(0, 4, index);
  return io.mmioRead(IOWIN, 4);
};
const setReg = (io: IoApic, index: number, v: number): void => {
  io.mmioWrite(0, 4, index);
  io.mmioWrite(IOWIN, 4, v);
};
/** Program redirection entry `pin`: low dword, destination in bits 63:56. */
const route = (io: IoApic, pin: number, low: number, dest: number): void => {
  setReg(io, 0x11 + 2 * pin, dest << 24);
  setReg(io, 0x10 + 2 * pin, low);
};

describe('registers (82093AA 3.2)', () => {
  it('ID, version (20h, 24 entries → max redirection entry 17h) and arbitration', () => {
    const { io } = setup();
    expect(reg(io, 0)).toBe(0x02000000);
    expect(reg(io, 1)).toBe(0x00170020);
    expect(reg(io, 2)).toBe(0x02000000);
    setReg(io, 0, 0x0b000000);
    expect(reg(io, 0)).toBe(0x0b000000);
    setReg(io, 1, 0); // read-only
    expect(reg(io, 1)).toBe(0x00170020);
  });

  it('redirection entries reset masked; delivery status and remote IRR are read-only', () => {
    const { io } = setup();
    for (let pin = 0; pin < 24; pin++) expect(reg(io, 0x10 + 2 * pin)).toBe(0x10000);
    setReg(io, 0x10, 0x1ffff);
    expect(reg(io, 0x10)).toBe(0x1afff);
    setReg(io, 0x11, 0xffffffff);
    expect(reg(io, 0x11)).toBe(0xff000000);
  });

  it('IOREGSEL reads back', () => {
    const { io } = setup();
    io.mmioWrite(0, 4, 0x12);
    expect(io.mmioRead(0, 4)).toBe(0x12);
  });
});

describe('edge-triggered pins', () => {
  it('one message per rising edge, to the programmed destination', () => {
    const { io, apics } = setup();
    route(io, 4, 0x31, 1); // fixed, physical, edge, high, unmasked
    io.setIrq(4, true);
    expect(apics[1].pendingVector()).toBe(0x31);
    expect(apics[0].pendingVector()).toBe(-1);
    apics[1].acknowledge(0x31);
    io.setIrq(4, true); // still high: no new edge
    expect(apics[1].pendingVector()).toBe(-1);
    io.setIrq(4, false);
    io.setIrq(4, true);
    expect(apics[1].pendingVector()).toBe(-1); // 31h in service blocks its class
    expect(apics[1].irr[1] & (1 << 17)).not.toBe(0);
  });

  it('a masked pin ignores edges, and unmasking does not replay them', () => {
    const { io, apics } = setup();
    route(io, 4, 0x10031, 1);
    io.setIrq(4, true);
    io.setIrq(4, false);
    route(io, 4, 0x31, 1);
    expect(apics[1].pendingVector()).toBe(-1);
  });

  it('logical and lowest-priority destinations go through the bus', () => {
    const { io, apics } = setup();
    apics[0].mmioWrite(APIC_LDR, 4, 0x01000000);
    apics[1].mmioWrite(APIC_LDR, 4, 0x02000000);
    apics[0].mmioWrite(APIC_TPR, 4, 0x20);
    route(io, 1, 0x800 | (1 << 8) | 0x41, 0x03); // lowest priority, logical 011b
    io.setIrq(1, true);
    expect(apics[1].pendingVector()).toBe(0x41);
    expect(apics[0].pendingVector()).toBe(-1);
  });
});

describe('level-triggered pins (82093AA 3.2.4, SDM 11.8.5)', () => {
  const LEVEL = 0x8000;

  it('sets remote IRR on acceptance and the TMR at the local APIC', () => {
    const { io, apics } = setup();
    route(io, 10, LEVEL | 0x51, 0);
    io.setIrq(10, true);
    expect(reg(io, 0x10 + 20) & 0x4000).toBe(0x4000);
    expect(apics[0].tmr[2] & (1 << 17)).not.toBe(0);
    expect(apics[0].pendingVector()).toBe(0x51);
  });

  it('does not resend while remote IRR is set; the EOI clears it and resends if still asserted', () => {
    const { io, apics } = setup();
    route(io, 10, LEVEL | 0x51, 0);
    io.setIrq(10, true);
    apics[0].acknowledge(0x51);
    io.setIrq(10, true);
    expect(apics[0].irr[2]).toBe(0);
    apics[0].mmioWrite(APIC_EOI, 4, 0);
    expect(apics[0].pendingVector()).toBe(0x51); // line still high: delivered again
    expect(reg(io, 0x10 + 20) & 0x4000).toBe(0x4000);
  });

  it('a line dropped before the EOI is not resent', () => {
    const { io, apics } = setup();
    route(io, 10, LEVEL | 0x51, 0);
    io.setIrq(10, true);
    apics[0].acknowledge(0x51);
    io.setIrq(10, false);
    apics[0].mmioWrite(APIC_EOI, 4, 0);
    expect(apics[0].pendingVector()).toBe(-1);
    expect(reg(io, 0x10 + 20) & 0x4000).toBe(0);
  });

  it('unmasking an asserted level pin delivers it', () => {
    const { io, apics } = setup();
    route(io, 9, 0x10000 | LEVEL | 0x61, 1);
    io.setIrq(9, true);
    expect(apics[1].pendingVector()).toBe(-1);
    route(io, 9, LEVEL | 0x61, 1);
    expect(apics[1].pendingVector()).toBe(0x61);
  });

  it('the EOI register (version 20h) clears remote IRR like the broadcast', () => {
    const { bus } = makeBus([0]);
    const io = new IoApic(bus); // not subscribed to the bus's EOI broadcast
    route(io, 3, LEVEL | 0x71, 0);
    io.setIrq(3, true);
    expect(reg(io, 0x10 + 6) & 0x4000).toBe(0x4000);
    io.setIrq(3, false);
    io.mmioWrite(IOAPIC_EOI, 4, 0x71);
    expect(reg(io, 0x10 + 6) & 0x4000).toBe(0);
  });
});
