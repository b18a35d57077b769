// KVM's rules for KVM_SET_MP_STATE on x86 (arch/x86/kvm/x86.c, kvm_arch_vcpu_ioctl_set_mpstate),
// plus hvemu's trust rule: no write that implies a register reset on a protected vCPU.
import { GuestStateProtectedError, InvalidArgumentError } from './errors.js';
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
  /** SEV-ES: guest state is encrypted. */
  guestStateProtected: boolean;
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
  // Waiting for SIPI ends with the VMM writing CS:RIP: impossible for an encrypted VMSA.
  if (initLike && ctx.guestStateProtected) {
    throw new GuestStateProtectedError(
      `setting MP state ${MP_STATE_NAMES[requested]} (a SIPI would have to write CS:RIP)`,
    );
  }
  if (requested === KVM_MP_STATE_SIPI_RECEIVED) return { state: KVM_MP_STATE_INIT_RECEIVED, latchSipi: true };
  return { state: requested, latchSipi: false };
}
