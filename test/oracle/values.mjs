// Operand values: edge values per width and a random mix biased towards interesting bit patterns.

export const mask = (w) => (1n << BigInt(w)) - 1n;
export const sx = (v, w) => BigInt.asIntN(w, v);

const EDGE_RAW = [
  0n,
  1n,
  2n,
  3n,
  0x7fn,
  0x80n,
  0x81n,
  0xffn,
  0x100n,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x10000n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xfffffffffffffffen,
  0xffffffffffffffffn,
  0x5555555555555555n,
  0xaaaaaaaaaaaaaaaan,
  0x0f0f0f0f0f0f0f0fn,
];

const edgeCache = new Map();
/** Edge values of width w: the fixed list truncated to w bits plus the sign boundary of w. */
export function edges(w) {
  if (!edgeCache.has(w)) {
    const m = mask(w);
    const sign = 1n << BigInt(w - 1);
    const all = [...EDGE_RAW, sign - 1n, sign, sign + 1n, m, m - 1n].map((v) => v & m);
    edgeCache.set(w, [...new Set(all)]);
  }
  return edgeCache.get(w);
}

/** A random w-bit value: uniform, small (+/-), near the sign boundary, or sparse/dense bits. */
export function randomValue(rng, w) {
  const m = mask(w);
  const k = rng.int(10);
  if (k < 4) return rng.u64() & m;
  if (k < 6) {
    const small = BigInt(rng.int(33));
    return (rng.bool() ? small : -small) & m;
  }
  if (k < 8) {
    const sign = 1n << BigInt(w - 1);
    return (sign + BigInt(rng.int(17) - 8)) & m;
  }
  const sparse = rng.u64() & rng.u64() & rng.u64();
  return (rng.bool() ? sparse : ~sparse) & m;
}

export const COUNT_EDGES = (w) => [
  ...new Set([0, 1, 2, w - 1, w, w + 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128, 255]),
];
