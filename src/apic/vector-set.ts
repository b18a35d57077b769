// 256-bit vector sets (IRR, ISR, TMR) as Uint32Array(8): word i holds vectors 32i..32i+31, the
// same layout as the eight 32-bit registers at 0x100/0x180/0x200 (SDM 11.8.4), so a register read is
// one array load and nothing here allocates.

export function newVectorSet(): Uint32Array {
  return new Uint32Array(8);
}

export function setVector(set: Uint32Array, v: number): void {
  set[v >>> 5] |= 1 << (v & 31);
}

export function clearVector(set: Uint32Array, v: number): void {
  set[v >>> 5] &= ~(1 << (v & 31));
}

export function hasVector(set: Uint32Array, v: number): boolean {
  return (set[v >>> 5] & (1 << (v & 31))) !== 0;
}

/** Highest vector in the set, or -1. */
export function highestVector(set: Uint32Array): number {
  for (let i = 7; i >= 0; i--) {
    const w = set[i];
    if (w !== 0) return (i << 5) + 31 - Math.clz32(w);
  }
  return -1;
}
