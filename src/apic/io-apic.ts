// The I/O APIC (Intel 82093AA datasheet; ICH-style version 20h with the EOI register): 24 pins, each
// routed by a redirection table entry to the APIC bus. Edge pins send a message per rising edge;
// level pins send one and hold remote IRR until a local APIC's EOI for that vector comes back.
import { DELIVERY_MODE_NAMES } from './ipi-trace.js';
import { DM_FIXED, DM_LOWEST } from './registers.js';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
// MMIO offsets (82093AA 3.1).
export const IOREGSEL = 0x00;
export const IOWIN = 0x10;
/** Directed EOI register of version-20h I/O APICs: writing a vector ends it as an EOI broadcast would. */
export const IOAPIC_EOI = 0x40;
// Indirect registers (82093AA 3.2).
export const IOAPICID = 0x00;
export const IOAPICVER = 0x01;
export const IOAPICARB = 0x02;
export const IOREDTBL = 0x10; // 0x10-0x3F: entry n is registers 0x10 + 2n (low) and 0x11 + 2n (high)

export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x20;

// Redirection entry bits (82093AA 3.2.4).
export const IOREDTBL_DEST_LOGICAL = 1 << 11;
export const IOREDTBL_DELIVERY_STATUS = 1 << 12;
export const IOREDTBL_POLARITY_LOW = 1 << 13;
export const IOREDTBL_REMOTE_IRR = 1 << 14;
export const IOREDTBL_TRIGGER_LEVEL = 1 << 15;
export const IOREDTBL_MASKED = 1 << 16;
/** Software-writable low-dword bits: all but delivery status and remote IRR. */
const LOW_WRITABLE = 0x1afff;

/** Where the I/O APIC sends its messages: the VM's ApicBus. */
export interface IrqSink {
  deliverIrq(logical: boolean, dest: number, mode: number, vector: number, triggerLevel: boolean): number;
}

export class IoApic {
  readonly name = 'ioapic';
  private regsel = 0;
  private id: number;
  private readonly low = new Uint32Array(IOAPIC_PINS).fill(IOREDTBL_MASKED); // reset: all masked
  private readonly high = new Uint32Array(IOAPIC_PINS);
  /** Asserted inputs, one bit per pin (logical level: polarity is the board's business). */
  private asserted = 0;

  constructor(
    private readonly sink: IrqSink,
    id = 0,
  ) {
    this.id = id & 0xf;
  }

  mmioRead(offset: number, size: number): number {
    offset &= 0xff;
    let v = 0;
    if (offset === IOREGSEL) v = this.regsel;
    else if (offset === IOWIN) v = this.readRegister(this.regsel);
    return size >= 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  mmioWrite(offset: number, _size: number, value: number): void {
    offset &= 0xff;
    if (offset === IOREGSEL) this.regsel = value & 0xff;
    else if (offset === IOWIN) this.writeRegister(this.regsel, value >>> 0);
    else if (offset === IOAPIC_EOI) this.eoi(value & 0xff);
  }

  /** The redirection entry of `pin` as a 64-bit pair (for traces and tests). */
  entry(pin: number): { low: number; high: number } {
    return { low: this.low[pin], high: this.high[pin] };
  }

  readRegister(index: number): number {
    if (index === IOAPICID || index === IOAPICARB) return (this.id << 24) >>> 0;
    if (index === IOAPICVER) return IOAPIC_VERSION | ((IOAPIC_PINS - 1) << 16); // max redirection entry
    if (index >= IOREDTBL && index < IOREDTBL + 2 * IOAPIC_PINS) {
      const pin = (index - IOREDTBL) >>> 1;
      return index & 1 ? this.high[pin] : this.low[pin];
    }
    return 0;
  }

  writeRegister(index: number, value: number): void {
    if (index === IOAPICID) {
      this.id = (value >>> 24) & 0xf;
      return;
    }
    if (index < IOREDTBL || index >= IOREDTBL + 2 * IOAPIC_PINS) return; // VER and ARB are read-only
    const pin = (index - IOREDTBL) >>> 1;
    if (index & 1) {
      this.high[pin] = (value & 0xff000000) >>> 0;
      return;
    }
    let low = (value & LOW_WRITABLE) | (this.low[pin] & IOREDTBL_REMOTE_IRR);
    if ((low & IOREDTBL_TRIGGER_LEVEL) === 0) low &= ~IOREDTBL_REMOTE_IRR; // remote IRR is level-only
    this.low[pin] = low >>> 0;
    // Unmasking a level pin that is still asserted delivers it now.
    if (this.levelReady(pin)) this.service(pin);
  }

  /** Drive input `pin` (true = asserted). */
  /** `--trace irq`: input changes and the messages they send; null when off. */
  trace: ((line: string) => void) | null = null;

  setIrq(pin: number, level: boolean): void {
    const bit = 1 << pin;
    const was = (this.asserted & bit) !== 0;
    if (this.trace !== null && level !== was)
      this.trace(
        `I/O APIC: pin ${pin} ${level ? 'asserted' : 'deasserted'}${this.low[pin] & IOREDTBL_MASKED ? ' (masked)' : ''}`,
      );
    this.asserted = level ? this.asserted | bit : this.asserted & ~bit;
    const low = this.low[pin];
    // A masked pin ignores edges and level changes entirely (82093AA 3.2.4, interrupt mask).
    if (low & IOREDTBL_MASKED) return;
    if (low & IOREDTBL_TRIGGER_LEVEL) {
      if (this.levelReady(pin)) this.service(pin);
    } else if (level && !was) {
      this.service(pin);
    }
  }

  /** A local APIC's EOI for `vector` (the bus's level-triggered EOI broadcast). */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const low = this.low[pin];
      if ((low & IOREDTBL_REMOTE_IRR) === 0 || (low & 0xff) !== vector) continue;
      this.low[pin] = low & ~IOREDTBL_REMOTE_IRR;
      // Still asserted: the device has not been serviced yet, so the interrupt is sent again.
      if (this.levelReady(pin)) this.service(pin);
    }
  }

  private levelReady(pin: number): boolean {
    const low = this.low[pin];
    return (
      (low & (IOREDTBL_TRIGGER_LEVEL | IOREDTBL_MASKED | IOREDTBL_REMOTE_IRR)) === IOREDTBL_TRIGGER_LEVEL &&
      (this.asserted & (1 << pin)) !== 0
    );
  }

  private service(pin: number): void {
    const low = this.low[pin];
    const mode = (low >>> 8) & 7;
    const level = (low & IOREDTBL_TRIGGER_LEVEL) !== 0;
    if (this.trace !== null)
      this.trace(
        `I/O APIC: pin ${pin} sends vector 0x${(low & 0xff).toString(16)} (${DELIVERY_MODE_NAMES[mode]}, ${level ? 'level' : 'edge'}, ${low & IOREDTBL_DEST_LOGICAL ? 'logical' : 'physical'} destination 0x${(this.high[pin] >>> 24).toString(16)})`,
      );
    const n = this.sink.deliverIrq(
      (low & IOREDTBL_DEST_LOGICAL) !== 0,
      this.high[pin] >>> 24,
      mode,
      low & 0xff,
      level,
    );
    // Remote IRR: "set when local APIC(s) accept the level interrupt", cleared by the EOI (3.2.4).
    if (level && n > 0 && (mode === DM_FIXED || mode === DM_LOWEST))
      this.low[pin] = low | IOREDTBL_REMOTE_IRR;
  }
}
