// The 8254 against the Intel 82C54 datasheet (231244): mode waveforms ("OUT does not go high until
// N+1 CLK pulses after the initial count is written" in mode 0, period N in modes 2 and 3, one low
// clock in mode 4), access modes, the counter latch and read-back commands and the status byte; and
// channel 2 through port 0x61 driven the way Linux calibrates its TSC (arch/x86/kernel/tsc.c:
// pit_calibrate_tsc and quick_pit_calibrate).
import { describe, expect, it } from 'vitest';
import { PIT_HZ, Pit8254, pitTicks, pitTickToNs } from './pit8254.js';
import { Port61 } from './port61.js';

function make() {
  const clock = { t: 0 };
  const edges: number[] = [];
  const pit = new Pit8254({ now: () => clock.t, irq0: (e) => edges.push(e) });
  const at = (tick: number) => {
    clock.t = pitTickToNs(tick);
  };
  const tick = () => pitTicks(clock.t);
  const out = (p: number, v: number) => pit.write(p, 1, v);
  const inb = (p: number) => pit.read(p, 1);
  return { pit, clock, edges, at, tick, out, inb };
}

const total = (e: number[]) => e.reduce((a, b) => a + b, 0);

describe('the virtual clock', () => {
  it('1.193182 MHz: one second is 1193182 ticks; tick <-> ns round-trips', () => {
    expect(pitTicks(1e9)).toBe(PIT_HZ);
    expect(pitTicks(1e12)).toBe(PIT_HZ * 1000);
    for (const t of [0, 1, 2, 1193181, 1193183, 123456789, 2 ** 40]) {
      expect(pitTicks(pitTickToNs(t))).toBe(t);
      if (t > 0) expect(pitTicks(pitTickToNs(t) - 1)).toBe(t - 1);
    }
  });
});

describe('mode 0: interrupt on terminal count', () => {
  it('OUT goes high N+1 clocks after the count is written and IRQ0 sees one edge', () => {
    const { pit, edges, at, out } = make();
    at(1000);
    edges.length = 0;
    out(0x43, 0x30); // ch0, LSB/MSB, mode 0, binary
    expect(pit.out(0)).toBe(false); // the control word sets OUT low
    out(0x40, 100);
    out(0x40, 0);
    at(1000 + 100);
    pit.poll();
    expect(pit.out(0)).toBe(false);
    expect(total(edges)).toBe(0);
    at(1000 + 101);
    pit.poll();
    expect(pit.out(0)).toBe(true);
    expect(total(edges)).toBe(1);
    at(1000 + 5000);
    pit.poll();
    expect(total(edges)).toBe(1); // no more
  });

  it('the count read back decreases by one per clock and wraps after 0', () => {
    const { at, out, inb } = make();
    at(0);
    out(0x43, 0x30);
    out(0x40, 10);
    out(0x40, 0);
    at(1); // loaded on the first CLK
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(10);
    at(4);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(7);
    at(12);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(0xffff);
  });

  it('nextIrq0Ns gives the time of the edge', () => {
    const { pit, at, out } = make();
    at(50);
    out(0x43, 0x30);
    out(0x40, 0x10);
    out(0x40, 0x00);
    expect(pit.nextIrq0Ns()).toBe(pitTickToNs(50 + 1 + 16));
  });
});

describe('mode 2: rate generator', () => {
  it('one edge per N clocks; OUT low for one clock when the count reaches 1', () => {
    const { pit, edges, at, out } = make();
    at(0);
    out(0x43, 0x34); // ch0, LSB/MSB, mode 2
    out(0x40, 1193 & 0xff);
    out(0x40, 1193 >> 8); // ~1 kHz
    edges.length = 0;
    at(1 + 1192);
    expect(pit.out(0)).toBe(false); // count = 1
    at(1 + 1191);
    expect(pit.out(0)).toBe(true);
    at(1 + 1193);
    expect(pit.out(0)).toBe(true);
    at(1 + 10 * 1193);
    pit.poll();
    expect(total(edges)).toBe(10);
    expect(pit.nextIrq0Ns()).toBe(pitTickToNs(1 + 11 * 1193));
  });

  it('edges between polls coalesce into one callback carrying their number', () => {
    const { pit, edges, at, out } = make();
    out(0x43, 0x34);
    out(0x40, 100);
    out(0x40, 0);
    edges.length = 0;
    at(1 + 1000);
    pit.poll();
    expect(edges).toEqual([10]);
  });

  it('a new count takes effect at the end of the current period', () => {
    const { pit, edges, at, out } = make();
    out(0x43, 0x34);
    out(0x40, 100);
    out(0x40, 0);
    edges.length = 0;
    at(1 + 150);
    out(0x40, 50);
    out(0x40, 0);
    at(1 + 200); // the old period ends here; the new count of 50 starts
    pit.poll();
    expect(total(edges)).toBe(2);
    at(1 + 200 + 50 * 4);
    pit.poll();
    expect(total(edges)).toBe(6);
  });
});

describe('mode 3: square wave', () => {
  it('even N: high N/2, low N/2; odd N: high (N+1)/2, low (N-1)/2', () => {
    const { pit, at, out } = make();
    out(0x43, 0x36);
    out(0x40, 10);
    out(0x40, 0);
    const wave = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => {
        at(from + i);
        return pit.out(0) ? 1 : 0;
      }).join('');
    expect(wave(1, 10)).toBe('1111100000');
    at(100);
    out(0x43, 0x36);
    out(0x40, 5);
    out(0x40, 0);
    expect(wave(101, 5)).toBe('11100');
  });

  it('at power-up channel 0 runs mode 3 with count 65536: IRQ0 at 18.2 Hz', () => {
    const { pit, edges, clock } = make();
    clock.t = 1e9;
    pit.poll();
    expect(total(edges)).toBe(Math.floor(PIT_HZ / 65536)); // 18
  });
});

describe('mode 4: software triggered strobe', () => {
  it('OUT low for exactly one clock, N+1 clocks after the write', () => {
    const { pit, edges, at, out } = make();
    out(0x43, 0x38);
    out(0x40, 20);
    out(0x40, 0);
    edges.length = 0;
    at(20);
    expect(pit.out(0)).toBe(true);
    at(21);
    expect(pit.out(0)).toBe(false);
    at(22);
    expect(pit.out(0)).toBe(true);
    pit.poll();
    expect(total(edges)).toBe(1);
  });
});

describe('access modes, latch, read-back', () => {
  it('LSB only and MSB only', () => {
    const { at, out, inb } = make();
    out(0x43, 0x50); // ch1, LSB only, mode 0
    out(0x41, 0x80);
    at(1);
    expect(inb(0x41)).toBe(0x80);
    out(0x43, 0x60); // ch1, MSB only, mode 0
    out(0x41, 0x02); // count 0x200
    at(2 + 0x10);
    expect(inb(0x41)).toBe(0x01); // 0x200 - 0x10 = 0x1F0
  });

  it('the counter latch command freezes the value until both bytes are read; a second latch is ignored', () => {
    const { at, out, inb } = make();
    out(0x43, 0x34);
    out(0x40, 0x00);
    out(0x40, 0x10); // 0x1000
    at(1 + 0x10);
    out(0x43, 0x00); // latch ch0
    at(1 + 0x20);
    out(0x43, 0x00); // ignored
    expect(inb(0x40)).toBe(0xf0);
    at(1 + 0x30);
    expect(inb(0x40)).toBe(0x0f); // still 0x0FF0
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(0x1000 - 0x30); // live again
  });

  it('read-back: status byte (OUT, null count, RW, mode, BCD) before the count, then the latched count', () => {
    const { at, out, inb } = make();
    at(10);
    out(0x43, 0xb4); // ch2, LSB/MSB, mode 2, binary
    out(0x42, 0x34);
    out(0x42, 0x12);
    out(0x43, 0xc8); // read-back count and status of ch2
    expect(inb(0x42)).toBe(0x80 | 0x40 | 0x30 | 0x04); // OUT high (gate low), null count: not loaded
    expect(inb(0x42) | (inb(0x42) << 8)).toBe(0x1234);
    at(20);
    out(0x43, 0xe8); // status only
    expect(inb(0x42) & 0x40).toBe(0x40); // gate 2 is low: in mode 2 the count is not loaded yet
  });

  it('read-back of status for a loaded counter clears null count', () => {
    const { at, out, inb } = make();
    out(0x43, 0x34);
    out(0x40, 0x00);
    out(0x40, 0x01);
    out(0x43, 0xe2);
    expect(inb(0x40)).toBe(0x80 | 0x40 | 0x34); // OUT starts high in mode 2; null count until the next CLK
    at(1);
    out(0x43, 0xe2);
    expect(inb(0x40)).toBe(0x80 | 0x34);
  });

  it('BCD counting: count 0x1000 is one thousand', () => {
    const { at, out, inb } = make();
    out(0x43, 0x31); // ch0, LSB/MSB, mode 0, BCD
    out(0x40, 0x00);
    out(0x40, 0x10);
    at(1 + 1);
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(0x0999);
  });
});

describe('channel 2 through port 0x61', () => {
  function withPort61() {
    const m = make();
    const p61 = new Port61(m.pit);
    return { ...m, p61, in61: () => p61.read(0x61, 1), out61: (v: number) => p61.write(0x61, 1, v) };
  }

  it('bit 0 is gate 2, bit 5 reads OUT2, bit 4 toggles on each read', () => {
    const { pit, in61, out61 } = withPort61();
    expect(in61() & 0x01).toBe(0);
    out61(0x03);
    expect(pit.gate(2)).toBe(true);
    const a = in61();
    const b = in61();
    expect((a ^ b) & 0x10).toBe(0x10);
    expect(a & 0x0f).toBe(0x03);
  });

  it('mode 1 one-shot is triggered by the gate rising edge', () => {
    const { at, out, in61, out61 } = withPort61();
    out(0x43, 0xb2); // ch2, LSB/MSB, mode 1
    out(0x42, 10);
    out(0x42, 0);
    at(5);
    expect(in61() & 0x20).toBe(0x20); // armed: OUT high
    out61(0x01); // trigger at tick 5
    at(6);
    expect(in61() & 0x20).toBe(0);
    at(15);
    expect(in61() & 0x20).toBe(0);
    at(16);
    expect(in61() & 0x20).toBe(0x20);
  });

  it('pit_calibrate_tsc: mode 0, latch 59659 (50 ms); OUT2 rises after latch + 1 clocks', () => {
    const { clock, in61, out61, out } = withPort61();
    clock.t = 12_345_678; // somewhere in the run
    // outb((inb(0x61) & ~0x02) | 0x01, 0x61): gate high, speaker off
    out61((in61() & ~0x02) | 0x01);
    out(0x43, 0xb0); // ch2, LSB/MSB, mode 0, binary
    const latch = Math.floor(PIT_HZ / (1000 / 50));
    expect(latch).toBe(59659);
    out(0x42, latch & 0xff);
    out(0x42, latch >> 8);
    const t0 = clock.t;
    const step = 37; // ns of virtual time per loop iteration (the guest's instructions)
    let loops = 0;
    while ((in61() & 0x20) === 0) {
      clock.t += step;
      loops++;
    }
    const start = pitTicks(t0);
    const expectNs = pitTickToNs(start + 1 + latch) - t0;
    expect(clock.t - t0).toBeGreaterThanOrEqual(expectNs);
    expect(clock.t - t0).toBeLessThan(expectNs + step);
    expect(Math.abs(clock.t - t0 - 50e6)).toBeLessThan(2000); // 50 ms within 2 µs
    expect(loops).toBe(Math.ceil(expectNs / step));
  });

  it('quick_pit_calibrate: counting down from 0xFFFF, the MSB changes every 256 clocks', () => {
    const { clock, in61, out61, out, pit } = withPort61();
    out61((in61() & ~0x02) | 0x01);
    out(0x43, 0xb0);
    out(0x42, 0xff);
    out(0x42, 0xff);
    const msb = () => {
      pit.read(0x42, 1); // LSB, discarded
      return pit.read(0x42, 1);
    };
    const step = 100;
    const changes: number[] = [];
    let last = msb();
    for (let i = 0; i < 20_000; i++) {
      clock.t += step;
      const m = msb();
      if (m !== last) {
        changes.push(pitTicks(clock.t));
        last = m;
      }
    }
    expect(changes.length).toBeGreaterThan(5);
    for (let i = 1; i < changes.length; i++) expect(changes[i] - changes[i - 1]).toBe(256);
  });

  it('mode 2 on channel 2: gate low holds OUT high; gate high reloads', () => {
    const { at, out, in61, out61 } = withPort61();
    out61(0x01);
    out(0x43, 0xb4);
    out(0x42, 10);
    out(0x42, 0);
    at(1 + 9);
    expect(in61() & 0x20).toBe(0); // count 1
    out61(0x00);
    expect(in61() & 0x20).toBe(0x20);
    at(100);
    out61(0x01); // reload: loaded at 101, low at 101 + 9
    at(101 + 9);
    expect(in61() & 0x20).toBe(0);
  });
});
