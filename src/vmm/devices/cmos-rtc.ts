// The MC146818A real-time clock and its CMOS RAM at ports 0x70 (index) and 0x71 (data), as on the
// PC/AT. Time comes from an injected virtual clock (`now()`, ns) and the wall-clock date at virtual
// time 0, so a run is reproducible.
//
// References: Motorola MC146818A datasheet (registers A-D, Table 3 time formats, Table 5 periodic
// rates, update cycle timing); IBM PC/AT Technical Reference (CMOS map 0x0E-0x3F); QEMU
// hw/i386/pc.c pc_cmos_init and SeaBIOS for the bytes firmware reads above 0x30.
//
// CMOS bytes filled at reset (what QEMU's pc_cmos_init writes, minus floppy and disk bytes):
//   0x0F shutdown status 0 (the MP spec's AP start-up sets 0x0A: "jump via 40:67" on INIT)
//   0x10 floppy types 0 (none); 0x12 hard disk types 0 (none)
//   0x14 equipment byte 0x02 (math coprocessor present; no floppy; EGA/VGA video = 00)
//   0x15/0x16 base memory in KiB (640), little-endian
//   0x17/0x18 and 0x30/0x31 extended memory above 1 MiB in KiB, capped at 65535
//   0x2E/0x2F checksum of 0x10-0x2D (big-endian 16-bit sum, the PC/AT convention)
//   0x32 century (BCD or binary as the time registers; ACPI FADT's CENTURY points here)
//   0x34/0x35 memory between 16 MiB and 4 GiB in 64 KiB units, capped at 65535 (SeaBIOS)
//   0x5B-0x5D memory above 4 GiB in 64 KiB units, 24-bit little-endian (SeaBIOS)
//   0x5F number of CPUs minus 1 (SeaBIOS)
import type { PortDevice } from '../io-bus.js';

// Register indices (MC146818A "Address Map").
export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const CMOS_SHUTDOWN_STATUS = 0x0f;
export const CMOS_CENTURY = 0x32;

/** Shutdown status codes the BIOS honours after a reset (IBM AT BIOS; MP spec B.4 uses 0x0A). */
export const SHUTDOWN_JMP_467_EOI = 0x05; // flush keyboard, EOI, far jump via 40:67
export const SHUTDOWN_JMP_467 = 0x0a; // far jump via 40:67 without EOI

export const REG_A_UIP = 0x80;
const REG_A_DV_MASK = 0x70;
const REG_A_DV_NORMAL = 0x20; // 010: 32.768 kHz time base, divider running
const REG_A_DV_RESET = 0x60; // 11x: divider chain held in reset
export const REG_B_SET = 0x80;
export const REG_B_PIE = 0x40;
export const REG_B_AIE = 0x20;
export const REG_B_UIE = 0x10;
export const REG_B_DM_BINARY = 0x04;
export const REG_B_24H = 0x02;
export const REG_C_IRQF = 0x80;
export const REG_C_PF = 0x40;
export const REG_C_AF = 0x20;
export const REG_C_UF = 0x10;
export const REG_D_VRT = 0x80;

/** UIP rises 244 µs (tBUC) before the update cycle, which lasts 1984 µs (tUC) at 32.768 kHz; the new
 *  time is valid when UIP falls. We place that fall on the second boundary. */
export const UIP_WINDOW_NS = (244 + 1984) * 1000;
const SEC = 1e9;

/**
 * The RTC's date at virtual time 0 unless told otherwise: 2025-01-01 00:00:00 UTC. A fixed start
 * on the VM's virtual clock makes every run of a guest that reads the clock the same run; the
 * host's time is an option (`hvemu run --rtc host`, `rtcEpochMs: 'host'`).
 */
export const RTC_DEFAULT_EPOCH_MS = Date.UTC(2025, 0, 1, 0, 0, 0);

export interface CmosRtcOptions {
  /** Virtual time in nanoseconds. */
  now: () => number;
  /** The wall-clock time at virtual time 0, in milliseconds since the Unix epoch (UTC). */
  epochMs: number;
  /** RAM below 4 GiB, in bytes (for the memory-size bytes). */
  ramBelow4G?: number;
  /** RAM above 4 GiB, in bytes. */
  ramAbove4G?: number;
  cpus?: number;
  /** IRQ8 output (level; falls when register C is read). */
  irq?: (level: boolean) => void;
}

interface Fields {
  sec: number;
  min: number;
  hour: number;
  dow: number; // 1 = Sunday
  day: number;
  month: number; // 1-12
  year: number; // full year
}

function fieldsOf(epochSec: number): Fields {
  const d = new Date(epochSec * 1000);
  return {
    sec: d.getUTCSeconds(),
    min: d.getUTCMinutes(),
    hour: d.getUTCHours(),
    dow: d.getUTCDay() + 1,
    day: d.getUTCDate(),
    month: d.getUTCMonth() + 1,
    year: d.getUTCFullYear(),
  };
}

function epochOf(f: Fields): number {
  return Date.UTC(f.year, f.month - 1, f.day, f.hour, f.min, f.sec) / 1000;
}

const toBcd = (v: number) => (Math.floor(v / 10) << 4) | (v % 10);
const fromBcd = (v: number) => (v >> 4) * 10 + (v & 0x0f);

export class CmosRtc implements PortDevice {
  readonly name = 'mc146818';
  readonly ram = new Uint8Array(128);
  private index = 0;
  private nmiDisabledBit = true; // bit 7 of the last index write; firmware leaves NMI masked at reset
  private readonly now: () => number;
  private readonly irqOut: (level: boolean) => void;
  private irqLevel = false;

  // Running clock: epoch seconds at virtual time baseNs, plus the phase within that second.
  private baseSec: number;
  private baseNs = 0;
  private phaseNs = 0;
  // Stopped clock (SET = 1 or divider not running): the fields the guest sees and writes.
  private frozen: Fields | undefined;
  private frozenPhase = 0;
  // Flag accrual for register C.
  private lastAccrueNs = 0;
  private lastAccrueSec: number;

  constructor(opts: CmosRtcOptions) {
    this.now = opts.now;
    this.irqOut = opts.irq ?? (() => {});
    this.baseSec = Math.floor(opts.epochMs / 1000);
    this.phaseNs = (opts.epochMs - this.baseSec * 1000) * 1e6;
    this.baseNs = 0;
    this.lastAccrueNs = opts.now();
    this.lastAccrueSec = this.currentSec();
    this.fillCmos(opts.ramBelow4G ?? 0, opts.ramAbove4G ?? 0, opts.cpus ?? 1);
  }

  get nmiDisabled(): boolean {
    return this.nmiDisabledBit;
  }

  private fillCmos(below: number, above: number, cpus: number): void {
    const r = this.ram;
    r[RTC_REG_A] = 0x26; // DV = 010 (32.768 kHz), RS = 0110 (1024 Hz), as firmware programs it
    r[RTC_REG_B] = REG_B_24H; // BCD, 24-hour (QEMU's reset value)
    r[RTC_REG_D] = REG_D_VRT; // valid RAM and time
    r[0x14] = 0x02;
    const base = Math.min(Math.floor(below / 1024), 640);
    r[0x15] = base & 0xff;
    r[0x16] = base >> 8;
    const ext = Math.min(Math.max(Math.floor((below - 0x100000) / 1024), 0), 0xffff);
    r[0x17] = r[0x30] = ext & 0xff;
    r[0x18] = r[0x31] = ext >> 8;
    const mid = Math.min(Math.max(Math.floor((below - 0x1000000) / 0x10000), 0), 0xffff);
    r[0x34] = mid & 0xff;
    r[0x35] = mid >> 8;
    const high = Math.floor(above / 0x10000);
    r[0x5b] = high & 0xff;
    r[0x5c] = (high >> 8) & 0xff;
    r[0x5d] = (high >> 16) & 0xff;
    r[0x5f] = (cpus - 1) & 0xff;
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += r[i];
    r[0x2e] = (sum >> 8) & 0xff;
    r[0x2f] = sum & 0xff;
  }

  // ---- ports ----

  read(port: number, _size: number): number {
    if ((port & 1) === 0) return 0xff; // the index register is write-only (QEMU reads 0xFF)
    return this.readRegister(this.index);
  }

  write(port: number, _size: number, value: number): void {
    if ((port & 1) === 0) {
      this.index = value & 0x7f;
      this.nmiDisabledBit = (value & 0x80) !== 0;
      return;
    }
    this.writeRegister(this.index, value & 0xff);
  }

  // ---- registers ----

  readRegister(i: number): number {
    this.accrue();
    switch (i) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case CMOS_CENTURY:
        return this.encode(i, this.fields());
      case RTC_REG_A:
        return (this.ram[RTC_REG_A] & 0x7f) | (this.updateInProgress() ? REG_A_UIP : 0);
      case RTC_REG_C: {
        const v = this.ram[RTC_REG_C];
        this.ram[RTC_REG_C] = 0; // all flags clear on read, and IRQ8 falls
        this.setIrq(false);
        return v;
      }
      default:
        return this.ram[i];
    }
  }

  writeRegister(i: number, v: number): void {
    this.accrue();
    switch (i) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case CMOS_CENTURY: {
        const f = this.fields();
        this.decodeInto(i, v, f);
        if (this.frozen) this.frozen = f;
        else this.startAt(epochOf(f), this.currentPhase());
        return;
      }
      case RTC_REG_A: {
        const wasRunning = this.running();
        const wasReset = (this.ram[RTC_REG_A] & 0x60) === REG_A_DV_RESET;
        this.ram[RTC_REG_A] = v & 0x7f; // UIP is read-only
        // Leaving divider reset: "the first update cycle begins one-half second later".
        this.transition(wasRunning, wasReset ? SEC / 2 : undefined);
        return;
      }
      case RTC_REG_B: {
        const wasRunning = this.running();
        if (v & REG_B_SET) v &= ~REG_B_UIE; // SET going high clears UIE (MC146818A, register B)
        this.ram[RTC_REG_B] = v;
        this.transition(wasRunning, undefined);
        this.updateIrq();
        return;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      default:
        this.ram[i] = v;
    }
  }

  /** Re-evaluate register C's flags and IRQ8 at the current virtual time. */
  poll(): void {
    this.accrue();
  }

  // ---- the clock ----

  private running(): boolean {
    return !(this.ram[RTC_REG_B] & REG_B_SET) && (this.ram[RTC_REG_A] & REG_A_DV_MASK) === REG_A_DV_NORMAL;
  }

  private transition(wasRunning: boolean, restartPhase: number | undefined): void {
    const isRunning = this.running();
    if (wasRunning && !isRunning) {
      this.frozenPhase = this.currentPhase();
      this.frozen = this.fields();
    } else if (!wasRunning && isRunning) {
      const f = this.frozen ?? this.fields();
      this.frozen = undefined;
      this.startAt(epochOf(f), restartPhase ?? this.frozenPhase);
    }
  }

  private startAt(epochSec: number, phaseNs: number): void {
    this.baseSec = epochSec;
    this.phaseNs = phaseNs;
    this.baseNs = this.now();
    this.lastAccrueNs = this.baseNs;
    this.lastAccrueSec = epochSec;
  }

  /** Elapsed ns within the current second of the running clock. */
  private currentPhase(): number {
    return (this.phaseNs + (this.now() - this.baseNs)) % SEC;
  }

  private currentSec(): number {
    return this.baseSec + Math.floor((this.phaseNs + (this.now() - this.baseNs)) / SEC);
  }

  private fields(): Fields {
    return this.frozen ? { ...this.frozen } : fieldsOf(this.currentSec());
  }

  private updateInProgress(): boolean {
    return this.running() && this.currentPhase() >= SEC - UIP_WINDOW_NS;
  }

  private encode(i: number, f: Fields): number {
    const binary = (this.ram[RTC_REG_B] & REG_B_DM_BINARY) !== 0;
    const enc = (n: number) => (binary ? n : toBcd(n));
    switch (i) {
      case RTC_SECONDS:
        return enc(f.sec);
      case RTC_MINUTES:
        return enc(f.min);
      case RTC_HOURS: {
        if (this.ram[RTC_REG_B] & REG_B_24H) return enc(f.hour);
        // 12-hour mode: 1-12 with bit 7 = PM (MC146818A Table 3)
        const h12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
        return enc(h12) | (f.hour >= 12 ? 0x80 : 0);
      }
      case RTC_DAY_OF_WEEK:
        return enc(f.dow);
      case RTC_DAY_OF_MONTH:
        return enc(f.day);
      case RTC_MONTH:
        return enc(f.month);
      case RTC_YEAR:
        return enc(f.year % 100);
      default:
        return enc(Math.floor(f.year / 100));
    }
  }

  private decodeInto(i: number, v: number, f: Fields): void {
    const binary = (this.ram[RTC_REG_B] & REG_B_DM_BINARY) !== 0;
    const dec = (n: number) => (binary ? n : fromBcd(n));
    switch (i) {
      case RTC_SECONDS:
        f.sec = dec(v);
        break;
      case RTC_MINUTES:
        f.min = dec(v);
        break;
      case RTC_HOURS:
        if (this.ram[RTC_REG_B] & REG_B_24H) f.hour = dec(v);
        else f.hour = (dec(v & 0x7f) % 12) + (v & 0x80 ? 12 : 0);
        break;
      case RTC_DAY_OF_WEEK:
        f.dow = dec(v); // recomputed from the date once the clock runs again
        break;
      case RTC_DAY_OF_MONTH:
        f.day = dec(v);
        break;
      case RTC_MONTH:
        f.month = dec(v);
        break;
      case RTC_YEAR:
        f.year = Math.floor(f.year / 100) * 100 + dec(v);
        break;
      default:
        f.year = dec(v) * 100 + (f.year % 100);
    }
  }

  // ---- register C flags and IRQ8 ----

  /** Periods of the periodic interrupt in 32.768 kHz ticks for RS = 1..15 (MC146818A Table 5). */
  private periodTicks(): number {
    const rs = this.ram[RTC_REG_A] & 0x0f;
    if (rs === 0) return 0;
    return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
  }

  private accrue(): void {
    const t = this.now();
    let flags = 0;
    if ((this.ram[RTC_REG_A] & REG_A_DV_MASK) === REG_A_DV_NORMAL) {
      const p = this.periodTicks();
      if (p && Math.floor(ticks32k(t) / p) !== Math.floor(ticks32k(this.lastAccrueNs) / p)) flags |= REG_C_PF;
    }
    if (this.running()) {
      const sec = this.currentSec();
      if (sec !== this.lastAccrueSec) {
        flags |= REG_C_UF;
        // The alarm compares after each update; 0xC0-0xFF in an alarm byte matches anything.
        const from = Math.max(this.lastAccrueSec + 1, sec - 86400);
        for (let s = from; s <= sec && !(flags & REG_C_AF); s++)
          if (this.alarmMatches(fieldsOf(s))) flags |= REG_C_AF;
      }
      this.lastAccrueSec = sec;
    }
    this.lastAccrueNs = t;
    if (flags) {
      this.ram[RTC_REG_C] |= flags;
      this.updateIrq();
    }
  }

  private alarmMatches(f: Fields): boolean {
    const m = (alarmIndex: number, timeIndex: number) => {
      const a = this.ram[alarmIndex];
      return (a & 0xc0) === 0xc0 || a === this.encode(timeIndex, f);
    };
    return (
      m(RTC_SECONDS_ALARM, RTC_SECONDS) && m(RTC_MINUTES_ALARM, RTC_MINUTES) && m(RTC_HOURS_ALARM, RTC_HOURS)
    );
  }

  private updateIrq(): void {
    const b = this.ram[RTC_REG_B];
    const c = this.ram[RTC_REG_C];
    const on =
      (b & REG_B_PIE && c & REG_C_PF) || (b & REG_B_AIE && c & REG_C_AF) || (b & REG_B_UIE && c & REG_C_UF);
    if (on) this.ram[RTC_REG_C] |= REG_C_IRQF;
    this.setIrq(!!on);
  }

  private setIrq(level: boolean): void {
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irqOut(level);
    }
  }
}

/** Virtual ns to 32.768 kHz ticks without losing integer precision. */
function ticks32k(ns: number): number {
  return Math.floor(ns / SEC) * 32768 + Math.floor(((ns % SEC) * 32768) / SEC);
}
