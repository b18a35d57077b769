// The guest-state area's segment registers (SDM 24.4.1, Table 24-2) with their four field encodings
// each, resolved once: VM entry and VM exit walk this table instead of building field names per access.
import { CS, DS, ES, FS, GS, LDTR, SS, TR } from '../../cpu/regs.js';
import { VMCS_FIELD as F } from '../vmcs-fields.js';

export interface GuestSegmentFields {
  readonly name: 'ES' | 'CS' | 'SS' | 'DS' | 'FS' | 'GS' | 'LDTR' | 'TR';
  /** The processor's segment index (src/cpu/regs.ts). */
  readonly seg: number;
  readonly selector: number;
  readonly base: number;
  readonly limit: number;
  readonly ar: number;
}

const fields = (name: GuestSegmentFields['name'], seg: number): GuestSegmentFields => ({
  name,
  seg,
  selector: F[`GUEST_${name}_SELECTOR`],
  base: F[`GUEST_${name}_BASE`],
  limit: F[`GUEST_${name}_LIMIT`],
  ar: F[`GUEST_${name}_AR_BYTES`],
});

/** ES, CS, SS, DS, FS, GS, LDTR, TR: the order of the guest-state area. */
export const GUEST_SEGMENTS: readonly GuestSegmentFields[] = [
  fields('ES', ES),
  fields('CS', CS),
  fields('SS', SS),
  fields('DS', DS),
  fields('FS', FS),
  fields('GS', GS),
  fields('LDTR', LDTR),
  fields('TR', TR),
];
