// A 16550A UART (National/TI PC16550D datasheet), as a pure state machine on eight ports.
//
// The line is infinitely fast on the transmit side: a byte written to THR leaves at once (to `sink`,
// or to our own receiver in loopback), so THR and the transmitter shift register are empty again
// before the guest's next access. Host input arrives through `receive()` into a bounded receiver
// FIFO (16 bytes, or the single RBR when FIFOs are off); a byte that finds it full is lost and sets
// OE. The interrupt output is reported to `irq(level)` on every change of level.
import type { PortDevice } from '../io-bus.js';

// Register offsets from the base port (PC16550D Table II, "Register Addresses").
export const RBR_THR = 0; // DLL when LCR.DLAB = 1
export const IER = 1; // DLM when LCR.DLAB = 1
export const IIR_FCR = 2; // IIR on read, FCR on write
export const LCR = 3;
export const MCR = 4;
export const LSR = 5;
export const MSR = 6;
export const SCR = 7;

// IER bits (Table II): ERBFI, ETBEI, ELSI, EDSSI.
export const IER_RDA = 0x01;
export const IER_THRE = 0x02;
export const IER_RLS = 0x04;
export const IER_MS = 0x08;

// IIR values (Table IV, "Interrupt Control Functions"): bit 0 = 1 means nothing pending.
export const IIR_NONE = 0x01;
export const IIR_RLS = 0x06; // receiver line status, priority 1 (highest)
export const IIR_RDA = 0x04; // received data available, priority 2
export const IIR_CTI = 0x0c; // character timeout indication, priority 2
export const IIR_THRE = 0x02; // transmitter holding register empty, priority 3
export const IIR_MS = 0x00; // modem status, priority 4 (lowest)
export const IIR_FIFO_ENABLED = 0xc0; // bits 7:6 set when FCR0 = 1

// FCR bits.
const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
/** Receiver FIFO trigger levels selected by FCR bits 7:6 (Table II). */
const TRIGGER_LEVELS = [1, 4, 8, 14];

const LCR_DLAB = 0x80;

// MCR bits: DTR, RTS, OUT1, OUT2, LOOP; bits 7:5 are always 0.
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

// LSR bits.
export const LSR_DR = 0x01;
export const LSR_OE = 0x02;
export const LSR_PE = 0x04;
export const LSR_FE = 0x08;
export const LSR_BI = 0x10;
export const LSR_THRE = 0x20;
export const LSR_TEMT = 0x40;
const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

// MSR bits: deltas in 3:0, line states in 7:4.
export const MSR_DCTS = 0x01;
export const MSR_DDSR = 0x02;
export const MSR_TERI = 0x04;
export const MSR_DDCD = 0x08;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;

/** The UART's input clock on a PC: 1.8432 MHz, 16 clocks per bit (PC16550D "Baud Rate Generator"). */
export const UART_CLOCK_HZ = 1_843_200;
export const FIFO_DEPTH = 16;

export interface Uart16550Options {
  /** Bytes the guest transmits (not called in loopback). */
  sink: (byte: number) => void;
  /** The INTR output; called only when its level changes. */
  irq?: (level: boolean) => void;
  /** Virtual clock in nanoseconds, for the FIFO character timeout. Without it, host input counts as
   *  idle at once: bytes below the trigger level give a timeout interrupt immediately. */
  now?: () => number;
  /** Called when a read of RBR has made room in the receiver: a flow-controlled host line sends its
   *  next byte then (as QEMU's character backends do when the UART says it can receive). */
  onRxRoom?: () => void;
  /** PC boards gate INTR with MCR.OUT2. QEMU does not, so the default is off. */
  out2GatesIrq?: boolean;
  name?: string;
}

export class Uart16550 implements PortDevice {
  readonly name: string;
  private readonly sink: (byte: number) => void;
  private readonly irqOut: (level: boolean) => void;
  private readonly now: (() => number) | undefined;
  private readonly out2Gates: boolean;
  private readonly onRxRoom: (() => void) | undefined;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  private msrDeltas = 0;
  private scr = 0;
  private dll = 0x0c; // undefined after reset on hardware; 12 = 9600 baud, a common firmware choice
  private dlm = 0;
  private fcr = 0;
  private readonly rx: number[] = [];
  private thrIpending = false;
  /** The modem inputs outside loopback: CTS, DSR, DCD asserted (a ready peer), as QEMU reports. */
  private inputs = MSR_CTS | MSR_DSR | MSR_DCD;
  private lastRbr = 0;
  private lastRxActivity = 0;
  private irqLevel = false;

  constructor(opts: Uart16550Options) {
    this.name = opts.name ?? 'uart16550';
    this.sink = opts.sink;
    this.irqOut = opts.irq ?? (() => {});
    this.now = opts.now;
    this.out2Gates = opts.out2GatesIrq ?? false;
    this.onRxRoom = opts.onRxRoom;
  }

  /** Master reset (PC16550D Table IV "UART Reset Configuration"): IER, FCR, LCR, MCR = 0, IIR = 1,
   *  LSR = 0x60, MSR deltas cleared; RBR, THR, SCR and the divisor latch keep their contents. */
  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.fcr = 0;
    this.lsr = LSR_THRE | LSR_TEMT;
    this.msrDeltas = 0;
    this.rx.length = 0;
    this.thrIpending = false;
    this.update();
  }

  // ---- host side ----

  /** Bytes arriving on SIN. Returns how many reached the receiver; the rest were lost to overrun
   *  (OE set) or, in loopback, to the disconnected input. */
  receive(bytes: Iterable<number>): number {
    if (this.mcr & MCR_LOOP) return 0; // "the serial input is disconnected" in loopback
    let taken = 0;
    for (const b of bytes) if (this.push(b & 0xff)) taken++;
    this.update();
    return taken;
  }

  /** Change the modem input lines (outside loopback); sets the delta bits the datasheet defines. */
  setModemInputs(lines: { cts?: boolean; dsr?: boolean; ri?: boolean; dcd?: boolean }): void {
    let next = this.inputs;
    const set = (bit: number, v: boolean | undefined) => {
      if (v !== undefined) next = v ? next | bit : next & ~bit;
    };
    set(MSR_CTS, lines.cts);
    set(MSR_DSR, lines.dsr);
    set(MSR_RI, lines.ri);
    set(MSR_DCD, lines.dcd);
    const before = this.msrLines();
    this.inputs = next;
    this.noteLineChange(before, this.msrLines());
    this.update();
  }

  /** Re-evaluate time-dependent state (the character timeout); call when `timeoutDeadline()` passes. */
  poll(): void {
    this.update();
  }

  /** When the character timeout will fire, in the clock's nanoseconds, or undefined if none is due. */
  timeoutDeadline(): number | undefined {
    if (!this.now || !this.fifoEnabled() || this.rx.length === 0 || this.timeoutElapsed()) return undefined;
    return this.lastRxActivity + this.charTimeNs() * 4;
  }

  /** Bytes the receiver can take now without an overrun (0 in loopback), for a host that paces its
   *  input as a flow-controlled line would (QEMU's serial backend asks the same before it sends). */
  get rxRoom(): number {
    if (this.mcr & MCR_LOOP) return 0;
    return (this.fifoEnabled() ? FIFO_DEPTH : 1) - this.rx.length;
  }

  /** Current level of the interrupt output (after OUT2 gating when that option is on). */
  get interruptLine(): boolean {
    return this.irqLevel;
  }

  get divisor(): number {
    return (this.dlm << 8) | this.dll;
  }

  // ---- port side ----

  read(port: number, _size: number): number {
    switch (port & 7) {
      case RBR_THR:
        if (this.lcr & LCR_DLAB) return this.dll;
        return this.readRbr();
      case IER:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case IIR_FCR:
        return this.readIir();
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const v = this.lsr;
        // Reading LSR clears OE, PE, FE, BI (and with them the line status interrupt).
        this.lsr &= ~LSR_ERRORS;
        this.update();
        return v;
      }
      case MSR: {
        const v = this.msrLines() | this.msrDeltas;
        this.msrDeltas = 0; // the delta bits clear on read
        this.update();
        return v;
      }
      default:
        return this.scr;
    }
  }

  write(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    switch (port & 7) {
      case RBR_THR:
        if (this.lcr & LCR_DLAB) this.dll = v;
        else this.writeThr(v);
        break;
      case IER:
        if (this.lcr & LCR_DLAB) this.dlm = v;
        else {
          const enablingThre = !(this.ier & IER_THRE) && v & IER_THRE;
          this.ier = v & 0x0f;
          // Enabling ETBEI while THR is empty raises the THRE interrupt at once (as the 16550 and
          // QEMU do; Linux's 8250 driver probes for exactly this).
          if (enablingThre && this.lsr & LSR_THRE) this.thrIpending = true;
        }
        break;
      case IIR_FCR:
        this.writeFcr(v);
        break;
      case LCR:
        this.lcr = v;
        break;
      case MCR: {
        const before = this.msrLines();
        this.mcr = v & 0x1f;
        this.noteLineChange(before, this.msrLines());
        break;
      }
      case LSR:
      case MSR:
        break; // read-only on the 16550A (the factory-test writes are not modelled)
      default:
        this.scr = v;
    }
    this.update();
  }

  // ---- internals ----

  private fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  private push(b: number): boolean {
    const capacity = this.fifoEnabled() ? FIFO_DEPTH : 1;
    this.lastRxActivity = this.now?.() ?? 0;
    if (this.rx.length >= capacity) {
      this.lsr |= LSR_OE;
      // 16450 mode: the new character overwrites RBR. FIFO mode: the shift register's character
      // is lost and the FIFO is kept (PC16550D, LSR bit 1).
      if (!this.fifoEnabled()) this.rx[0] = b;
      return false;
    }
    this.rx.push(b);
    this.lsr |= LSR_DR;
    return true;
  }

  private readRbr(): number {
    // An empty receiver reads back the last character again, as the hardware's RBR does.
    const took = this.rx.length > 0;
    if (took) this.lastRbr = this.rx.shift()!;
    const b = this.lastRbr;
    if (this.rx.length === 0) this.lsr &= ~LSR_DR;
    this.lastRxActivity = this.now?.() ?? 0; // a CPU read restarts the timeout
    this.update();
    if (took) this.onRxRoom?.();
    return b;
  }

  private writeThr(v: number): void {
    this.thrIpending = false; // writing THR clears the THRE interrupt ...
    // The host end is a byte stream: it gets the whole THR byte whatever the word length, as
    // QEMU's serial device gives its chardev (a guest that never sets LCR, reset value 5 data
    // bits, still prints text). Looped back, the receiver assembles only the word length's bits.
    if (this.mcr & MCR_LOOP) this.push(v & ((1 << (5 + (this.lcr & 3))) - 1));
    else this.sink(v);
    // ... and the instant transmitter empties THR again, which raises it anew.
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrIpending = true;
  }

  private writeFcr(v: number): void {
    // Changing FCR0 clears both FIFOs; the other bits are only programmed while FCR0 = 1.
    if ((v ^ this.fcr) & FCR_ENABLE) this.clearRx();
    if (!(v & FCR_ENABLE)) {
      this.fcr = 0;
      return;
    }
    if (v & FCR_CLEAR_RX) this.clearRx();
    // FCR bit 2 (clear the transmit FIFO) has nothing to clear: the transmitter is instant.
    this.fcr = v & 0xc9; // bits 1 and 2 self-clear; 5:4 reserved
  }

  private clearRx(): void {
    this.rx.length = 0;
    this.lsr &= ~LSR_DR;
  }

  private readIir(): number {
    const id = this.pending();
    // Reading IIR when THRE is the reported source clears it (PC16550D Table IV, reset control).
    if (id === IIR_THRE) this.thrIpending = false;
    const v = id | (this.fifoEnabled() ? IIR_FIFO_ENABLED : 0);
    this.update();
    return v;
  }

  /** The highest-priority pending and enabled interrupt, by Table IV's priority order. */
  private pending(): number {
    if (this.ier & IER_RLS && this.lsr & LSR_ERRORS) return IIR_RLS;
    if (this.ier & IER_RDA && this.rx.length > 0) {
      if (!this.fifoEnabled() || this.rx.length >= TRIGGER_LEVELS[this.fcr >> 6]) return IIR_RDA;
      if (this.timeoutElapsed()) return IIR_CTI;
    }
    if (this.ier & IER_THRE && this.thrIpending) return IIR_THRE;
    if (this.ier & IER_MS && this.msrDeltas) return IIR_MS;
    return IIR_NONE;
  }

  /** One character time in ns: start bit + data bits + parity + stop bits, 16 clocks per bit. */
  private charTimeNs(): number {
    const dataBits = 5 + (this.lcr & 3);
    const parity = this.lcr & 0x08 ? 1 : 0;
    const stop = this.lcr & 0x04 ? (dataBits === 5 ? 1.5 : 2) : 1;
    const bitNs = ((this.divisor || 0x10000) * 16 * 1e9) / UART_CLOCK_HZ;
    return (1 + dataBits + parity + stop) * bitNs;
  }

  /** The FIFO timeout: no character in and no CPU read for four character times. */
  private timeoutElapsed(): boolean {
    if (!this.now) return true;
    return this.now() - this.lastRxActivity >= 4 * this.charTimeNs();
  }

  /** MSR bits 7:4: the input lines, or in loopback the MCR outputs wired back (PC16550D, MCR bit 4). */
  private msrLines(): number {
    if (!(this.mcr & MCR_LOOP)) return this.inputs;
    let v = 0;
    if (this.mcr & MCR_RTS) v |= MSR_CTS;
    if (this.mcr & MCR_DTR) v |= MSR_DSR;
    if (this.mcr & MCR_OUT1) v |= MSR_RI;
    if (this.mcr & MCR_OUT2) v |= MSR_DCD;
    return v;
  }

  private noteLineChange(before: number, after: number): void {
    const changed = before ^ after;
    if (changed & MSR_CTS) this.msrDeltas |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDeltas |= MSR_DDSR;
    if (changed & MSR_DCD) this.msrDeltas |= MSR_DDCD;
    if (before & MSR_RI && !(after & MSR_RI)) this.msrDeltas |= MSR_TERI; // trailing edge of RI only
  }

  private update(): void {
    let level = this.pending() !== IIR_NONE;
    if (this.out2Gates && !(this.mcr & MCR_OUT2)) level = false;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irqOut(level);
    }
  }
}
