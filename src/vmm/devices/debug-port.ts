// Bochs/QEMU debug console on port 0xE9: each byte written is output; reads return 0xE9 (the
// "port E9 hack" signature guests use to detect it).
import type { PortDevice } from '../io-bus.js';

export class DebugPort implements PortDevice {
  readonly name = 'debugcon';
  constructor(private readonly sink: (byte: number) => void) {}
  read(): number {
    return 0xe9;
  }
  write(_port: number, _size: number, value: number): void {
    this.sink(value & 0xff);
  }
}
