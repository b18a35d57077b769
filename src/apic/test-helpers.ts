// Shared fixtures for the src/apic tests: a clock the test moves by hand, and APICs on one bus.
import { ApicBus } from './apic-bus.js';
import { LocalApic } from './local-apic.js';
import { APIC_ICR_HIGH, APIC_ICR_LOW, APIC_SVR } from './registers.js';

export class FakeClock {
  t = 0;
  now(): number {
    return this.t;
  }
}

/** A bus with one xAPIC-mode, software-enabled local APIC per ID (APIC 0 is the BSP). */
export function makeBus(
  ids: number[],
  clock = new FakeClock(),
): { bus: ApicBus; apics: LocalApic[]; kicks: number[] } {
  const bus = new ApicBus();
  const kicks = ids.map(() => 0);
  const apics = ids.map((apicId, i) => {
    const a = new LocalApic({ apicId, clock, bsp: i === 0, kick: () => kicks[i]++ });
    bus.add(a);
    a.mmioWrite(APIC_SVR, 4, 0x1ff); // software enable, spurious vector FFh
    return a;
  });
  return { bus, apics, kicks };
}

/** Write the xAPIC ICR: high dword (destination in bits 31:24) first, the low dword sends. */
export function sendXapic(from: LocalApic, low: number, dest = 0): void {
  from.mmioWrite(APIC_ICR_HIGH, 4, dest << 24);
  from.mmioWrite(APIC_ICR_LOW, 4, low);
}
