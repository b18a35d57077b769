// The PCI functions of QEMU's pc machine (i440FX + PIIX3, with the PIIX4's power-management
// function), as QEMU presents them on bus 0:
//   00:00.0  8086:1237 rev 02  host bridge (82441FX PMC)           class 0600
//   00:01.0  8086:7000         ISA bridge (PIIX3), multi-function   class 0601
//   00:01.1  8086:7010         IDE (PIIX3), legacy mode (prog-if 80h) class 0101
//   00:01.3  8086:7113 rev 03  PIIX4 power management (ACPI)        class 0680
// The IDE function is presented with its registers; which ports it decodes belongs to the disk
// controller. The power-management function decodes its 64-byte I/O block (acpi-pm.ts) at PMBA
// (40h, bits 15:6) once PMREGMISC (80h) bit 0, PMIOSE, is set, as the 82371AB datasheet says.
import type { AcpiPm } from '../devices/acpi-pm.js';
import { ACPI_PM_BLOCK_SIZE } from '../devices/acpi-pm.js';
import type { PortBus } from '../io-bus.js';
import { PCI_BAR0, PCI_HEADER_TYPE_MULTI_FUNCTION, PciFunction } from './pci-function.js';
import type { PciHost } from './pci-host.js';

export const INTEL = 0x8086;
export const I440FX_DEVICE = 0x1237;
export const PIIX3_ISA_DEVICE = 0x7000;
export const PIIX3_IDE_DEVICE = 0x7010;
export const PIIX4_PM_DEVICE = 0x7113;

/** PIIX4 function 3 registers. */
export const PIIX4_PMBA = 0x40;
export const PIIX4_PMREGMISC = 0x80;
export const PIIX4_PMIOSE = 0x01;
/** PIIX3 PIRQ route control A-D (60h-63h): 80h = not routed. */
export const PIIX3_PIRQRC = 0x60;

/** Where firmware puts the PM block on this machine (SeaBIOS's choice on QEMU's pc). */
export const PM_BASE_DEFAULT = 0x600;
/** The SCI's ISA interrupt (the FADT's SCI_INT, the function's interrupt line). */
export const SCI_IRQ = 9;

export class I440fxChipset {
  readonly host: PciFunction;
  readonly isa: PciFunction;
  readonly ide: PciFunction;
  readonly pm: PciFunction;
  /** Where the PM block is decoded now, or -1. */
  private pmMapped = -1;

  constructor(
    pci: PciHost,
    private readonly ports: PortBus,
    private readonly acpiPm: AcpiPm,
  ) {
    this.host = new PciFunction('i440fx', {
      vendor: INTEL,
      device: I440FX_DEVICE,
      revision: 2,
      classCode: 0x060000,
    });
    // PAM0-6 (59h-5Fh) and SMRAM (72h): stored; RAM backs 0xC0000-0xFFFFF whatever they say.
    this.host.writable(0x59, 7);
    this.host.writable(0x72, 1);

    this.isa = new PciFunction('piix3-isa', {
      vendor: INTEL,
      device: PIIX3_ISA_DEVICE,
      revision: 0,
      classCode: 0x060100,
      headerType: PCI_HEADER_TYPE_MULTI_FUNCTION,
    });
    this.isa.writable(PIIX3_PIRQRC, 4);
    for (let i = 0; i < 4; i++) this.isa.config[PIIX3_PIRQRC + i] = 0x80;

    this.ide = new PciFunction('piix3-ide', {
      vendor: INTEL,
      device: PIIX3_IDE_DEVICE,
      revision: 0,
      classCode: 0x010180,
    });
    // IDETIM (40h-43h); BAR4, the bus-master block: 16 bytes of I/O.
    this.ide.writable(0x40, 4);
    this.ide.set32(PCI_BAR0 + 16, 1);
    this.ide.writable(PCI_BAR0 + 16, 1, 0xf0);
    this.ide.writable(PCI_BAR0 + 17, 3);

    this.pm = new PciFunction('piix4-pm', {
      vendor: INTEL,
      device: PIIX4_PM_DEVICE,
      revision: 3,
      classCode: 0x068000,
      interruptPin: 1,
    });
    this.pm.set32(PIIX4_PMBA, 1); // bit 0: I/O space indicator, read-only 1
    this.pm.writable(PIIX4_PMBA, 1, 0xc0);
    this.pm.writable(PIIX4_PMBA + 1, 1);
    this.pm.writable(PIIX4_PMREGMISC, 1, PIIX4_PMIOSE);
    this.pm.onWrite = (off, size) => {
      if (off < PIIX4_PMBA + 4 && PIIX4_PMBA < off + size) this.remapPm();
      if (off <= PIIX4_PMREGMISC && PIIX4_PMREGMISC < off + size) this.remapPm();
    };

    pci.attach(0, 0, this.host);
    pci.attach(1, 0, this.isa);
    pci.attach(1, 1, this.ide);
    pci.attach(1, 3, this.pm);
  }

  /** The PM block's base as PMBA says, whether or not it is enabled. */
  pmBase(): number {
    return this.pm.get32(PIIX4_PMBA) & 0xffc0;
  }

  /** What firmware does before the OS: PM block at `base`, enabled, SCI on IRQ 9. */
  firmwareSetup(base = PM_BASE_DEFAULT): void {
    this.pm.write(PIIX4_PMBA, 4, base | 1);
    this.pm.write(0x3c, 1, SCI_IRQ);
    this.pm.write(PIIX4_PMREGMISC, 1, PIIX4_PMIOSE);
  }

  private remapPm(): void {
    const on = (this.pm.config[PIIX4_PMREGMISC] & PIIX4_PMIOSE) !== 0;
    const base = on ? this.pmBase() : -1;
    if (base === this.pmMapped) return;
    if (this.pmMapped >= 0) this.ports.unregister(this.pmMapped, ACPI_PM_BLOCK_SIZE, this.acpiPm);
    this.pmMapped = -1;
    // A base of 0 or one over another device's ports decodes nothing (firmware's mistake, not ours to crash on).
    if (base <= 0) return;
    for (let p = base; p < base + ACPI_PM_BLOCK_SIZE; p++) if (this.ports.claimed(p)) return;
    this.acpiPm.setBase(base);
    this.ports.register(base, ACPI_PM_BLOCK_SIZE, this.acpiPm);
    this.pmMapped = base;
  }
}
