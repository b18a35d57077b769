// The 16550A against the PC16550D datasheet (National Semiconductor / TI, SNLS378): reset values
// (Table IV), register map and DLAB (Table II), interrupt priorities (Table IV), FIFO trigger
// levels, overrun, loopback (MCR bit 4).
import { describe, expect, it } from 'vitest';
import { Uart16550 } from './uart16550.js';

const BASE = 0x3f8;
const [RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR] = [0, 1, 2, 3, 4, 5, 6, 7].map((r) => BASE + r);
const FCR = IIR;

function make(opts: { now?: () => number; out2GatesIrq?: boolean } = {}) {
  const out: number[] = [];
  const irqs: boolean[] = [];
  const u = new Uart16550({ sink: (b) => out.push(b), irq: (l) => irqs.push(l), ...opts });
  const rd = (p: number) => u.read(p, 1);
  const wr = (p: number, v: number) => u.write(p, 1, v);
  return { u, out, irqs, rd, wr };
}

describe('reset values (PC16550D Table IV)', () => {
  it('IER 0, IIR 0x01, LCR 0, MCR 0, LSR 0x60; MSR reports the input lines with no deltas', () => {
    const { rd } = make();
    expect(rd(IER)).toBe(0x00);
    expect(rd(IIR)).toBe(0x01); // bit 0 high: no interrupt pending; bits 7:6 0 (FIFOs off)
    expect(rd(LCR)).toBe(0x00);
    expect(rd(MCR)).toBe(0x00);
    expect(rd(LSR)).toBe(0x60); // THRE and TEMT
    expect(rd(MSR) & 0x0f).toBe(0); // bits 3:0 low; 7:4 follow the inputs (CTS, DSR, DCD as QEMU)
    expect(rd(MSR)).toBe(0xb0);
  });

  it('master reset keeps SCR and the divisor, clears IER/LCR/MCR and the receiver', () => {
    const { u, rd, wr } = make();
    wr(SCR, 0x5a);
    wr(LCR, 0x80);
    wr(RBR, 0x01);
    wr(IER, 0x00);
    wr(LCR, 0x03);
    wr(IER, 0x0f);
    u.receive([1, 2]);
    u.reset();
    expect(rd(SCR)).toBe(0x5a);
    expect(u.divisor).toBe(1);
    expect(rd(IER)).toBe(0);
    expect(rd(LCR)).toBe(0);
    expect(rd(LSR)).toBe(0x60);
    expect(rd(IIR)).toBe(0x01);
  });
});

describe('registers', () => {
  it('DLAB switches offsets 0 and 1 to DLL/DLM (Table II)', () => {
    const { u, rd, wr, out } = make();
    wr(LCR, 0x83); // DLAB, 8N1
    wr(RBR, 0x01); // 115200 baud
    wr(IER, 0x00);
    expect(rd(RBR)).toBe(0x01);
    expect(rd(IER)).toBe(0x00);
    expect(u.divisor).toBe(1);
    expect(out).toEqual([]); // DLL writes are not transmitted
    wr(LCR, 0x03);
    wr(IER, 0x05);
    expect(rd(IER)).toBe(0x05);
    wr(RBR, 0x41);
    expect(out).toEqual([0x41]);
  });

  it('IER bits 7:4 and MCR bits 7:5 read as 0', () => {
    const { rd, wr } = make();
    wr(IER, 0xff);
    expect(rd(IER)).toBe(0x0f);
    wr(MCR, 0xff);
    expect(rd(MCR)).toBe(0x1f);
  });

  it('the scratch register holds a byte', () => {
    const { rd, wr } = make();
    wr(SCR, 0xa5);
    expect(rd(SCR)).toBe(0xa5);
  });

  it('gives the host the whole THR byte whatever the word length (as QEMU: text from a guest that never set LCR)', () => {
    const { wr, out } = make();
    wr(LCR, 0x02); // 7 data bits
    wr(RBR, 0xff);
    wr(LCR, 0x00); // 5 data bits, the reset value
    wr(RBR, 0x55);
    expect(out).toEqual([0xff, 0x55]);
  });

  it('loops back only the bits of the word length (LCR bits 1:0)', () => {
    const { wr, rd, out } = make();
    wr(MCR, 0x10); // loopback
    wr(LCR, 0x02); // 7 data bits
    wr(RBR, 0xff);
    expect(rd(RBR)).toBe(0x7f);
    wr(LCR, 0x00); // 5 data bits
    wr(RBR, 0xff);
    expect(rd(RBR)).toBe(0x1f);
    expect(out).toEqual([]);
  });
});

describe('receiver and FIFOs', () => {
  it('without FIFOs the RBR holds one byte; a second overruns and replaces it (16450 mode)', () => {
    const { u, rd } = make();
    expect(u.receive([0x31])).toBe(1);
    expect(rd(LSR) & 0x03).toBe(0x01); // DR
    expect(u.receive([0x32])).toBe(0);
    const lsr = rd(LSR);
    expect(lsr & 0x02).toBe(0x02); // OE
    expect(rd(LSR) & 0x02).toBe(0); // cleared by the LSR read
    expect(rd(RBR)).toBe(0x32);
    expect(rd(LSR) & 0x01).toBe(0);
  });

  it('with FIFOs 16 bytes fit; the 17th is lost with OE and the FIFO is kept', () => {
    const { u, rd, wr } = make();
    wr(FCR, 0x07);
    const bytes = Array.from({ length: 17 }, (_, i) => 0x40 + i);
    expect(u.receive(bytes)).toBe(16);
    expect(rd(LSR) & 0x03).toBe(0x03);
    const got: number[] = [];
    while (rd(LSR) & 1) got.push(rd(RBR));
    expect(got).toEqual(bytes.slice(0, 16));
  });

  it('IIR bits 7:6 are set while FIFOs are enabled; disabling FCR0 clears the FIFO', () => {
    const { u, rd, wr } = make();
    wr(FCR, 0x01);
    expect(rd(IIR) & 0xc0).toBe(0xc0);
    u.receive([1, 2, 3]);
    wr(FCR, 0x00);
    expect(rd(IIR) & 0xc0).toBe(0);
    expect(rd(LSR) & 1).toBe(0);
  });

  it('FCR bit 1 clears the receive FIFO', () => {
    const { u, rd, wr } = make();
    wr(FCR, 0x01);
    u.receive([1, 2, 3]);
    wr(FCR, 0x03);
    expect(rd(LSR) & 1).toBe(0);
  });

  it('received-data interrupt at the trigger level; below it, the character timeout (IIR 0x0C)', () => {
    let t = 0;
    const { u, rd, wr } = make({ now: () => t });
    wr(LCR, 0x03); // 8N1, divisor 12 (9600 baud): one character is 10 bits
    wr(FCR, 0x81); // trigger level 8
    wr(IER, 0x01);
    u.receive([1, 2, 3]);
    expect(rd(IIR)).toBe(0xc1); // below trigger and not yet idle
    const charNs = (10 * 12 * 16 * 1e9) / 1_843_200; // 1.0417 ms at 9600 baud
    expect(u.timeoutDeadline()).toBeCloseTo(4 * charNs, 3);
    t = u.timeoutDeadline()! - 1;
    u.poll();
    expect(rd(IIR)).toBe(0xc1);
    t += 1;
    u.poll();
    expect(rd(IIR)).toBe(0xcc); // character timeout
    rd(RBR); // a read restarts the timer
    expect(rd(IIR)).toBe(0xc1);
    u.receive([4, 5, 6, 7, 8, 9]); // now 8 bytes: at the trigger level
    expect(rd(IIR)).toBe(0xc4);
  });
});

describe('interrupts', () => {
  it('THRE: raised when ETBEI is enabled with THR empty, cleared by reading IIR, raised again by a write', () => {
    const { rd, wr, irqs } = make();
    wr(IER, 0x02);
    expect(irqs).toEqual([true]);
    expect(rd(IIR)).toBe(0x02);
    expect(irqs).toEqual([true, false]);
    expect(rd(IIR)).toBe(0x01); // the IIR read consumed it
    wr(RBR, 0x41); // THR empties again at once
    expect(irqs).toEqual([true, false, true]);
    expect(rd(IIR)).toBe(0x02);
  });

  it('writing THR clears a pending THRE before the new one, so the line stays consistent', () => {
    const { rd, wr } = make();
    wr(IER, 0x02);
    wr(RBR, 0x41);
    expect(rd(IIR)).toBe(0x02);
    expect(rd(IIR)).toBe(0x01);
  });

  it('priorities: line status > received data > THRE > modem status (Table IV)', () => {
    const { u, rd, wr } = make();
    wr(IER, 0x0f);
    u.setModemInputs({ cts: false }); // DCTS
    expect(rd(IIR)).toBe(0x02); // THRE outranks modem status
    expect(rd(IIR)).toBe(0x00); // THRE consumed: modem status
    u.receive([0x61]);
    u.receive([0x62]); // overrun (no FIFO)
    expect(rd(IIR)).toBe(0x06); // line status first
    rd(LSR);
    expect(rd(IIR)).toBe(0x04); // then received data
    rd(RBR);
    expect(rd(IIR)).toBe(0x00); // modem status remains until MSR is read
    expect(rd(MSR) & 0x0f).toBe(0x01);
    expect(rd(IIR)).toBe(0x01);
  });

  it('the irq callback follows the level only on changes; OUT2 gates it when asked', () => {
    const { u, wr, irqs } = make({ out2GatesIrq: true });
    wr(IER, 0x01);
    u.receive([1]);
    expect(irqs).toEqual([]); // OUT2 low: INTR held off by the board
    wr(MCR, 0x08);
    expect(irqs).toEqual([true]);
    expect(u.interruptLine).toBe(true);
  });

  it('RI sets TERI only on its trailing edge', () => {
    const { u, rd } = make();
    u.setModemInputs({ ri: true });
    expect(rd(MSR) & 0x0f).toBe(0);
    u.setModemInputs({ ri: false });
    expect(rd(MSR) & 0x0f).toBe(0x04);
  });
});

describe('loopback (MCR bit 4)', () => {
  it('transmitted bytes return to the receiver instead of the sink', () => {
    const { rd, wr, out } = make();
    wr(LCR, 0x03);
    wr(MCR, 0x10);
    wr(RBR, 0x55);
    expect(out).toEqual([]);
    expect(rd(LSR) & 1).toBe(1);
    expect(rd(RBR)).toBe(0x55);
  });

  it('MSR reflects RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD (the Linux 8250 probe expects 0x90)', () => {
    const { rd, wr } = make();
    wr(MCR, 0x10 | 0x0a); // LOOP | RTS | OUT2
    expect(rd(MSR) & 0xf0).toBe(0x90);
    wr(MCR, 0x10 | 0x05); // LOOP | DTR | OUT1
    expect(rd(MSR) & 0xf0).toBe(0x60);
  });

  it('host input is disconnected in loopback', () => {
    const { u, rd, wr } = make();
    wr(MCR, 0x10);
    expect(u.receive([1, 2])).toBe(0);
    expect(rd(LSR) & 1).toBe(0);
  });
});
