// The stack: PUSH/POP in all forms, PUSHA/POPA, PUSHF/POPF with the IOPL and IF rules, ENTER/LEAVE.
// The stack address size comes from SS.B (or 64 bits in 64-bit mode), not from the instruction.
import type { Cpu } from '../cpu.js';
import { getFlags } from '../flags.js';
import type { Insn } from '../insn.js';
import { readLin16, readLin32, readLin64, writeLin16, writeLin32, writeLin64 } from '../mmu.js';
import { AC, ARITH_FLAGS, DF, ID, IF, IOPL, NT, RF, SS, TF, VM } from '../regs.js';
import { linearAddr } from '../segment-check.js';
import { fault, loadDataSegment } from '../segments.js';
import { getReg, loadRM64, memAddr, readRM, setReg, storeRM64, writeRM } from './operand.js';

const TWO32 = 4294967296;
const CANON = 140737488355328;

/** #SS(0): a non-canonical stack address in 64-bit mode. */
function stackFault(cpu: Cpu): never {
  return fault(cpu, 12, 0);
}

/** Current stack pointer as an offset (RSP signed in 64-bit mode, else ESP/SP). */
export function getSp(cpu: Cpu): number {
  const ss = cpu.stackSize;
  if (ss === 8) return cpu.r32[9] * TWO32 + (cpu.r32[8] >>> 0);
  return ss === 4 ? cpu.r32[8] >>> 0 : cpu.r16[16];
}

export function setSp(cpu: Cpu, sp: number): void {
  const ss = cpu.stackSize;
  if (ss === 8) {
    cpu.r32[8] = sp % TWO32;
    cpu.r32[9] = Math.floor(sp / TWO32);
  } else if (ss === 4) cpu.r32[8] = sp;
  else cpu.r16[16] = sp;
}

function wrapSp(cpu: Cpu, sp: number): number {
  const ss = cpu.stackSize;
  return ss === 8 ? sp : ss === 4 ? sp >>> 0 : sp & 0xffff;
}

/** Push a value of `size` bytes (2, 4 or 8; `hi` is the upper half for 8). */
export function push(cpu: Cpu, size: number, v: number, hi = 0): void {
  if (size === 4 && cpu.stackFlat32) {
    const sp = (cpu.r32[8] - 4) >>> 0;
    writeLin32(cpu, sp, v);
    cpu.r32[8] = sp;
    return;
  }
  if (size === 8 && cpu.stackSize === 8) {
    // 64-bit mode: no segment base or limit, only the canonical check.
    const sp = cpu.r32[9] * TWO32 + (cpu.r32[8] >>> 0) - 8;
    if (sp < -CANON || sp >= CANON) stackFault(cpu);
    writeLin64(cpu, sp, v, hi);
    cpu.r32[8] = sp % TWO32;
    cpu.r32[9] = Math.floor(sp / TWO32);
    return;
  }
  const sp = wrapSp(cpu, getSp(cpu) - size);
  const lin = linearAddr(cpu, SS, sp, size, true);
  if (size === 8) writeLin64(cpu, lin, v, hi);
  else if (size === 4) writeLin32(cpu, lin, v);
  else writeLin16(cpu, lin, v);
  setSp(cpu, sp);
}

/** Pop `size` bytes; returns the value (low half for 8, high half left in cpu.t32[7]). */
export function pop(cpu: Cpu, size: number): number {
  const sp = getSp(cpu);
  const lin = linearAddr(cpu, SS, sp, size, false);
  const v = size === 8 ? readLin64(cpu, lin) : size === 4 ? readLin32(cpu, lin) : readLin16(cpu, lin);
  setSp(cpu, wrapSp(cpu, sp + size));
  return v;
}

/** Read the stack at SP + `offset` without popping (for instructions that commit state only at the end). */
export function peek(cpu: Cpu, offset: number, size: number): number {
  if (size === 4 && cpu.stackFlat32) return readLin32(cpu, (cpu.r32[8] + offset) >>> 0);
  if (size === 8 && cpu.stackSize === 8) {
    const sp = cpu.r32[9] * TWO32 + (cpu.r32[8] >>> 0) + offset;
    if (sp < -CANON || sp >= CANON) stackFault(cpu);
    return readLin64(cpu, sp);
  }
  const lin = linearAddr(cpu, SS, wrapSp(cpu, getSp(cpu) + offset), size, false);
  return size === 8 ? readLin64(cpu, lin) : size === 4 ? readLin32(cpu, lin) : readLin16(cpu, lin);
}

export function pushReg(cpu: Cpu, insn: Insn): void {
  const r = insn.rm << 1;
  if (insn.size === 8) push(cpu, 8, cpu.r32[r], cpu.r32[r + 1]);
  else push(cpu, insn.size, getReg(cpu, insn.rm, insn.size));
}

export function popReg(cpu: Cpu, insn: Insn): void {
  const v = pop(cpu, insn.size);
  if (insn.size === 8) {
    cpu.r32[insn.rm << 1] = v;
    cpu.r32[(insn.rm << 1) + 1] = cpu.t32[7];
  } else setReg(cpu, insn.rm, insn.size, v);
}

export function pushImm(cpu: Cpu, insn: Insn): void {
  push(cpu, insn.size, insn.imm, insn.imm >> 31);
}

export function pushRm(cpu: Cpu, insn: Insn): void {
  if (insn.size === 8) {
    loadRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, false) : 0, cpu.t32, 0);
    push(cpu, 8, cpu.t32[0], cpu.t32[1]);
  } else push(cpu, insn.size, readRM(cpu, insn, insn.size));
}

/** POP r/m: the address is computed with the incremented stack pointer (SDM "POP"). */
export function popRm(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const oldSp = getSp(cpu);
  const v = pop(cpu, size);
  const hi = cpu.t32[7];
  try {
    if (size === 8) storeRM64(cpu, insn, insn.mem ? memAddr(cpu, insn, 8, true) : 0, v, hi);
    else writeRM(cpu, insn, size, v);
  } catch (e) {
    setSp(cpu, oldSp);
    throw e;
  }
}

/** PUSH ES/CS/SS/DS/FS/GS (sub = segment). A 32-bit push writes 2 bytes on AMD, 4 zero-extended here. */
export function pushSreg(cpu: Cpu, insn: Insn): void {
  push(cpu, insn.size, cpu.segSel[insn.sub]);
}

export function popSreg(cpu: Cpu, insn: Insn): void {
  const sel = peek(cpu, 0, insn.size) & 0xffff;
  loadDataSegment(cpu, insn.sub, sel);
  setSp(cpu, wrapSp(cpu, getSp(cpu) + insn.size));
  if (insn.sub === SS) cpu.interruptShadow = cpu.dbShadow = true;
}

export function pusha(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const sp = getSp(cpu);
  for (let r = 0; r < 8; r++) {
    const v = r === 4 ? sp : getReg(cpu, r, size);
    push(cpu, size, v);
  }
}

export function popa(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  for (let r = 7; r >= 0; r--) {
    const v = pop(cpu, size);
    if (r !== 4) setReg(cpu, r, size, v);
  }
}

export function pushf(cpu: Cpu, insn: Insn): void {
  const f = getFlags(cpu) & ~(RF | VM);
  if (insn.size === 8) push(cpu, 8, f, 0);
  else push(cpu, insn.size, f);
}

/**
 * Write RFLAGS from a POPF/IRET image under the privilege rules: IOPL changes only at CPL 0,
 * IF only when CPL <= IOPL; VM, VIF and VIP are never loaded this way. RF is cleared, except that
 * a 32- or 64-bit IRET loads it (`iret`): how a #DB handler steps over an instruction breakpoint
 * (SDM vol 3 17.3.1.1; POPF never loads it).
 */
export function writeFlags(cpu: Cpu, v: number, size: number, iret = false): void {
  let mask = ARITH_FLAGS | TF | DF | NT | AC | ID | IF | IOPL | (iret ? RF : 0);
  if (cpu.protectedMode) {
    if (cpu.cpl > 0) mask &= ~IOPL;
    if (cpu.cpl > (cpu.eflags & IOPL) >>> 12) mask &= ~IF;
  }
  if (size === 2) mask &= 0xffff;
  const oldIf = cpu.eflags & IF;
  cpu.eflags = (cpu.eflags & ~mask & ~RF) | (v & mask) | 2;
  cpu.lfOp = 0;
  if (!oldIf && cpu.eflags & IF) cpu.attention |= 1;
}

export function popf(cpu: Cpu, insn: Insn): void {
  const v = pop(cpu, insn.size);
  writeFlags(cpu, v, insn.size);
}

/** ENTER imm16, imm8 (nesting level taken modulo 32). */
export function enter(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const level = insn.imm2 & 31;
  const bpReg = 5;
  const r = bpReg << 1;
  if (size === 8) push(cpu, 8, cpu.r32[r], cpu.r32[r + 1]);
  else push(cpu, size, getReg(cpu, bpReg, size));
  const frame = getSp(cpu);
  if (level > 0) {
    let bp =
      cpu.stackSize === 8
        ? cpu.r32[r + 1] * TWO32 + (cpu.r32[r] >>> 0)
        : cpu.stackSize === 4
          ? cpu.r32[r] >>> 0
          : cpu.r16[r << 1];
    for (let i = 1; i < level; i++) {
      bp = wrapSp(cpu, bp - size);
      const lin = linearAddr(cpu, SS, bp, size, false);
      if (size === 8) push(cpu, 8, readLin64(cpu, lin), cpu.t32[7]);
      else push(cpu, size, size === 4 ? readLin32(cpu, lin) : readLin16(cpu, lin));
    }
    push(cpu, size, frame % TWO32, Math.floor(frame / TWO32));
  }
  // rBP = frame pointer at the operand size, then allocate.
  if (size === 8) {
    cpu.r32[r] = frame % TWO32;
    cpu.r32[r + 1] = Math.floor(frame / TWO32);
  } else if (size === 4) setReg(cpu, bpReg, 4, frame);
  else cpu.r16[r << 1] = frame;
  const newSp = wrapSp(cpu, getSp(cpu) - insn.imm);
  linearAddr(cpu, SS, newSp, 1, true);
  setSp(cpu, newSp);
}

/** LEAVE: rSP = rBP, then pop rBP. */
export function leave(cpu: Cpu, insn: Insn): void {
  const oldSp = getSp(cpu);
  const ss = cpu.stackSize;
  const bp =
    ss === 8 ? cpu.r32[11] * TWO32 + (cpu.r32[10] >>> 0) : ss === 4 ? cpu.r32[10] >>> 0 : cpu.r16[20];
  setSp(cpu, bp);
  try {
    const v = pop(cpu, insn.size);
    if (insn.size === 8) {
      cpu.r32[10] = v;
      cpu.r32[11] = cpu.t32[7];
    } else setReg(cpu, 5, insn.size, v);
  } catch (e) {
    setSp(cpu, oldSp);
    throw e;
  }
}
