// The MC146818A RTC/CMOS against its datasheet (registers A-D, Table 3 formats, Table 5 rates,
// update cycle timing) and the CMOS bytes QEMU's pc_cmos_init writes.
import { describe, expect, it } from 'vitest';
import { CmosRtc, UIP_WINDOW_NS } from './cmos-rtc.js';

// Thursday 2024-02-29 23:59:58 UTC (a leap day, one second-pair before midnight).
const EPOCH_MS = Date.UTC(2024, 1, 29, 23, 59, 58);

function make(opts: { ramBelow4G?: number; ramAbove4G?: number; cpus?: number } = {}) {
  const clock = { t: 0 };
  const irqs: boolean[] = [];
  const rtc = new CmosRtc({ now: () => clock.t, epochMs: EPOCH_MS, irq: (l) => irqs.push(l), ...opts });
  const get = (i: number) => {
    rtc.write(0x70, 1, i);
    return rtc.read(0x71, 1);
  };
  const set = (i: number, v: number) => {
    rtc.write(0x70, 1, i);
    rtc.write(0x71, 1, v);
  };
  return { rtc, clock, irqs, get, set };
}

describe('status registers at reset', () => {
  it('A = 0x26 (DV 010, 1024 Hz), B = 0x02 (24h, BCD), C = 0, D = 0x80 (VRT)', () => {
    const { get } = make();
    expect(get(0x0a)).toBe(0x26);
    expect(get(0x0b)).toBe(0x02);
    expect(get(0x0c)).toBe(0x00);
    expect(get(0x0d)).toBe(0x80);
  });

  it('register D is read-only', () => {
    const { get, set } = make();
    set(0x0d, 0);
    expect(get(0x0d)).toBe(0x80);
  });
});

describe('time registers (MC146818A Table 3)', () => {
  it('BCD, 24-hour: 23:59:58 Thursday 29/02/24, century 0x20 at 0x32', () => {
    const { get } = make();
    expect([0, 2, 4, 6, 7, 8, 9].map(get)).toEqual([0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24]);
    expect(get(0x32)).toBe(0x20);
  });

  it('binary mode (register B bit 2)', () => {
    const { get, set } = make();
    set(0x0b, 0x06);
    expect([0, 2, 4, 6, 7, 8, 9].map(get)).toEqual([58, 59, 23, 5, 29, 2, 24]);
    expect(get(0x32)).toBe(20);
  });

  it('12-hour mode: 23h reads as 11 with bit 7 (PM); 0h reads as 12 AM', () => {
    const { get, set, clock } = make();
    set(0x0b, 0x00);
    expect(get(4)).toBe(0x91);
    set(0x0b, 0x04);
    expect(get(4)).toBe(0x8b);
    clock.t = 2e9; // 00:00:00 on 1 March
    expect(get(4)).toBe(12);
    set(0x0b, 0x00);
    expect(get(4)).toBe(0x12);
  });

  it('the date rolls over from the leap day to 1 March (a Friday)', () => {
    const { get, clock } = make();
    clock.t = 2e9;
    expect([0, 2, 4, 6, 7, 8, 9].map(get)).toEqual([0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24]);
  });

  it('SET (register B bit 7) stops updates; the written time runs from when SET clears', () => {
    const { get, set, clock } = make();
    set(0x0b, 0x82);
    set(0x00, 0x30);
    set(0x02, 0x15);
    set(0x04, 0x08);
    set(0x07, 0x01);
    set(0x08, 0x01);
    set(0x09, 0x25);
    clock.t = 10e9; // frozen: no updates while SET = 1
    expect(get(0)).toBe(0x30);
    expect(get(0x0a) & 0x80).toBe(0); // no update in progress while SET
    set(0x0b, 0x02);
    clock.t += 3e9;
    expect([0, 2, 4, 6, 7, 8, 9].map(get)).toEqual([0x33, 0x15, 0x08, 0x04, 0x01, 0x01, 0x25]); // Wed 1 Jan 2025
  });

  it('SET clears UIE', () => {
    const { get, set } = make();
    set(0x0b, 0x12);
    set(0x0b, 0x92);
    expect(get(0x0b)).toBe(0x82);
  });
});

describe('update in progress (register A bit 7)', () => {
  it('UIP is high for tBUC + tUC = 244 + 1984 µs before the new second is readable', () => {
    const { get, clock } = make();
    const boundary = 1e9; // 23:59:59 starts here
    clock.t = boundary - UIP_WINDOW_NS - 1;
    expect(get(0x0a) & 0x80).toBe(0);
    clock.t = boundary - UIP_WINDOW_NS;
    expect(get(0x0a) & 0x80).toBe(0x80);
    clock.t = boundary - 1;
    expect(get(0x0a) & 0x80).toBe(0x80);
    expect(get(0)).toBe(0x58);
    clock.t = boundary;
    expect(get(0x0a) & 0x80).toBe(0);
    expect(get(0)).toBe(0x59);
  });

  it('a guest polling register A sees UIP set, then clear with the next second', () => {
    const { get, clock } = make();
    clock.t = 0.999e9; // 1 ms before the boundary: inside the window
    const seen: number[] = [];
    let polls = 0;
    while (get(0x0a) & 0x80) {
      clock.t += 1000; // 1 µs per poll
      polls++;
    }
    seen.push(get(0));
    expect(polls).toBe(1_000);
    expect(seen).toEqual([0x59]);
  });

  it('leaving divider reset (DV 11x -> 010) starts the first update half a second later', () => {
    const { get, set, clock } = make();
    clock.t = 0.25e9;
    set(0x0a, 0x66);
    clock.t = 5e9;
    expect(get(0)).toBe(0x58); // held
    set(0x0a, 0x26);
    clock.t += 0.5e9 - 1;
    expect(get(0)).toBe(0x58);
    clock.t += 1;
    expect(get(0)).toBe(0x59);
  });
});

describe('register C and IRQ8', () => {
  it('UF after an update; IRQF and IRQ8 when UIE; cleared by reading C', () => {
    const { get, set, clock, irqs } = make();
    set(0x0a, 0x20); // RS = 0: no periodic flag in the way
    set(0x0b, 0x12); // UIE, 24h
    clock.t = 1e9;
    expect(get(0x0c)).toBe(0x80 | 0x10);
    expect(irqs).toEqual([true, false]);
    expect(get(0x0c)).toBe(0);
  });

  it('PF at the rate of RS (0110 = 976.5625 µs), with IRQ8 only when PIE', () => {
    const { rtc, get, set, clock, irqs } = make();
    get(0x0c);
    clock.t = 976_562; // just before the first period edge
    expect(get(0x0c) & 0x40).toBe(0);
    clock.t = 976_563;
    expect(get(0x0c)).toBe(0x40); // PF without IRQF: PIE is off
    set(0x0b, 0x42);
    clock.t += 976_563;
    rtc.poll();
    expect(irqs).toEqual([true]);
    expect(get(0x0c)).toBe(0xc0);
  });

  it('AF when the time matches the alarm (0xC0-0xFF matches anything)', () => {
    const { get, set, clock } = make();
    set(0x01, 0x00);
    set(0x03, 0xc0);
    set(0x05, 0xff);
    get(0x0c);
    clock.t = 1e9; // 23:59:59
    expect(get(0x0c) & 0x20).toBe(0);
    clock.t = 2e9; // 00:00:00
    expect(get(0x0c) & 0x20).toBe(0x20);
  });
});

describe('CMOS RAM', () => {
  it('index bit 7 masks NMI and is not part of the index', () => {
    const { rtc } = make();
    rtc.write(0x70, 1, 0x8f);
    expect(rtc.nmiDisabled).toBe(true);
    rtc.write(0x71, 1, 0x0a);
    rtc.write(0x70, 1, 0x0f);
    expect(rtc.nmiDisabled).toBe(false);
    expect(rtc.read(0x71, 1)).toBe(0x0a); // shutdown status: jump via 40:67
  });

  it('the shutdown status byte starts at 0', () => {
    expect(make().get(0x0f)).toBe(0);
  });

  it('memory sizes as QEMU writes them: 640 KiB base, KiB above 1 MiB, 64 KiB units above 16 MiB and 4 GiB', () => {
    const { get } = make({ ramBelow4G: 0xc000_0000, ramAbove4G: 2 * 2 ** 30, cpus: 4 });
    expect(get(0x15) | (get(0x16) << 8)).toBe(640);
    expect(get(0x17) | (get(0x18) << 8)).toBe(0xffff); // capped
    expect(get(0x30) | (get(0x31) << 8)).toBe(0xffff);
    expect(get(0x34) | (get(0x35) << 8)).toBe((0xc000_0000 - 0x100_0000) / 0x10000);
    expect(get(0x5b) | (get(0x5c) << 8) | (get(0x5d) << 16)).toBe(0x8000);
    expect(get(0x5f)).toBe(3);
    expect(get(0x14)).toBe(0x02);
  });

  it('small RAM: 8 MiB gives 7168 KiB extended and nothing above 16 MiB; checksum at 0x2E', () => {
    const { get } = make({ ramBelow4G: 8 << 20 });
    expect(get(0x17) | (get(0x18) << 8)).toBe(7168);
    expect(get(0x34) | (get(0x35) << 8)).toBe(0);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += get(i);
    expect((get(0x2e) << 8) | get(0x2f)).toBe(sum);
  });

  it('the other 128 bytes are plain RAM', () => {
    const { get, set } = make();
    set(0x7f, 0x42);
    expect(get(0x7f)).toBe(0x42);
  });
});
