// System control port A (0x92): bit 1 is the fast A20 gate; bit 0 would reset the machine.
import type { PortDevice } from '../io-bus.js';

export class Port92 implements PortDevice {
  readonly name = 'port92';
  private value = 0x02; // A20 enabled, as QEMU and most firmware leave it
  constructor(
    private readonly setA20: (on: boolean) => void,
    private readonly reset: () => void,
  ) {}
  read(): number {
    return this.value;
  }
  write(_port: number, _size: number, v: number): void {
    this.value = v & 0x03;
    this.setA20((v & 2) !== 0);
    if (v & 1) this.reset();
  }
}
