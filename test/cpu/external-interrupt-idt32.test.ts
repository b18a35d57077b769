// External interrupt delivery through a 32-bit IDT gate (Intel SDM vol 3 6.12.1, AMD APM vol 2
// 8.7): EFLAGS, CS, EIP pushed on the same-privilege stack, IF cleared by an interrupt gate and
// kept by a trap gate, the vector acknowledged; HLT resumes at the next instruction after the
// handler's IRET (SDM vol 2 HLT).
import { describe, expect, it } from 'vitest';
import { ATT_EVENT } from '../../src/cpu/events.js';
import { IF } from '../../src/cpu/regs.js';
import { run, Stop } from '../../src/cpu/run.js';
import { FakeIntc, makePm32, STACK_TOP } from '../support/pm32.js';

const MAIN = 0x10000;
// sti / hlt / mov ebx,0x77 / hlt
const MAIN_CODE = [0xfb, 0xf4, 0xbb, 0x77, 0x00, 0x00, 0x00, 0xf4];
const HANDLER = 0x11000;
// Records EBX, the saved EIP, CS, EFLAGS, its own EFLAGS, and counts, then IRETD (nasm, org 0x11000).
const HANDLER_CODE = [
  0x89, 0x1d, 0x00, 0x50, 0x00, 0x00, 0x8b, 0x04, 0x24, 0xa3, 0x04, 0x50, 0x00, 0x00, 0x8b, 0x44, 0x24, 0x04,
  0xa3, 0x08, 0x50, 0x00, 0x00, 0x8b, 0x44, 0x24, 0x08, 0xa3, 0x0c, 0x50, 0x00, 0x00, 0x9c, 0x58, 0xa3, 0x10,
  0x50, 0x00, 0x00, 0xff, 0x05, 0x14, 0x50, 0x00, 0x00, 0xcf,
];
const VEC = 0x41;

function setup(gateType: 0xe | 0xf) {
  const pm = makePm32();
  pm.load(MAIN, MAIN_CODE);
  pm.load(HANDLER, HANDLER_CODE);
  pm.gate(VEC, HANDLER, gateType);
  const intc = new FakeIntc();
  pm.cpu.intc = intc;
  pm.cpu.rip = MAIN;
  pm.cpu.eflags = 2;
  return { ...pm, intc };
}

describe('external interrupt through a 32-bit IDT gate', () => {
  it('HLT waits, the interrupt wakes it, the handler sees the architectural frame', () => {
    const { cpu, dv, intc } = setup(0xe);
    expect(run(cpu, 1000)).toBe(Stop.HALT);
    expect(cpu.halted).toBe(true);
    expect(cpu.rip).toBe(MAIN + 2);
    expect(run(cpu, 1000)).toBe(Stop.HALT); // still nothing to wake it
    expect(dv.getUint32(0x5014, true)).toBe(0);

    intc.pending = VEC;
    cpu.attention |= ATT_EVENT;
    expect(run(cpu, 1000)).toBe(Stop.HALT);
    expect(intc.acked).toEqual([VEC]);
    expect(dv.getUint32(0x5014, true)).toBe(1);
    expect(dv.getUint32(0x5004, true)).toBe(MAIN + 2); // EIP after the HLT
    expect(dv.getUint32(0x5008, true) & 0xffff).toBe(0x08); // CS
    expect(dv.getUint32(0x500c, true) & IF).toBe(IF); // interrupted code had IF = 1
    expect(dv.getUint32(0x5010, true) & IF).toBe(0); // interrupt gate cleared IF
    expect(cpu.r32[3 * 2]).toBe(0x77); // execution resumed after the HLT
    expect(cpu.rip).toBe(MAIN + 8);
    expect(cpu.r32[4 * 2]).toBe(STACK_TOP); // IRETD popped the 12-byte frame
    expect(cpu.eflags & IF).toBe(IF); // restored by IRETD
  });

  it('a trap gate leaves IF set inside the handler', () => {
    const { cpu, dv, intc } = setup(0xf);
    intc.pending = VEC;
    cpu.attention |= ATT_EVENT;
    expect(run(cpu, 1000)).toBe(Stop.HALT);
    expect(dv.getUint32(0x5014, true)).toBe(1);
    expect(dv.getUint32(0x5010, true) & IF).toBe(IF);
  });

  it('HLT with IF = 0 is not woken by a maskable interrupt', () => {
    const { cpu, dv, intc } = setup(0xe);
    cpu.rip = MAIN + 1; // skip STI
    intc.pending = VEC;
    cpu.attention |= ATT_EVENT;
    expect(run(cpu, 1000)).toBe(Stop.HALT);
    expect(run(cpu, 1000)).toBe(Stop.HALT);
    expect(cpu.rip).toBe(MAIN + 2);
    expect(dv.getUint32(0x5014, true)).toBe(0);
    expect(intc.acked).toEqual([]);
  });
});
