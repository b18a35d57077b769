// The A20 line of a PC chipset has two inputs: the 8042's output-port bit 1 (A20GATE) and the
// fast A20 bit of port 92h. The chipset masks address bit 20 only when both are off (Intel PIIX4
// datasheet, A20M# "asserted when both ... are 0"), so either one can turn A20 on.

export const A20_KBC = 0;
export const A20_PORT92 = 1;

export class A20Gate {
  private inputs = (1 << A20_KBC) | (1 << A20_PORT92); // both on, as firmware leaves them
  private on = true;

  constructor(private readonly apply: (on: boolean) => void) {}

  set(input: typeof A20_KBC | typeof A20_PORT92, on: boolean): void {
    this.inputs = on ? this.inputs | (1 << input) : this.inputs & ~(1 << input);
    const next = this.inputs !== 0;
    if (next !== this.on) {
      this.on = next;
      this.apply(next);
    }
  }

  get enabled(): boolean {
    return this.on;
  }
}
