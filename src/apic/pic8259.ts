// The PC's two 8259A PICs (Intel 8259A datasheet): master at 20h/21h, slave at A0h/A1h cascaded on
// the master's IR2, plus the ELCR at 4D0h/4D1h. Present so guests can initialise and mask them (they
// write FFh to the IMRs before switching to the APICs), and usable as the bare PC's interrupt source.
import type { InterruptController } from '../cpu/ports.js';

/** One 8259A. Field names follow the datasheet; the logic is QEMU's i8259 model. */
class Pic {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Edge-sense latch: the input levels last seen. */
  lastLevel = 0;
  /** Edge/level control (ELCR), or all ones after ICW1.LTIM. */
  elcr = 0;
  vectorBase = 0;
  /** 0 = ready; 1, 2, 3: expecting ICW2, ICW3, ICW4. */
  initState = 0;
  icw4Needed = false;
  single = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  specialMask = false;
  readIsr = false;
  poll = false;
  /** IR number with priority 0 is (priorityAdd + 0) & 7: rotation moves it. */
  priorityAdd = 0;

  constructor(readonly master: boolean) {}

  /** Priority (0 = highest) of the best request in `mask`, or 8. */
  priority(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** IR line that would be serviced now (fully nested mode), or -1. */
  pendingIrq(): number {
    const p = this.priority(this.irr & ~this.imr);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested mode: the slave's in-service request does not block more slave requests.
    if (this.specialFullyNested && this.master) inService &= ~(1 << 2);
    return p < this.priority(inService) ? (p + this.priorityAdd) & 7 : -1;
  }

  setInput(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (this.elcr & bit) {
      // Level-sensitive: the request follows the line.
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level) {
      if ((this.lastLevel & bit) === 0) this.irr |= bit; // rising edge
    }
    this.lastLevel = level ? this.lastLevel | bit : this.lastLevel & ~bit;
  }

  /** INTA: the request enters service (unless AEOI); an edge request is consumed. */
  intack(irq: number): void {
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= 1 << irq;
    }
    if ((this.elcr & (1 << irq)) === 0) this.irr &= ~(1 << irq);
  }

  /** ICW1: start initialisation (datasheet "Initialization Command Words"). */
  icw1(v: number): void {
    // Edge sense reset, IMR cleared, IR7 lowest priority, special mask off, status read = IRR.
    this.lastLevel = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.vectorBase = 0;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.icw4Needed = (v & 1) !== 0;
    this.single = (v & 2) !== 0;
    if (v & 8) this.elcr = 0xff; // LTIM: all inputs level-sensitive
    this.initState = 1;
  }

  writeCommand(v: number): void {
    if (v & 0x10) {
      this.icw1(v);
      return;
    }
    if (v & 0x08) {
      // OCW3: poll, read IRR/ISR select (RR, RIS), special mask (ESMM, SMM).
      if (v & 0x04) this.poll = true;
      if (v & 0x02) this.readIsr = (v & 1) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2: R, SL, EOI in bits 7:5; L2-L0 in bits 2:0.
    switch (v >>> 5) {
      case 0: // rotate in automatic EOI mode (clear)
      case 4: // rotate in automatic EOI mode (set)
        this.rotateOnAutoEoi = v >>> 7 === 1;
        break;
      case 1: // non-specific EOI
      case 5: {
        // rotate on non-specific EOI
        const p = this.priority(this.isr);
        if (p !== 8) {
          const irq = (p + this.priorityAdd) & 7;
          this.isr &= ~(1 << irq);
          if (v >>> 5 === 5) this.priorityAdd = (irq + 1) & 7;
        }
        break;
      }
      case 3: // specific EOI
        this.isr &= ~(1 << (v & 7));
        break;
      case 6: // set priority: L2-L0 becomes the lowest
        this.priorityAdd = (v + 1) & 7;
        break;
      case 7: // rotate on specific EOI
        this.isr &= ~(1 << (v & 7));
        this.priorityAdd = ((v & 7) + 1) & 7;
        break;
    }
  }

  writeData(v: number): void {
    switch (this.initState) {
      case 0: // OCW1
        this.imr = v;
        break;
      case 1: // ICW2: vector bits 7:3
        this.vectorBase = v & 0xf8;
        this.initState = this.single ? (this.icw4Needed ? 3 : 0) : 2;
        break;
      case 2: // ICW3: cascade wiring (master: slave mask; slave: its ID); fixed on a PC
        this.initState = this.icw4Needed ? 3 : 0;
        break;
      case 3: // ICW4: SFNM bit 4, AEOI bit 1
        this.specialFullyNested = (v & 0x10) !== 0;
        this.autoEoi = (v & 2) !== 0;
        this.initState = 0;
        break;
    }
  }
}

/** Master and slave 8259A, shaped as a port device (`name`, `read`, `write`) and an interrupt source. */
export class Pic8259Pair implements InterruptController {
  readonly name = 'pic8259';
  private readonly m = new Pic(true);
  private readonly s = new Pic(false);
  private readonly pics = [this.m, this.s];
  private output = false;

  /** `onOutput` sees the master's INT line change (to LINT0 or the vCPU's INTR). */
  constructor(private readonly onOutput: (level: boolean) => void = () => {}) {}

  /** Drive ISA IRQ line 0-15 (true = high). IRQ 2 is the cascade and is not a device line. */
  /** `--trace irq`: IRQ line changes; null when off. */
  trace: ((line: string) => void) | null = null;
  private lines = 0;

  setIrq(irq: number, level: boolean): void {
    if (this.trace !== null && ((this.lines >>> irq) & 1) !== (level ? 1 : 0))
      this.trace(`8259: IRQ ${irq} ${level ? 'raised' : 'lowered'}`);
    this.lines = level ? this.lines | (1 << irq) : this.lines & ~(1 << irq);
    this.pics[irq >>> 3].setInput(irq & 7, level);
    this.update();
  }

  /** INT output of the master. */
  get intr(): boolean {
    return this.output;
  }

  /** Vector the next INTA cycle would return, or -1 when INT is low. */
  pendingVector(): number {
    const m = this.m;
    const irq = m.pendingIrq();
    if (irq < 0) return -1;
    if (irq !== 2) return m.vectorBase + irq;
    const irq2 = this.s.pendingIrq();
    return this.s.vectorBase + (irq2 < 0 ? 7 : irq2);
  }

  acknowledge(_vector: number): void {
    this.inta();
  }

  /** The INTA cycle: returns the vector; with no request left it is the spurious IR7 vector. */
  inta(): number {
    const m = this.m;
    const s = this.s;
    let vector: number;
    const irq = m.pendingIrq();
    if (irq < 0) {
      vector = m.vectorBase + 7; // spurious: ISR untouched
    } else {
      m.intack(irq);
      if (irq === 2) {
        const irq2 = s.pendingIrq();
        if (irq2 >= 0) s.intack(irq2);
        vector = s.vectorBase + (irq2 < 0 ? 7 : irq2);
      } else {
        vector = m.vectorBase + irq;
      }
    }
    this.update();
    return vector;
  }

  read(port: number, _size: number): number {
    if (port === 0x4d0 || port === 0x4d1) return this.pics[port & 1].elcr;
    const pic = this.pics[(port >>> 7) & 1];
    if (pic.poll) {
      // Poll command: the INTA without the cycle; bit 7 says whether a request was there.
      pic.poll = false;
      const irq = pic.pendingIrq();
      if (irq < 0) return 0;
      pic.intack(irq);
      this.update();
      return 0x80 | irq;
    }
    if ((port & 1) === 0) return pic.readIsr ? pic.isr : pic.irr;
    return pic.imr;
  }

  write(port: number, _size: number, value: number): void {
    value &= 0xff;
    if (port === 0x4d0 || port === 0x4d1) {
      // ELCR: IRQ 0, 1, 2, 8 and 13 are always edge on a PC.
      this.pics[port & 1].elcr = value & (port === 0x4d0 ? 0xf8 : 0xde);
    } else {
      const pic = this.pics[(port >>> 7) & 1];
      if ((port & 1) === 0) pic.writeCommand(value);
      else pic.writeData(value);
    }
    this.update();
  }

  /**
   * The slave's INT drives master IR2. The cascade is a wire inside the pair, so the master's IR2
   * request simply follows it (as a level) instead of going through the edge latch.
   */
  private update(): void {
    if (this.s.pendingIrq() >= 0) this.m.irr |= 4;
    else this.m.irr &= ~4;
    const out = this.m.pendingIrq() >= 0;
    if (out !== this.output) {
      this.output = out;
      this.onOutput(out);
    }
  }

  /** IRR, ISR and IMR of master (0) or slave (1), for traces and tests. */
  state(chip: number): { irr: number; isr: number; imr: number; vectorBase: number } {
    const p = this.pics[chip];
    return { irr: p.irr, isr: p.isr, imr: p.imr, vectorBase: p.vectorBase };
  }
}
