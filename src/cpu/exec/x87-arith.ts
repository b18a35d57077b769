// x87 data movement, arithmetic, comparisons and environment instructions (Intel SDM vol 1 ch. 8,
// vol 2 "F..." pages; AMD APM vol 5). The decoder gives Op.FPU with sub = escape (D8-DF) * 8 +
// ModRM.reg for memory forms and 64 + the same for register forms (ST(i) = ModRM.rm & 7).
// The core keeps no FPU instruction/data pointers or last opcode: they read back as 0.
import { type Cpu, FAULT } from '../cpu.js';
import { setArithFlags, testCond } from '../flags.js';
import type { Insn } from '../insn.js';
import { probeWrite, readLin16, readLin32, readLin64, writeLin16, writeLin32, writeLin64 } from '../mmu.js';
import { CF, CR0_NE, MF, PF, UD, ZF } from '../regs.js';
import * as f from './f80.js';
import { memAddr } from './operand.js';
import { fninit } from './x87.js';
import {
  decTop,
  FSW_B,
  FSW_C0,
  FSW_C1,
  FSW_C2,
  FSW_C3,
  FSW_CC,
  FSW_ES,
  incTop,
  isEmpty,
  pop,
  push,
  readST,
  report,
  setTag,
  setTopKeepRegs,
  stackFault,
  TAG_EMPTY,
  tagOf,
  top,
  writeST,
} from './x87-stack.js';

const A = new f.F80();
const B = new f.F80();
const R = new f.F80();

function raise(cpu: Cpu, vector: number): never {
  cpu.excVector = vector;
  cpu.excError = 0;
  cpu.excHasError = false;
  throw FAULT;
}

/** Waiting instructions first take a pending unmasked exception: #MF with CR0.NE (FERR# is not wired). */
export function pendingFpuException(cpu: Cpu): void {
  if (cpu.fsw & FSW_ES && cpu.cr0 & CR0_NE) raise(cpu, MF);
}

const rc = (cpu: Cpu) => (cpu.fcw >> 10) & 3;
/** Exceptions that suppress the result when unmasked (computed before the operation). */
const blocked = (cpu: Cpu, exc: number) => (exc & ~cpu.fcw & (f.IE | f.DE | f.ZE)) !== 0;

// ---------------------------------------------------------------- memory operands

/**
 * Reads the memory operand of `insn` into A: kind 0 m32fp, 1 m64fp, 2 m80fp, 3 m16int, 4 m32int,
 * 5 m64int. `operand`: for arithmetic (an SNaN stays signalling for the operation to judge).
 */
function loadMem(cpu: Cpu, insn: Insn, kind: number, operand = false): void {
  switch (kind) {
    case 0:
      f.fromIeee(A, BigInt(readLin32(cpu, memAddr(cpu, insn, 4, false)) >>> 0), 23, operand);
      return;
    case 1: {
      const lo = readLin64(cpu, memAddr(cpu, insn, 8, false));
      f.fromIeee(A, (BigInt(cpu.t32[7] >>> 0) << 32n) | BigInt(lo >>> 0), 52, operand);
      return;
    }
    case 2: {
      const lin = memAddr(cpu, insn, 10, false);
      const lo = readLin64(cpu, lin);
      const hi = cpu.t32[7];
      const se = readLin16(cpu, lin + 8);
      f.set(A, se >> 15, se & 0x7fff, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
      return;
    }
    case 3:
      f.fromInt(A, BigInt((readLin16(cpu, memAddr(cpu, insn, 2, false)) << 16) >> 16));
      return;
    case 4:
      f.fromInt(A, BigInt(readLin32(cpu, memAddr(cpu, insn, 4, false)) | 0));
      return;
    default: {
      const lo = readLin64(cpu, memAddr(cpu, insn, 8, false));
      f.fromInt(A, (BigInt(cpu.t32[7] | 0) << 32n) | BigInt(lo >>> 0));
    }
  }
}

function storeInt(cpu: Cpu, lin: number, bytes: number, v: bigint): void {
  if (bytes === 2) writeLin16(cpu, lin, Number(BigInt.asUintN(16, v)));
  else if (bytes === 4) writeLin32(cpu, lin, Number(BigInt.asIntN(32, v)));
  else writeLin64(cpu, lin, Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
}

function store80(cpu: Cpu, lin: number, v: f.F80): void {
  probeWrite(cpu, lin, 10);
  writeLin64(cpu, lin, Number(BigInt.asIntN(32, v.sig)), Number(BigInt.asIntN(32, v.sig >> 32n)));
  writeLin16(cpu, lin + 8, (v.sign << 15) | v.exp);
}

// ---------------------------------------------------------------- arithmetic

/** D8-DE /0,1,4-7 arithmetic: op index (0 add 1 mul 4 sub 5 subr 6 div 7 divr), dest ST(d) op src. */
function arithOp(cpu: Cpu, op: number, dst: f.F80, src: f.F80, out: f.F80): void {
  switch (op) {
    case 0:
      f.arith(f.ADD, dst, src, cpu.fcw, out);
      return;
    case 1:
      f.arith(f.MUL, dst, src, cpu.fcw, out);
      return;
    case 4:
      f.arith(f.SUB, dst, src, cpu.fcw, out);
      return;
    case 5:
      f.arith(f.SUB, src, dst, cpu.fcw, out);
      return;
    case 6:
      f.arith(f.DIV, dst, src, cpu.fcw, out);
      return;
    default:
      f.arith(f.DIV, src, dst, cpu.fcw, out);
  }
}

/** ST(d) = ST(d) op A (A already loaded: a memory operand or ST(s)); pops when asked. */
function arithTo(cpu: Cpu, op: number, d: number, s: number, doPop: boolean): void {
  if (isEmpty(cpu, d) || (s >= 0 && isEmpty(cpu, s))) {
    underflowTo(cpu, d, doPop);
    return;
  }
  if (s >= 0) readST(cpu, s, A);
  readST(cpu, d, B);
  f.clear();
  arithOp(cpu, op, B, A, R);
  finish(cpu, d, doPop);
}

/** Writes R to ST(d) unless an unmasked pre-computation exception forbids it, then pops. */
function finish(cpu: Cpu, d: number, doPop: boolean): void {
  const exc = f.status.exc;
  report(cpu, exc, f.status.c1);
  if (blocked(cpu, exc)) return;
  writeST(cpu, d, R);
  if (doPop) pop(cpu);
}

/** Stack underflow with destination ST(d): the real indefinite there when IE is masked. */
function underflowTo(cpu: Cpu, d: number, doPop: boolean): void {
  stackFault(cpu, false);
  if (!(cpu.fcw & f.IE)) return;
  writeST(cpu, d, f.indefinite(R));
  if (doPop) pop(cpu);
}

// ---------------------------------------------------------------- comparisons

/** FSW C3 C2 C0 for compare results 0 equal, 1 less, 2 greater, 3 unordered. */
const CC = [FSW_C3, FSW_C0, 0, FSW_C3 | FSW_C2 | FSW_C0];
/** RFLAGS ZF PF CF for the same results (FCOMI). */
const EF = [ZF, CF, 0, ZF | PF | CF];

/** FCOM/FUCOM family: ST(0) against A (or ST(s)); pops `pops` times. */
function fcom(cpu: Cpu, s: number, quiet: boolean, pops: number, eflags: boolean): void {
  const loadDenormal = f.status.loadDenormal;
  let r = 3;
  let exc: number;
  if (isEmpty(cpu, 0) || (s >= 0 && isEmpty(cpu, s))) {
    stackFault(cpu, false);
    exc = f.IE;
    // (masked: the result is "unordered")
  } else {
    if (s >= 0) readST(cpu, s, A);
    readST(cpu, 0, B);
    f.clear();
    f.status.loadDenormal = s < 0 && loadDenormal;
    r = f.compare(B, A, quiet);
    exc = f.status.exc;
    const c1 = cpu.fsw & FSW_C1;
    report(cpu, exc, 0);
    cpu.fsw |= c1;
  }
  // The condition codes are set even when an unmasked exception stops the pop.
  // FCOMI/FUCOMI leave C1 alone (host-checked), the FSW forms clear it.
  if (eflags) setArithFlags(cpu, EF[r]);
  else cpu.fsw = (cpu.fsw & ~(FSW_C3 | FSW_C2 | FSW_C1 | FSW_C0)) | CC[r];
  if (blocked(cpu, exc)) return;
  for (let i = 0; i < pops; i++) pop(cpu);
}

/** FXAM: C3 C2 C0 give the class of ST(0), C1 its sign. */
function fxam(cpu: Cpu): void {
  readST(cpu, 0, A);
  let cc: number;
  if (isEmpty(cpu, 0)) cc = FSW_C3 | FSW_C0;
  else {
    switch (f.classify(A)) {
      case f.Cls.UNSUPPORTED:
        cc = 0;
        break;
      case f.Cls.QNAN:
      case f.Cls.SNAN:
        cc = FSW_C0;
        break;
      case f.Cls.NORMAL:
        cc = FSW_C2;
        break;
      case f.Cls.INF:
        cc = FSW_C2 | FSW_C0;
        break;
      case f.Cls.ZERO:
        cc = FSW_C3;
        break;
      default:
        cc = FSW_C3 | FSW_C2;
    }
  }
  cpu.fsw = (cpu.fsw & ~FSW_CC) | cc | (A.sign ? FSW_C1 : 0);
}

// ---------------------------------------------------------------- loads and stores

/** FLD m32/m64/m80fp and FILD m16/m32/m64int (loadMem's kinds): convert, then push. */
function fldMem(cpu: Cpu, insn: Insn, kind: number): void {
  f.clear();
  loadMem(cpu, insn, kind);
  pushLoaded(cpu);
}

/** FLD/FILD of A (already converted, with its exceptions in f.status). */
function pushLoaded(cpu: Cpu): void {
  if (!isEmpty(cpu, 7)) {
    push(cpu, A); // stack overflow
    return;
  }
  const exc = f.status.exc | (f.status.loadDenormal ? f.DE : 0);
  report(cpu, exc, 0);
  // An unmasked denormal operand does not stop the load (host-checked).
  if (exc & ~cpu.fcw & f.IE) return;
  push(cpu, A);
}

/** Memory operand sizes of loadMem's kinds. */
const MEM_BYTES = [4, 8, 10, 2, 4, 8];

/** FST/FSTP m32/m64/m80 and FIST/FISTP/FISTTP (kind as loadMem; `trunc` for FISTTP). */
function storeMem(cpu: Cpu, insn: Insn, kind: number, doPop: boolean, trunc: boolean): void {
  const bytes = MEM_BYTES[kind];
  const lin = memAddr(cpu, insn, bytes, true);
  const empty = isEmpty(cpu, 0);
  readST(cpu, 0, A);
  f.clear();
  if (empty) {
    f.indefinite(A);
    f.status.exc = f.IE;
  }
  let v: bigint | null = null;
  if (kind === 2) {
    if (!empty || cpu.fcw & f.IE) store80(cpu, lin, A);
  } else {
    if (!empty) {
      if (kind === 0) v = f.toIeee(A, 23, rc(cpu), cpu.fcw);
      else if (kind === 1) v = f.toIeee(A, 52, rc(cpu), cpu.fcw);
      else v = f.toInt(A, 8 * bytes, trunc ? 3 : rc(cpu), cpu.fcw);
    } else if (cpu.fcw & f.IE) {
      v = kind === 0 ? 0xffc00000n : kind === 1 ? 0xfff8000000000000n : -(1n << BigInt(8 * bytes - 1));
    }
    if (v !== null) {
      if (kind <= 1) storeInt(cpu, lin, bytes, BigInt.asIntN(8 * bytes, v));
      else storeInt(cpu, lin, bytes, v);
    }
  }
  if (empty) {
    stackFault(cpu, false);
    if (!(cpu.fcw & f.IE)) return;
  } else report(cpu, f.status.exc, f.status.c1);
  if (v === null && kind !== 2) return;
  if (doPop) pop(cpu);
}

/** FST/FSTP ST(i): a plain copy, no rounding. */
function fstReg(cpu: Cpu, i: number, doPop: boolean): void {
  if (isEmpty(cpu, 0)) {
    underflowTo(cpu, i, doPop);
    return;
  }
  cpu.fsw &= ~FSW_C1;
  readST(cpu, 0, A);
  writeST(cpu, i, A);
  if (doPop) pop(cpu);
}

function fxch(cpu: Cpu, i: number): void {
  cpu.fsw &= ~FSW_C1;
  if (isEmpty(cpu, 0) || isEmpty(cpu, i)) {
    stackFault(cpu, false);
    if (!(cpu.fcw & f.IE)) return;
    if (isEmpty(cpu, 0)) writeST(cpu, 0, f.indefinite(A));
    if (isEmpty(cpu, i)) writeST(cpu, i, f.indefinite(A));
  }
  readST(cpu, 0, A);
  readST(cpu, i, B);
  writeST(cpu, 0, B);
  writeST(cpu, i, A);
}

/** FCMOVcc: condition codes B E BE U (DA) and their negations (DB), as Jcc's tttn. */
const FCMOV_CC = [2, 4, 6, 10, 3, 5, 7, 11];

function fcmov(cpu: Cpu, which: number, i: number): void {
  if (isEmpty(cpu, 0) || isEmpty(cpu, i)) {
    stackFault(cpu, false);
    if (cpu.fcw & f.IE) writeST(cpu, 0, f.indefinite(A));
    return;
  }
  if (!testCond(cpu, FCMOV_CC[which])) return;
  readST(cpu, i, A);
  writeST(cpu, 0, A);
}

/** One-operand ST(0) operations: FCHS FABS FSQRT FRNDINT. */
function unary(cpu: Cpu, kind: number): void {
  if (isEmpty(cpu, 0)) {
    underflowTo(cpu, 0, false);
    return;
  }
  readST(cpu, 0, A);
  f.clear();
  if (kind === 0) f.set(R, A.sign ^ 1, A.exp, A.sig);
  else if (kind === 1) f.set(R, 0, A.exp, A.sig);
  else if (kind === 2) f.sqrt(A, cpu.fcw, R);
  else f.roundInt(A, cpu.fcw, R);
  finish(cpu, 0, false);
}

// ---------------------------------------------------------------- environment

/** Image of the x87 environment: FCW FSW FTW, then zeroed pointers (14 or 28 bytes). */
function storeEnv(cpu: Cpu, lin: number, o32: boolean): void {
  const step = o32 ? 4 : 2;
  const len = o32 ? 28 : 14;
  probeWrite(cpu, lin, len);
  const words = [cpu.fcw, cpu.fsw, fullTagWord(cpu)];
  for (let k = 0; k < 3; k++) {
    writeLin16(cpu, lin + k * step, words[k]);
    if (o32) writeLin16(cpu, lin + k * step + 2, 0xffff);
  }
  // FIP, FCS/FOP, FDP, FDS are zero; the reserved upper half of the FDS slot reads as ones.
  for (let o = 3 * step; o < len; o += 2) writeLin16(cpu, lin + o, o32 && o === 26 ? 0xffff : 0);
}

/** The tag word with valid/zero/special recomputed from the registers (empty kept). */
function fullTagWord(cpu: Cpu): number {
  const t = top(cpu);
  let ftw = 0;
  for (let p = 0; p < 8; p++) {
    const i = (p - t) & 7;
    const tg = (cpu.ftw >> (2 * p)) & 3;
    ftw |= (tg === TAG_EMPTY ? TAG_EMPTY : tagOf(cpu.st, 10 * i)) << (2 * p);
  }
  return ftw;
}

function loadEnv(cpu: Cpu, lin: number, o32: boolean): void {
  const step = o32 ? 4 : 2;
  const fcw = readLin16(cpu, lin);
  const fsw = readLin16(cpu, lin + step);
  const ftw = readLin16(cpu, lin + 2 * step);
  setTopKeepRegs(cpu, (fsw >> 11) & 7);
  cpu.fcw = (fcw & 0x1f3f) | 0x40;
  cpu.fsw = fsw;
  cpu.ftw = ftw;
  cpu.ftw = fullTagWord(cpu);
}

function fnsave(cpu: Cpu, insn: Insn): void {
  const o32 = insn.size !== 2;
  const envLen = o32 ? 28 : 14;
  const lin = memAddr(cpu, insn, envLen + 80, true);
  probeWrite(cpu, lin, envLen + 80);
  storeEnv(cpu, lin, o32);
  for (let i = 0; i < 80; i += 2) writeLin16(cpu, lin + envLen + i, cpu.st[i] | (cpu.st[i + 1] << 8));
  fninit(cpu);
}

const img = new Uint8Array(80);

function frstor(cpu: Cpu, insn: Insn): void {
  const o32 = insn.size !== 2;
  const envLen = o32 ? 28 : 14;
  const lin = memAddr(cpu, insn, envLen + 80, false);
  for (let i = 0; i < 80; i += 2) {
    const w = readLin16(cpu, lin + envLen + i);
    img[i] = w & 0xff;
    img[i + 1] = w >> 8;
  }
  loadEnv(cpu, lin, o32); // the memory reads are done: nothing can fault from here on
  cpu.st.set(img); // stack order, for the new TOP
  cpu.ftw = fullTagWord(cpu);
}

// ---------------------------------------------------------------- entry point

/** Executes Op.FPU (after the #NM/#UD checks of checkFpu). */
export function execFpu(cpu: Cpu, insn: Insn): void {
  const sub = insn.sub;
  const esc = (sub >> 3) & 7;
  const reg = sub & 7;
  // Non-waiting forms do not look at pending exceptions: FNSTENV, FNSAVE, and the 287's FENI,
  // FDISI and FSETPM (DB E0, E1, E4), which are no-ops now.
  const nowait = sub < 64 ? (esc === 1 || esc === 5) && (reg === 6 || reg === 7) : esc === 3 && reg === 4;
  if (!nowait) pendingFpuException(cpu);
  if (sub < 64) execMem(cpu, insn, esc, reg);
  else execReg(cpu, esc, reg, insn.rm & 7);
}

function execMem(cpu: Cpu, insn: Insn, esc: number, reg: number): void {
  switch (esc) {
    case 0: // D8: m32fp arithmetic
    case 2: // DA: m32int
    case 4: // DC: m64fp
    case 6: {
      // DE: m16int
      const kind = esc === 0 ? 0 : esc === 2 ? 4 : esc === 4 ? 1 : 3;
      f.clear();
      loadMem(cpu, insn, kind, true);
      if (reg === 2 || reg === 3) {
        fcom(cpu, -1, false, reg === 3 ? 1 : 0, false); // -1: compare with A, the memory operand
        return;
      }
      if (isEmpty(cpu, 0)) {
        underflowTo(cpu, 0, false);
        return;
      }
      readST(cpu, 0, B);
      arithOp(cpu, reg, B, A, R); // f.status.loadDenormal carries over from the load
      finish(cpu, 0, false);
      return;
    }
    case 1: // D9
      switch (reg) {
        case 0:
          fldMem(cpu, insn, 0);
          return;
        case 2:
        case 3:
          storeMem(cpu, insn, 0, reg === 3, false);
          return;
        case 4:
          loadEnv(cpu, memAddr(cpu, insn, insn.size === 2 ? 14 : 28, false), insn.size !== 2);
          return;
        case 6:
          storeEnv(cpu, memAddr(cpu, insn, insn.size === 2 ? 14 : 28, true), insn.size !== 2);
          cpu.fcw |= 0x3f; // every exception masked: nothing is pending any more
          cpu.fsw &= ~(FSW_ES | FSW_B);
          return;
      }
      break;
    case 3: // DB
      switch (reg) {
        case 0:
          fldMem(cpu, insn, 4);
          return;
        case 1:
        case 2:
        case 3:
          storeMem(cpu, insn, 4, reg !== 2, reg === 1);
          return;
        case 5:
          fldMem(cpu, insn, 2);
          return;
        case 7:
          storeMem(cpu, insn, 2, true, false);
          return;
      }
      break;
    case 5: // DD
      switch (reg) {
        case 0:
          fldMem(cpu, insn, 1);
          return;
        case 1:
        case 2:
        case 3:
          storeMem(cpu, insn, reg === 1 ? 5 : 1, reg !== 2, reg === 1);
          return;
        case 4:
          frstor(cpu, insn);
          return;
        case 6:
          fnsave(cpu, insn);
          return;
      }
      break;
    case 7: // DF
      switch (reg) {
        case 0:
          fldMem(cpu, insn, 3);
          return;
        case 1:
        case 2:
        case 3:
          storeMem(cpu, insn, 3, reg !== 2, reg === 1);
          return;
        case 5:
          fldMem(cpu, insn, 5);
          return;
        case 7:
          storeMem(cpu, insn, 5, true, false);
          return;
      }
      break;
  }
  raise(cpu, UD);
}

function execReg(cpu: Cpu, esc: number, reg: number, i: number): void {
  switch (esc) {
    case 0: // D8: ST(0) = ST(0) op ST(i); D0/D8 FCOM/FCOMP
      if (reg === 2 || reg === 3) {
        fcom(cpu, i, false, reg - 2, false);
        return;
      }
      arithTo(cpu, reg, 0, i, false);
      return;
    case 4: // DC: ST(i) = ST(i) op ST(0), sub/div reversed in the encoding
    case 6: // DE: the same, then pop; DE D9 FCOMPP
      if (reg === 2 || reg === 3) {
        if (esc === 6 && reg === 3) {
          if (i !== 1) break;
          fcom(cpu, 1, false, 2, false);
          return;
        }
        // Aliases: DC D0+i FCOM, DC D8+i and DE D0+i FCOMP.
        fcom(cpu, i, false, esc === 6 || reg === 3 ? 1 : 0, false);
        return;
      }
      arithTo(cpu, reg >= 4 ? reg ^ 1 : reg, i, 0, esc === 6);
      return;
    case 1: // D9
      switch (reg) {
        case 0: {
          if (isEmpty(cpu, i)) {
            stackFault(cpu, false);
            if (!(cpu.fcw & f.IE)) return;
            if (!isEmpty(cpu, 7)) stackFault(cpu, true);
            decTop(cpu);
            writeST(cpu, 0, f.indefinite(R));
            return;
          }
          readST(cpu, i, A);
          f.clear();
          pushLoaded(cpu);
          return;
        }
        case 1:
          fxch(cpu, i);
          return;
        case 2:
          if (i === 0) return; // FNOP
          break;
        case 3: {
          // D9 D8+i: FSTP ST(i) without the stack-underflow check: an empty ST(0) is just popped
          // (host-checked).
          cpu.fsw &= ~FSW_C1;
          if (!isEmpty(cpu, 0)) writeST(cpu, i, readST(cpu, 0, A));
          pop(cpu);
          return;
        }
        case 4:
          d9e0(cpu, i);
          return;
        case 5:
          d9e8(cpu, i);
          return;
        case 6:
          d9f0(cpu, i);
          return;
        default:
          d9f8(cpu, i);
          return;
      }
      break;
    case 2: // DA: FCMOVB/E/BE/U; DA E9 FUCOMPP
      if (reg < 4) {
        fcmov(cpu, reg, i);
        return;
      }
      if (reg === 5 && i === 1) {
        fcom(cpu, 1, true, 2, false);
        return;
      }
      break;
    case 3: // DB: FCMOVNB/NE/NBE/NU, FUCOMI, FCOMI
      if (reg < 4) {
        fcmov(cpu, 4 + reg, i);
        return;
      }
      if (reg === 5) {
        fcom(cpu, i, true, 0, true);
        return;
      }
      if (reg === 6) {
        fcom(cpu, i, false, 0, true);
        return;
      }
      if (reg === 4 && (i === 0 || i === 1 || i === 4)) return; // FENI, FDISI, FSETPM: no-ops
      break;
    case 5: // DD: FFREE, FST, FSTP, FUCOM, FUCOMP
      switch (reg) {
        case 0:
          setTag(cpu, i, TAG_EMPTY);
          return;
        case 1:
          fxch(cpu, i);
          return;
        case 2:
        case 3:
          fstReg(cpu, i, reg === 3);
          return;
        case 4:
        case 5:
          fcom(cpu, i, true, reg - 4, false);
          return;
      }
      break;
    case 7: // DF: FFREEP, aliases, FUCOMIP, FCOMIP
      switch (reg) {
        case 0:
          setTag(cpu, i, TAG_EMPTY);
          pop(cpu);
          return;
        case 1:
          fxch(cpu, i);
          return;
        case 2:
        case 3:
          fstReg(cpu, i, true);
          return;
        case 5:
          fcom(cpu, i, true, 1, true);
          return;
        case 6:
          fcom(cpu, i, false, 1, true);
          return;
      }
      break;
  }
  raise(cpu, UD);
}

/** D9 E0-E7: FCHS FABS FTST FXAM. */
function d9e0(cpu: Cpu, i: number): void {
  switch (i) {
    case 0:
    case 1:
      cpu.fsw &= ~FSW_C1;
      unary(cpu, i);
      return;
    case 4:
      f.clear();
      f.zero(A, 0);
      fcom(cpu, -1, false, 0, false);
      return;
    case 5:
      fxam(cpu);
      return;
  }
  raise(cpu, UD);
}

/** D9 E8-EE: FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ. */
function d9e8(cpu: Cpu, i: number): void {
  if (i === 7) raise(cpu, UD);
  if (i === 0) f.set(A, 0, 16383, 1n << 63n);
  else if (i === 6) f.zero(A, 0);
  else f.constant(i - 1, rc(cpu), A);
  f.clear();
  pushLoaded(cpu);
}

/** D9 F0-F7: FXTRACT, FPREM1, FDECSTP and FINCSTP (the transcendental ones are not offered). */
function d9f0(cpu: Cpu, i: number): void {
  if (i === 4) {
    fxtract(cpu);
    return;
  }
  if (i === 5) {
    fpremOp(cpu, true);
    return;
  }
  if (i === 6 || i === 7) {
    cpu.fsw &= ~FSW_C1;
    if (i === 6) decTop(cpu);
    else incTop(cpu);
    return;
  }
  raise(cpu, UD);
}

/** D9 F8-FF: FPREM FSQRT FRNDINT FSCALE (the transcendental ones are not offered). */
function d9f8(cpu: Cpu, i: number): void {
  switch (i) {
    case 0:
      fpremOp(cpu);
      return;
    case 2:
      unary(cpu, 2);
      return;
    case 4:
      unary(cpu, 3);
      return;
    case 5:
      if (isEmpty(cpu, 0) || isEmpty(cpu, 1)) {
        underflowTo(cpu, 0, false);
        return;
      }
      readST(cpu, 0, A);
      readST(cpu, 1, B);
      f.clear();
      f.fscale(A, B, cpu.fcw, R);
      finish(cpu, 0, false);
      return;
  }
  raise(cpu, UD);
}

/** FXTRACT: ST(0) becomes the exponent, then the significand is pushed. */
function fxtract(cpu: Cpu): void {
  if (isEmpty(cpu, 0)) {
    underflowTo(cpu, 0, false);
    if (cpu.fcw & f.IE) push(cpu, f.indefinite(A));
    return;
  }
  if (!isEmpty(cpu, 7)) {
    stackFault(cpu, true);
    if (!(cpu.fcw & f.IE)) return;
    writeST(cpu, 0, f.indefinite(A));
    decTop(cpu);
    writeST(cpu, 0, A);
    return;
  }
  readST(cpu, 0, A);
  f.clear();
  f.extract(A, cpu.fcw, R, B);
  const exc = f.status.exc;
  report(cpu, exc, 0);
  if (blocked(cpu, exc)) return;
  writeST(cpu, 0, R);
  push(cpu, B);
}

function fpremOp(cpu: Cpu, nearest = false): void {
  cpu.fsw &= ~FSW_C2;
  if (isEmpty(cpu, 0) || isEmpty(cpu, 1)) {
    underflowTo(cpu, 0, false);
    return;
  }
  readST(cpu, 0, A);
  readST(cpu, 1, B);
  f.clear();
  const q = f.fprem(A, B, cpu.fcw, R, nearest);
  const exc = f.status.exc;
  report(cpu, exc, 0);
  if (blocked(cpu, exc)) return;
  writeST(cpu, 0, R);
  if (exc & f.IE || f.status.nan) return; // C0 and C3 keep their values
  let cc = 0;
  if (q < 0) cc = FSW_C2;
  else cc = (q & 4 ? FSW_C0 : 0) | (q & 2 ? FSW_C3 : 0) | (q & 1 ? FSW_C1 : 0);
  cpu.fsw = (cpu.fsw & ~FSW_CC) | cc;
}
