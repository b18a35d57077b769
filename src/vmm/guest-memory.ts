// The one way VMM-side devices reach guest-physical memory (fw_cfg DMA): guest RAM through the
// hypervisor's host path (vm.memory, which gives ciphertext for an SEV-ES guest's private pages
// and drops decoded code over what it stores), bounded to RAM so a device's DMA cannot reach the
// control pages above it.
import type { HostMemory } from '../host/host-memory.js';

export class GuestMemoryError extends Error {
  override readonly name = 'GuestMemoryError';
}

export interface GuestMemory {
  /** Bytes of guest RAM in [0, size); DMA outside it fails. */
  readonly size: number;
  /** A copy of `len` bytes at `gpa`; throws GuestMemoryError outside RAM. */
  read(gpa: number, len: number): Uint8Array;
  /** Store `bytes` at `gpa`; throws GuestMemoryError outside RAM. */
  write(gpa: number, bytes: Uint8Array): void;
}

/** Guest RAM [0, ramBytes) at host-physical 0 of `host`. */
export function guestRamThrough(host: HostMemory, ramBytes: number): GuestMemory {
  const check = (gpa: number, len: number) => {
    if (!(gpa >= 0 && len >= 0 && gpa + len <= ramBytes))
      throw new GuestMemoryError(
        `guest-physical 0x${gpa.toString(16)}+0x${len.toString(16)} is outside RAM (0x${ramBytes.toString(16)} bytes)`,
      );
  };
  return {
    size: ramBytes,
    read(gpa, len) {
      check(gpa, len);
      return host.read(gpa, len);
    },
    write(gpa, bytes) {
      check(gpa, bytes.length);
      host.write(gpa, bytes);
    },
  };
}
