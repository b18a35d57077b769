// The one way VMM-side devices reach guest-physical memory (fw_cfg DMA, loaders that run after the
// VM exists). Devices never hold a DataView of host memory: when the hypervisor's view of memory
// changes (SEV-ES private pages read as ciphertext), this is the one place to rewire.

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

/**
 * Guest RAM held at host-physical 0 of `ram` (a Vm's plaintext view). `written(gpa, len)` hears of
 * every store, so decoded code over those bytes can be dropped (a device's DMA is not seen by the
 * processors' write checks).
 */
export function ramGuestMemory(
  ram: Uint8Array,
  written: (gpa: number, len: number) => void = () => {},
): GuestMemory {
  const check = (gpa: number, len: number) => {
    if (!(gpa >= 0 && len >= 0 && gpa + len <= ram.length))
      throw new GuestMemoryError(
        `guest-physical 0x${gpa.toString(16)}+0x${len.toString(16)} is outside RAM (0x${ram.length.toString(16)} bytes)`,
      );
  };
  return {
    size: ram.length,
    read(gpa, len) {
      check(gpa, len);
      return ram.slice(gpa, gpa + len);
    },
    write(gpa, bytes) {
      check(gpa, bytes.length);
      ram.set(bytes, gpa);
      written(gpa, bytes.length);
    },
  };
}
