// The PC around a VM's vCPUs, as KVM's in-kernel irqchip and QEMU's pc machine put it together:
// the 8259 pair (20h/21h, A0h/A1h, ELCR 4D0h/4D1h), the 8254 PIT (40h-43h) with port 61h,
// the MC146818 RTC and CMOS (70h/71h), port 92h (A20), a 16550 UART as COM1 (3F8h-3FFh, the
// console), the I/O APIC at 0xFEC00000, and the devices a disk-booted guest expects
// (pc-legacy.ts: the 8042 keyboard controller, VGA text mode, the primary ATA channel); QEMU's
// machine interface for -kernel guests: fw_cfg (510h/511h, DMA at 514h) and pc-testdev (E0h-EBh,
// 2000h-2017h, 0xFF000000); the PCI configuration mechanism (CF8h/CFCh) with the
// i440FX/PIIX3/PIIX4 functions, the PIIX4's ACPI PM block (with its PM timer) and the PIIX3 reset
// control register CF9h. Ports 0xE9, 0x402 (debug consoles) and 0xF4 (isa-debug-exit) stay
// unclaimed: they reach userspace as KVM_EXIT_IO, as they do under KVM. docs/platform.md
// describes the QEMU-facing machine.
//
// ISA interrupt lines go to both interrupt controllers, as on a PC with an I/O APIC: IRQ n to the
// 8259 pair's input n and to I/O APIC pin n, except IRQ 0 (the PIT), which is wired to pin 2 (the
// MP table's and the MADT's IRQ 0 -> GSI 2 override; QEMU routes it the same way). The 8259 pair's
// INT output drives the BSP's LINT0, which firmware programs as ExtINT (virtual wire mode).
import { IOAPIC_DEFAULT_BASE, IoApic } from '../apic/io-apic.js';
import { Pic8259Pair } from '../apic/pic8259.js';
import { APIC_LVT_LINT0 } from '../apic/registers.js';
import { A20_PORT92, A20Gate } from './devices/a20-gate.js';
import { AcpiPm } from './devices/acpi-pm.js';
import { CMOS_CENTURY, CmosRtc, RTC_DEFAULT_EPOCH_MS } from './devices/cmos-rtc.js';
import type { DiskImage } from './devices/disk-image.js';
import { FW_CFG_PORT_DMA, FW_CFG_PORT_SEL, FwCfg } from './devices/fw-cfg.js';
import {
  PC_TESTDEV_IOMEM,
  PC_TESTDEV_IOMEM_LEN,
  PC_TESTDEV_IOPORT,
  PC_TESTDEV_IRQ,
  PC_TESTDEV_IRQ_LINES,
  PcTestdev,
} from './devices/pc-testdev.js';
import { Pit8254 } from './devices/pit8254.js';
import { Port61 } from './devices/port61.js';
import { Port92 } from './devices/port92.js';
import { Uart16550 } from './devices/uart16550.js';
import type { AcpiPmBlock } from './firmware/acpi-fadt.js';
import {
  type AcpiFwCfgBlobs,
  acpiFwCfgBlobs,
  LOADER_FILE,
  RSDP_FILE,
  TABLES_FILE,
} from './firmware/acpi-fw-cfg.js';
import { addPcFwCfgItems } from './firmware/fw-cfg-pc.js';
import { PcLegacyDevices } from './pc-legacy.js';
import { I440fxChipset, SCI_IRQ } from './pci/i440fx.js';
import { PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, PciHost } from './pci/pci-host.js';
import type { Vm } from './vm.js';
import { VmClock } from './vm-clock.js';

export const COM1_BASE = 0x3f8;
export const COM1_IRQ = 4;
export const RTC_IRQ = 8;
/** The I/O APIC's MMIO window (the 82093AA decodes 0xFEC0xy00; QEMU maps 4 KiB). */
export const IOAPIC_WINDOW = 0x1000;
/** The I/O APIC's ID, as the MP table and the MADT give it (QEMU's is 0 too). */
export const IOAPIC_ID = 0;

export interface PcPlatformOptions {
  /** Bytes the guest sends on COM1: the console. */
  console: (byte: number) => void;
  /** Port 92h bit 0 or CF9h bit 2: the guest asks for a system reset. */
  onReset?: () => void;
  /** ACPI soft-off (PM1a_CNT SLP_EN with SLP_TYP 0). */
  onPowerOff?: () => void;
  /** The RTC's wall-clock time at virtual time 0, ms since the epoch (default: now). */
  rtcEpochMs?: number;
  /** Hard disks on the primary ATA channel: master, then slave (none: no controller). */
  disks?: (DiskImage | null)[];
}

export class PcPlatform {
  readonly clock = new VmClock();
  readonly pic: Pic8259Pair;
  readonly ioApic: IoApic;
  readonly pit: Pit8254;
  readonly rtc: CmosRtc;
  readonly com1: Uart16550;
  readonly fwCfg: FwCfg;
  readonly pci = new PciHost();
  readonly chipset: I440fxChipset;
  readonly acpiPm: AcpiPm;
  readonly testdev: PcTestdev;
  /** The A20 line, driven by port 92h and the 8042's output port. */
  readonly a20: A20Gate;
  readonly legacy: PcLegacyDevices;

  constructor(
    private readonly vm: Vm,
    opts: PcPlatformOptions,
  ) {
    const now = () => this.clock.now();
    const ports = vm.ports;

    this.pic = new Pic8259Pair((level) => {
      // LINT0 is edge-sensitive unless its LVT says level; a rising INT is the interrupt.
      if (level) vm.vcpus[0]?.apic.localInterrupt(APIC_LVT_LINT0);
    });
    // The BSP's LINT0 in ExtINT mode takes its vector from the 8259 pair's INTA cycle.
    if (vm.vcpus[0] !== undefined) vm.vcpus[0].apic.extIntSource = this.pic;
    ports.register(0x20, 2, this.pic);
    ports.register(0xa0, 2, this.pic);
    ports.register(0x4d0, 2, this.pic);

    this.ioApic = new IoApic(vm.apicBus, IOAPIC_ID);
    vm.mmio.register(IOAPIC_DEFAULT_BASE, IOAPIC_WINDOW, this.ioApic);
    vm.apicBus.onEoi((vector) => this.ioApic.eoi(vector));
    if (vm.traceOn.irq) {
      this.pic.trace = (line) => vm.trace('irq', line);
      this.ioApic.trace = (line) => vm.trace('irq', line);
    }

    // The PIT reports rising edges of OUT0; the edge-triggered inputs latch one per pulse.
    this.pit = new Pit8254({
      now,
      irq0: () => {
        this.setIsaIrq(0, true);
        this.setIsaIrq(0, false);
      },
    });
    ports.register(0x40, 4, this.pit);
    ports.register(0x61, 1, new Port61(this.pit));

    this.rtc = new CmosRtc({
      now,
      epochMs: opts.rtcEpochMs ?? RTC_DEFAULT_EPOCH_MS,
      ramBelow4G: vm.guestRamBytes,
      cpus: Math.max(vm.vcpus.length, 1),
      irq: (level) => this.setIsaIrq(RTC_IRQ, level),
    });
    ports.register(0x70, 2, this.rtc);

    this.a20 = new A20Gate((on) => vm.setA20(on));
    ports.register(
      0x92,
      1,
      new Port92(
        (on) => this.a20.set(A20_PORT92, on),
        () => opts.onReset?.(),
      ),
    );

    this.com1 = new Uart16550({
      name: 'com1',
      sink: opts.console,
      irq: (level) => this.setIsaIrq(COM1_IRQ, level),
      onRxRoom: () => this.legacy.feedSerial(),
    });
    ports.register(COM1_BASE, 8, this.com1);

    this.legacy = new PcLegacyDevices(vm, {
      setIrq: (irq, level) => this.setIsaIrq(irq, level),
      a20: this.a20,
      reset: () => opts.onReset?.(),
      disks: opts.disks ?? [],
      com1: this.com1,
    });

    this.fwCfg = new FwCfg(vm.guestMemory);
    ports.register(FW_CFG_PORT_SEL, 2, this.fwCfg.ioPorts);
    ports.register(FW_CFG_PORT_DMA, 8, this.fwCfg.dmaPorts);
    const leaf = new Int32Array(4);
    if (vm.vcpus.length > 0) vm.cpuid(0x80000008, 0, leaf);
    addPcFwCfgItems(this.fwCfg, {
      cpus: Math.max(vm.vcpus.length, 1),
      ramBytes: vm.guestRamBytes,
      amdHtHole: vm.host.vendor === 'AuthenticAMD' && (leaf[0] & 0xff) >= 40,
    });

    this.acpiPm = new AcpiPm({
      now,
      sci: (level) => this.setIsaIrq(SCI_IRQ, level),
      powerOff: () => opts.onPowerOff?.(),
    });
    this.chipset = new I440fxChipset(this.pci, ports, this.acpiPm);
    this.addAcpiFiles(Math.max(vm.vcpus.length, 1));
    ports.register(PCI_CONFIG_ADDRESS, 4, this.pci.addressPort);
    ports.register(PCI_CONFIG_DATA, 4, this.pci.dataPort);
    // PIIX3 reset control (CF9h): RST_CPU (bit 2) resets; SYS_RST (bit 1) is kept for reading back.
    let rcr = 0;
    this.pci.otherCf8 = {
      name: 'piix3-rcr',
      read: (port, size) => (port === 0xcf9 && size === 1 ? rcr : size === 1 ? 0xff : 0xffff),
      write: (port, size, value) => {
        if (port !== 0xcf9 || size !== 1) return;
        if (value & 4) opts.onReset?.();
        else rcr = value & 2;
      },
    };

    this.testdev = new PcTestdev({
      setIrq: (gsi, level) => this.setGsi(gsi, level),
      // hvemu's nested tables map RAM for the VM's life; there is no host mapping to drop.
      flushPage: () => {},
    });
    // E0h-EBh, except E9h: the debug console keeps it (a byte there is output, as under Bochs and
    // QEMU's isa-debugcon); wider accesses at E8h still reach the test register's lanes.
    ports.register(PC_TESTDEV_IOPORT, 9, this.testdev.ports);
    ports.register(PC_TESTDEV_IOPORT + 10, 2, this.testdev.ports);
    ports.register(PC_TESTDEV_IRQ, PC_TESTDEV_IRQ_LINES, this.testdev.irqPorts);
    vm.mmio.register(PC_TESTDEV_IOMEM, PC_TESTDEV_IOMEM_LEN, this.testdev.memory);
  }

  /**
   * Firmware's part, done for guests that boot without firmware (hvemu has no BIOS): the PM block
   * enabled where SeaBIOS puts it. Returns what the FADT must say about it.
   */
  firmwareSetup(): AcpiPmBlock {
    this.chipset.firmwareSetup();
    return { base: this.chipset.pmBase(), sciIrq: SCI_IRQ, centuryIndex: CMOS_CENTURY };
  }

  /**
   * etc/acpi/rsdp, etc/acpi/tables and etc/table-loader, as QEMU gives firmware its ACPI tables.
   * Like QEMU, they are built when firmware reads them, so the FADT names the PM block where the
   * firmware has put it by then (SeaBIOS 600h, OVMF B000h).
   */
  private addAcpiFiles(cpus: number): void {
    let built: { base: number; blobs: AcpiFwCfgBlobs } | null = null;
    const blobs = () => {
      const base = this.chipset.pmBase();
      if (built === null || built.base !== base)
        built = {
          base,
          blobs: acpiFwCfgBlobs({
            cpus,
            ioApicId: IOAPIC_ID,
            ioApicAddr: IOAPIC_DEFAULT_BASE,
            pm: { base, sciIrq: SCI_IRQ, centuryIndex: CMOS_CENTURY },
          }),
        };
      return built.blobs;
    };
    const first = blobs();
    this.fwCfg.addFile(RSDP_FILE, first.rsdp, false, () => blobs().rsdp);
    this.fwCfg.addFile(TABLES_FILE, first.tables, false, () => blobs().tables);
    this.fwCfg.addFile(LOADER_FILE, first.loader, false, () => blobs().loader);
  }

  /** Drive interrupt line `gsi`: ISA lines 0-15 as setIsaIrq, 16-23 to the I/O APIC only. */
  setGsi(gsi: number, level: boolean): void {
    if (gsi < 16) this.setIsaIrq(gsi, level);
    else this.ioApic.setIrq(gsi, level);
  }

  /** Drive ISA interrupt line `irq` (0-15) into the 8259 pair and the I/O APIC. */
  setIsaIrq(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    this.ioApic.setIrq(irq === 0 ? 2 : irq, level);
  }

  /** Let the timers catch up with the clock (raising their interrupts); the scheduler calls this. */
  poll(): void {
    this.pit.poll();
    this.rtc.poll();
    this.acpiPm.poll();
    for (const v of this.vm.vcpus) v.apic.pollTimer();
  }

  /** Virtual time (ns) of the next timer interrupt a device will raise, or undefined. */
  nextDeadline(): number | undefined {
    let next = this.pit.nextIrq0Ns();
    const pm = this.acpiPm.nextDeadline();
    if (pm !== undefined && (next === undefined || pm < next)) next = pm;
    for (const v of this.vm.vcpus) {
      const t = v.apic.nextTimerDeadline(); // local APIC clocks run on the VM clock (1 tick = 1 ns)
      if (t >= 0 && (next === undefined || t < next)) next = t;
    }
    return next;
  }
}
