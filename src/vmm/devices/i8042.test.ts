// The 8042 against the IBM PC AT Technical Reference's keyboard-controller chapter and the AT
// keyboard's command set: status bits (OBF, SYS, A2), the command byte (20h/60h), self-test
// (AAh -> 55h), interface test (ABh -> 00h), the output port (D0h/D1h: A20 and reset), DDh/DFh,
// the FEh reset pulse, D2h, keyboard commands answered with FAh, IRQ 1 following OBF and the INT bit,
// ADh holding keyboard bytes; and set-1 scan codes for host characters.
import { describe, expect, it } from 'vitest';
import {
  CB_INT,
  CB_XLATE,
  I8042,
  OUT_A20,
  OUT_OBF,
  OUT_RESET,
  STAT_A2,
  STAT_OBF,
  STAT_SYS,
} from './i8042.js';
import { scancodesFor } from './scancodes.js';

function make() {
  const irqs: boolean[] = [];
  const a20: boolean[] = [];
  let resets = 0;
  const kbc = new I8042({ irq: (l) => irqs.push(l), setA20: (on) => a20.push(on), reset: () => resets++ });
  const status = () => kbc.read(0x64, 1);
  const data = () => kbc.read(0x60, 1);
  const cmd = (v: number) => kbc.write(0x64, 1, v);
  const put = (v: number) => kbc.write(0x60, 1, v);
  /** Everything the output buffer has, in order. */
  const drain = () => {
    const out: number[] = [];
    while (status() & STAT_OBF) out.push(data());
    return out;
  };
  return { kbc, irqs, a20, resets: () => resets, status, data, cmd, put, drain };
}

describe('controller commands', () => {
  it('AAh self-test answers 55h in the output buffer and leaves SYS set; ABh answers 00h', () => {
    const { status, cmd, drain } = make();
    cmd(0xaa);
    expect(status() & (STAT_OBF | STAT_SYS)).toBe(STAT_OBF | STAT_SYS);
    expect(drain()).toEqual([0x55]);
    expect(status() & STAT_OBF).toBe(0);
    cmd(0xab);
    expect(drain()).toEqual([0x00]);
  });

  it('A2 says whether the last write went to the command port', () => {
    const { status, cmd, put, drain } = make();
    cmd(0x20);
    expect(status() & STAT_A2).toBe(STAT_A2);
    drain();
    put(0xee);
    expect(status() & STAT_A2).toBe(0);
  });

  it('20h reads and 60h writes the command byte; SYS in the status follows it', () => {
    const { status, cmd, put, drain } = make();
    cmd(0x20);
    const initial = drain()[0];
    expect(initial & CB_XLATE).toBe(CB_XLATE); // as a BIOS leaves it
    cmd(0x60);
    put(0x00);
    cmd(0x20);
    expect(drain()).toEqual([0x00]);
    expect(status() & STAT_SYS).toBe(0);
    cmd(0x60);
    put(0x45);
    cmd(0x20);
    expect(drain()).toEqual([0x45]);
    expect(status() & STAT_SYS).toBe(STAT_SYS);
  });

  it('D1h writes the output port: bit 1 gates A20, bit 0 clear resets; D0h reads it back', () => {
    const { kbc, cmd, put, drain, a20, resets } = make();
    cmd(0xd0);
    const initial = drain()[0];
    expect(initial & (OUT_A20 | OUT_RESET)).toBe(OUT_A20 | OUT_RESET);
    expect(initial & OUT_OBF).toBe(0); // OBF was clear when the port was read
    cmd(0xd1);
    put(0xdd); // A20 off, reset line high
    expect(a20).toEqual([false]);
    expect(kbc.a20).toBe(false);
    cmd(0xd0);
    expect(drain()[0] & (OUT_A20 | OUT_RESET)).toBe(OUT_RESET);
    cmd(0xd1);
    put(0xdf); // the classic A20-enable value
    expect(a20).toEqual([false, true]);
    expect(resets()).toBe(0);
    cmd(0xd1);
    put(0xde); // reset line low
    expect(resets()).toBe(1);
  });

  it('DDh and DFh turn A20 off and on; FEh pulses the reset line, FFh pulses nothing', () => {
    const { cmd, a20, resets } = make();
    cmd(0xdd);
    cmd(0xdf);
    expect(a20).toEqual([false, true]);
    cmd(0xff);
    expect(resets()).toBe(0);
    cmd(0xfe);
    expect(resets()).toBe(1);
  });

  it('D2h puts a byte in the output buffer as if the keyboard sent it, with IRQ 1', () => {
    const { cmd, put, drain, irqs } = make();
    cmd(0xd2);
    put(0x9c);
    expect(irqs).toEqual([true]);
    expect(drain()).toEqual([0x9c]);
    expect(irqs).toEqual([true, false]);
  });
});

describe('the keyboard and IRQ 1', () => {
  it('keyboard commands: FFh -> FA AA, F4h -> FA, EEh -> EE, EDh + parameter -> FA FA, unknown -> FE', () => {
    const { put, drain } = make();
    put(0xff);
    expect(drain()).toEqual([0xfa, 0xaa]);
    put(0xf4);
    expect(drain()).toEqual([0xfa]);
    put(0xee);
    expect(drain()).toEqual([0xee]);
    put(0xed);
    put(0x07);
    expect(drain()).toEqual([0xfa, 0xfa]);
    put(0x01);
    expect(drain()).toEqual([0xfe]);
  });

  it('one byte is visible at a time; each one raises IRQ 1 again after the last was read', () => {
    const { kbc, irqs, data, status } = make();
    kbc.keyboardInput([0x1e, 0x9e]);
    expect(irqs).toEqual([true]);
    expect(data()).toBe(0x1e);
    expect(irqs).toEqual([true, false, true]); // an edge for the next byte
    expect(status() & STAT_OBF).toBe(STAT_OBF);
    expect(data()).toBe(0x9e);
    expect(irqs).toEqual([true, false, true, false]);
    expect(status() & STAT_OBF).toBe(0);
  });

  it('with INT clear in the command byte OBF does not raise IRQ 1 (polled keyboards)', () => {
    const { kbc, cmd, put, irqs, drain } = make();
    cmd(0x60);
    put(CB_XLATE);
    kbc.keyboardInput([0x10]);
    expect(irqs).toEqual([]);
    expect(drain()).toEqual([0x10]);
    cmd(0x60);
    put(CB_XLATE | CB_INT);
    kbc.keyboardInput([0x90]);
    expect(irqs).toEqual([true]);
  });

  it('with translation off the guest gets set 2: make code, then F0h and the make code', () => {
    const { kbc, cmd, put, drain } = make();
    cmd(0x60);
    put(CB_INT); // XLATE clear
    kbc.keyboardInput(scancodesFor(Buffer.from('aA')));
    expect(drain()).toEqual([0x1c, 0xf0, 0x1c, 0x12, 0x1c, 0xf0, 0x1c, 0xf0, 0x12]);
    put(0xf0); // select scan code set 1: the keyboard sends set 1 itself
    put(0x01);
    expect(drain()).toEqual([0xfa, 0xfa]);
    kbc.keyboardInput(scancodesFor(Buffer.from('a')));
    expect(drain()).toEqual([0x1e, 0x9e]);
  });

  it('ADh holds keyboard bytes back (controller answers still come); AEh lets them through', () => {
    const { kbc, cmd, drain } = make();
    cmd(0xad);
    kbc.keyboardInput([0x2c, 0xac]);
    expect(drain()).toEqual([]);
    cmd(0xaa);
    expect(drain()).toEqual([0x55]);
    cmd(0xae);
    expect(drain()).toEqual([0x2c, 0xac]);
  });
});

describe('set-1 scan codes for host characters', () => {
  it('make then break; shifted characters inside Left Shift; Enter for CR and LF; Ctrl-C', () => {
    expect(scancodesFor(Buffer.from('a'))).toEqual([0x1e, 0x9e]);
    expect(scancodesFor(Buffer.from('A'))).toEqual([0x2a, 0x1e, 0x9e, 0xaa]);
    expect(scancodesFor(Buffer.from('1 '))).toEqual([0x02, 0x82, 0x39, 0xb9]);
    expect(scancodesFor(Buffer.from('\n'))).toEqual([0x1c, 0x9c]);
    expect(scancodesFor(Buffer.from('\r'))).toEqual([0x1c, 0x9c]);
    expect(scancodesFor([3])).toEqual([0x1d, 0x2e, 0xae, 0x9d]);
    expect(scancodesFor([0x7f, 0x1b])).toEqual([0x0e, 0x8e, 0x01, 0x81]);
    expect(scancodesFor([0xe9])).toEqual([]); // no key on a US keyboard
  });
});
