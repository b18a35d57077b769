// NMI blocking (Intel SDM vol 3 6.7.1, AMD APM vol 2 8.2.3): after an NMI is taken, further NMIs
// are held until the next IRET; an NMI raised meanwhile is delivered right after that IRET. NMIs
// ignore RFLAGS.IF.
import { describe, expect, it } from 'vitest';
import { ATT_EVENT } from '../../src/cpu/events.js';
import { run } from '../../src/cpu/run.js';
import { makePm32, STACK_TOP } from '../support/pm32.js';

const MAIN = 0x10000;
const NMI_HANDLER = 0x12000;

function raiseNmi(cpu: import('../../src/cpu/cpu.js').Cpu): void {
  cpu.nmiPending = true;
  cpu.attention |= ATT_EVENT;
}

describe('NMI', () => {
  it('is blocked inside its handler and delivered after IRET', () => {
    const { cpu, load, gate } = makePm32();
    load(MAIN, [...new Array(32).fill(0x42), 0xf4]); // inc edx x32 / hlt
    load(NMI_HANDLER, [0x41, 0x90, 0x90, 0x90, 0xcf]); // inc ecx / nop x3 / iretd
    gate(2, NMI_HANDLER);
    cpu.rip = MAIN;
    cpu.eflags = 2; // IF = 0: NMIs are not masked by it
    cpu.r32[2 * 2] = 0; // EDX counts main-code instructions (RESET leaves the signature in it)
    cpu.r32[1 * 2] = 0;

    raiseNmi(cpu);
    run(cpu, 3); // delivered before the first instruction; inc ecx, nop, nop
    expect(cpu.r32[1 * 2]).toBe(1);
    expect(cpu.rip).toBe(NMI_HANDLER + 3);
    expect(cpu.r32[4 * 2]).toBe(STACK_TOP - 12);

    raiseNmi(cpu); // a second NMI while the first handler runs
    run(cpu, 1); // the last nop
    expect(cpu.r32[1 * 2]).toBe(1);
    expect(cpu.rip).toBe(NMI_HANDLER + 4);
    expect(cpu.nmiPending).toBe(true);

    run(cpu, 4); // IRETD; the held NMI must come before any instruction of the main code
    expect(cpu.r32[2 * 2]).toBe(0); // EDX: no main-code instruction ran
    expect(cpu.r32[1 * 2]).toBe(2);
    expect(cpu.nmiPending).toBe(false);

    run(cpu, 10); // second handler returns, main code runs
    expect(cpu.r32[2 * 2]).toBeGreaterThan(0);
    expect(cpu.r32[4 * 2]).toBe(STACK_TOP);
  });
});
