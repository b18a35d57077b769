// x2APIC access rules (SDM 11.12.1.2 table 11-6, 11.12.1.3): which MSRs exist, which are read-only or
// write-only, and which bits are reserved. A violation is a #GP(0) that the caller (the MSR layer)
// raises; the APIC reports it by throwing ApicGpError, never by changing state.
import {
  APIC_EOI,
  APIC_ESR,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVT_CMCI,
  APIC_LVT_ERROR,
  APIC_LVT_LINT0,
  APIC_LVT_LINT1,
  APIC_LVT_PMC,
  APIC_LVT_THERMAL,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_SELF_IPI,
  APIC_SVR,
  APIC_TIMER_CCR,
  APIC_TIMER_DCR,
  APIC_TIMER_ICR,
  APIC_TMR,
  APIC_TPR,
  APIC_VERSION,
} from './registers.js';

/** An access the processor answers with #GP(0): an x2APIC rule, or an illegal IA32_APIC_BASE write. */
export class ApicGpError extends Error {
  constructor(
    readonly msr: number,
    readonly reason: string,
  ) {
    super(`#GP(0) on MSR ${msr.toString(16)}h: ${reason}`);
    this.name = 'ApicGpError';
  }
}

const NONE = 0,
  READ = 1,
  WRITE = 2,
  READ_WRITE = 3;

/** Per xAPIC offset / 16: the access x2APIC allows and the writable bits (reserved bits are RsvdZ). */
const ACCESS = new Uint8Array(256);
const WRITABLE = new Uint32Array(256);

function def(offset: number, access: number, writable = 0): void {
  ACCESS[offset >>> 4] = access;
  WRITABLE[offset >>> 4] = writable;
}

def(APIC_ID, READ);
def(APIC_VERSION, READ);
def(APIC_TPR, READ_WRITE, 0xff);
def(APIC_PPR, READ);
def(APIC_EOI, WRITE, 0); // WRMSR of a non-zero value causes #GP(0)
def(APIC_LDR, READ);
def(APIC_SVR, READ_WRITE, 0x3ff); // vector, APIC enable, focus check; bit 12 not advertised
for (let i = 0; i < 8; i++) {
  def(APIC_ISR + i * 16, READ);
  def(APIC_TMR + i * 16, READ);
  def(APIC_IRR + i * 16, READ);
}
def(APIC_ESR, READ_WRITE, 0); // WRMSR of a non-zero value causes #GP(0)
// LVT layouts, SDM figure 11-8. Delivery status (bit 12) and remote IRR (bit 14) are read-only, not
// reserved: they are accepted and ignored so a read-modify-write of an LVT never faults.
def(APIC_LVT_CMCI, READ_WRITE, 0x117ff);
def(APIC_LVT_TIMER, READ_WRITE, 0x710ff);
def(APIC_LVT_THERMAL, READ_WRITE, 0x117ff);
def(APIC_LVT_PMC, READ_WRITE, 0x117ff);
def(APIC_LVT_LINT0, READ_WRITE, 0x1f7ff);
def(APIC_LVT_LINT1, READ_WRITE, 0x1f7ff);
def(APIC_LVT_ERROR, READ_WRITE, 0x110ff);
def(APIC_TIMER_ICR, READ_WRITE, 0xffffffff);
def(APIC_TIMER_CCR, READ);
def(APIC_TIMER_DCR, READ_WRITE, 0xb);
def(APIC_SELF_IPI, WRITE, 0xff);
// Absent in x2APIC mode: APR (0x90), RRD (0xC0), DFR (0xE0), ICR high (0x310) and every reserved slot.
// The ICR itself (0x830) is 64 bits wide and checked by the APIC (see LocalApic.msrWrite).

/** Throw #GP unless `offset` may be read through RDMSR in x2APIC mode. */
export function checkX2apicRead(msr: number, offset: number): void {
  if ((ACCESS[offset >>> 4] & READ) === 0)
    throw new ApicGpError(
      msr,
      ACCESS[offset >>> 4] === NONE ? 'no such x2APIC register' : 'write-only register',
    );
}

/** Throw #GP unless writing `value` (the MSR's low dword, high dword `hi`) at `offset` is legal. */
export function checkX2apicWrite(msr: number, offset: number, lo: number, hi: number): void {
  const a = ACCESS[offset >>> 4];
  if ((a & WRITE) === 0)
    throw new ApicGpError(msr, a === NONE ? 'no such x2APIC register' : 'read-only register');
  if (hi !== 0) throw new ApicGpError(msr, 'bits 63:32 are reserved');
  if ((lo & ~WRITABLE[offset >>> 4]) !== 0) throw new ApicGpError(msr, 'reserved bits set');
}
