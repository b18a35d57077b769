// The PAUSE-loop exiting rule on its own (SDM 25.1.3, 2016 numbering) and the CPL condition of the
// intercept port: PAUSE-loop exiting applies at CPL 0 only; "PAUSE exiting" at any CPL.
import { describe, expect, it } from 'vitest';
import { Cpu } from '../../cpu/cpu.js';
import { InterceptKind } from '../../cpu/ports.js';
import { EXIT_REASON_PAUSE_INSTRUCTION } from '../vmcs-fields.js';
import { PauseLoopDetector } from './pause-loop.js';
import { CPU_BASED_PAUSE_EXITING, SECONDARY_EXEC_PAUSE_LOOP_EXITING } from './vmx-controls.js';
import { VmxInterceptPort } from './vmx-intercepts.js';

describe('PauseLoopDetector', () => {
  it('times a loop from its first PAUSE and exits once PLE_Window is exceeded', () => {
    const d = new PauseLoopDetector();
    d.enter(10, 100);
    expect(d.pause(1000)).toBe(false); // first after entry: begins a loop
    expect(d.pause(1010)).toBe(false); // gap 10: same loop, 10 into it
    expect(d.pause(1100)).toBe(false); // gap 90 > 10: a new loop at 1100
    for (let t = 1105; t <= 1200; t += 5) expect(d.pause(t)).toBe(false); // 100 is not "exceeds"
    expect(d.pause(1205)).toBe(true);
  });

  it('a new VM entry forgets the loop', () => {
    const d = new PauseLoopDetector();
    d.enter(10, 20);
    d.pause(0);
    expect(d.pause(25 - 4)).toBe(false);
    d.enter(10, 20);
    expect(d.pause(25)).toBe(false);
  });
});

describe('the PAUSE intercept', () => {
  function port(proc: number, proc2: number, cpl: number): Omit<VmxInterceptPort, never> & { cpu: Cpu } {
    const cpu = new Cpu({
      ram: new ArrayBuffer(4096),
      io: { portRead: () => 0xff, portWrite: () => {} },
      mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
    });
    cpu.cpl = cpl;
    const p = new VmxInterceptPort(cpu);
    p.proc = proc;
    p.proc2 = proc2;
    p.pauseLoop.enter(10, 0); // PLE_Window 0: a PAUSE 1-10 ticks after the first exits
    return Object.assign(p, { cpu });
  }

  it('PAUSE-loop exiting ignores CPL 3', () => {
    const p = port(0, SECONDARY_EXEC_PAUSE_LOOP_EXITING, 3);
    expect(p.mask() & (1 << InterceptKind.PAUSE)).not.toBe(0);
    for (let i = 0; i < 3; i++) {
      p.cpu.icount++;
      expect(p.intercept(InterceptKind.PAUSE, 0, 0)).toBe(false);
    }
  });

  it('at CPL 0 the second PAUSE exits with basic reason 40', () => {
    const p = port(0, SECONDARY_EXEC_PAUSE_LOOP_EXITING, 0);
    expect(p.intercept(InterceptKind.PAUSE, 0, 0)).toBe(false);
    p.cpu.icount++;
    expect(p.intercept(InterceptKind.PAUSE, 0, 0)).toBe(true);
    expect(p.reason).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
  });

  it('"PAUSE exiting" exits at CPL 3 as well', () => {
    const p = port(CPU_BASED_PAUSE_EXITING, 0, 3);
    expect(p.intercept(InterceptKind.PAUSE, 0, 0)).toBe(true);
  });

  it('with neither control the core is not even asked', () => {
    expect(port(0, 0, 0).mask() & (1 << InterceptKind.PAUSE)).toBe(0);
  });
});
