// The 8259A pair: initialisation, masking, priorities, EOI commands, OCW3 reads and the cascade.
// Expected behaviour from the Intel 8259A datasheet (ICW1-ICW4, OCW1-OCW3, "Interrupt Sequence",
// "Fully Nested Mode", "End of Interrupt"); the PC wiring (slave on IR2) from the PC/AT design.
import { describe, expect, it } from 'vitest';
import { Pic8259Pair } from './pic8259.js';

/** The PC BIOS / Linux sequence: edge, cascade, ICW4; vectors 20h and 28h; 8086 mode. */
function init(pic: Pic8259Pair, aeoi = false): void {
  pic.write(0x20, 1, 0x11);
  pic.write(0xa0, 1, 0x11);
  pic.write(0x21, 1, 0x20);
  pic.write(0xa1, 1, 0x28);
  pic.write(0x21, 1, 0x04); // master: slave on IR2
  pic.write(0xa1, 1, 0x02); // slave: cascade identity 2
  pic.write(0x21, 1, aeoi ? 0x03 : 0x01);
  pic.write(0xa1, 1, aeoi ? 0x03 : 0x01);
}

/** Raise and lower an edge-triggered line. */
function pulse(pic: Pic8259Pair, irq: number): void {
  pic.setIrq(irq, true);
  pic.setIrq(irq, false);
}

describe('initialisation (ICW1-ICW4)', () => {
  it('clears the IMR and sets the vector bases', () => {
    const pic = new Pic8259Pair();
    pic.write(0x21, 1, 0xaa);
    init(pic);
    expect(pic.read(0x21, 1)).toBe(0);
    expect(pic.read(0xa1, 1)).toBe(0);
    pulse(pic, 1);
    expect(pic.pendingVector()).toBe(0x21);
    pulse(pic, 12);
    expect(pic.state(1).irr).toBe(1 << 4);
  });

  it('ICW2 keeps only bits 7:3 of the vector base', () => {
    const pic = new Pic8259Pair();
    pic.write(0x20, 1, 0x11);
    pic.write(0x21, 1, 0x47);
    pic.write(0x21, 1, 0x04);
    pic.write(0x21, 1, 0x01);
    pic.setIrq(0, true);
    expect(pic.inta()).toBe(0x40);
  });
});

describe('masking (OCW1)', () => {
  it('FFh on both IMRs switches the pair off', () => {
    const outputs: boolean[] = [];
    const pic = new Pic8259Pair((l) => outputs.push(l));
    init(pic);
    pic.write(0x21, 1, 0xff);
    pic.write(0xa1, 1, 0xff);
    expect(pic.read(0x21, 1)).toBe(0xff);
    pulse(pic, 0);
    pulse(pic, 8);
    expect(pic.intr).toBe(false);
    expect(pic.pendingVector()).toBe(-1);
    expect(outputs).toEqual([]);
    pic.write(0x21, 1, 0xfe); // unmask IRQ 0: its latched request shows
    expect(pic.pendingVector()).toBe(0x20);
    expect(outputs).toEqual([true]);
  });
});

describe('interrupt sequence and priorities', () => {
  it('INTA moves the request to ISR; IR0 has the highest priority', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 3);
    pulse(pic, 0);
    expect(pic.inta()).toBe(0x20);
    expect(pic.state(0).isr).toBe(1);
    expect(pic.state(0).irr).toBe(1 << 3);
  });

  it('fully nested: a higher request interrupts a lower one in service, a lower one waits', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 3);
    expect(pic.inta()).toBe(0x23);
    pulse(pic, 5);
    expect(pic.pendingVector()).toBe(-1);
    pulse(pic, 1);
    expect(pic.inta()).toBe(0x21);
    pic.write(0x20, 1, 0x20); // non-specific EOI: clears the highest in service (IR1)
    expect(pic.state(0).isr).toBe(1 << 3);
    pic.write(0x20, 1, 0x20);
    expect(pic.inta()).toBe(0x25);
  });

  it('specific EOI (OCW2 011b) clears the named level', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 3);
    pic.inta();
    pulse(pic, 1);
    pic.inta();
    pic.write(0x20, 1, 0x63);
    expect(pic.state(0).isr).toBe(1 << 1);
  });

  it('an edge request is taken once per rising edge', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pic.setIrq(4, true);
    pic.inta();
    pic.write(0x20, 1, 0x20);
    pic.setIrq(4, true);
    expect(pic.pendingVector()).toBe(-1);
    pic.setIrq(4, false);
    pic.setIrq(4, true);
    expect(pic.pendingVector()).toBe(0x24);
  });

  it('INTA with no request returns the IR7 vector and sets no ISR bit (spurious)', () => {
    const pic = new Pic8259Pair();
    init(pic);
    expect(pic.inta()).toBe(0x27);
    expect(pic.state(0).isr).toBe(0);
  });

  it('automatic EOI mode (ICW4 AEOI) leaves ISR clear', () => {
    const pic = new Pic8259Pair();
    init(pic, true);
    pulse(pic, 6);
    expect(pic.inta()).toBe(0x26);
    expect(pic.state(0).isr).toBe(0);
  });

  it('rotate on non-specific EOI makes the serviced level the lowest', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 1);
    pic.inta();
    pic.write(0x20, 1, 0xa0); // rotate on non-specific EOI: IR1 lowest, IR2 highest
    pulse(pic, 1);
    pulse(pic, 4);
    expect(pic.inta()).toBe(0x24);
  });
});

describe('cascade (slave on master IR2)', () => {
  it('a slave request yields the slave vector and puts IR2 in service on the master', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 10);
    expect(pic.intr).toBe(true);
    expect(pic.pendingVector()).toBe(0x2a);
    expect(pic.inta()).toBe(0x2a);
    expect(pic.state(0).isr).toBe(1 << 2);
    expect(pic.state(1).isr).toBe(1 << 2);
    pic.write(0xa0, 1, 0x20);
    pic.write(0x20, 1, 0x20);
    expect(pic.state(0).isr | pic.state(1).isr).toBe(0);
  });

  it('masking IR2 on the master hides the whole slave', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pic.write(0x21, 1, 0x04);
    pulse(pic, 14);
    expect(pic.pendingVector()).toBe(-1);
  });
});

describe('OCW3 reads', () => {
  it('reads IRR after 0Ah and ISR after 0Bh', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 5);
    pulse(pic, 6);
    pic.inta();
    pic.write(0x20, 1, 0x0a);
    expect(pic.read(0x20, 1)).toBe(1 << 6);
    pic.write(0x20, 1, 0x0b);
    expect(pic.read(0x20, 1)).toBe(1 << 5);
  });

  it('poll command returns 80h | level and acknowledges it', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pulse(pic, 3);
    pic.write(0x20, 1, 0x0c);
    expect(pic.read(0x20, 1)).toBe(0x83);
    expect(pic.state(0).isr).toBe(1 << 3);
  });
});

describe('level-triggered inputs (ELCR)', () => {
  it('a level request follows the line and is not consumed by INTA', () => {
    const pic = new Pic8259Pair();
    init(pic);
    pic.write(0x4d1, 1, 1 << 3); // IRQ 11 level
    pic.setIrq(11, true);
    expect(pic.inta()).toBe(0x2b);
    pic.write(0xa0, 1, 0x20);
    pic.write(0x20, 1, 0x20);
    expect(pic.pendingVector()).toBe(0x2b);
    pic.setIrq(11, false);
    expect(pic.pendingVector()).toBe(-1);
  });
});
