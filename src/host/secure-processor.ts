// The AMD secure processor (PSP) as the SEV firmware API presents it (AMD SEV API 55766): the only
// holder of guest keys. The hypervisor drives a guest's launch with commands on an opaque handle;
// it never sees a key, and after LAUNCH_FINISH nothing it can call returns guest plaintext.
import { createHash, type Hash, randomBytes } from 'node:crypto';
import type { KeySlots } from './host-memory.js';
import { measureFromDigest, SEV_POLICY_ES } from './launch-measurement.js';
import { KEY_BYTES, PAGE_SIZE } from './page-cipher.js';

/** A command refused by the firmware, with the SEV API status name (e.g. INVALID_GUEST_STATE). */
export class SevCommandError extends Error {
  constructor(
    readonly status: string,
    what: string,
  ) {
    super(`${what}: ${status}`);
  }
}

type GuestState = 'LUPDATE' | 'LSECRET' | 'RUNNING';

interface GuestContext {
  state: GuestState;
  policy: number;
  key: Buffer;
  tik: Buffer;
  digest: Hash;
  /** The finished launch digest (LAUNCH_MEASURE fixes it). */
  ld: Buffer | null;
  asid: number;
}

export interface LaunchMeasurement {
  /** HMAC-SHA-256 over the launch digest (launch-measurement.ts). */
  measure: Buffer;
  mnonce: Buffer;
}

export class SecureProcessor {
  private readonly guests = new Map<number, GuestContext>();
  private nextHandle = 1;

  constructor(private readonly memory: KeySlots) {}

  /**
   * LAUNCH_START: a new guest context with a fresh key. `tik` is the owner's transport integrity key
   * (from the launch session); the policy must have ES for an SEV-ES guest.
   */
  launchStart(policy: number, tik: Uint8Array): number {
    if (tik.length !== 16) throw new SevCommandError('INVALID_PARAM', 'LAUNCH_START: TIK must be 16 bytes');
    const handle = this.nextHandle++;
    this.guests.set(handle, {
      state: 'LUPDATE',
      policy,
      key: randomBytes(KEY_BYTES),
      tik: Buffer.from(tik),
      digest: createHash('sha256'),
      ld: null,
      asid: 0,
    });
    return handle;
  }

  /** ACTIVATE: bind the guest's key to an ASID in the memory controller. */
  activate(handle: number, asid: number): void {
    const g = this.guest(handle, 'ACTIVATE');
    if (asid <= 0) throw new SevCommandError('INVALID_ASID', `ACTIVATE: ASID ${asid}`);
    g.asid = asid;
    this.memory.installKey(asid, g.key);
  }

  /** LAUNCH_UPDATE_DATA: measure the plaintext pages at `hpa` and encrypt them in place. */
  launchUpdateData(handle: number, hpa: number, bytes: number): void {
    const g = this.launching(handle, 'LAUNCH_UPDATE_DATA');
    this.requireAligned(hpa, bytes, 'LAUNCH_UPDATE_DATA');
    g.digest.update(this.memory.readDram(hpa, bytes));
    this.memory.sealInPlace(g.asid, hpa, bytes);
  }

  /** LAUNCH_UPDATE_VMSA: measure a vCPU's initial VMSA page and encrypt it in place (SEV-ES). */
  launchUpdateVmsa(handle: number, vmsaHpa: number): void {
    const g = this.launching(handle, 'LAUNCH_UPDATE_VMSA');
    if (!(g.policy & SEV_POLICY_ES))
      throw new SevCommandError('POLICY_FAILURE', 'LAUNCH_UPDATE_VMSA: the guest policy lacks ES');
    this.requireAligned(vmsaHpa, PAGE_SIZE, 'LAUNCH_UPDATE_VMSA');
    g.digest.update(this.memory.readDram(vmsaHpa, PAGE_SIZE));
    this.memory.sealInPlace(g.asid, vmsaHpa, PAGE_SIZE);
  }

  /**
   * hvemu's addition, unmeasured: guest RAM starts as encrypted zero pages (on hardware fresh DRAM
   * read through the C-bit is garbage; guests must not rely on either).
   */
  launchZeroRam(handle: number, hpa: number, bytes: number): void {
    const g = this.launching(handle, 'LAUNCH_ZERO_RAM');
    this.requireAligned(hpa, bytes, 'LAUNCH_ZERO_RAM');
    this.memory.sealInPlace(g.asid, hpa, bytes);
  }

  /** LAUNCH_MEASURE: the measurement of everything launched so far; no more updates after it. */
  launchMeasure(handle: number): LaunchMeasurement {
    const g = this.launching(handle, 'LAUNCH_MEASURE');
    g.ld = g.digest.digest();
    g.state = 'LSECRET';
    const mnonce = randomBytes(16);
    return { measure: measureFromDigest(g.tik, g.policy, g.ld, mnonce), mnonce };
  }

  /** LAUNCH_FINISH: the guest may run. */
  launchFinish(handle: number): void {
    const g = this.guest(handle, 'LAUNCH_FINISH');
    if (g.state !== 'LSECRET')
      throw new SevCommandError('INVALID_GUEST_STATE', `LAUNCH_FINISH in state ${g.state} (measure first)`);
    g.state = 'RUNNING';
  }

  /** The state of a guest context (GUEST_STATUS). */
  guestStatus(handle: number): { state: GuestState; policy: number; asid: number } {
    const g = this.guest(handle, 'GUEST_STATUS');
    return { state: g.state, policy: g.policy, asid: g.asid };
  }

  /** Whether VMRUN may use `asid` with SEV-ES: the key is installed and the launch finished. */
  runnable(asid: number): boolean {
    for (const g of this.guests.values()) if (g.asid === asid) return g.state === 'RUNNING';
    return false;
  }

  private guest(handle: number, cmd: string): GuestContext {
    const g = this.guests.get(handle);
    if (g === undefined) throw new SevCommandError('INVALID_GUEST', `${cmd}: no guest with handle ${handle}`);
    return g;
  }

  private launching(handle: number, cmd: string): GuestContext {
    const g = this.guest(handle, cmd);
    if (g.state !== 'LUPDATE')
      throw new SevCommandError(
        'INVALID_GUEST_STATE',
        `${cmd} in state ${g.state} (launch updates are over)`,
      );
    if (g.asid === 0) throw new SevCommandError('INACTIVE', `${cmd} before ACTIVATE`);
    return g;
  }

  private requireAligned(hpa: number, bytes: number, cmd: string): void {
    if (hpa % PAGE_SIZE !== 0 || bytes <= 0 || bytes % PAGE_SIZE !== 0)
      throw new SevCommandError(
        'INVALID_ADDRESS',
        `${cmd}: 0x${hpa.toString(16)}+0x${bytes.toString(16)} is not whole pages`,
      );
  }
}
