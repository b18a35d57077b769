// Debug registers and #DB (Intel SDM vol 3 17.2-17.3, AMD APM vol 2 13.1): instruction breakpoints
// are faults before the instruction (RF set by the handler lets it run once), data breakpoints and
// single steps are traps after it with DR6 saying which (B0-B3, BS); MOV SS holds them until after
// the next instruction (SDM 6.8.3), STI does not. MOV DRn ignores ModRM.mod (SDM vol 2 "MOV—Move
// to/from Debug Registers": "the two bits in the mod field are ignored").
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cpu/run.js';
import { makePm32 } from '../support/pm32.js';

const MAIN = 0x10000;
const DB_HANDLER = 0x12000;
const LOG = 0x5000; // [LOG] = count, then the return EIPs the #DB handler saw
const TF = 1 << 8,
  RF = 1 << 16;

/** #DB handler: log the return EIP, set RF in the pushed EFLAGS (to step over an instruction breakpoint), IRETD. */
const HANDLER = [
  0x50, // push eax
  0x53, // push ebx
  0x8b,
  0x1d,
  0x00,
  0x50,
  0x00,
  0x00, // mov ebx, [LOG]
  0x8b,
  0x44,
  0x24,
  0x08, // mov eax, [esp + 8]: the return EIP
  0x89,
  0x04,
  0x9d,
  0x04,
  0x50,
  0x00,
  0x00, // mov [LOG + 4 + ebx*4], eax
  0xff,
  0x05,
  0x00,
  0x50,
  0x00,
  0x00, // inc dword [LOG]
  0x81,
  0x4c,
  0x24,
  0x10,
  0x00,
  0x00,
  0x01,
  0x00, // or dword [esp + 16], RF
  0x5b, // pop ebx
  0x58, // pop eax
  0xcf, // iretd
];

function machine(code: number[]) {
  const m = makePm32();
  m.load(MAIN, code);
  m.load(DB_HANDLER, HANDLER);
  m.gate(1, DB_HANDLER);
  m.cpu.rip = MAIN;
  m.cpu.eflags = 2;
  for (const r of [0, 1, 2, 3]) m.cpu.r32[r * 2] = 0;
  return m;
}
function log(dv: DataView): number[] {
  const n = dv.getUint32(LOG, true);
  return Array.from({ length: n }, (_, i) => dv.getUint32(LOG + 4 + 4 * i, true));
}
/** mov dr<n>, eax / mov dr7, ... through MOV DR with a register ModRM. */
const movDrEax = (n: number) => [0x0f, 0x23, 0xc0 | (n << 3)];
const movEax = (v: number) => [0xb8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

describe('MOV DRn', () => {
  it('ignores ModRM.mod: 0F 23 00 is mov dr0, eax and 0F 21 01 is mov ecx, dr0, three bytes each', () => {
    const m = machine([...movEax(0x12345), 0x0f, 0x23, 0x00, 0x0f, 0x21, 0x01, 0xf4]);
    run(m.cpu, 10);
    expect(m.cpu.dr[0]).toBe(0x12345);
    expect(m.cpu.r32[1 * 2]).toBe(0x12345);
    expect(m.cpu.rip).toBe(MAIN + 5 + 3 + 3 + 1);
  });
});

describe('breakpoints and single steps', () => {
  it('an instruction breakpoint faults before the instruction, once (the handler sets RF)', () => {
    // DR0 = MAIN + 7 (the first inc ecx); DR7.L0, R/W0 = 00 (execute), LEN0 = 00.
    const code = [
      ...movEax(MAIN + 13),
      ...movDrEax(0),
      0x41,
      0x41,
      ...movEax(1),
      ...movDrEax(7),
      0x41,
      0x42,
      0xf4,
    ];
    // Layout: movEax(5) movDr(3) = 8; inc ecx x2 at 8, 9; movEax at 10; movDr at 15; inc ecx at 18; inc edx at 19.
    code.splice(0, 5, ...movEax(MAIN + 18));
    const m = machine(code);
    run(m.cpu, 200);
    expect(m.cpu.rip).toBe(MAIN + 21); // after the HLT
    expect(log(m.dv)).toEqual([MAIN + 18]); // a fault: the return EIP is the breakpoint's instruction
    expect(m.cpu.r32[1 * 2]).toBe(3); // every inc ecx ran exactly once
    expect(m.cpu.r32[2 * 2]).toBe(1);
    expect(m.cpu.dr[6] & 0xf).toBe(1); // B0
    expect(m.cpu.eflags & RF).toBe(0); // RF lasted one instruction
  });

  it('a data write breakpoint traps after the writing instruction; reads do not trigger it', () => {
    // DR1 = 0x3000, 4 bytes, writes only: DR7 = L1 | R/W1 = 01 | LEN1 = 11.
    const dr7 = (1 << 2) | (1 << 20) | (3 << 22);
    const code = [
      ...movEax(0x3000),
      ...movDrEax(1),
      ...movEax(dr7),
      ...movDrEax(7), // 16 bytes
      0x8b,
      0x0d,
      0x00,
      0x30,
      0x00,
      0x00, // mov ecx, [0x3000]: a read (at 16)
      0xc7,
      0x05,
      0x02,
      0x30,
      0x00,
      0x00,
      0x05,
      0x00,
      0x00,
      0x00, // mov dword [0x3002], 5 (at 22): overlaps
      0x42, // inc edx (at 32)
      0xf4,
    ];
    const m = machine(code);
    run(m.cpu, 200);
    expect(log(m.dv)).toEqual([MAIN + 32]); // a trap: the return EIP is the next instruction
    expect(m.cpu.dr[6] & 0xf).toBe(2); // B1
    expect(m.dv.getUint32(0x3002, true)).toBe(5); // the write happened
    expect(m.cpu.r32[2 * 2]).toBe(1);
  });

  it('a read/write data breakpoint traps on a read too', () => {
    const dr7 = (1 << 6) | (3 << 28) | (0 << 30); // L3, R/W3 = 11, LEN3 = 00 (1 byte)
    const code = [
      ...movEax(0x3001),
      ...movDrEax(3),
      ...movEax(dr7),
      ...movDrEax(7),
      0x8b,
      0x0d,
      0x00,
      0x30,
      0x00,
      0x00, // mov ecx, [0x3000]: reads 0x3000-0x3003 (at 16)
      0x42, // inc edx (at 22)
      0xf4,
    ];
    const m = machine(code);
    run(m.cpu, 200);
    expect(log(m.dv)).toEqual([MAIN + 22]);
    expect(m.cpu.dr[6] & 0xf).toBe(8); // B3
  });

  it('TF traps after each instruction, with DR6.BS', () => {
    const m = machine([0x41, 0x41, 0xf4]);
    m.cpu.eflags = 2 | TF;
    run(m.cpu, 200);
    expect(log(m.dv).slice(0, 2)).toEqual([MAIN + 1, MAIN + 2]);
    expect(m.cpu.dr[6] & 0x4000).toBe(0x4000);
  });

  it('MOV SS holds the single-step trap until after the next instruction; STI does not', () => {
    // mov ax, 0x10 (4) ; mov ss, ax (at 4) ; inc ecx (at 6) ; sti (at 7) ; inc edx (at 8) ; hlt (at 9)
    const m = machine([0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0, 0x41, 0xfb, 0x42, 0xf4]);
    m.cpu.eflags = 2 | TF;
    run(m.cpu, 200);
    // No trap at MAIN + 6 (right after MOV SS); one after inc ecx for both; STI traps normally.
    expect(log(m.dv).slice(0, 4)).toEqual([MAIN + 4, MAIN + 7, MAIN + 8, MAIN + 9]);
  });
});
