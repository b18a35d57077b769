// The launch measurement of an SEV guest (AMD SEV API 55766, LAUNCH_MEASURE): what the guest owner
// recomputes from the image it handed over, to know the guest was launched as intended.
//   LD      = SHA-256 over every launched page, in launch order (LAUNCH_UPDATE_DATA's plaintext,
//             then each LAUNCH_UPDATE_VMSA's plaintext VMSA page)
//   MEASURE = HMAC-SHA-256(TIK; 0x04 || API_MAJOR || API_MINOR || BUILD || POLICY (u32 LE) || LD || MNONCE)
// TIK is the transport integrity key the owner shares with the secure processor (in SEV, through
// the LAUNCH_START session); MNONCE is the secure processor's fresh 16-byte nonce.
import { createHash, createHmac } from 'node:crypto';

/** The API version hvemu's secure processor reports (SEV API PLATFORM_STATUS). */
export const SEV_API_MAJOR = 0;
export const SEV_API_MINOR = 24;
export const SEV_BUILD = 0;

/** Policy bits (SEV API 3.2): NODBG, NOKS, ES, NOSEND, DOMAIN, SEV. */
export const SEV_POLICY_NODBG = 1 << 0;
export const SEV_POLICY_NOKS = 1 << 1;
export const SEV_POLICY_ES = 1 << 2;

/** MEASURE from a finished launch digest. */
export function measureFromDigest(
  tik: Uint8Array,
  policy: number,
  digest: Uint8Array,
  mnonce: Uint8Array,
): Buffer {
  const head = Buffer.alloc(8);
  head[0] = 0x04;
  head[1] = SEV_API_MAJOR;
  head[2] = SEV_API_MINOR;
  head[3] = SEV_BUILD;
  head.writeUInt32LE(policy >>> 0, 4);
  return createHmac('sha256', tik).update(head).update(digest).update(mnonce).digest();
}

/** The guest owner's side: the expected MEASURE from the pages the launch should have measured. */
export function expectedMeasurement(
  tik: Uint8Array,
  policy: number,
  launchedPages: readonly Uint8Array[],
  mnonce: Uint8Array,
): Buffer {
  const ld = createHash('sha256');
  for (const p of launchedPages) ld.update(p);
  return measureFromDigest(tik, policy, ld.digest(), mnonce);
}
