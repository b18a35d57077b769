// The PC around a VM's vCPUs, as KVM's in-kernel irqchip and QEMU's pc machine put it together:
// the 8259 pair (20h/21h, A0h/A1h, ELCR 4D0h/4D1h), the 8254 PIT (40h-43h) with port 61h,
// the MC146818 RTC and CMOS (70h/71h), port 92h (A20), a 16550 UART as COM1 (3F8h-3FFh, the
// console), the I/O APIC at 0xFEC00000, and the devices a disk-booted guest expects
// (pc-legacy.ts: the 8042 keyboard controller, VGA text mode, the primary ATA channel). Ports 0xE9 and 0xF4 stay unclaimed: they reach
// userspace as KVM_EXIT_IO, as a debug console and isa-debug-exit do under KVM.
//
// ISA interrupt lines go to both interrupt controllers, as on a PC with an I/O APIC: IRQ n to the
// 8259 pair's input n and to I/O APIC pin n, except IRQ 0 (the PIT), which is wired to pin 2 (the
// MP table's and the MADT's IRQ 0 -> GSI 2 override; QEMU routes it the same way). The 8259 pair's
// INT output drives the BSP's LINT0, which firmware programs as ExtINT (virtual wire mode).
import { IOAPIC_DEFAULT_BASE, IoApic } from '../apic/io-apic.js';
import { Pic8259Pair } from '../apic/pic8259.js';
import { APIC_LVT_LINT0 } from '../apic/registers.js';
import { A20_PORT92, A20Gate } from './devices/a20-gate.js';
import { CmosRtc, RTC_DEFAULT_EPOCH_MS } from './devices/cmos-rtc.js';
import type { DiskImage } from './devices/disk-image.js';
import { Pit8254 } from './devices/pit8254.js';
import { Port61 } from './devices/port61.js';
import { Port92 } from './devices/port92.js';
import { Uart16550 } from './devices/uart16550.js';
import { PcLegacyDevices } from './pc-legacy.js';
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
  /** Port 92h bit 0: the guest asks for a system reset. */
  onReset?: () => void;
  /** The RTC's wall-clock time at virtual time 0, ms since the epoch (default: RTC_DEFAULT_EPOCH_MS). */
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
    for (const v of this.vm.vcpus) v.apic.pollTimer();
  }

  /** Virtual time (ns) of the next timer interrupt a device will raise, or undefined. */
  nextDeadline(): number | undefined {
    let next = this.pit.nextIrq0Ns();
    for (const v of this.vm.vcpus) {
      const t = v.apic.nextTimerDeadline(); // local APIC clocks run on the VM clock (1 tick = 1 ns)
      if (t >= 0 && (next === undefined || t < next)) next = t;
    }
    return next;
  }
}
