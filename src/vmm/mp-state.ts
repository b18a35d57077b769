// KVM's rules for KVM_SET_MP_STATE on x86 (arch/x86/kvm/x86.c, kvm_arch_vcpu_ioctl_set_mpstate).
// They are the same for a protected (SEV-ES) vCPU: no MP state writes its registers. INIT does not
// reset an encrypted VMSA, and a SIPI reaches it through sev_vcpu_deliver_sipi_vector, which runs
// the launch VMSA or completes an AP Reset Hold, never sets CS:RIP.
import { InvalidArgumentError } from './errors.js';
import {
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_UNINITIALIZED,
  MP_STATE_NAMES,
} from './kvm-abi.js';

export interface MpStateContext {
  /** The local APIC is emulated by the VMM (KVM: lapic_in_kernel). */
  lapicInKernel: boolean;
  /** INIT/SIPI are not blocked (KVM: kvm_apic_init_sipi_allowed) and no SMI is pending. */
  initSipiAllowed: boolean;
}

/**
 * The state to store for a KVM_SET_MP_STATE request, and whether a SIPI must be latched
 * (SIPI_RECEIVED is stored as INIT_RECEIVED with a pending SIPI, as KVM does).
 */
export function checkSetMpState(
  ctx: MpStateContext,
  requested: number,
): { state: number; latchSipi: boolean } {
  switch (requested) {
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_HALTED:
    case KVM_MP_STATE_AP_RESET_HOLD:
    case KVM_MP_STATE_INIT_RECEIVED:
    case KVM_MP_STATE_SIPI_RECEIVED:
      if (!ctx.lapicInKernel) {
        throw new InvalidArgumentError(`MP state ${MP_STATE_NAMES[requested]} needs the VMM's local APIC`);
      }
      break;
    case KVM_MP_STATE_RUNNABLE:
      break;
    default:
      throw new InvalidArgumentError(
        `MP state ${MP_STATE_NAMES[requested] ?? requested} is not an x86 MP state`,
      );
  }
  const initLike = requested === KVM_MP_STATE_INIT_RECEIVED || requested === KVM_MP_STATE_SIPI_RECEIVED;
  if (initLike && !ctx.initSipiAllowed) {
    throw new InvalidArgumentError(`MP state ${MP_STATE_NAMES[requested]} while INIT/SIPI are blocked`);
  }
  if (requested === KVM_MP_STATE_SIPI_RECEIVED) return { state: KVM_MP_STATE_INIT_RECEIVED, latchSipi: true };
  return { state: requested, latchSipi: false };
}
