// Interrupt messages across threads. Every thread of a threaded VM has the VM's APIC bus with a
// local APIC per vCPU, but only the worker that runs a vCPU holds its live APIC. The others are
// stand-ins: the bus still selects them by destination (physical APIC ID, shorthands), and what
// it offers them goes to the IPI mailbox (apic/ipi-mailbox.ts) instead of their registers. The
// owning worker takes its mail before each entry and hands it to its live APIC, which accepts it
// by the SDM's rules (a software-disabled APIC drops fixed interrupts there).
import type { IpiMailbox, ParkOutcome } from '../apic/ipi-mailbox.js';
import { EV_EXTINT, EV_INIT, EV_NMI, EV_SIPI, EV_SMI, type LocalApic } from '../apic/local-apic.js';
import { DM_EXTINT, DM_FIXED, DM_INIT, DM_LOWEST, DM_NMI, DM_SMI, DM_STARTUP } from '../apic/registers.js';
import type { ApicRouting } from './run-page.js';

/** The LocalApic getters the APIC bus routes by. */
const ROUTED = [
  'hwEnabled',
  'swEnabled',
  'x2apicMode',
  'physicalId',
  'logicalId',
  'destinationFormat',
  'ppr',
] as const satisfies readonly (keyof ApicRouting)[];

/**
 * Make `apic` (vCPU `id`'s stand-in on this thread) post what it is offered to the mailbox, and,
 * given the vCPU's published routing state, answer the bus's questions (enabled, x2APIC mode, IDs,
 * destination format, PPR) with it rather than with its own reset-state registers.
 */
export function standIn(apic: LocalApic, id: number, mailbox: IpiMailbox, routing?: ApicRouting): void {
  if (routing !== undefined)
    for (const name of ROUTED)
      Object.defineProperty(apic, name, { get: () => routing[name], configurable: true });
  apic.accept = (mode: number, vector: number, triggerLevel: boolean, assert: boolean): boolean => {
    switch (mode) {
      case DM_FIXED:
      case DM_LOWEST:
        mailbox.postFixed(id, vector & 0xff);
        return true;
      case DM_NMI:
        mailbox.postEvents(id, EV_NMI);
        return true;
      case DM_SMI:
        mailbox.postEvents(id, EV_SMI);
        return true;
      case DM_INIT:
        if (triggerLevel && !assert) return false; // INIT level de-assert: ignored (SDM 11.6.1)
        mailbox.postEvents(id, EV_INIT);
        return true;
      case DM_STARTUP:
        mailbox.postEvents(id, EV_SIPI, vector);
        return true;
      case DM_EXTINT:
        mailbox.postEvents(id, EV_EXTINT);
        return true;
      default:
        return false;
    }
  };
}

/** The owning worker's side: vCPU `id`'s mail into its live APIC. */
export class Mail {
  private readonly irr = new Uint32Array(8);
  private readonly sipi = new Uint8Array(1);
  private seen = -1;

  constructor(
    private readonly mailbox: IpiMailbox,
    private readonly id: number,
    private readonly apic: LocalApic,
  ) {}

  /** The mailbox's sequence word now: read it before take() when about to park. */
  seq(): number {
    return this.mailbox.seq(this.id);
  }

  /** Hand everything posted since the last look to the APIC. Returns whether anything came. */
  take(): boolean {
    const seq = this.mailbox.seq(this.id);
    if (seq === this.seen) return false; // one Atomics.load when nothing came
    this.seen = seq;
    const ev = this.mailbox.take(this.id, this.irr, this.sipi);
    const a = this.apic;
    // INIT before SIPI: the order a sender has to use for the SIPI to count.
    if (ev & EV_INIT) a.accept(DM_INIT, 0, false, true);
    if (ev & EV_SIPI) a.accept(DM_STARTUP, this.sipi[0], false, true);
    if (ev & EV_NMI) a.accept(DM_NMI, 0, false, true);
    if (ev & EV_SMI) a.accept(DM_SMI, 0, false, true);
    if (ev & EV_EXTINT) a.accept(DM_EXTINT, 0, false, true);
    let any = ev !== 0;
    for (let i = 0; i < 8; i++) {
      let bits = this.irr[i];
      if (bits === 0) continue;
      this.irr[i] = 0;
      any = true;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits &= ~(1 << b);
        a.accept(DM_FIXED, i * 32 + b, false, true);
      }
    }
    return any;
  }

  /** Sleep until a post after `seenSeq`, or `timeoutMs` ('pending': one came already, no sleep). */
  park(seenSeq: number, timeoutMs: number): ParkOutcome {
    return this.mailbox.park(this.id, seenSeq, timeoutMs);
  }
}
