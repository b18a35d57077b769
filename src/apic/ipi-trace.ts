// The `--trace apic` lines: one per IPI, in the SDM's words for the ICR fields (11.6.1 figure 11-12;
// x2APIC 11.12.9), and one per error an ICR write logs in the ESR (11.5.3 figure 11-9). Formatting
// only: the bus decides what happened and calls these while a trace sink is attached.
import {
  DM_FIXED,
  DM_INIT,
  DM_LOWEST,
  DM_STARTUP,
  ICR_DEST_LOGICAL,
  ICR_LEVEL_ASSERT,
  ICR_SHORTHAND_SHIFT,
  ICR_TRIGGER_LEVEL,
  SH_NONE,
} from './registers.js';

/** A trace sink: receives one finished line (no newline). */
export type ApicTrace = (line: string) => void;

/** ICR delivery modes as figure 11-12 names them (111b is ExtINT as in the LVT and the APM). */
export const DELIVERY_MODE_NAMES = [
  'Fixed',
  'Lowest Priority',
  'SMI',
  'Reserved (011b)',
  'NMI',
  'INIT',
  'Start Up',
  'ExtINT',
];
const SHORTHAND = ['No Shorthand', 'Self', 'All Including Self', 'All Excluding Self'];
/** ESR bits 0-7 (figure 11-9). */
const ESR_BIT = [
  'Send Checksum Error',
  'Receive Checksum Error',
  'Send Accept Error',
  'Receive Accept Error',
  'Redirectable IPI',
  'Send Illegal Vector',
  'Receive Illegal Vector',
  'Illegal Register Address',
];

const hex = (n: number, digits = 1): string => `0x${(n >>> 0).toString(16).padStart(digits, '0')}`;

/** The delivery mode of an ICR low dword; INIT with level 0 and trigger level is the de-assert. */
export function deliveryModeName(icrLow: number): string {
  const mode = (icrLow >>> 8) & 7;
  if (mode === DM_INIT && icrLow & ICR_TRIGGER_LEVEL && !(icrLow & ICR_LEVEL_ASSERT))
    return 'INIT Level De-assert';
  return DELIVERY_MODE_NAMES[mode];
}

export function shorthandName(icrLow: number): string {
  return SHORTHAND[(icrLow >>> ICR_SHORTHAND_SHIFT) & 3];
}

/** Destination mode and field; an x2APIC logical destination also shows its cluster and members. */
function destination(icrLow: number, dest: number, x2apic: boolean): string {
  if (!(icrLow & ICR_DEST_LOGICAL)) return `Physical destination ${hex(dest, x2apic ? 1 : 2)}`;
  if (!x2apic) return `Logical destination ${hex(dest, 2)}`;
  return `Logical destination ${hex(dest, 8)} (cluster ${hex(dest >>> 16)}, members ${hex(dest & 0xffff, 4)})`;
}

const ids = (list: readonly number[]): string => list.map((id) => hex(id)).join(' ');

/**
 * One IPI as the sending APIC wrote it and what became of it: `accepted` and `refused` are the APIC
 * IDs (xAPIC or x2APIC, as each target compares them) that the destination selected and that took,
 * or did not take, the message (a software-disabled APIC refuses Fixed; vectors 0-15 are refused).
 */
export function formatIpi(
  sourceId: number,
  x2apic: boolean,
  icrLow: number,
  dest: number,
  accepted: readonly number[],
  refused: readonly number[],
): string {
  const mode = (icrLow >>> 8) & 7;
  const interrupt = mode === DM_FIXED || mode === DM_LOWEST;
  let line = `APIC ${hex(sourceId)}: IPI ${deliveryModeName(icrLow)}`;
  if (interrupt || mode === DM_STARTUP) line += ` vector ${hex(icrLow & 0xff, 2)}`;
  // The trigger mode matters only to interrupts (the TMR, EOI broadcast); NMI, SMI, INIT are edge.
  if (interrupt && icrLow & ICR_TRIGGER_LEVEL) line += ' level-triggered';
  const sh = (icrLow >>> ICR_SHORTHAND_SHIFT) & 3;
  line += sh === SH_NONE ? `, ${destination(icrLow, dest, x2apic)}` : `, ${SHORTHAND[sh]}`;
  line += accepted.length ? ` -> APIC ${ids(accepted)}` : ' -> no APIC accepted it';
  if (refused.length) line += `; refused by APIC ${ids(refused)}`;
  return line;
}

/** One error an ICR (or SELF IPI) write logged in the ESR; `sent` says whether the IPI still went. */
export function formatIcrError(sourceId: number, esrBits: number, icrLow: number, sent: boolean): string {
  const names: string[] = [];
  for (let b = 0; b < 8; b++) if (esrBits & (1 << b)) names.push(`${ESR_BIT[b]} (bit ${b})`);
  const what = `${deliveryModeName(icrLow)} IPI, vector ${hex(icrLow & 0xff, 2)}, ${shorthandName(icrLow)}`;
  return `APIC ${hex(sourceId)}: ESR ${names.join(', ')}: ${what}${sent ? '' : ': not sent'}`;
}
