// The 8042 keyboard controller (ports 60h and 64h) with an AT keyboard behind it, as the IBM PC AT
// Technical Reference and the 8042 data sheet give the programming interface:
//
// - 64h read: status (OBF, IBF, SYS, A2 = last write was a command, INH = keyboard not inhibited,
//   AUX_OBF); 64h write: a controller command; 60h read: the output buffer (clears OBF); 60h write:
//   a command's parameter, or else a byte for the keyboard.
// - The command byte (20h reads it, 60h writes it): INT (IRQ 1 on OBF), SYS, keyboard disable,
//   translation.
// - AAh self-test answers 55h, ABh interface test 00h, ADh/AEh disable/enable the keyboard,
//   D0h/D1h read/write the output port (bit 0 the system reset line, bit 1 the A20 gate),
//   D2h puts a byte in the output buffer as if the keyboard sent it, DDh/DFh A20 off/on,
//   F0h-FFh pulse output-port bits low for 6 us (bit 0 low is a reset: FEh resets the machine).
// - The keyboard answers FAh (ACK) to the commands of the AT keyboard (reset FFh gives FAh AAh),
//   EEh to echo, FEh (resend) to anything else. Host keys reach the guest in scan code set 1 with
//   translation on (as a BIOS leaves it), else in the keyboard's own set (2 unless F0h chose 1).
//
// No mouse: the auxiliary commands answer as for an absent device (A9h reports a clock line stuck
// low, D4h bytes get no answer). Bytes queue in the controller while the guest has not read the
// output buffer (one at a time is visible, as on the hardware).
import type { PortDevice } from '../io-bus.js';
import { toSet2 } from './scancodes.js';

export const KBC_DATA = 0x60;
export const KBC_STATUS = 0x64;
export const KBD_IRQ = 1;

// Status register bits.
export const STAT_OBF = 0x01;
export const STAT_IBF = 0x02;
export const STAT_SYS = 0x04;
export const STAT_A2 = 0x08; // last write went to 64h (a command)
export const STAT_INH = 0x10; // 1: the keyboard is not inhibited (the keylock switch)
export const STAT_AUX_OBF = 0x20;

// Command byte bits.
export const CB_INT = 0x01;
export const CB_INT2 = 0x02;
export const CB_SYS = 0x04;
export const CB_DISABLE_KBD = 0x10;
export const CB_DISABLE_AUX = 0x20;
export const CB_XLATE = 0x40;

// Output port bits.
export const OUT_RESET = 0x01; // 0 resets the processor
export const OUT_A20 = 0x02;
export const OUT_OBF = 0x10; // wired to IRQ 1
export const OUT_AUX_OBF = 0x20;

const ACK = 0xfa;
const RESEND = 0xfe;
const BAT_OK = 0xaa;
/** The output port's lines that are neither A20, reset, nor the OBF interrupts (QEMU reads them as 1). */
const OUT_ONES = 0xcc;

export interface I8042Options {
  /** IRQ 1 (the keyboard's OBF interrupt): called on every change of level. */
  irq?: (level: boolean) => void;
  /** The A20 gate from the output port. */
  setA20?: (on: boolean) => void;
  /** The reset line pulsed (FEh, or D1h with bit 0 clear). */
  reset?: () => void;
  /** The output buffer was read and nothing waits behind it: the keyboard may send its next key. */
  onOutputEmpty?: () => void;
}

export class I8042 implements PortDevice {
  readonly name = 'i8042';
  /** As a BIOS leaves it: translation on, IRQ 1 on, mouse off, self-test passed (SYS). */
  private commandByte = CB_XLATE | CB_DISABLE_AUX | CB_SYS | CB_INT;
  private status = STAT_SYS | STAT_INH;
  private outPort = OUT_ONES | OUT_A20 | OUT_RESET;
  /** A controller command waiting for its parameter on port 60h, or 0. */
  private pendingCommand = 0;
  /** A keyboard command waiting for its parameter, or 0. */
  private kbdPending = 0;
  private kbdScanning = true;
  private scanSet = 2; // the keyboard's own set; translation turns it into set 1
  /** The controller's own answers, which go ahead of the keyboard's (bit 8: as if from the mouse). */
  private readonly responses: number[] = [];
  /** The keyboard's bytes (scan codes and its command answers), held while its interface is disabled. */
  private readonly queue: number[] = [];
  private outByte = 0;
  private irqLevel = false;
  private readonly irqOut: (level: boolean) => void;
  private readonly setA20: (on: boolean) => void;
  private readonly resetOut: () => void;
  private readonly onOutputEmpty: (() => void) | undefined;

  constructor(opts: I8042Options = {}) {
    this.onOutputEmpty = opts.onOutputEmpty;
    this.irqOut = opts.irq ?? (() => {});
    this.setA20 = opts.setA20 ?? (() => {});
    this.resetOut = opts.reset ?? (() => {});
  }

  // ---- host side ----

  /**
   * Keys from the host, as set 1 make and break codes. With translation on (as a BIOS leaves it) the
   * guest gets them so; with it off the guest gets the keyboard's own set (2 unless F0h chose 1).
   * Dropped while the keyboard is disabled (F5h).
   */
  keyboardInput(set1: Iterable<number>): void {
    if (!this.kbdScanning) return;
    const codes = this.commandByte & CB_XLATE || this.scanSet === 1 ? set1 : toSet2(set1);
    for (const c of codes) this.queue.push(c & 0xff);
    this.refill();
  }

  /** How many bytes wait behind the one in the output buffer (for a caller that paces input). */
  get queued(): number {
    return this.responses.length + this.queue.length;
  }

  /** A byte waits in the output buffer for the guest. */
  get outputFull(): boolean {
    return (this.status & STAT_OBF) !== 0;
  }

  get a20(): boolean {
    return (this.outPort & OUT_A20) !== 0;
  }

  get interruptLine(): boolean {
    return this.irqLevel;
  }

  // ---- port side ----

  read(port: number, _size: number): number {
    if (port === KBC_STATUS) return this.status;
    // The output buffer: reading empties it, and the next queued byte (if any) takes its place.
    const v = this.outByte;
    if (this.status & STAT_OBF) {
      this.status &= ~(STAT_OBF | STAT_AUX_OBF);
      this.updateIrq();
      this.refill();
      if (!(this.status & STAT_OBF)) this.onOutputEmpty?.();
    }
    return v;
  }

  write(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (port === KBC_STATUS) {
      this.status |= STAT_A2;
      this.controllerCommand(v);
      return;
    }
    this.status &= ~STAT_A2;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    switch (cmd) {
      case 0:
        this.keyboardCommand(v);
        return;
      case 0xd1:
        this.writeOutputPort(v);
        return;
      case 0xd2: // as if the keyboard sent it
        this.respond(v);
        return;
      case 0xd3: // as if the mouse sent it
        this.respond(v | 0x100);
        return;
      case 0xd4:
        return; // to the mouse: there is none
      default:
        if (cmd >= 0x60 && cmd < 0x80) {
          if (cmd === 0x60) {
            this.commandByte = v;
            this.status = (this.status & ~STAT_SYS) | (v & CB_SYS);
            this.updateIrq();
            this.refill();
          }
          return; // the rest of the controller's RAM is not kept
        }
    }
  }

  // ---- controller commands ----

  private controllerCommand(cmd: number): void {
    if (cmd >= 0x20 && cmd < 0x40) {
      this.respond(cmd === 0x20 ? this.commandByte : 0);
      return;
    }
    if ((cmd >= 0x60 && cmd < 0x80) || cmd === 0xd1 || cmd === 0xd2 || cmd === 0xd3 || cmd === 0xd4) {
      this.pendingCommand = cmd;
      return;
    }
    if (cmd >= 0xf0) {
      // Pulse the output port bits whose mask bit is 0; bit 0 is the reset line.
      if ((cmd & 0x01) === 0) this.resetOut();
      return;
    }
    switch (cmd) {
      case 0xa7:
        this.commandByte |= CB_DISABLE_AUX;
        return;
      case 0xa8:
        this.commandByte &= ~CB_DISABLE_AUX;
        return;
      case 0xa9:
        this.respond(0x01); // auxiliary clock line stuck low: no mouse
        return;
      case 0xaa:
        this.status |= STAT_SYS;
        this.respond(0x55);
        return;
      case 0xab:
        this.respond(0x00);
        return;
      case 0xad:
        this.commandByte |= CB_DISABLE_KBD;
        return;
      case 0xae:
        this.commandByte &= ~CB_DISABLE_KBD;
        this.refill();
        return;
      case 0xc0:
        this.respond(0x80 | 0x20); // input port: keyboard not inhibited, base memory 640 KiB
        return;
      case 0xd0:
        this.respond(this.outputPort());
        return;
      case 0xdd:
        this.writeOutputPort(this.outPort & ~OUT_A20);
        return;
      case 0xdf:
        this.writeOutputPort(this.outPort | OUT_A20);
        return;
      case 0xe0:
        this.respond(0x00); // test inputs
        return;
      default:
        return; // undefined commands are ignored
    }
  }

  private outputPort(): number {
    let v = this.outPort & ~(OUT_OBF | OUT_AUX_OBF);
    if (this.status & STAT_OBF) v |= this.status & STAT_AUX_OBF ? OUT_AUX_OBF : OUT_OBF;
    return v;
  }

  private writeOutputPort(v: number): void {
    const before = this.outPort;
    this.outPort = v & ~(OUT_OBF | OUT_AUX_OBF);
    if ((before ^ v) & OUT_A20) this.setA20((v & OUT_A20) !== 0);
    if (!(v & OUT_RESET)) this.resetOut();
  }

  // ---- the keyboard (AT command set) ----

  private keyboardCommand(v: number): void {
    // Writing to the keyboard enables its interface, as a real 8042 does.
    this.commandByte &= ~CB_DISABLE_KBD;
    const pending = this.kbdPending;
    this.kbdPending = 0;
    if (pending === 0xf0) {
      if (v === 0) {
        this.queue.push(
          ACK,
          this.commandByte & CB_XLATE ? [0, 0x43, 0x41, 0x3f][this.scanSet] : this.scanSet,
        );
      } else if (v <= 3) {
        this.scanSet = v;
        this.queue.push(ACK);
      } else this.queue.push(RESEND);
      this.refill();
      return;
    }
    if (pending !== 0) {
      this.queue.push(ACK); // the parameter of EDh (LEDs) or F3h (typematic)
      this.refill();
      return;
    }
    switch (v) {
      case 0xed:
      case 0xf3:
      case 0xf0:
        this.kbdPending = v;
        this.queue.push(ACK);
        break;
      case 0xee:
        this.queue.push(0xee);
        break;
      case 0xf2:
        // Identify: an MF2 keyboard, AB 83 (AB 41 through translation).
        this.queue.push(ACK, 0xab, this.commandByte & CB_XLATE ? 0x41 : 0x83);
        break;
      case 0xf4:
        this.kbdScanning = true;
        this.queue.push(ACK);
        break;
      case 0xf5:
        this.kbdScanning = false;
        this.queue.push(ACK);
        break;
      case 0xf6:
        this.kbdScanning = true;
        this.queue.push(ACK);
        break;
      case 0xff:
        this.kbdScanning = true;
        this.scanSet = 2;
        this.queue.push(ACK, BAT_OK);
        break;
      default:
        this.queue.push(RESEND);
    }
    this.refill();
  }

  // ---- the output buffer ----

  private respond(v: number): void {
    this.responses.push(v);
    this.refill();
  }

  private refill(): void {
    if (this.status & STAT_OBF) return;
    let v: number;
    if (this.responses.length > 0) v = this.responses.shift() as number;
    else if (this.queue.length > 0 && !(this.commandByte & CB_DISABLE_KBD)) v = this.queue.shift() as number;
    else return;
    this.outByte = v & 0xff;
    this.status |= v & 0x100 ? STAT_OBF | STAT_AUX_OBF : STAT_OBF;
    this.updateIrq();
  }

  private updateIrq(): void {
    // IRQ 1 is the keyboard's OBF; a byte marked as the mouse's would raise IRQ 12 (not wired).
    const level = (this.status & (STAT_OBF | STAT_AUX_OBF)) === STAT_OBF && (this.commandByte & CB_INT) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irqOut(level);
    }
  }
}
