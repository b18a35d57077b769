// What each party of the machine gets of DRAM. The memory controller (memory-controller.ts) is the
// one path to DRAM; every party reaches it through one of these interfaces, never through a typed
// array or DataView of its own:
//   - the hypervisor (and the devices it emulates): HostMemory, accesses without an SEV key;
//   - a processor: MemoryEncryption (src/cpu/ports.ts) for the key of the guest it runs, plus the
//     hardware-only ProcessorMemoryPort below;
//   - the secure processor: KeySlots.

/** The C-bit position the machine reports (CPUID 8000001Fh EBX[5:0]), as on EPYC parts. */
export const SEV_CBIT = 47;

/**
 * The DataView methods that control-block code (VMCB, VMCS, VMSA, nested tables) uses. A DataView
 * satisfies it on the hardware side; HostMemory satisfies it on the hypervisor's side.
 */
export interface ControlBlockMemory {
  readonly byteLength: number;
  getUint8(at: number): number;
  getUint16(at: number, littleEndian: true): number;
  getUint32(at: number, littleEndian: true): number;
  getBigUint64(at: number, littleEndian: true): bigint;
  setUint8(at: number, value: number): void;
  setUint16(at: number, value: number, littleEndian: true): void;
  setUint32(at: number, value: number, littleEndian: true): void;
  setBigUint64(at: number, value: bigint, littleEndian: true): void;
}

/**
 * The hypervisor's view of host memory: what a host access (no SEV key, C-bit clear) gets from the
 * memory controller. Its own control pages read in the clear; a page an SEV guest holds private (its
 * RAM, its VMSA) reads as ciphertext, and a write to it lands on the ciphertext, so the guest later
 * decrypts those 16-byte blocks to garbage. Reads return copies.
 */
export interface HostMemory extends ControlBlockMemory {
  read(hpa: number, length: number): Uint8Array;
  /** `read` into a buffer the caller reuses (a hot path that must not allocate a page per call). */
  readInto(hpa: number, out: Uint8Array): Uint8Array;
  write(hpa: number, data: Uint8Array): void;
  fill(hpa: number, length: number, value: number): void;
}

/** The secure processor's port into the memory controller (SEV API ACTIVATE, LAUNCH_UPDATE_*). */
export interface KeySlots {
  /** ACTIVATE: program ASID `asid`'s key slot. */
  installKey(asid: number, key: Buffer): void;
  /** Encrypt in place: what DRAM holds in these pages becomes ASID `asid`'s private plaintext. */
  sealInPlace(asid: number, hpa: number, bytes: number): void;
  /** What DRAM holds (to measure a launch update before it is sealed). */
  readDram(hpa: number, length: number): Uint8Array;
}

/** Zeroed bytes, filled through `fill` where the party has no bulk path (control blocks). */
export function fillControlBlock(mem: ControlBlockMemory, at: number, length: number): void {
  for (let i = 0; i < length; i += 4) mem.setUint32(at + i, 0, true);
}
