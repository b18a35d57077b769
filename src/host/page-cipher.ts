// The memory controller's cipher (AMD APM vol 2 15.34.1, "AES-128 with an additional physical
// address-based tweak"): modelled as AES-128-XTS over one 4 KiB page with the page's host-physical
// address as the tweak, so equal plaintext at two addresses gives unrelated ciphertext, and each
// 16-byte block is independent (a write changes only the blocks it touches).
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const PAGE_SIZE = 4096;
/** XTS takes two AES-128 keys: data key and tweak key. */
export const KEY_BYTES = 32;

const tweak = Buffer.alloc(16);

/** Encrypt (or decrypt) the page at host-physical `hpa`; returns new bytes. */
export function cryptPage(key: Buffer, hpa: number, data: Uint8Array, encrypt: boolean): Buffer {
  tweak.fill(0);
  tweak.writeUIntLE(hpa, 0, 6);
  const c = encrypt ? createCipheriv('aes-128-xts', key, tweak) : createDecipheriv('aes-128-xts', key, tweak);
  const out = c.update(data);
  c.final();
  return out;
}
