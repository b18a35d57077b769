// The locked forms (exec/locked.ts) against the plain forms the oracle checks: with random
// operands, aligned (one Atomics operation), misaligned, across a cache line and across a page
// (the bus-locked path), every lockable instruction with LOCK leaves the registers, flags and
// memory the plain one does (a failed CMPXCHG rewrites the same bytes). Then what only the locked
// path does: it translates for a write first, so a failed compare still faults on a read-only page.
import { describe, expect, it } from 'vitest';
import { BusLock } from '../../src/cpu/bus-lock.js';
import { SEG_L } from '../../src/cpu/cpu.js';
import { lockedInsn } from '../../src/cpu/exec/locked.js';
import { Insn } from '../../src/cpu/insn.js';
import { Op } from '../../src/cpu/ops.js';
import { CR0_WP, CS, DS } from '../../src/cpu/regs.js';
import { DATA_ADDR, exec64 } from '../support/exec64.js';
import { P, PageTables, PFE, pageFaultOf, W } from '../support/paging.js';

/** Deterministic random numbers (the failing case is reproducible). */
let seed = 0x1234567;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
const rnd64 = () => (BigInt(rnd()) << 32n) | BigInt(rnd());

const SIZE_PREFIX: Record<number, number[]> = { 1: [], 2: [0x66], 4: [], 8: [0x48] };
/** [name, sizes, bytes after the size prefix for size s]; the operand is [rdi], the register esi. */
type Form = [string, number[], (s: number) => number[]];
const v = (s: number, byte: number, word: number) => (s === 1 ? byte : word);
const FORMS: Form[] = [
  ...['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor'].flatMap((n, op): Form[] => [
    [`${n} m, r`, [1, 2, 4, 8], (s) => [v(s, op * 8, op * 8 + 1), 0x37]],
    [`${n} m, imm8`, [1, 2, 4, 8], (s) => [v(s, 0x80, 0x83), (op << 3) | 7, rnd() & 0xff]],
    [`${n} m, imm32`, [2, 4, 8], (s) => [0x81, (op << 3) | 7, ...imm(s === 2 ? 2 : 4)]],
  ]),
  ['inc m', [1, 2, 4, 8], (s) => [v(s, 0xfe, 0xff), 0x07]],
  ['dec m', [1, 2, 4, 8], (s) => [v(s, 0xfe, 0xff), 0x0f]],
  ['not m', [1, 2, 4, 8], (s) => [v(s, 0xf6, 0xf7), 0x17]],
  ['neg m', [1, 2, 4, 8], (s) => [v(s, 0xf6, 0xf7), 0x1f]],
  ['bts m, r', [2, 4, 8], () => [0x0f, 0xab, 0x37]],
  ['btr m, r', [2, 4, 8], () => [0x0f, 0xb3, 0x37]],
  ['btc m, r', [2, 4, 8], () => [0x0f, 0xbb, 0x37]],
  ['bts m, imm8', [2, 4, 8], () => [0x0f, 0xba, 0x2f, rnd() & 0xff]],
  ['btr m, imm8', [2, 4, 8], () => [0x0f, 0xba, 0x37, rnd() & 0xff]],
  ['btc m, imm8', [2, 4, 8], () => [0x0f, 0xba, 0x3f, rnd() & 0xff]],
  ['cmpxchg m, r', [1, 2, 4, 8], (s) => [0x0f, v(s, 0xb0, 0xb1), 0x37]],
  ['xadd m, r', [1, 2, 4, 8], (s) => [0x0f, v(s, 0xc0, 0xc1), 0x37]],
  ['cmpxchg8b m', [4], () => [0x0f, 0xc7, 0x0f]],
  ['cmpxchg16b m', [8], () => [0x0f, 0xc7, 0x0f]],
];
function imm(n: number): number[] {
  const x = rnd();
  return Array.from({ length: n }, (_, i) => (x >>> (8 * i)) & 0xff);
}

/** Operand offsets from a page start: aligned, misaligned, across a line, across a page. */
const OFFSETS = [0x100, 0x101, 0x103, 0x13e, 0xffe, 0xffc, 0xff9];

describe('LOCK forms compute what the plain forms compute', () => {
  it.each(FORMS)('%s', (_name, sizes, bytes) => {
    for (const s of sizes) {
      for (const off of OFFSETS) {
        for (let c = 0; c < 6; c++) {
          const tail = bytes(s);
          const plain = Uint8Array.from([...SIZE_PREFIX[s], ...tail]);
          const locked = Uint8Array.from([0xf0, ...plain]);
          const at = DATA_ADDR + 0x1000 + off;
          const mem = Uint8Array.from({ length: 96 }, () => rnd() & 0xff);
          const gpr = Array.from({ length: 16 }, rnd64);
          gpr[7] = BigInt(at); // RDI
          gpr[6] = BigInt.asUintN(64, BigInt((rnd() % 81) - 40)); // BT offsets that stay in the region
          if (c & 1) {
            // The accumulator (or EDX:EAX, RDX:RAX) equals the operand: CMPXCHG's success path.
            const m = new DataView(mem.buffer, 32);
            gpr[0] = m.getBigUint64(0, true);
            gpr[2] = m.getBigUint64(8, true);
            if (s === 4 && tail[1] === 0xc7) gpr[2] = gpr[0] >> 32n;
          }
          const input = { gpr, rflags: BigInt(rnd() & 0xcd5), mem: { addr: at - 32, bytes: mem } };
          const a = exec64({ ...input, code: plain });
          const b = exec64({ ...input, code: locked });
          const what = `${Buffer.from(locked).toString('hex')} at +0x${off.toString(16)}`;
          expect(b.fault, what).toBe(a.fault);
          expect(b.gpr, what).toEqual(a.gpr);
          expect(b.rflags, what).toBe(a.rflags);
          expect(b.mem, what).toEqual(a.mem);
        }
      }
    }
  });
});

const LIN = 0x00403ff8;

/** A processor in 64-bit mode with paging whose tables pt built; RDI = `lin`. */
function lockedCpu(pt: PageTables, lin: number) {
  const cpu = pt.cpu;
  cpu.segAttr[CS] |= SEG_L;
  cpu.updateMode();
  cpu.r32[14] = lin; // RDI
  cpu.r32[15] = 0;
  return cpu;
}
/** LOCK <form> [rdi], esi (size 4) as the decoder makes it. */
function insnOf(lockOp: number, sub = 0): Insn {
  const i = new Insn();
  i.op = Op.LOCKED;
  i.lockOp = lockOp;
  i.sub = sub;
  i.size = 4;
  i.asize = 8;
  i.mem = true;
  i.base = 7;
  i.reg = 6;
  i.seg = DS;
  i.lock = true;
  return i;
}

describe('what only the locked path does', () => {
  it('LOCK CMPXCHG to a read-only page faults with a write #PF even when the compare fails', () => {
    const pt = new PageTables('long', { cr0: CR0_WP });
    pt.map(LIN, 0x7000, P);
    const cpu = lockedCpu(pt, LIN);
    pt.dv.setInt32(0x7ff8, 5, true);
    cpu.r32[0] = 6; // EAX differs from the memory: the compare fails
    expect(pageFaultOf(cpu, () => lockedInsn(cpu, insnOf(Op.CMPXCHG)))).toEqual({
      err: PFE.P | PFE.W,
      cr2: LIN,
    });
    expect(cpu.r32[0]).toBe(6);
    expect(pt.dv.getInt32(0x7ff8, true)).toBe(5);
  });

  it('a not-present page faults as a write (the read has intent to write)', () => {
    const pt = new PageTables('long');
    pt.map(LIN + 0x1000, 0x8000, P | W); // another page, so the tables exist
    const cpu = lockedCpu(pt, LIN);
    expect(pageFaultOf(cpu, () => lockedInsn(cpu, insnOf(Op.XADD)))).toEqual({ err: PFE.W, cr2: LIN });
  });

  it('LOCK BTS faults on the second page of its operand even when the bit is on the first', () => {
    const pt = new PageTables('long');
    pt.map(LIN, 0x7000, P | W);
    const cpu = lockedCpu(pt, LIN + 6); // a dword at 0xffe: bytes on both pages
    const insn = insnOf(Op.BT_RM_I, 1);
    insn.imm = 0; // bit 0: on the first page
    expect(pageFaultOf(cpu, () => lockedInsn(cpu, insn))).toEqual({ err: PFE.W, cr2: LIN + 8 }); // the second page's first byte
    expect(pt.dv.getUint8(0x7ffe)).toBe(0);
  });

  it('a split lock takes the bus lock and gives it back; MMIO goes through the bus under it', () => {
    const pt = new PageTables('long');
    pt.map(LIN, 0x7000, P | W);
    pt.map(LIN + 8, 0x8000, P | W);
    pt.map(0x500000, 0x10000000, P | W); // beyond RAM: MMIO
    const cpu = lockedCpu(pt, LIN + 6);
    const bus = BusLock.create(2);
    cpu.busLock = bus;
    cpu.busSlot = bus.allocSlot();
    const seen: string[] = [];
    cpu.mmio = {
      mmioRead: (pa, size) => {
        seen.push(`read ${pa.toString(16)}/${size} holder ${bus.holder()}`);
        return 40;
      },
      mmioWrite: (pa, size, val) =>
        void seen.push(`write ${pa.toString(16)}/${size}=${val} holder ${bus.holder()}`),
    };
    pt.dv.setUint16(0x7ffe, 0xffff, true);
    pt.dv.setUint16(0x8000, 0x0001, true);
    cpu.r32[12] = 1; // ESI
    lockedInsn(cpu, insnOf(Op.XADD));
    expect(pt.dv.getUint16(0x7ffe, true)).toBe(0);
    expect(pt.dv.getUint16(0x8000, true)).toBe(2); // 0x0001ffff + 1, carried across the page
    expect(cpu.r32[12]).toBe(0x1ffff);
    expect(bus.holder()).toBe(-1);
    cpu.r32[14] = 0x500000;
    cpu.r32[12] = 2;
    lockedInsn(cpu, insnOf(Op.XADD));
    expect(seen).toEqual([
      `read 10000000/4 holder ${cpu.busSlot}`,
      `write 10000000/4=42 holder ${cpu.busSlot}`,
    ]);
    expect(bus.holder()).toBe(-1);
  });
});
