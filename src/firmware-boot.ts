// Composition root for system firmware as an ordinary guest (OVMF, as QEMU's `-bios` or its pflash
// pair runs it): the code image mapped to end at 4 GiB and executed in place, the variable store
// as a CFI flash device right below it (vmm/firmware/system-flash.ts), and the PC platform with
// nothing prepared in RAM: the BSP starts at the reset vector (F000:FFF0, CS base FFFF0000h) and
// the firmware finds the rest through fw_cfg and the PCI host bridge, as on QEMU's pc machine.
import { SvmBackend } from './svm/backend.js';
import { createPcVm, type PcVm, runPcVm, type VmBootOptions } from './vm-boot.js';
import type { BootSectorRunResult } from './vmm/bare-metal.js';
import { PflashCfi01 } from './vmm/devices/pflash-cfi01.js';
import { type FlashImage, type SystemFlashLayout, systemFlashLayout } from './vmm/firmware/system-flash.js';
import { VmxBackend } from './vmx/backend.js';

export interface FirmwareImages {
  /** `-bios` image, or pflash unit 0 (OVMF_CODE). */
  code: FlashImage;
  /** pflash unit 1 (OVMF_VARS), or null for a single image. */
  vars: FlashImage | null;
  /** Told of each range of the variable store the guest programmed or erased (write-back to a file). */
  onVarsChange?: (bytes: Uint8Array, offset: number, length: number) => void;
}

export interface FirmwareVm extends PcVm {
  layout: SystemFlashLayout;
  /** The variable store's flash device (null for a single image). */
  varsFlash: PflashCfi01 | null;
}

/** Build the VM around the firmware; nothing runs yet. */
export function createFirmwareVm(fw: FirmwareImages, opts: VmBootOptions = {}): FirmwareVm {
  const layout = systemFlashLayout(fw.code, fw.vars);
  const backend = opts.backend ?? (opts.arch === 'vmx' ? new VmxBackend() : new SvmBackend());
  const code = layout.code.image.bytes;
  let varsFlash: PflashCfi01 | null = null;
  const pc = createPcVm({
    ...opts,
    backend,
    firmwareTables: false,
    extraHostBytes: (opts.extraHostBytes ?? 0) + code.length,
    prepare: (vm) => {
      // The code image: host pages of its own (a copy), mapped where the flash decodes it.
      const hpa = vm.allocHostPages(code.length / 4096);
      vm.memory.write(hpa, code);
      backend.mapRegion(layout.code.gpa, hpa, code.length);
      if (layout.vars !== null) {
        const bytes = layout.vars.image.bytes.slice();
        const onChange = fw.onVarsChange;
        varsFlash = new PflashCfi01(
          `pflash1 (${layout.vars.image.name})`,
          bytes,
          false,
          onChange ? (off, len) => onChange(bytes, off, len) : null,
        );
        vm.mmio.register(layout.vars.gpa, bytes.length, varsFlash);
      }
      opts.prepare?.(vm);
    },
  });
  // The same object: the platform's reset and power-off callbacks set its flags.
  return Object.assign(pc, { layout, varsFlash });
}

export function runFirmwareVm(fw: FirmwareImages, opts: VmBootOptions = {}): BootSectorRunResult {
  const f = createFirmwareVm(fw, opts);
  return runPcVm(f, opts);
}
