// The AP-boot state KVM keeps for an SEV-ES vCPU (struct vcpu_sev_es_state: received_first_sipi,
// ap_reset_hold_type), and what a SIPI does with it: sev_vcpu_deliver_sipi_vector, as the Linux
// patch summarized in docs/sources.md ("The seed") describes. The hypervisor never writes the AP's
// registers:
//   - the first SIPI lets the vCPU run its launch VMSA (it starts where the secure processor measured it);
//   - a later SIPI completes an outstanding AP Reset Hold (sw_exit_info_2 = 1 in the GHCB that asked,
//     or the MSR-protocol response with a non-zero result), and the guest goes on past its VMGEXIT;
//   - the SIPI vector is always ignored: the guest decides where its AP goes (the AP jump table).

/** KVM's ap_reset_hold_type: which form of AP Reset Hold is outstanding. */
export const enum HoldType {
  NONE = 0,
  NAE_EVENT = 1,
  MSR_PROTO = 2,
}

/** What completing a hold needs from the hypervisor's GHCB handling. */
export interface HoldCompletion {
  /** Answer the GHCB page at `ghcbGpa` with sw_exit_info_2 = 1 (NAE event form). */
  releaseGhcb(ghcbGpa: number): void;
  /** Put the MSR protocol's AP Reset Hold response with a non-zero result in the GHCB MSR. */
  releaseMsr(): void;
}

export class SevEsApBoot {
  private receivedFirstSipi = false;
  /** The outstanding hold (reset at every guest entry, as KVM's sev_es_unmap_ghcb does) and its GHCB. */
  private holdType = HoldType.NONE;
  private holdGhcbGpa = 0;

  /** The guest asked for AP Reset Hold (VMGEXIT AP_HLT_LOOP, or the MSR protocol's request). */
  enterHold(type: HoldType.NAE_EVENT | HoldType.MSR_PROTO, ghcbGpa = 0): void {
    this.holdType = type;
    this.holdGhcbGpa = ghcbGpa;
  }

  /** A guest entry: a later SIPI completes no hold from before it. */
  guestEntered(): void {
    this.holdType = HoldType.NONE;
  }

  /** The hold a SIPI would complete now (for the trace and the tests). */
  get outstanding(): HoldType {
    return this.holdType;
  }

  /** sev_vcpu_deliver_sipi_vector. Returns what it did, in words for the trace. */
  deliverSipi(release: HoldCompletion): string {
    if (!this.receivedFirstSipi) {
      this.receivedFirstSipi = true;
      return 'first SIPI: runs its launch VMSA';
    }
    const type = this.holdType;
    this.holdType = HoldType.NONE;
    if (type === HoldType.MSR_PROTO) {
      release.releaseMsr();
      return 'AP Reset Hold (MSR protocol) completed: GHCB MSR = 0x1007';
    }
    if (type === HoldType.NAE_EVENT) {
      release.releaseGhcb(this.holdGhcbGpa);
      return `AP Reset Hold (GHCB at 0x${this.holdGhcbGpa.toString(16)}) completed: sw_exit_info_2 = 1`;
    }
    return 'no AP Reset Hold outstanding, nothing to complete';
  }
}
