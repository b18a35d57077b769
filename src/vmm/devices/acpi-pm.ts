// The PIIX4 power-management I/O block (82371AB datasheet, "Power Management I/O Registers"),
// 64 bytes at the base PMBA selects, laid out as ACPI's fixed hardware (ACPI 6.5, 4.8):
//   00h PM1 status (PMSTS, write 1 to clear)  02h PM1 enable (PMEN)
//   04h PM1 control (PMCNTRL: SCI_EN, SLP_TYP 12:10, SLP_EN 13 write-only)
//   08h PM timer (PMTMR): 24 bits counting at 3.579545 MHz, read as a doubleword
// The timer runs on the VM's virtual clock. TMR_STS is set each time timer bit 23 changes; with
// TMR_EN and SCI_EN it raises the SCI (ISA IRQ 9, level, as the FADT says). SLP_EN with SLP_TYP 0
// is soft-off (S5), which QEMU's PIIX4 also maps to power off; other sleep types are ignored.
// The rest of the block (general-purpose, processor and global registers) reads 0 and ignores writes.
import type { PortDevice } from '../io-bus.js';

export const ACPI_PM_BLOCK_SIZE = 64;
export const PM1_STS = 0x00;
export const PM1_EN = 0x02;
export const PM1_CNT = 0x04;
export const PM_TMR = 0x08;

export const PM_TIMER_HZ = 3_579_545;
export const PM1_TMR_STS = 1 << 0;
export const PM1_TMR_EN = 1 << 0;
export const PM1_SCI_EN = 1 << 0;
const PM1_SLP_EN = 1 << 13;
const PM1_STS_W1C = 0x8d31; // WAK, PWRBTNOR, RTC, PWRBTN, GBL, BM, TMR
const PM1_EN_MASK = 0x0521; // RTC_EN, PWRBTN_EN, GBL_EN, TMR_EN
const PM1_CNT_MASK = 0x1c07; // SLP_TYP, GBL_RLS, BM_RLD, SCI_EN

/** PM timer ticks at virtual time `ns`, exactly (no float rounding drift). */
export function pmTimerTicks(ns: number): number {
  const s = Math.floor(ns / 1e9);
  return s * PM_TIMER_HZ + Math.floor(((ns - s * 1e9) * PM_TIMER_HZ) / 1e9);
}

/** The first virtual time (ns) at which the timer has counted `ticks`. */
export function pmTimerNs(ticks: number): number {
  const s = Math.floor(ticks / PM_TIMER_HZ);
  return s * 1e9 + Math.ceil(((ticks - s * PM_TIMER_HZ) * 1e9) / PM_TIMER_HZ);
}

export interface AcpiPmWiring {
  now(): number;
  /** The SCI line (ISA IRQ 9). */
  sci(level: boolean): void;
  /** SLP_EN with SLP_TYP 0: soft off. */
  powerOff(): void;
}

export class AcpiPm implements PortDevice {
  readonly name = 'acpi-pm';
  private base = 0;
  private sts = 0;
  private en = 0;
  /** SCI_EN set: firmware has switched to ACPI mode (the FADT has no SMI command port). */
  private cnt = PM1_SCI_EN;
  /** Timer bit 23's period count when TMR_STS was last brought up to date. */
  private lastHalf = 0;
  private sciLevel = false;

  constructor(private readonly w: AcpiPmWiring) {}

  /** The I/O base the chipset decodes the block at (for port offsets). */
  setBase(base: number): void {
    this.base = base;
  }

  timer(): number {
    return pmTimerTicks(this.w.now()) & 0xffffff;
  }

  /** Bring TMR_STS and the SCI up to date with the clock. */
  poll(): void {
    const half = Math.floor(pmTimerTicks(this.w.now()) / 0x800000);
    if (half !== this.lastHalf) {
      this.lastHalf = half;
      this.sts |= PM1_TMR_STS;
    }
    const level = (this.cnt & PM1_SCI_EN) !== 0 && (this.sts & this.en & PM1_TMR_STS) !== 0;
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.w.sci(level);
    }
  }

  /** When TMR_STS will next be set, if that would raise the SCI; else undefined. */
  nextDeadline(): number | undefined {
    if ((this.en & PM1_TMR_EN) === 0 || (this.cnt & PM1_SCI_EN) === 0 || this.sts & PM1_TMR_STS)
      return undefined;
    return pmTimerNs((this.lastHalf + 1) * 0x800000);
  }

  private byteAt(off: number): number {
    switch (off & ~1) {
      case PM1_STS:
        return (this.sts >>> ((off & 1) * 8)) & 0xff;
      case PM1_EN:
        return (this.en >>> ((off & 1) * 8)) & 0xff;
      case PM1_CNT:
        return (this.cnt >>> ((off & 1) * 8)) & 0xff;
      case PM_TMR:
      case PM_TMR + 2:
        return (this.timer() >>> ((off - PM_TMR) * 8)) & 0xff;
      default:
        return 0;
    }
  }

  read(port: number, size: number): number {
    const off = port - this.base;
    if (off === PM1_STS || off === PM1_STS + 1) this.poll();
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.byteAt(off + i) << (8 * i);
    return v >>> 0;
  }

  write(port: number, size: number, value: number): void {
    const off = port - this.base;
    for (let i = 0; i < size; i++) this.writeByte(off + i, (value >>> (8 * i)) & 0xff);
    this.poll();
  }

  private writeByte(off: number, b: number): void {
    const shift = (off & 1) * 8;
    switch (off & ~1) {
      case PM1_STS:
        if (off === PM1_STS) this.poll(); // a status bit the clock set before this write is cleared too
        this.sts &= ~((b << shift) & PM1_STS_W1C);
        break;
      case PM1_EN:
        this.en = (this.en & ~(0xff << shift)) | ((b << shift) & PM1_EN_MASK);
        break;
      case PM1_CNT: {
        this.cnt = (this.cnt & ~(0xff << shift)) | ((b << shift) & PM1_CNT_MASK);
        if (shift === 8 && b & (PM1_SLP_EN >>> 8) && ((this.cnt >>> 10) & 7) === 0) this.w.powerOff();
        break;
      }
    }
  }
}
