// A 16550-shaped COM1 that is always ready: LSR reports THR empty and transmitter idle, bytes
// written to THR go to `sink`. Enough for guests that poll before printing; the full 16550 with
// interrupts comes with the platform work.
import type { PortDevice } from '../io-bus.js';

export class SerialStub implements PortDevice {
  readonly name = 'com1';
  private readonly regs = new Uint8Array(8);
  constructor(private readonly sink: (byte: number) => void) {}
  read(port: number): number {
    const r = port & 7;
    if (r === 5) return 0x60; // LSR: THRE | TEMT
    if (r === 0) return 0; // RBR: nothing received
    return this.regs[r];
  }
  write(port: number, _size: number, v: number): void {
    const r = port & 7;
    if (r === 0 && !(this.regs[3] & 0x80)) this.sink(v & 0xff);
    else this.regs[r] = v;
  }
}
