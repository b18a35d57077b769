// LOCK-prefixed read-modify-writes and XCHG with memory (Intel SDM vol 3 9.1.2.2, AMD APM vol 3
// 1.2.5): atomic against every other processor on any thread that shares the RAM.
//   - A naturally aligned operand of 1, 2, 4 or 8 bytes in one RAM page is one Atomics operation
//     on the RAM buffer (add, sub, and, or, xor, exchange, compareExchange; NEG is a compareExchange
//     loop). x86 orders a locked access with every load and store around it, as a sequentially
//     consistent Atomics operation does on the host.
//   - BTS/BTR/BTC change one byte: an Atomics operation on that byte, whatever the operand's
//     alignment (the other bytes of the operand are not written, so nobody can tell).
//   - Anything else (misaligned, crossing a page, CMPXCHG16B, or not in RAM: MMIO) takes the
//     machine's bus lock (bus-lock.ts) and runs the plain handler. Every locked access respects
//     that lock, so such a split lock is atomic against other locked accesses and XCHGs; a plain
//     store of another processor into the same bytes can still land between its read and write.
// The destination is translated for a write first (lockedPhys), so a read-only page faults before
// anything happens, even when CMPXCHG's compare would fail.
import { type Cpu, FAULT } from '../cpu.js';
import { flushFlags, getCF, LazyOp, LF_DST, LF_RES, LF_SRC } from '../flags.js';
import type { Insn } from '../insn.js';
import { lockedPhys, lockedProbe } from '../mmu.js';
import { Op } from '../ops.js';
import {
  ALU_ADC,
  ALU_ADD,
  ALU_AND,
  ALU_CMP,
  ALU_OR,
  ALU_SBB,
  ALU_SUB,
  alu,
  alu64,
  aluForm,
  saveCarry,
  unary,
} from './alu.js';
import { btBit, btForm, btOperand, setCF } from './bits.js';
import { cmpxchg, cmpxchg8b, setZF, xadd, xchg } from './mov.js';
import { getReg, memAddr, setReg } from './operand.js';

const RMW_ADD = 0,
  RMW_SUB = 1,
  RMW_AND = 2,
  RMW_OR = 3,
  RMW_XOR = 4,
  RMW_XCHG = 5;

/** Op.LOCKED: the form without LOCK is insn.lockOp. */
export function lockedInsn(cpu: Cpu, insn: Insn): void {
  switch (insn.lockOp) {
    case Op.ALU_RM_R:
      lockedAlu(cpu, insn, false);
      return;
    case Op.ALU_RM_I:
      lockedAlu(cpu, insn, true);
      return;
    case Op.INC_RM:
      lockedUnary(cpu, insn, 0);
      return;
    case Op.DEC_RM:
      lockedUnary(cpu, insn, 1);
      return;
    case Op.NOT_RM:
      lockedUnary(cpu, insn, 2);
      return;
    case Op.NEG_RM:
      lockedUnary(cpu, insn, 3);
      return;
    case Op.BT_RM_R:
      lockedBt(cpu, insn, false);
      return;
    case Op.BT_RM_I:
      lockedBt(cpu, insn, true);
      return;
    case Op.XCHG_RM_R:
      lockedXchg(cpu, insn);
      return;
    case Op.CMPXCHG:
      lockedCmpxchg(cpu, insn);
      return;
    case Op.XADD:
      lockedXadd(cpu, insn);
      return;
    case Op.CMPXCHG8B:
      lockedCmpxchg8b(cpu, insn);
      return;
  }
  throw new Error(`no locked form for handler ${insn.lockOp}`);
}

// ---------------------------------------------------------------- where the operand is

/**
 * The RAM address for the aligned Atomics path, or -1 after the bus-locked path has run the
 * instruction (misaligned, page-crossing or not in RAM).
 */
function target(cpu: Cpu, insn: Insn, lin: number, size: number): number {
  const pa = lockedPhys(cpu, lin, size);
  if (pa >= 0 && (pa & (size - 1)) === 0) return pa;
  busLocked(cpu, insn, lin, size);
  return -1;
}

/** The plain handler with the bus held: faults first (write intent), then the read and the write. */
function busLocked(cpu: Cpu, insn: Insn, lin: number, size: number): void {
  lockedProbe(cpu, lin, size);
  const bus = cpu.busLock;
  if (bus !== null) bus.acquire(cpu.busSlot);
  try {
    plain(cpu, insn);
  } finally {
    if (bus !== null) bus.release(cpu.busSlot);
  }
}

function plain(cpu: Cpu, insn: Insn): void {
  switch (insn.lockOp) {
    case Op.ALU_RM_R:
      aluForm(cpu, insn, true, false);
      return;
    case Op.ALU_RM_I:
      aluForm(cpu, insn, true, true);
      return;
    case Op.INC_RM:
      unary(cpu, insn, 0);
      return;
    case Op.DEC_RM:
      unary(cpu, insn, 1);
      return;
    case Op.NOT_RM:
      unary(cpu, insn, 2);
      return;
    case Op.NEG_RM:
      unary(cpu, insn, 3);
      return;
    case Op.BT_RM_R:
      btForm(cpu, insn, false);
      return;
    case Op.BT_RM_I:
      btForm(cpu, insn, true);
      return;
    case Op.XCHG_RM_R:
      xchg(cpu, insn, false);
      return;
    case Op.CMPXCHG:
      cmpxchg(cpu, insn);
      return;
    case Op.XADD:
      xadd(cpu, insn);
      return;
    default:
      cmpxchg8b(cpu, insn);
  }
}

// ---------------------------------------------------------------- the Atomics, announced to the bus lock

function enter(cpu: Cpu): void {
  if (cpu.busLock !== null) cpu.busLock.enterAtomic(cpu.busSlot);
}
function leave(cpu: Cpu): void {
  if (cpu.busLock !== null) cpu.busLock.leaveAtomic(cpu.busSlot);
}

/** One atomic read-modify-write of 1, 2 or 4 bytes at the aligned RAM address `pa`: the old value (as readMem gives it). */
function rmw(cpu: Cpu, pa: number, size: number, kind: number, v: number): number {
  enter(cpu);
  const old =
    size === 1
      ? rmwOn(cpu.ram8, pa, kind, v)
      : size === 2
        ? rmwOn(cpu.ram16, pa / 2, kind, v)
        : rmwOn(cpu.ram32, pa / 4, kind, v);
  leave(cpu);
  return old;
}
function rmwOn(a: Uint8Array | Uint16Array | Int32Array, i: number, kind: number, v: number): number {
  switch (kind) {
    case RMW_ADD:
      return Atomics.add(a, i, v);
    case RMW_SUB:
      return Atomics.sub(a, i, v);
    case RMW_AND:
      return Atomics.and(a, i, v);
    case RMW_OR:
      return Atomics.or(a, i, v);
    case RMW_XOR:
      return Atomics.xor(a, i, v);
    default:
      return Atomics.exchange(a, i, v);
  }
}
function cas(cpu: Cpu, pa: number, size: number, expect: number, v: number): number {
  enter(cpu);
  const old =
    size === 1
      ? Atomics.compareExchange(cpu.ram8, pa, expect, v)
      : size === 2
        ? Atomics.compareExchange(cpu.ram16, pa / 2, expect, v)
        : Atomics.compareExchange(cpu.ram32, pa / 4, expect, v);
  leave(cpu);
  return old;
}
function load(cpu: Cpu, pa: number, size: number): number {
  return size === 1
    ? Atomics.load(cpu.ram8, pa)
    : size === 2
      ? Atomics.load(cpu.ram16, pa / 2)
      : Atomics.load(cpu.ram32, pa / 4);
}

// ---------------------------------------------------------------- the instructions

/** ADD OR ADC SBB AND SUB XOR r/m, reg or imm (CMP is not lockable). */
function lockedAlu(cpu: Cpu, insn: Insn, imm: boolean): void {
  const size = insn.size;
  const op = insn.sub;
  const lin = memAddr(cpu, insn, size, true);
  const pa = target(cpu, insn, lin, size);
  if (pa < 0) return;
  const cin = (op === ALU_ADC || op === ALU_SBB) && getCF(cpu) ? 1 : 0;
  if (size === 8) {
    const lf = cpu.lf;
    const l = cpu.lf64;
    const r = insn.reg << 1;
    lf[LF_SRC] = imm ? insn.imm : cpu.r32[r];
    lf[LF_SRC + 1] = imm ? insn.imm >> 31 : cpu.r32[r + 1];
    const i = pa / 8;
    enter(cpu);
    switch (op) {
      case ALU_ADD:
        l[0] = Atomics.add(cpu.ram64, i, l[1]);
        break;
      case ALU_ADC:
        l[0] = Atomics.add(cpu.ram64, i, cin ? l[1] + 1n : l[1]);
        break;
      case ALU_SUB:
        l[0] = Atomics.sub(cpu.ram64, i, l[1]);
        break;
      case ALU_SBB:
        l[0] = Atomics.sub(cpu.ram64, i, cin ? l[1] + 1n : l[1]);
        break;
      case ALU_AND:
        l[0] = Atomics.and(cpu.ram64, i, l[1]);
        break;
      case ALU_OR:
        l[0] = Atomics.or(cpu.ram64, i, l[1]);
        break;
      default:
        l[0] = Atomics.xor(cpu.ram64, i, l[1]);
        break;
    }
    leave(cpu);
    alu64(cpu, op, cin !== 0);
    return;
  }
  const b = imm ? insn.imm : getReg(cpu, insn.reg, size);
  let old: number;
  switch (op) {
    case ALU_ADD:
      old = rmw(cpu, pa, size, RMW_ADD, b);
      break;
    case ALU_ADC:
      old = rmw(cpu, pa, size, RMW_ADD, (b + cin) | 0);
      break;
    case ALU_SUB:
      old = rmw(cpu, pa, size, RMW_SUB, b);
      break;
    case ALU_SBB:
      old = rmw(cpu, pa, size, RMW_SUB, (b + cin) | 0);
      break;
    case ALU_AND:
      old = rmw(cpu, pa, size, RMW_AND, b);
      break;
    case ALU_OR:
      old = rmw(cpu, pa, size, RMW_OR, b);
      break;
    default:
      old = rmw(cpu, pa, size, RMW_XOR, b);
      break;
  }
  alu(cpu, op, old, b, size); // the flags, from the value the atomic replaced (CF still the old one)
}

/** INC DEC NOT NEG (kind 0-3), with the flags unary() gives. */
function lockedUnary(cpu: Cpu, insn: Insn, kind: number): void {
  const size = insn.size;
  const lin = memAddr(cpu, insn, size, true);
  const pa = target(cpu, insn, lin, size);
  if (pa < 0) return;
  if (size === 8) {
    const l = cpu.lf64;
    const i = pa / 8;
    if (kind < 2) saveCarry(cpu);
    enter(cpu);
    switch (kind) {
      case 0:
        l[0] = Atomics.add(cpu.ram64, i, 1n);
        break;
      case 1:
        l[0] = Atomics.sub(cpu.ram64, i, 1n);
        break;
      case 2:
        Atomics.xor(cpu.ram64, i, -1n);
        leave(cpu);
        return; // NOT: no flags
      default: {
        const t = cpu.ti64;
        const t32 = cpu.t32;
        do {
          t[0] = Atomics.load(cpu.ram64, i);
          t[1] = Atomics.compareExchange(cpu.ram64, i, t[0], -t[0]);
        } while (t32[0] !== t32[2] || t32[1] !== t32[3]);
        l[1] = t[0];
        l[0] = 0n;
        l[2] = -l[1];
        cpu.lfOp = LazyOp.SUB;
        cpu.lfSize = 8;
        leave(cpu);
        return;
      }
    }
    leave(cpu);
    l[1] = 1n;
    l[2] = kind === 0 ? l[0] + 1n : l[0] - 1n;
    cpu.lfOp = kind === 0 ? LazyOp.INC : LazyOp.DEC;
    cpu.lfSize = 8;
    return;
  }
  const lf = cpu.lf;
  switch (kind) {
    case 0:
    case 1: {
      saveCarry(cpu);
      const a = rmw(cpu, pa, size, kind === 0 ? RMW_ADD : RMW_SUB, 1);
      lf[LF_DST] = a;
      lf[LF_SRC] = 1;
      lf[LF_RES] = kind === 0 ? (a + 1) | 0 : (a - 1) | 0;
      cpu.lfOp = kind === 0 ? LazyOp.INC : LazyOp.DEC;
      cpu.lfSize = size;
      return;
    }
    case 2:
      rmw(cpu, pa, size, RMW_XOR, -1);
      return;
    default: {
      let a: number;
      enter(cpu);
      do a = load(cpu, pa, size);
      while (casNoAnnounce(cpu, pa, size, a, -a | 0) !== a);
      leave(cpu);
      lf[LF_DST] = 0;
      lf[LF_SRC] = a;
      lf[LF_RES] = -a | 0;
      cpu.lfOp = LazyOp.SUB;
      cpu.lfSize = size;
    }
  }
}
function casNoAnnounce(cpu: Cpu, pa: number, size: number, expect: number, v: number): number {
  return size === 1
    ? Atomics.compareExchange(cpu.ram8, pa, expect, v)
    : size === 2
      ? Atomics.compareExchange(cpu.ram16, pa / 2, expect, v)
      : Atomics.compareExchange(cpu.ram32, pa / 4, expect, v);
}

/** BTS BTR BTC m: the byte that holds the bit changes atomically; CF is the bit's old value. */
function lockedBt(cpu: Cpu, insn: Insn, immForm: boolean): void {
  const lin = btOperand(cpu, insn, immForm);
  const bit = btBit;
  // The whole operand is translated for a write (its faults are the instruction's).
  const pa = lockedPhys(cpu, lin, insn.size);
  if (pa < 0) {
    busLocked(cpu, insn, lin, insn.size);
    return;
  }
  const at = pa + (bit >>> 3);
  const m = 1 << (bit & 7);
  const kind = insn.sub; // 1 BTS, 2 BTR, 3 BTC
  const old = rmw(
    cpu,
    at,
    1,
    kind === 1 ? RMW_OR : kind === 2 ? RMW_AND : RMW_XOR,
    kind === 2 ? ~m & 0xff : m,
  );
  flushFlags(cpu);
  setCF(cpu, old & m);
}

/** XCHG r/m, reg with memory: always locked. */
function lockedXchg(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lin = memAddr(cpu, insn, size, true);
  const pa = target(cpu, insn, lin, size);
  if (pa < 0) return;
  if (size === 8) {
    enter(cpu);
    cpu.ri64[insn.reg] = Atomics.exchange(cpu.ram64, pa / 8, cpu.ri64[insn.reg]);
    leave(cpu);
    return;
  }
  setReg(cpu, insn.reg, size, rmw(cpu, pa, size, RMW_XCHG, getReg(cpu, insn.reg, size)));
}

/** CMPXCHG r/m, reg: one compareExchange; a failed compare writes nothing (nothing changes). */
function lockedCmpxchg(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lin = memAddr(cpu, insn, size, true);
  const pa = target(cpu, insn, lin, size);
  if (pa < 0) return;
  if (size === 8) {
    const lf = cpu.lf;
    const l = cpu.lf64;
    lf[LF_DST] = cpu.r32[0];
    lf[LF_DST + 1] = cpu.r32[1];
    enter(cpu);
    l[1] = Atomics.compareExchange(cpu.ram64, pa / 8, l[0], cpu.ri64[insn.reg]);
    leave(cpu);
    alu64(cpu, ALU_CMP, false);
    if (lf[LF_SRC] !== lf[LF_DST] || lf[LF_SRC + 1] !== lf[LF_DST + 1]) {
      cpu.r32[0] = lf[LF_SRC];
      cpu.r32[1] = lf[LF_SRC + 1];
    }
    return;
  }
  const acc = getReg(cpu, 0, size);
  const old = cas(cpu, pa, size, acc, getReg(cpu, insn.reg, size));
  alu(cpu, ALU_CMP, acc, old, size);
  if (old !== acc) setReg(cpu, 0, size, old);
}

/** XADD r/m, reg: reg gets the old destination, the destination the sum. */
function lockedXadd(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lin = memAddr(cpu, insn, size, true);
  const pa = target(cpu, insn, lin, size);
  if (pa < 0) return;
  if (size === 8) {
    const lf = cpu.lf;
    const l = cpu.lf64;
    const r = insn.reg << 1;
    lf[LF_SRC] = cpu.r32[r];
    lf[LF_SRC + 1] = cpu.r32[r + 1];
    enter(cpu);
    l[0] = Atomics.add(cpu.ram64, pa / 8, l[1]);
    leave(cpu);
    alu64(cpu, ALU_ADD, false);
    cpu.r32[r] = lf[LF_DST];
    cpu.r32[r + 1] = lf[LF_DST + 1];
    return;
  }
  const b = getReg(cpu, insn.reg, size);
  const old = rmw(cpu, pa, size, RMW_ADD, b);
  alu(cpu, ALU_ADD, old, b, size);
  setReg(cpu, insn.reg, size, old);
}

/** CMPXCHG8B: one 8-byte compareExchange. CMPXCHG16B (no 16-byte Atomics): under the bus lock. */
function lockedCmpxchg8b(cpu: Cpu, insn: Insn): void {
  if (insn.size === 16) {
    const lin = memAddr(cpu, insn, 16, true);
    if (lin % 16 !== 0) {
      cpu.excVector = 13;
      cpu.excError = 0;
      cpu.excHasError = true;
      throw FAULT;
    }
    busLocked(cpu, insn, lin, 16);
    return;
  }
  const lin = memAddr(cpu, insn, 8, true);
  const pa = target(cpu, insn, lin, 8);
  if (pa < 0) return;
  const r32 = cpu.r32;
  const t = cpu.ti64;
  const t32 = cpu.t32;
  t32[0] = r32[0]; // EDX:EAX
  t32[1] = r32[4];
  t32[2] = r32[6]; // ECX:EBX
  t32[3] = r32[2];
  enter(cpu);
  t[2] = Atomics.compareExchange(cpu.ram64, pa / 8, t[0], t[1]);
  leave(cpu);
  const eq = t32[4] === t32[0] && t32[5] === t32[1];
  if (!eq) {
    r32[0] = t32[4];
    r32[1] = 0;
    r32[4] = t32[5];
    r32[5] = 0;
  }
  setZF(cpu, eq);
}

/** A word no one else uses: a locked operation on it is a full fence of the host processor. */
const fenceWord = new Int32Array(1);

/**
 * MFENCE: under x86-TSO the one reordering is a store passing a later load (its store buffer);
 * a host locked operation (V8 compiles Atomics.add to LOCK XADD on x86) drains the host's.
 */
export function mfence(): void {
  Atomics.add(fenceWord, 0, 0);
}
