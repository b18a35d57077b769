// The timeline parser on trace lines in the VMM's own formats (src/apic/ipi-trace.ts, src/vmm/vcpu.ts,
// the backends' exit lines), including the ways a wake can fail to happen.
import { describe, expect, it } from 'vitest';
import { BenchFailure } from './lib/failure.js';
import { WakeTimeline } from './lib/wake-timeline.js';

const legacyMark = (l: string) => l.includes(' port=0x80 ');

/** Feed lines at host times 0, 10, 20, ... ns; the VM clock reads 100 x the line number. */
function feed(tl: WakeTimeline, lines: [string, string][]): void {
  let i = 0;
  tl.attach(() => 100 * i);
  for (const [cat, line] of lines) {
    tl.onTrace(cat, line, 10 * i);
    i++;
  }
}

const wake1: [string, string][] = [
  ['exits', 'vcpu 0: #VMEXIT NPF gpa=0xfee00300 error=0x6'],
  ['apic', 'APIC 0x0: IPI INIT, Physical destination 0x01 -> APIC 0x1'],
  ['mp', 'vcpu 1: mp_state HALTED -> INIT_RECEIVED'],
  ['exits', 'vcpu 0: #VMEXIT NPF gpa=0xfee00300 error=0x6'],
  ['apic', 'APIC 0x0: IPI Start Up vector 0x08, Physical destination 0x01 -> APIC 0x1'],
  ['exits', 'vcpu 0: #VMEXIT PAUSE'],
  ['mp', 'vcpu 1: SIPI vector 0x8: CS:IP = 800:0000'],
  ['mp', 'vcpu 1: mp_state INIT_RECEIVED -> RUNNABLE'],
  ['exits', 'vcpu 1: #VMEXIT IOIO port=0x80 out size=1'],
  ['apic', 'APIC 0x0: IPI Start Up vector 0x08, Physical destination 0x01 -> APIC 0x1'],
  ['mp', 'vcpu 1: SIPI dropped (mp_state RUNNABLE)'],
];

describe('WakeTimeline', () => {
  it('times one wake from the SIPI to the arrival mark, on the host and the VM clock', () => {
    const tl = new WakeTimeline(legacyMark);
    feed(tl, wake1);
    tl.finish();
    expect(tl.samples).toHaveLength(1); // the second SIPI (no INIT before it) opens nothing
    const s = tl.samples[0];
    expect(s.target).toBe(1);
    expect(s.init).toEqual({ host: 10, vm: 100 });
    expect(s.icrExit).toEqual({ host: 30, vm: 300 }); // the BSP's exit carrying the SIPI write
    expect(s.sipi).toEqual({ host: 40, vm: 400 });
    expect(s.accept).toEqual({ host: 60, vm: 600 });
    expect(s.runnable).toEqual({ host: 70, vm: 700 });
    expect(s.arrive).toEqual({ host: 80, vm: 800 });
  });

  it('opens one wake per target of a broadcast', () => {
    const tl = new WakeTimeline(legacyMark);
    feed(tl, [
      ['apic', 'APIC 0x0: IPI INIT, All Excluding Self -> APIC 0x1 0x2'],
      ['apic', 'APIC 0x0: IPI Start Up vector 0x08, All Excluding Self -> APIC 0x1 0x2'],
      ['mp', 'vcpu 2: first SIPI (vector 0x8 ignored): runs its launch VMSA'],
      ['mp', 'vcpu 2: mp_state INIT_RECEIVED -> RUNNABLE'],
      ['exits', 'vcpu 2: #VMEXIT IOIO port=0x80 out size=1'],
      ['mp', 'vcpu 1: SIPI vector 0x8: CS:IP = 800:0000'],
      ['mp', 'vcpu 1: mp_state INIT_RECEIVED -> RUNNABLE'],
      ['exits', 'vcpu 1: #VMEXIT IOIO port=0x80 out size=1'],
    ]);
    tl.finish();
    expect(tl.samples.map((s) => s.target)).toEqual([2, 1]);
  });

  it('fails loudly when a woken AP never arrives', () => {
    const tl = new WakeTimeline(legacyMark);
    feed(tl, wake1.slice(0, 8)); // RUNNABLE, but no arrival exit
    expect(() => tl.finish()).toThrow(BenchFailure);
    expect(() => tl.finish()).toThrow(/vcpu 1 .* never reached its target: runnable but no arrival exit/);
  });

  it('fails loudly when the SIPI is never taken', () => {
    const tl = new WakeTimeline(legacyMark);
    feed(tl, wake1.slice(0, 5));
    expect(() => tl.finish()).toThrow(/SIPI never taken/);
  });

  it('fails loudly when the next INIT comes before the wake arrived', () => {
    const tl = new WakeTimeline(legacyMark);
    expect(() => feed(tl, [...wake1.slice(0, 8), wake1[1]])).toThrow(/an INIT came before it arrived/);
  });

  it('fails loudly when the first exit after the wake is not the arrival mark', () => {
    const tl = new WakeTimeline(legacyMark);
    const lines: [string, string][] = [
      ...wake1.slice(0, 8),
      ['exits', 'vcpu 1: #VMEXIT NPF gpa=0xfee000f0 error=0x6'],
    ];
    expect(() => feed(tl, lines)).toThrow(/first exit was not the arrival mark/);
  });
});
