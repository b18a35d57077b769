// Composition root for an SEV-ES guest: a firmware image (as OVMF: mapped to end at 4 GiB, entered at
// the reset vector) launched through the secure processor, then run on the SEV-ES SVM backend.
//   LAUNCH_START (policy ES) -> ACTIVATE -> LAUNCH_UPDATE_DATA (the image) -> one LAUNCH_UPDATE_VMSA
//   per vCPU (the BSP at F000:FFF0, APs at the image's SEV-ES reset block) -> LAUNCH_MEASURE ->
//   LAUNCH_FINISH; the owner-side check of the measurement is recomputeLaunchMeasurement.
import { randomBytes } from 'node:crypto';
import { HVEMU_SEV_ES_POLICY, recomputeLaunchMeasurement } from './sev-measure.js';
import { SevEsBackend } from './svm/sev-es/backend.js';
import type { SevEsLaunch } from './svm/sev-es/launch.js';
import { createPcVm, type PcVm, runPcVm, type VmBootOptions } from './vm-boot.js';
import type { BootSectorRunResult } from './vmm/bare-metal.js';
import { ImageError } from './vmm/bare-metal.js';
import { PflashCfi01 } from './vmm/devices/pflash-cfi01.js';
import { OvmfTableError, parseOvmfTable, sevEsResetBlock } from './vmm/firmware/ovmf-table.js';
import { FLASH_SIZE_LIMIT, type FlashImage, systemFlashLayout } from './vmm/firmware/system-flash.js';
import type { Vm } from './vmm/vm.js';

export interface SevEsRunOptions extends VmBootOptions {
  /**
   * pflash unit 1, the variable store: a CFI flash device right below the image, in the clear (QEMU
   * encrypts only unit 0). The guest reaches it as MMIO, through #VC and the GHCB.
   */
  vars?: FlashImage;
  /** Called with the launched VM before it runs (tests, benchmarks). */
  onVm?: (vm: Vm, launch: SevEsLaunch) => void;
}

export interface SevEsRunResult extends BootSectorRunResult {
  /** LAUNCH_MEASURE's answer and whether the owner's recomputation from the image matched it. */
  measurement: string;
  measurementVerified: boolean;
}

/** The largest firmware image hvemu maps below 4 GiB (QEMU's pc machine limit). */
const MAX_IMAGE = FLASH_SIZE_LIMIT;
const ASID = 1;

export interface SevEsImage {
  image: Uint8Array;
  apReset: ReturnType<typeof sevEsResetBlock>;
}

/** Check a firmware image and find its APs' first-boot entry. */
export function parseSevEsImage(image: Uint8Array, cpus: number): SevEsImage {
  if (image.length === 0) throw new ImageError('the image is empty');
  if (image.length % 4096 !== 0)
    throw new ImageError(`a firmware image is whole 4 KiB pages; this one is ${image.length} bytes`);
  if (image.length > MAX_IMAGE)
    throw new ImageError(`the image is ${image.length} bytes; at most ${MAX_IMAGE} are mapped below 4 GiB`);
  let apReset: SevEsImage['apReset'] = null;
  try {
    const table = parseOvmfTable(image);
    apReset = table === null ? null : sevEsResetBlock(table);
  } catch (e) {
    if (e instanceof OvmfTableError) throw new ImageError(`its OVMF GUIDed table is malformed: ${e.message}`);
    throw e;
  }
  if (apReset === null && cpus > 1)
    throw new ImageError(
      'it has no SEV-ES reset block (GUID 00f771de-1a7e-4fcb-890e-68c77e2fb44e in the OVMF table 48 bytes before its end), so APs have nowhere to start',
    );
  return { image, apReset };
}

export interface SevEsVm {
  pc: PcVm;
  vm: Vm;
  launch: SevEsLaunch;
  /** LAUNCH_MEASURE's answer (hex) and whether the owner's recomputation from the image matched it. */
  measurement: string;
  measurementVerified: boolean;
}

/**
 * Build and launch an SEV-ES VM on the PC platform from a firmware image: every vCPU measured,
 * the launch finished. No MP or ACPI tables are written into its (encrypted) RAM.
 */
export function createSevEsVm(image: Uint8Array, opts: SevEsRunOptions = {}): SevEsVm {
  const cpus = opts.cpus ?? 1;
  const fw = parseSevEsImage(image, cpus);
  const backend = new SevEsBackend();
  // The guest owner's transport integrity key (shared with the secure processor through the session).
  const tik = randomBytes(16);
  let launch: SevEsLaunch | null = null;
  const layout = systemFlashLayout({ name: 'the image', bytes: image }, opts.vars ?? null);
  const pc = createPcVm({
    ...opts,
    backend,
    firmwareTables: false,
    extraHostBytes: (opts.extraHostBytes ?? 0) + image.length,
    prepare: (vm) => {
      if (layout.vars !== null) {
        const v = layout.vars.image;
        vm.mmio.register(
          layout.vars.gpa,
          v.bytes.length,
          new PflashCfi01(`pflash1 (${v.name})`, v.bytes.slice(), false),
        );
      }
      const psp = vm.host.psp;
      const handle = psp.launchStart(HVEMU_SEV_ES_POLICY, tik);
      psp.activate(handle, ASID);
      launch = {
        psp,
        handle,
        asid: ASID,
        apReset: fw.apReset === null ? null : { base: fw.apReset.csBase, ip: fw.apReset.ip },
        apJumpTable: 0n,
      };
      backend.beginLaunch(launch);
      const romHpa = vm.allocHostPages(image.length / 4096);
      vm.memory.write(romHpa, image);
      backend.mapRegion(2 ** 32 - image.length, romHpa, image.length);
      psp.launchUpdateData(handle, romHpa, image.length);
      psp.launchZeroRam(handle, 0, vm.guestRamBytes);
    },
  });
  return finishSevEsLaunch(pc, launch as unknown as SevEsLaunch, (mnonce) =>
    recomputeLaunchMeasurement(image, cpus, fw.apReset, tik, mnonce),
  );
}

/**
 * LAUNCH_MEASURE and LAUNCH_FINISH, then the guest owner's check: `ownerRecomputes` is the
 * measurement the owner expects for the nonce the secure processor chose.
 */
export function finishSevEsLaunch(
  pc: PcVm,
  l: SevEsLaunch,
  ownerRecomputes: (mnonce: Buffer) => Buffer,
): SevEsVm {
  const m = l.psp.launchMeasure(l.handle);
  l.psp.launchFinish(l.handle);
  return {
    pc,
    vm: pc.vm,
    launch: l,
    measurement: m.measure.toString('hex'),
    measurementVerified: ownerRecomputes(m.mnonce).equals(m.measure),
  };
}

export function runSevEsVm(image: Uint8Array, opts: SevEsRunOptions = {}): SevEsRunResult {
  return runLaunchedSevEsVm(createSevEsVm(image, opts), opts);
}

/** Runs a launched SEV-ES VM (firmware or Linux) and adds the launch measurement to the result. */
export function runLaunchedSevEsVm(s: SevEsVm, opts: SevEsRunOptions): SevEsRunResult {
  opts.onVm?.(s.vm, s.launch);
  const r = runPcVm(s.pc, opts);
  return { ...r, measurement: s.measurement, measurementVerified: s.measurementVerified };
}
