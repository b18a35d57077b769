// The APIC bus of one VM: routes IPIs (ICR writes) and I/O APIC messages to the local APICs that the
// destination selects (SDM 11.6.2), and fans level-triggered EOIs back out to the I/O APICs. Delivery
// is immediate, so a sender's delivery status is idle again as soon as its ICR write returns.
// Destinations are 8-bit in xAPIC mode and 32-bit in x2APIC mode (11.12.9), so one bus serves any
// number of APICs; every message is matched against each APIC, which is what hardware does too.
import { type ApicTrace, formatIcrError, formatIpi } from './ipi-trace.js';
import type { IpiRouter, LocalApic } from './local-apic.js';
import {
  DM_LOWEST,
  ICR_DEST_LOGICAL,
  ICR_LEVEL_ASSERT,
  ICR_SHORTHAND_SHIFT,
  ICR_TRIGGER_LEVEL,
  SH_ALL_EXCLUDING_SELF,
  SH_ALL_INCLUDING_SELF,
  SH_NONE,
  SH_SELF,
  X2APIC_BROADCAST,
  XAPIC_BROADCAST,
} from './registers.js';

/** What one traced message did: the APIC IDs that took it and those the destination chose that did not. */
interface DeliveryLog {
  accepted: number[];
  refused: number[];
}

export class ApicBus implements IpiRouter {
  /** The local APICs of the VM, by vCPU index. */
  readonly apics: LocalApic[] = [];
  /**
   * `--trace apic`: one line per IPI and per ESR error of an ICR write (ipi-trace.ts), or null. Only
   * a traced message allocates (its target lists).
   */
  trace: ApicTrace | null = null;
  private readonly eoiListeners: ((vector: number) => void)[] = [];

  /** Attach a local APIC (its vCPU index is the returned position) and take over its IPIs and EOIs. */
  add(apic: LocalApic): number {
    apic.router = this;
    apic.eoiBroadcast = (vector) => this.broadcastEoi(vector);
    this.apics.push(apic);
    return this.apics.length - 1;
  }

  /** Register an I/O APIC (or anything else) that wants the level-triggered EOI broadcast. */
  onEoi(listener: (vector: number) => void): void {
    this.eoiListeners.push(listener);
  }

  broadcastEoi(vector: number): void {
    for (const l of this.eoiListeners) l(vector);
  }

  sendIpi(from: LocalApic, icrLow: number, dest: number): void {
    const log: DeliveryLog | null = this.trace === null ? null : { accepted: [], refused: [] };
    this.deliver(
      from,
      (icrLow >>> ICR_SHORTHAND_SHIFT) & 3,
      (icrLow & ICR_DEST_LOGICAL) !== 0,
      dest,
      (icrLow >>> 8) & 7,
      icrLow & 0xff,
      (icrLow & ICR_TRIGGER_LEVEL) !== 0,
      (icrLow & ICR_LEVEL_ASSERT) !== 0,
      log,
    );
    if (log !== null && this.trace !== null)
      this.trace(formatIpi(from.physicalId, from.x2apicMode, icrLow, dest, log.accepted, log.refused));
  }

  icrError(from: LocalApic, esrBits: number, icrLow: number, sent: boolean): void {
    if (this.trace !== null) this.trace(formatIcrError(from.physicalId, esrBits, icrLow, sent));
  }

  /** An interrupt message with no sending APIC (I/O APIC, MSI). Returns how many APICs accepted it. */
  deliverIrq(logical: boolean, dest: number, mode: number, vector: number, triggerLevel: boolean): number {
    return this.deliver(null, SH_NONE, logical, dest, mode, vector, triggerLevel, true, null);
  }

  private deliver(
    from: LocalApic | null,
    shorthand: number,
    logical: boolean,
    dest: number,
    mode: number,
    vector: number,
    triggerLevel: boolean,
    assert: boolean,
    log: DeliveryLog | null,
  ): number {
    if (shorthand === SH_SELF) {
      // Only the sender can match: no need to look at the other APICs (SDM 11.6.1).
      if (from === null || !matches(from, from, shorthand, logical, dest)) return 0;
      return offer(from, mode, vector, triggerLevel, assert, log);
    }
    if (mode === DM_LOWEST) {
      // Lowest priority (SDM 11.6.2.4): one target, the lowest PPR among those that can take a fixed
      // interrupt; ties go to the lowest APIC ID so runs are reproducible.
      let best: LocalApic | null = null;
      for (const a of this.apics) {
        if (!a.swEnabled || !matches(a, from, shorthand, logical, dest)) continue;
        if (best === null || a.ppr < best.ppr || (a.ppr === best.ppr && a.physicalId < best.physicalId))
          best = a;
      }
      return best === null ? 0 : offer(best, mode, vector, triggerLevel, assert, log);
    }
    let accepted = 0;
    for (const a of this.apics) {
      if (matches(a, from, shorthand, logical, dest))
        accepted += offer(a, mode, vector, triggerLevel, assert, log);
    }
    return accepted;
  }
}

/** Hand a message to one selected APIC; 1 if it took it. */
function offer(
  a: LocalApic,
  mode: number,
  vector: number,
  triggerLevel: boolean,
  assert: boolean,
  log: DeliveryLog | null,
): number {
  const took = a.accept(mode, vector, triggerLevel, assert);
  if (log !== null) (took ? log.accepted : log.refused).push(a.physicalId);
  return took ? 1 : 0;
}

/** Does `target` belong to the destination (SDM 11.6.2.1-11.6.2.3, 11.12.9, 11.12.10)? */
export function matches(
  target: LocalApic,
  from: LocalApic | null,
  shorthand: number,
  logical: boolean,
  dest: number,
): boolean {
  if (!target.hwEnabled) return false; // a globally disabled APIC takes no messages
  switch (shorthand) {
    case SH_SELF:
      return target === from;
    case SH_ALL_INCLUDING_SELF:
      return true;
    case SH_ALL_EXCLUDING_SELF:
      return target !== from;
  }
  dest >>>= 0;
  const x2 = target.x2apicMode;
  // FFFFFFFFh is broadcast in x2APIC mode, FFh in xAPIC mode; an I/O APIC's FFh reaches x2APIC
  // targets too (it has only 8 destination bits; KVM's x2APIC broadcast quirk).
  if (dest === X2APIC_BROADCAST || (dest === XAPIC_BROADCAST && (!x2 || from === null))) return true;
  if (!logical) return dest === target.physicalId;
  const ldr = target.logicalId;
  if (x2) {
    // x2APIC logical = cluster: bits 31:16 select the cluster, bits 15:0 the members (11.12.10.2).
    return dest >>> 16 === ldr >>> 16 && (dest & ldr & 0xffff) !== 0;
  }
  if (dest > 0xff) return false;
  const id = ldr >>> 24;
  if (target.destinationFormat >>> 28 === 0xf) return (dest & id) !== 0; // flat model: bit mask
  // Cluster model: bits 7:4 select the cluster, bits 3:0 the members (11.6.2.2).
  return dest >>> 4 === id >>> 4 && (dest & id & 0xf) !== 0;
}
