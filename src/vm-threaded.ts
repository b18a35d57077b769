// Composition root of the threaded scheduler: the same images and loaders as runImageVm
// (vm-boot.ts), the VM run with a worker per vCPU (threads/threaded-vm.ts) instead of the
// deterministic round robin. docs/scheduling.md says when to choose which.
import { runThreaded, type ThreadedOptions, type ThreadedRunResult } from './threads/threaded-vm.js';
import {
  createPcVm,
  isLinuxKernel,
  loadBootSector,
  loadLinuxKernel,
  loadMultibootKernel,
  type PcVm,
  type VmBootOptions,
} from './vm-boot.js';
import { ImageError } from './vmm/bare-metal.js';
import { DiskImage, SECTOR_BYTES } from './vmm/devices/disk-image.js';
import { isDiskImage } from './vmm/loaders/disk-image-kind.js';
import { hasMultibootMagic } from './vmm/loaders/multiboot.js';

export type { ThreadedRunResult } from './threads/threaded-vm.js';

/** What the threaded scheduler does not do yet; refused with a clear message. */
function refuseUnsupported(opts: VmBootOptions): void {
  const no = (what: string) => {
    throw new ImageError(`--threads does not support ${what} yet: run without --threads`);
  };
  if (opts.backend !== undefined || opts.prepare !== undefined) no('a caller-built backend (SEV-ES)');
  if (opts.debug !== undefined) no('a debugger (--gdb)');
  if (opts.trace || opts.timeline) no('tracing (--trace, --perfetto)');
}

/** Load `image` as runImageVm would (a Linux or Multiboot kernel, a disk, a boot sector). */
export function loadImageVm(image: Uint8Array, opts: VmBootOptions = {}): PcVm {
  let disks = opts.disks;
  let boot: Uint8Array | null = null;
  if (image.length === 0 && disks?.some((d) => d !== null))
    boot = disks.find((d) => d !== null)?.bytes ?? null;
  else if (!isLinuxKernel(image) && isDiskImage(image)) {
    disks = [new DiskImage(image, 'image'), ...(disks ?? [])];
    if (disks.length > 2)
      throw new ImageError('the primary ATA channel takes two disks: the image and one more');
    boot = image;
  }
  if (boot !== null) {
    const sector = boot.subarray(0, SECTOR_BYTES);
    if (sector[510] !== 0x55 || sector[511] !== 0xaa)
      throw new ImageError(
        'the boot disk has no boot signature (55 AA at offset 510), so a BIOS would not boot it',
      );
    const pc = createPcVm({ ...opts, disks });
    loadBootSector(pc, sector);
    return pc;
  }
  const pc = createPcVm(opts);
  if (isLinuxKernel(image)) loadLinuxKernel(pc, image, opts.append ?? opts.cmdline ?? '', opts.initrd);
  else if (hasMultibootMagic(image)) {
    const cmdline = opts.append === undefined ? (opts.cmdline ?? '') : `${opts.cmdline ?? ''} ${opts.append}`;
    loadMultibootKernel(pc, image, cmdline, opts.modules);
  } else loadBootSector(pc, image);
  return pc;
}

/** runImageVm with a worker thread per vCPU. */
export function runImageVmThreaded(
  image: Uint8Array,
  opts: VmBootOptions = {},
  threads: Omit<ThreadedOptions, 'maxInstructions' | 'onDebugcon' | 'onDebugByte' | 'onMmio'> = {},
): Promise<ThreadedRunResult> {
  try {
    refuseUnsupported(opts);
  } catch (e) {
    return Promise.reject(e);
  }
  const pc = loadImageVm(image, opts);
  pc.platform.legacy.serialInput = opts.serialInput ?? null;
  pc.platform.legacy.keyboardInput = opts.keyboardInput ?? null;
  return runThreaded(pc, opts.arch ?? 'svm', {
    ...threads,
    maxInstructions: opts.maxInstructions,
    onDebugcon: opts.onDebugcon,
    onDebugByte: opts.onDebugByte,
    onMmio: opts.onMmio,
  });
}
