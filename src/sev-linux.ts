// Composition root for Linux as an SEV-ES guest, with no firmware: the kernel is entered through
// Linux's 64-bit boot protocol (vmm/loaders/linux/boot64.ts) and everything it finds at its first
// instruction is launched and measured by the secure processor, as a real SEV launch does:
//   LAUNCH_START (policy ES) -> ACTIVATE -> LAUNCH_UPDATE_DATA for the first MiB (BIOS data area,
//   GDT, zero page, identity map with the C-bit, command line, the AP stub, the ACPI tables), the
//   kernel's segments and the initrd -> guest RAM's other pages as encrypted zeros -> one
//   LAUNCH_UPDATE_VMSA per vCPU (the BSP in long mode at startup_64 with RSI = the zero page, each AP
//   in real mode at the AP stub) -> LAUNCH_MEASURE -> LAUNCH_FINISH.
// The hypervisor never writes any of it afterwards. The guest owner rebuilds the same image from
// the kernel, initrd and command line it chose and checks the measurement
// (recomputeImageLaunchMeasurement).
//
// APs: the hypervisor cannot set an AP's registers, so its first SIPI runs its launch VMSA, which
// starts it at a small measured real-mode stub (as OVMF's SEV-ES reset block does for firmware). The
// stub shares its page with the AP jump table, the page this VMM answers AP_JUMP_TABLE GET with: the
// kernel writes its trampoline's IP at offset 0 and CS at offset 2 (sev_es_setup_ap_jump_table), and
// the stub far-jumps through them. A CPU taken offline parks in AP Reset Hold and comes back through
// a later INIT-SIPI-SIPI, after its VMGEXIT (svm/sev-es/ap-boot.ts); the stub is not used again.
import { randomBytes } from 'node:crypto';
import { IOAPIC_DEFAULT_BASE } from './apic/io-apic.js';
import { SEV_CBIT } from './host/host-memory.js';
import {
  finishSevEsLaunch,
  runLaunchedSevEsVm,
  type SevEsRunOptions,
  type SevEsRunResult,
  type SevEsVm,
} from './sev-boot.js';
import { HVEMU_SEV_ES_POLICY, recomputeImageLaunchMeasurement } from './sev-measure.js';
import { SevEsBackend } from './svm/sev-es/backend.js';
import type { SevEsLaunch } from './svm/sev-es/launch.js';
import type { SevEsVcpu } from './svm/sev-es/vcpu.js';
import { createPcVm } from './vm-boot.js';
import { ImageError } from './vmm/bare-metal.js';
import { CMOS_CENTURY } from './vmm/devices/cmos-rtc.js';
import { writeAcpiTables } from './vmm/firmware/acpi.js';
import type { SevEsResetVector } from './vmm/firmware/ovmf-table.js';
import {
  Boot64Error,
  type Boot64Image,
  buildBoot64Image,
  E820_ACPI,
  E820_RAM,
  E820_RESERVED,
} from './vmm/loaders/linux/boot64.js';
import { PM_BASE_DEFAULT, SCI_IRQ } from './vmm/pci/i440fx.js';
import { IOAPIC_ID } from './vmm/platform.js';
import { ACPI_TABLES_ADDR, EBDA_ADDR, RSDP_ADDR } from './vmm/platform-firmware.js';
import { MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E, MTRR_TYPE_WB } from './vmm/vmm-msrs.js';

/** The AP jump table's page (reserved in the memory map), and the AP stub in it. */
export const SEV_LINUX_AP_JUMP_TABLE = 0x9f000;
const AP_STUB_IP = 0x10;
/** The stub (16-bit real mode, CS base = the jump table's page): `jmp far [cs:0000h]` (2E FF /5, disp16 0). */
const AP_STUB = Uint8Array.of(0x2e, 0xff, 0x2e, 0x00, 0x00);
/** The APs' first-boot entry, in the form of OVMF's SEV-ES reset block (CS selector F000, as QEMU loads it). */
export const SEV_LINUX_AP_RESET: SevEsResetVector = {
  address: SEV_LINUX_AP_JUMP_TABLE + AP_STUB_IP,
  ip: AP_STUB_IP,
  csBase: SEV_LINUX_AP_JUMP_TABLE,
  csSelector: 0xf000,
  csLimit: 0xffff,
};
const ASID = 1;
/** The chipset's PM block as firmware leaves it (the FADT points there; PcPlatform.firmwareSetup). */
const PM_BLOCK = { base: PM_BASE_DEFAULT, sciIrq: SCI_IRQ, centuryIndex: CMOS_CENTURY };

export interface SevLinuxInputs {
  kernel: Uint8Array;
  cmdline: string;
  initrd?: Uint8Array;
  cpus: number;
  memoryBytes: number;
}

/**
 * The launch image: what the VMM launches and what the guest owner rebuilds to check the measurement.
 * The memory map reserves the AP stub's page and gives the ACPI tables' area as ACPI memory, which the
 * kernel maps encrypted under SEV (the tables are launched private).
 */
export function buildSevLinuxImage(inp: SevLinuxInputs): Boot64Image {
  const mem = inp.memoryBytes;
  return buildBoot64Image(inp.kernel, {
    cmdline: inp.cmdline,
    initrd: inp.initrd,
    memoryBytes: mem,
    rsdpAddr: RSDP_ADDR,
    pteExtra: 1n << BigInt(SEV_CBIT),
    e820: [
      { base: 0, length: SEV_LINUX_AP_JUMP_TABLE, type: E820_RAM },
      { base: SEV_LINUX_AP_JUMP_TABLE, length: 0xa0000 - SEV_LINUX_AP_JUMP_TABLE, type: E820_RESERVED },
      { base: 0xf0000, length: 0x10000, type: E820_ACPI },
      { base: 0x100000, length: mem - 0x100000, type: E820_RAM },
    ],
    lowMemory: (low) => {
      const dv = new DataView(low.buffer, low.byteOffset, low.byteLength);
      // BDA 40:0E, the EBDA segment, and 40:13, base memory in KiB (the kernel reserves from there up).
      dv.setUint16(0x40e, EBDA_ADDR >> 4, true);
      dv.setUint16(0x413, SEV_LINUX_AP_JUMP_TABLE >> 10, true);
      low.set(AP_STUB, SEV_LINUX_AP_JUMP_TABLE + AP_STUB_IP);
      // No MP table: the kernel takes its CPUs and the I/O APIC from the MADT.
      writeAcpiTables(low, {
        cpus: inp.cpus,
        rsdpAddr: RSDP_ADDR,
        tablesAddr: ACPI_TABLES_ADDR,
        ioApicId: IOAPIC_ID,
        ioApicAddr: IOAPIC_DEFAULT_BASE,
        pm: PM_BLOCK,
      });
    },
  });
}

/** Build and launch an SEV-ES VM that starts `kernel` (a bzImage or vmlinux) directly. */
export function createSevLinuxVm(kernel: Uint8Array, opts: SevEsRunOptions = {}): SevEsVm {
  const cpus = opts.cpus ?? 1;
  const memoryBytes = opts.memoryBytes ?? 256 * 2 ** 20;
  let image: Boot64Image;
  try {
    image = buildSevLinuxImage({
      kernel,
      cmdline: opts.append ?? opts.cmdline ?? '',
      initrd: opts.initrd,
      cpus,
      memoryBytes,
    });
  } catch (e) {
    if (e instanceof Boot64Error) throw new ImageError(`not a bootable Linux kernel: ${e.message}`);
    throw e;
  }
  const backend = new SevEsBackend();
  const tik = randomBytes(16);
  let launch: SevEsLaunch | null = null;
  const pc = createPcVm({
    ...opts,
    memoryBytes,
    backend,
    firmwareTables: false,
    prepare: (vm) => {
      const psp = vm.host.psp;
      const handle = psp.launchStart(HVEMU_SEV_ES_POLICY, tik);
      psp.activate(handle, ASID);
      launch = {
        psp,
        handle,
        asid: ASID,
        apReset: { base: SEV_LINUX_AP_RESET.csBase, ip: SEV_LINUX_AP_RESET.ip },
        bspEntry: image.entry,
        apJumpTable: BigInt(SEV_LINUX_AP_JUMP_TABLE),
      };
      backend.beginLaunch(launch);
      // Guest RAM is at host-physical 0: each chunk goes to DRAM in the clear, then is measured and
      // encrypted in place; the pages between chunks become encrypted zeros.
      let next = 0;
      for (const c of image.chunks) {
        if (c.gpa > next) psp.launchZeroRam(handle, next, c.gpa - next);
        vm.memory.write(c.gpa, c.bytes);
        psp.launchUpdateData(handle, c.gpa, c.bytes.length);
        next = c.gpa + c.bytes.length;
      }
      if (next < vm.guestRamBytes) psp.launchZeroRam(handle, next, vm.guestRamBytes - next);
    },
  });
  // What firmware would have done: MTRRs on with write-back as the default type (Linux 6.1 turns PAT
  // off without them, and SEV needs PAT's write-protect type; Firecracker sets the same with
  // KVM_SET_MSRS for a direct boot), and the chipset's PM block where the FADT says it is.
  for (const v of pc.vm.vcpus)
    (v.backend as SevEsVcpu).msrs.write(MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WB);
  const pm = pc.platform.firmwareSetup();
  if (pm.base !== PM_BLOCK.base)
    throw new Error(`the PM block is at 0x${pm.base.toString(16)}, not where the FADT says`);
  return finishSevEsLaunch(pc, launch as unknown as SevEsLaunch, (mnonce) =>
    recomputeImageLaunchMeasurement(
      image.chunks.map((c) => c.bytes),
      cpus,
      image.entry,
      SEV_LINUX_AP_RESET,
      tik,
      mnonce,
    ),
  );
}

export function runSevLinuxVm(kernel: Uint8Array, opts: SevEsRunOptions = {}): SevEsRunResult {
  return runLaunchedSevEsVm(createSevLinuxVm(kernel, opts), opts);
}
