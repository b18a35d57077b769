// Seeded PRNG (xoshiro128**) so a vector batch can be regenerated from its printed seed.

/** Hashes a seed string to four non-zero 32-bit words (FNV-1a, then splitmix-style mixing). */
function seedWords(seed) {
  let h = 0x811c9dc5;
  for (const ch of String(seed)) h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
  const out = [];
  for (let i = 0; i < 4; i++) {
    h = (h + 0x9e3779b9) >>> 0;
    let z = h;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    out.push((z ^ (z >>> 16)) >>> 0 || 1);
  }
  return out;
}

export class Rng {
  constructor(seed) {
    this.s = seedWords(seed);
  }
  u32() {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }
  /** Uniform integer in [0, n). */
  int(n) {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
  bool(p = 0.5) {
    return this.u32() / 0x100000000 < p;
  }
  pick(arr) {
    return arr[this.int(arr.length)];
  }
  u64() {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

function rotl(x, k) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
