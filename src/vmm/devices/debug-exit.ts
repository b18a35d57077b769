// QEMU's isa-debug-exit at 0xF4: a write of V ends the machine with process status (V << 1) | 1.
import type { PortDevice } from '../io-bus.js';

export class DebugExit implements PortDevice {
  readonly name = 'isa-debug-exit';
  constructor(private readonly onExit: (status: number) => void) {}
  read(): number {
    return 0xff;
  }
  write(_port: number, size: number, value: number): void {
    const v = size === 1 ? value & 0xff : size === 2 ? value & 0xffff : value >>> 0;
    this.onExit(((v << 1) | 1) >>> 0);
  }
}
