// The devices a guest booted from a disk expects on a PC, wired as QEMU's pc machine wires them:
// the 8042 keyboard controller at 60h/64h (IRQ 1, the A20 gate, the reset line), VGA text mode
// (CRTC at 3D4h/3D5h, Input Status 1 at 3DAh, the text buffer in RAM at B8000h) and, when there
// are disks, the primary ATA channel at 1F0h-1F7h and 3F6h (IRQ 14) with the master and slave.
import { A20_KBC, type A20Gate } from './devices/a20-gate.js';
import { ATA_PRIMARY_BASE, ATA_PRIMARY_CONTROL, ATA_PRIMARY_IRQ, AtaChannel } from './devices/ata.js';
import type { DiskImage } from './devices/disk-image.js';
import { I8042, KBC_DATA, KBC_STATUS, KBD_IRQ } from './devices/i8042.js';
import { scancodesFor } from './devices/scancodes.js';
import type { Uart16550 } from './devices/uart16550.js';
import {
  CRTC_INDEX,
  type GuestMemoryReader,
  INPUT_STATUS_1,
  VgaCrtc,
  VgaTextScreen,
} from './devices/vga-text.js';
import type { Vm } from './vm.js';

/** Input from the host: bytes now, and a way to wait for more when the guest has nothing to do. */
export interface HostInput {
  /** Up to `max` bytes available now without waiting ([] when none). */
  read(max: number): number[];
  /** Block until input arrives; false when no more will come. */
  wait(): boolean;
}

export interface PcLegacyOptions {
  /** Drive ISA interrupt line `irq` (the platform's 8259 pair and I/O APIC). */
  setIrq: (irq: number, level: boolean) => void;
  a20: A20Gate;
  /** The 8042's reset line was pulsed. */
  reset: () => void;
  /** Master, then slave; an empty list leaves the ATA ports unclaimed (no controller). */
  disks: (DiskImage | null)[];
  /** COM1, which host input may feed. */
  com1: Uart16550;
}

export class PcLegacyDevices {
  readonly kbc: I8042;
  readonly crtc = new VgaCrtc();
  readonly screen: VgaTextScreen;
  readonly ata: AtaChannel | null = null;
  /** Host bytes for COM1's receiver, given as it has room (a flow-controlled line). */
  serialInput: HostInput | null = null;
  /** Host bytes typed on the keyboard (set-1 scan codes), one key at a time. */
  keyboardInput: HostInput | null = null;
  private readonly com1: Uart16550;

  constructor(vm: Vm, opts: PcLegacyOptions) {
    const ports = vm.ports;
    this.com1 = opts.com1;
    this.kbc = new I8042({
      irq: (level) => opts.setIrq(KBD_IRQ, level),
      setA20: (on) => opts.a20.set(A20_KBC, on),
      reset: opts.reset,
      onOutputEmpty: () => this.feedKeyboard(),
    });
    ports.register(KBC_DATA, 1, this.kbc);
    ports.register(KBC_STATUS, 1, this.kbc);

    ports.register(CRTC_INDEX, 2, this.crtc);
    ports.register(INPUT_STATUS_1, 1, this.crtc);
    this.screen = new VgaTextScreen(this.crtc, guestMemoryReader(vm));

    if (opts.disks.length > 2) throw new Error('the primary ATA channel takes at most two disks');
    if (opts.disks.some((d) => d !== null)) {
      const ata = new AtaChannel(opts.disks[0] ?? null, opts.disks[1] ?? null, {
        irq: (level) => opts.setIrq(ATA_PRIMARY_IRQ, level),
      });
      ports.register(ATA_PRIMARY_BASE, 8, ata);
      ports.register(ATA_PRIMARY_CONTROL, 1, ata.controlPort);
      this.ata = ata;
    }
  }

  /** Give the devices the host input they can take now; true if any was taken. */
  feedInput(): boolean {
    const a = this.feedSerial();
    const b = this.feedKeyboard();
    return a || b;
  }

  /** COM1 takes what its receiver has room for (called again whenever the guest reads RBR). */
  feedSerial(): boolean {
    const input = this.serialInput;
    if (input === null) return false;
    const room = this.com1.rxRoom;
    if (room === 0) return false;
    const bytes = input.read(room);
    return bytes.length > 0 && this.com1.receive(bytes) > 0;
  }

  /** The keyboard sends the next key once the controller has passed on the last one. */
  feedKeyboard(): boolean {
    const input = this.keyboardInput;
    if (input === null || this.kbc.queued > 0 || this.kbc.outputFull) return false;
    const key = input.read(1);
    if (key.length === 0) return false;
    this.kbc.keyboardInput(scancodesFor(key));
    return true;
  }
}

/** The VMM side's reads of guest RAM for these devices: one place to change for encrypted guests. */
function guestMemoryReader(vm: Vm): GuestMemoryReader {
  return {
    read: (gpa, length) => {
      // Guest RAM sits at host-physical 0; past its end is open bus.
      if (gpa + length > vm.guestRamBytes) return new Uint8Array(length).fill(0xff);
      return vm.memory.read(gpa, length);
    },
  };
}
