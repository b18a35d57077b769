// The two MSRs an SEV-ES guest has that the hypervisor does not intercept (APM vol 2 15.35.5,
// GHCB spec 2.3.1): SEV_STATUS (read-only: which of SEV, SEV-ES are active) and the GHCB MSR, whose
// value the hardware saves into the VMCB (offset 0A0h) at #VMEXIT and loads from it at VMRUN: that is
// the MSR protocol's mailbox and where the hypervisor finds the GHCB's address.
import { type Cpu, FAULT } from '../../cpu/cpu.js';
import type { MsrHandler } from '../../cpu/msr.js';

export const MSR_AMD64_SEV_ES_GHCB = 0xc001_0130;
export const MSR_AMD64_SEV = 0xc001_0131;
export const MSR_AMD64_SEV_ENABLED = 1n << 0n;
export const MSR_AMD64_SEV_ES_ENABLED = 1n << 1n;

export class SevEsMsrs implements MsrHandler {
  /** Set by VMRUN while an SEV-ES guest runs on this processor. */
  active = false;
  /** The GHCB MSR's halves: VMRUN and #VMEXIT move them to and from the VMCB without BigInt. */
  ghcbLo = 0;
  ghcbHi = 0;
  private readonly scratch = new BigUint64Array(1);
  private readonly scratch32 = new Uint32Array(this.scratch.buffer);

  constructor(private readonly cpu: Cpu) {}

  read(msr: number): bigint | null {
    if (!this.active) return null;
    if (msr === MSR_AMD64_SEV_ES_GHCB) {
      this.scratch32[0] = this.ghcbLo;
      this.scratch32[1] = this.ghcbHi;
      return this.scratch[0];
    }
    if (msr === MSR_AMD64_SEV) return MSR_AMD64_SEV_ENABLED | MSR_AMD64_SEV_ES_ENABLED;
    return null;
  }

  write(msr: number, value: bigint): boolean {
    if (!this.active) return false;
    if (msr === MSR_AMD64_SEV_ES_GHCB) {
      this.scratch[0] = value;
      this.ghcbLo = this.scratch32[0];
      this.ghcbHi = this.scratch32[1];
      return true;
    }
    if (msr === MSR_AMD64_SEV) {
      this.cpu.excVector = 13; // read-only: #GP(0)
      this.cpu.excError = 0;
      this.cpu.excHasError = true;
      throw FAULT;
    }
    return false;
  }
}
