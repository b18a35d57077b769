// What the VMM's launch of an SEV-ES guest gives each of its vCPUs (KVM's struct kvm_sev_info).
import type { SecureProcessor } from '../../host/secure-processor.js';
import type { LongModeEntry } from '../hw/vmsa-layout.js';

export interface SevEsLaunch {
  /** The secure processor's command interface; the guest's key never leaves it. */
  readonly psp: SecureProcessor;
  /** The guest context (LAUNCH_START's handle) and its ASID. */
  readonly handle: number;
  readonly asid: number;
  /** The APs' first-boot entry (the image's SEV-ES reset block): CS base and IP; CS selector F000. */
  readonly apReset: { readonly base: number; readonly ip: number } | null;
  /**
   * The BSP's first state when it starts in long mode (a kernel entered through Linux's 64-bit boot
   * protocol); absent: the RESET state at F000:FFF0, as firmware starts.
   */
  readonly bspEntry?: LongModeEntry;
  /** VM-wide: the AP jump table the guest published (AP_JUMP_TABLE SET), 0 until then. */
  apJumpTable: bigint;
}
