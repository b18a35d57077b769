// System control port B (0x61) of the PC/AT: PIT channel 2's gate and the speaker enable, with
// OUT2 and the refresh toggle to read back (IBM PC/AT Technical Reference, port 61h; the same bits in
// every chipset since, e.g. Intel ICH "NMI Status and Control Register").
//
//   bit 0  timer 2 gate (R/W)           bit 4  refresh cycle toggle (R)
//   bit 1  speaker data enable (R/W)    bit 5  timer 2 OUT (R)
//   bit 2  parity check enable (R/W)    bit 6  I/O channel check (R, 0 here)
//   bit 3  I/O channel check enable     bit 7  parity error / SERR# (R, 0 here)
//
// On hardware bit 4 follows the DRAM refresh request (every 15.085 µs, from PIT channel 1); we flip
// it on each read instead, which is what delay loops that wait for it to change need, and is
// deterministic. OS timer calibration uses bits 0 and 5 with PIT channel 2.
import type { PortDevice } from '../io-bus.js';

/** The part of the PIT this port is wired to. Pit8254 satisfies it. */
export interface Timer2 {
  setGate(channel: number, level: boolean): void;
  out(channel: number): boolean;
}

export class Port61 implements PortDevice {
  readonly name = 'port61';
  private control = 0; // bits 3:0 as written
  private refresh = false;

  constructor(
    private readonly pit: Timer2,
    /** Speaker output changes (gate 2 AND speaker enable), for a host that wants a beep. */
    private readonly speaker?: (on: boolean) => void,
  ) {}

  read(_port: number, _size: number): number {
    this.refresh = !this.refresh;
    return this.control | (this.refresh ? 0x10 : 0) | (this.pit.out(2) ? 0x20 : 0);
  }

  write(_port: number, _size: number, value: number): void {
    const was = this.control;
    this.control = value & 0x0f;
    if ((was ^ this.control) & 1) this.pit.setGate(2, (this.control & 1) !== 0);
    if ((was ^ this.control) & 3) this.speaker?.((this.control & 3) === 3);
  }
}
