// Interrupt messages across threads (apic-bridge.ts), with two "threads" in one: each has the
// VM's APIC bus with a live APIC for its own vCPU and a stand-in for the other's. What the
// sender's bus offers the stand-in reaches the owner's live APIC through the mailbox.
import { describe, expect, it } from 'vitest';
import { IpiMailbox } from '../apic/ipi-mailbox.js';
import { EV_INIT, EV_NMI, EV_SIPI } from '../apic/local-apic.js';
import { APIC_DFR, APIC_LDR, APIC_SVR } from '../apic/registers.js';
import { makeBus, sendXapic } from '../apic/test-helpers.js';
import { Mail, standIn } from './apic-bridge.js';
import { RunPages } from './run-page.js';

function twoThreads() {
  const mailbox = new IpiMailbox(2);
  const pages = new RunPages(2);
  const a = makeBus([0, 1]); // thread A runs vCPU 0
  const b = makeBus([0, 1]); // thread B runs vCPU 1
  pages.publishApic(0, a.apics[0]);
  pages.publishApic(1, b.apics[1]);
  standIn(a.apics[1], 1, mailbox, pages.routing(1));
  standIn(b.apics[0], 0, mailbox, pages.routing(0));
  return {
    sender: a.apics[0],
    live: b.apics[1],
    mail: new Mail(mailbox, 1, b.apics[1]),
    kicks: b.kicks,
    publish: () => pages.publishApic(1, b.apics[1]),
  };
}

describe('IPIs through stand-in APICs and the mailbox', () => {
  it('INIT then SIPI reach the live APIC, with the vector, in that order', () => {
    const { sender, live, mail } = twoThreads();
    sendXapic(sender, 0x4500, 1); // INIT, level assert, physical destination 1
    sendXapic(sender, 0x4608, 1); // STARTUP, vector 08h
    expect(live.pendingEvents).toBe(0); // nothing until the owner looks
    expect(mail.take()).toBe(true);
    expect([live.takeEvents(), live.sipiVector]).toEqual([EV_INIT | EV_SIPI, 8]);
    expect(mail.take()).toBe(false); // nothing new: one sequence-word load
  });

  it('fixed vectors land in the IRR; an NMI as an event; the owner is kicked', () => {
    const { sender, live, mail, kicks } = twoThreads();
    sendXapic(sender, 0x40, 1);
    sendXapic(sender, 0x4400, 1); // NMI
    mail.take();
    expect(live.pendingVector()).toBe(0x40);
    expect(live.takeEvents()).toBe(EV_NMI);
    expect(kicks[1]).toBeGreaterThan(0);
  });

  it('the live APIC applies the SDM rules: a software-disabled APIC drops fixed interrupts', () => {
    const { sender, live, mail } = twoThreads();
    live.mmioWrite(APIC_SVR, 4, 0xff); // software disable
    sendXapic(sender, 0x41, 1);
    expect(mail.take()).toBe(true);
    expect(live.pendingVector()).toBe(-1);
  });

  it("logical destinations match the live APIC's published LDR, not the stand-in's reset state", () => {
    const { sender, live, mail, publish } = twoThreads();
    live.mmioWrite(APIC_DFR, 4, 0xffffffff); // flat model
    live.mmioWrite(APIC_LDR, 4, 0x04000000); // logical ID bit 2
    sendXapic(sender, 0x0840, 0x04); // fixed 40h, logical destination 04h: not published yet
    expect(mail.take()).toBe(false);
    publish(); // what the worker does after each KVM_RUN
    sendXapic(sender, 0x0840, 0x04);
    expect(mail.take()).toBe(true);
    expect(live.pendingVector()).toBe(0x40);
  });

  it('a post made between the look and the sleep is not lost', () => {
    const { sender, mail } = twoThreads();
    const seq = mail.seq();
    sendXapic(sender, 0x42, 1); // arrives after the vCPU read the sequence word
    expect(mail.park(seq, 60_000)).toBe('pending'); // the word moved: it does not sleep at all
  });
});
