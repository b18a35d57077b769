// The Intel 8254 programmable interval timer at ports 0x40-0x43 (Intel 82C54 datasheet, 231244).
//
// Counters are not ticked: each running counter remembers the input-clock tick at which its
// counting element (CE) held the initial count N, and its value and OUT are computed from the
// virtual clock. Channel 0's OUT drives IRQ0 (rising edges, reported by `poll()` or by any access,
// coalesced as an edge-triggered input would latch them); channel 2's gate and OUT belong to
// port 0x61 (see port61.ts). All six modes are modelled; the datasheet's details followed are in
// the comments, and the few simplifications are named where they are made.
import type { PortDevice } from '../io-bus.js';

/** The PC's PIT input clock, 105/88 MHz = 1.193182 MHz (the value QEMU and Linux use). */
export const PIT_HZ = 1_193_182;
const SEC = 1e9;

/** Virtual nanoseconds to PIT input ticks, exact in integers up to 2^53 ns. */
export function pitTicks(ns: number): number {
  return Math.floor(ns / SEC) * PIT_HZ + Math.floor(((ns % SEC) * PIT_HZ) / SEC);
}

/** The first nanosecond at which `pitTicks` reaches `tick`. */
export function pitTickToNs(tick: number): number {
  return Math.floor(tick / PIT_HZ) * SEC + Math.ceil(((tick % PIT_HZ) * SEC) / PIT_HZ);
}

type Phase =
  | 'none' // control word written, no count yet (or mode 0 between the two bytes of a count)
  | 'armed' // modes 1 and 5: count written, waiting for a gate trigger
  | 'run' // CE holds N at tick `start` and counts from there
  | 'hold'; // gate low: modes 0/4 suspended at elapsed `holdD`; modes 2/3 stopped with OUT high

class Channel {
  mode = 3;
  rw = 3; // 1 = LSB only, 2 = MSB only, 3 = LSB then MSB
  bcd = false;
  cr = 0; // count register as written (0 means the maximum count)
  n = 0x10000; // the count of the current run
  phase: Phase = 'run';
  start = 0;
  holdD = 0;
  gate = true;
  nullCount = false;
  pendingN: number | undefined;
  pendingAt = 0;
  // write and read flip-flops and latches
  writeHigh = false;
  lsbWritten = 0;
  readHigh = false;
  latch: number[] = [];
  status: number | undefined;
  // rising edges of OUT not yet reported, and f(d) already counted in the current run
  edges = 0;
  counted = 0;
  retriggered = false;

  get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** CR to N: 0 is the maximum count, 2^16 in binary and 10^4 in BCD. */
  countOf(cr: number): number {
    if (this.bcd) {
      const dec = fromBcd(cr);
      return dec === 0 ? 10000 : dec;
    }
    return cr === 0 ? 0x10000 : cr;
  }

  elapsed(t: number): number {
    return this.phase === 'hold' ? this.holdD : t - this.start;
  }

  out(t: number): boolean {
    const n = this.n;
    const m = this.mode;
    if (this.phase === 'none') return m !== 0; // the control word sets OUT low in mode 0, high otherwise
    if (this.phase === 'armed') return true;
    if (this.phase === 'hold' && (m === 2 || m === 3)) return true; // gate low forces OUT high
    const d = this.elapsed(t);
    if (d < 0) return m === 0 ? false : m === 1 ? !this.retriggered : true; // not yet loaded
    switch (m) {
      case 0:
      case 1:
        return d >= n; // low until terminal count
      case 2:
        return d % n !== n - 1; // low for one clock when the count reaches 1
      case 3:
        return d % n < Math.ceil(n / 2); // high (N+1)/2 clocks, low (N-1)/2 for odd N
      default:
        return d !== n; // modes 4 and 5: one low clock at terminal count
    }
  }

  /** Rising edges of OUT in the current run up to elapsed d. */
  risingEdges(d: number): number {
    if (this.phase !== 'run' || d < 0) return 0;
    const n = this.n;
    switch (this.mode) {
      case 0:
      case 1:
        return d >= n ? 1 : 0;
      case 2:
      case 3:
        return Math.floor(d / n);
      default:
        return d >= n + 1 ? 1 : 0;
    }
  }

  /** The counting element's value (what a read or a latch sees), as a 16-bit register. */
  value(t: number): number {
    let v: number;
    const n = this.n;
    if (this.phase === 'none' || this.phase === 'armed') v = this.countOf(this.cr);
    else {
      const d = Math.max(this.elapsed(t), 0);
      if (this.mode === 2) v = n - (d % n);
      else if (this.mode === 3)
        v = n - ((2 * d) % n); // decrements by two each clock (QEMU's approximation for odd N)
      else v = (((n - d) % this.modulus) + this.modulus) % this.modulus; // wraps and keeps counting
    }
    v %= this.modulus;
    return this.bcd ? toBcd(v) : v;
  }

  /** Apply a deferred reload (modes 2 and 3) whose time has come, accounting its edges. */
  settle(t: number): void {
    if (this.phase === 'run' && this.pendingN !== undefined && t >= this.pendingAt) {
      this.edges += this.risingEdges(this.pendingAt - this.start) - this.counted;
      this.n = this.pendingN;
      this.start = this.pendingAt;
      this.pendingN = undefined;
      this.counted = 0;
      this.nullCount = false;
    }
    if (this.phase === 'run') {
      const f = this.risingEdges(t - this.start);
      this.edges += f - this.counted;
      this.counted = f;
      if (t >= this.start) this.nullCount = false;
    }
  }

  /** Start counting N: the CE is loaded on the first CLK after the write or trigger (tick t + 1). */
  begin(t: number): void {
    this.n = this.countOf(this.cr);
    this.pendingN = undefined;
    this.counted = 0;
    if (this.gate || this.mode === 1 || this.mode === 5) {
      this.phase = 'run';
      this.start = t + 1;
    } else {
      this.phase = 'hold';
      this.holdD = 0;
    }
  }

  statusByte(t: number): number {
    return (
      (this.out(t) ? 0x80 : 0) |
      (this.nullCount ? 0x40 : 0) |
      (this.rw << 4) |
      (this.mode << 1) |
      (this.bcd ? 1 : 0)
    );
  }

  latchCount(t: number): void {
    if (this.latch.length > 0) return; // a second latch before the read is ignored
    const v = this.value(t);
    if (this.rw === 1) this.latch = [v & 0xff];
    else if (this.rw === 2) this.latch = [v >> 8];
    else this.latch = [v & 0xff, v >> 8];
  }
}

const toBcd = (v: number) =>
  ((Math.floor(v / 1000) % 10) << 12) |
  ((Math.floor(v / 100) % 10) << 8) |
  ((Math.floor(v / 10) % 10) << 4) |
  (v % 10);
const fromBcd = (v: number) =>
  ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);

export interface Pit8254Options {
  /** Virtual time in nanoseconds. */
  now: () => number;
  /** Called once per poll or access for the rising edges of channel 0's OUT since the last one. */
  irq0?: (edges: number) => void;
}

export class Pit8254 implements PortDevice {
  readonly name = 'i8254';
  private readonly ch = [new Channel(), new Channel(), new Channel()];
  private readonly now: () => number;
  private readonly irq0: (edges: number) => void;

  constructor(opts: Pit8254Options) {
    this.now = opts.now;
    this.irq0 = opts.irq0 ?? (() => {});
    // Power-up as QEMU's pit_reset: every counter in mode 3 with count 0 (65536), LSB/MSB access;
    // gates 0 and 1 are tied high on a PC, gate 2 is port 0x61 bit 0 (low).
    const t = this.ticks();
    for (const c of this.ch) c.begin(t - 1);
    this.ch[2].gate = false;
    this.ch[2].phase = 'hold';
  }

  private ticks(): number {
    return pitTicks(this.now());
  }

  // ---- ports ----

  read(port: number, _size: number): number {
    const i = port & 3;
    if (i === 3) return 0xff; // the control word register cannot be read
    const t = this.sync();
    const c = this.ch[i];
    if (c.status !== undefined) {
      const s = c.status;
      c.status = undefined;
      return s;
    }
    if (c.latch.length > 0) return c.latch.shift()!;
    const v = c.value(t);
    if (c.rw === 1) return v & 0xff;
    if (c.rw === 2) return v >> 8;
    c.readHigh = !c.readHigh;
    return c.readHigh ? v & 0xff : v >> 8;
  }

  write(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    const t = this.sync();
    if ((port & 3) === 3) this.controlWord(v, t);
    else this.writeCount(this.ch[port & 3], v, t);
    this.sync();
  }

  // ---- wiring ----

  /** Gate input of a counter (only channel 2's is wired on a PC: port 0x61 bit 0). */
  setGate(channel: number, level: boolean): void {
    const t = this.sync();
    const c = this.ch[channel];
    if (c.gate === level) return;
    c.gate = level;
    const before = c.out(t);
    if (level) {
      // Rising edge: modes 1, 2, 3, 5 (re)load and start on the next CLK; modes 0 and 4 resume.
      if (c.mode === 1 || c.mode === 5) {
        if (c.phase === 'armed' || c.phase === 'run') {
          c.retriggered = c.phase === 'run' && !before;
          c.begin(t);
        }
      } else if (c.phase === 'hold') {
        if (c.mode === 0 || c.mode === 4) {
          c.phase = 'run';
          c.start = t - c.holdD;
          c.counted = c.risingEdges(c.holdD);
        } else c.begin(t);
      }
    } else if (c.phase === 'run' && c.mode !== 1 && c.mode !== 5) {
      // Falling edge: modes 0 and 4 suspend counting; modes 2 and 3 stop with OUT high.
      c.holdD = Math.max(t - c.start, 0);
      c.phase = 'hold';
    }
    if (!before && c.out(t)) c.edges++;
    this.sync();
  }

  gate(channel: number): boolean {
    return this.ch[channel].gate;
  }

  /** A counter's OUT now. */
  out(channel: number): boolean {
    return this.ch[channel].out(this.sync());
  }

  /** Deliver channel 0's rising edges up to now. */
  poll(): void {
    this.sync();
  }

  /** The virtual time (ns) of channel 0's next rising edge, if one is coming. */
  nextIrq0Ns(): number | undefined {
    const t = this.ticks();
    const c = this.ch[0];
    if (c.phase !== 'run') return undefined;
    const d = t - c.start;
    let at: number | undefined;
    switch (c.mode) {
      case 0:
      case 1:
        at = d < c.n ? c.start + c.n : undefined;
        break;
      case 2:
      case 3:
        at = c.start + (Math.floor(Math.max(d, 0) / c.n) + 1) * c.n;
        if (c.pendingN !== undefined && c.pendingAt <= at) at = c.pendingAt;
        break;
      default:
        at = d < c.n + 1 ? c.start + c.n + 1 : undefined;
    }
    return at === undefined ? undefined : pitTickToNs(at);
  }

  // ---- internals ----

  private sync(): number {
    const t = this.ticks();
    for (const c of this.ch) c.settle(t);
    const c0 = this.ch[0];
    if (c0.edges > 0) {
      const e = c0.edges;
      c0.edges = 0;
      this.irq0(e);
    }
    this.ch[1].edges = this.ch[2].edges = 0;
    return t;
  }

  private controlWord(v: number, t: number): void {
    const sc = v >> 6;
    const rw = (v >> 4) & 3;
    if (sc === 3) {
      // Read-back (82C54 "Read-Back Command"): bit 5 = 0 latches counts, bit 4 = 0 latches status,
      // bits 3:1 select counters 2, 1, 0.
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = this.ch[i];
        if (!(v & 0x20)) c.latchCount(t);
        if (!(v & 0x10) && c.status === undefined) c.status = c.statusByte(t);
      }
      return;
    }
    const c = this.ch[sc];
    if (rw === 0) {
      c.latchCount(t); // counter latch command
      return;
    }
    const before = c.out(t);
    c.rw = rw;
    const mode = (v >> 1) & 7;
    c.mode = mode > 5 ? mode & 3 : mode; // modes 6 and 7 are 2 and 3 (X10, X11)
    c.bcd = (v & 1) !== 0;
    c.phase = 'none';
    c.pendingN = undefined;
    c.nullCount = true;
    c.writeHigh = c.readHigh = false;
    c.latch = [];
    c.status = undefined;
    c.retriggered = false;
    if (!before && c.out(t)) c.edges++;
  }

  private writeCount(c: Channel, v: number, t: number): void {
    if (c.rw === 3 && !c.writeHigh) {
      c.lsbWritten = v;
      c.writeHigh = true;
      // Mode 0: writing the first byte stops counting and sets OUT low at once.
      if (c.mode === 0) c.phase = 'none';
      return;
    }
    if (c.rw === 1) c.cr = v;
    else if (c.rw === 2) c.cr = v << 8;
    else {
      c.cr = c.lsbWritten | (v << 8);
      c.writeHigh = false;
    }
    c.nullCount = true;
    const before = c.out(t);
    this.loadCount(c, t);
    if (!before && c.out(t)) c.edges++;
  }

  /** What a newly written count does, per mode (82C54 "Mode Definitions"). */
  private loadCount(c: Channel, t: number): void {
    switch (c.mode) {
      case 0:
      case 4:
        c.begin(t); // the new count takes effect on the next CLK
        return;
      case 1:
      case 5:
        if (c.phase === 'none') c.phase = 'armed'; // waits for a gate trigger; a running
        return; // one-shot keeps its count until retriggered
      default:
        if (c.phase !== 'run') {
          if (c.phase === 'none') c.begin(t);
          return; // in hold, the gate's rising edge loads it
        }
        // Modes 2 and 3 while counting: the new count is loaded at the end of the current
        // period. (For mode 3 the datasheet loads it at the end of the current half-cycle; we
        // wait for the whole cycle so that every run starts in the high half.)
        c.pendingN = c.countOf(c.cr);
        c.pendingAt = c.start + (Math.floor(Math.max(t - c.start, 0) / c.n) + 1) * c.n;
    }
  }
}
