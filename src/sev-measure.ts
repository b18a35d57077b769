// The guest owner's side of an SEV-ES launch: recompute, from the firmware image alone, the
// measurement the secure processor reports (src/svm/hw/sev/launch-measurement.ts). hvemu launches the
// image (LAUNCH_UPDATE_DATA), then one VMSA per vCPU in vCPU order (LAUNCH_UPDATE_VMSA): the BSP
// in the RESET state at F000:FFF0, every AP at the image's SEV-ES reset block, both as
// writeInitialVmsa builds them. So the owner needs the image, the vCPU count, TIK and MNONCE.
import { expectedMeasurement, SEV_POLICY_ES, SEV_POLICY_NODBG } from './host/launch-measurement.js';
import { type LongModeEntry, writeInitialVmsa, writeLongModeVmsa } from './svm/hw/vmsa-layout.js';
import type { SevEsResetVector } from './vmm/firmware/ovmf-table.js';

/** The policy hvemu launches SEV-ES guests with: ES, no debugging. */
export const HVEMU_SEV_ES_POLICY = SEV_POLICY_ES | SEV_POLICY_NODBG;
/** CPUID(1).EAX that the VMSA's RDX holds at RESET (hvemu's AMD family 19h signature). */
export const RESET_RDX = 0x00a00f11;

/** The initial VMSA page of vCPU `id` as the hypervisor writes it before LAUNCH_UPDATE_VMSA. */
export function initialVmsaPage(
  id: number,
  apReset: SevEsResetVector | null,
  bspEntry?: LongModeEntry,
): Uint8Array {
  const page = new Uint8Array(4096);
  if (id === 0 && bspEntry !== undefined) {
    writeLongModeVmsa(new DataView(page.buffer), 0, bspEntry, RESET_RDX);
    return page;
  }
  const cs =
    id === 0 || apReset === null
      ? { selector: 0xf000, base: 0xffff0000, ip: 0xfff0 }
      : { selector: apReset.csSelector, base: apReset.csBase, ip: apReset.ip };
  writeInitialVmsa(new DataView(page.buffer), 0, cs, RESET_RDX);
  return page;
}

export function recomputeLaunchMeasurement(
  image: Uint8Array,
  cpus: number,
  apReset: SevEsResetVector | null,
  tik: Uint8Array,
  mnonce: Uint8Array,
  policy = HVEMU_SEV_ES_POLICY,
): Buffer {
  const pages: Uint8Array[] = [image];
  for (let i = 0; i < cpus; i++) pages.push(initialVmsaPage(i, apReset));
  return expectedMeasurement(tik, policy, pages, mnonce);
}

/**
 * The owner's check of a kernel launched directly (src/sev-linux.ts): the launch image's chunks in
 * order (the owner rebuilds them from the kernel, initrd and command line it chose, with
 * buildSevLinuxImage), then the BSP's long-mode VMSA and each AP's at the AP stub.
 */
export function recomputeImageLaunchMeasurement(
  chunks: readonly Uint8Array[],
  cpus: number,
  bspEntry: LongModeEntry,
  apReset: SevEsResetVector,
  tik: Uint8Array,
  mnonce: Uint8Array,
  policy = HVEMU_SEV_ES_POLICY,
): Buffer {
  const pages: Uint8Array[] = [...chunks];
  for (let i = 0; i < cpus; i++) pages.push(initialVmsaPage(i, apReset, bspEntry));
  return expectedMeasurement(tik, policy, pages, mnonce);
}
