// ADD OR ADC SBB AND SUB XOR CMP, TEST, INC DEC NOT NEG: results with lazy flags (flags.ts).
import type { Cpu } from '../cpu.js';
import { getCF, LazyOp, LF_DST, LF_RES, LF_SRC } from '../flags.js';
import type { Insn } from '../insn.js';
import { CF } from '../regs.js';
import { getReg, loadRM64, memAddr, readMem, setReg, storeRM64, writeMem } from './operand.js';

export const ALU_ADD = 0,
  ALU_OR = 1,
  ALU_ADC = 2,
  ALU_SBB = 3,
  ALU_AND = 4,
  ALU_SUB = 5,
  ALU_XOR = 6,
  ALU_CMP = 7;

/** One ALU operation on values of `size` bytes (1, 2, 4): returns the result, records lazy flags. */
export function alu(cpu: Cpu, op: number, a: number, b: number, size: number): number {
  const lf = cpu.lf;
  let r: number;
  let kind: LazyOp;
  switch (op) {
    case ALU_ADD:
      r = (a + b) | 0;
      kind = LazyOp.ADD;
      break;
    case ALU_OR:
      r = a | b;
      kind = LazyOp.LOGIC;
      break;
    case ALU_ADC: {
      const c = getCF(cpu) ? 1 : 0;
      r = (a + b + c) | 0;
      kind = c ? LazyOp.ADC1 : LazyOp.ADD;
      break;
    }
    case ALU_SBB: {
      const c = getCF(cpu) ? 1 : 0;
      r = (a - b - c) | 0;
      kind = c ? LazyOp.SBB1 : LazyOp.SUB;
      break;
    }
    case ALU_AND:
      r = a & b;
      kind = LazyOp.LOGIC;
      break;
    case ALU_XOR:
      r = a ^ b;
      kind = LazyOp.LOGIC;
      break;
    default:
      r = (a - b) | 0;
      kind = LazyOp.SUB;
      break; // SUB, CMP
  }
  lf[LF_DST] = a;
  lf[LF_SRC] = b;
  lf[LF_RES] = r;
  cpu.lfOp = kind;
  cpu.lfSize = size;
  return r;
}

/**
 * 64-bit ALU on the operands already in lf64[0] (dst) and lf64[1] (src); result in lf64[2].
 * `cin` is CF as it was before the operands overwrote the lazy-flag slots (ADC/SBB).
 */
export function alu64(cpu: Cpu, op: number, cin: boolean): void {
  const l = cpu.lf64;
  let kind: LazyOp;
  switch (op) {
    case ALU_ADD:
      l[2] = l[0] + l[1];
      kind = LazyOp.ADD;
      break;
    case ALU_OR:
      l[2] = l[0] | l[1];
      kind = LazyOp.LOGIC;
      break;
    case ALU_ADC:
      if (cin) {
        l[2] = l[0] + l[1] + 1n;
        kind = LazyOp.ADC1;
      } else {
        l[2] = l[0] + l[1];
        kind = LazyOp.ADD;
      }
      break;
    case ALU_SBB:
      if (cin) {
        l[2] = l[0] - l[1] - 1n;
        kind = LazyOp.SBB1;
      } else {
        l[2] = l[0] - l[1];
        kind = LazyOp.SUB;
      }
      break;
    case ALU_AND:
      l[2] = l[0] & l[1];
      kind = LazyOp.LOGIC;
      break;
    case ALU_XOR:
      l[2] = l[0] ^ l[1];
      kind = LazyOp.LOGIC;
      break;
    default:
      l[2] = l[0] - l[1];
      kind = LazyOp.SUB;
      break;
  }
  cpu.lfOp = kind;
  cpu.lfSize = 8;
}

/** ALU r/m, reg (dstIsRm) or reg, r/m; or r/m, imm when `imm` is true. */
export function aluForm(cpu: Cpu, insn: Insn, dstIsRm: boolean, imm: boolean): void {
  const size = insn.size;
  const op = insn.sub;
  const mem = insn.mem && dstIsRm;
  const lin = insn.mem ? memAddr(cpu, insn, size, dstIsRm && op !== ALU_CMP) : 0;
  if (size === 8) {
    const lf = cpu.lf;
    const cin = (op === ALU_ADC || op === ALU_SBB) && getCF(cpu);
    if (dstIsRm) {
      loadRM64(cpu, insn, lin, lf, LF_DST);
      loadSrc64(cpu, insn, imm);
      alu64(cpu, op, cin);
      if (op !== ALU_CMP) storeRM64(cpu, insn, lin, lf[LF_RES], lf[LF_RES + 1]);
    } else {
      loadRM64(cpu, insn, lin, lf, LF_SRC);
      lf[LF_DST] = cpu.r32[insn.reg << 1];
      lf[LF_DST + 1] = cpu.r32[(insn.reg << 1) + 1];
      alu64(cpu, op, cin);
      if (op !== ALU_CMP) cpu.r64[insn.reg] = cpu.lf64[2];
    }
    return;
  }
  if (dstIsRm) {
    const a = mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
    const b = imm ? insn.imm : getReg(cpu, insn.reg, size);
    const r = alu(cpu, op, a, b, size);
    if (op !== ALU_CMP) {
      if (mem) writeMem(cpu, lin, size, r);
      else setReg(cpu, insn.rm, size, r);
    }
  } else {
    const b = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
    const r = alu(cpu, op, getReg(cpu, insn.reg, size), b, size);
    if (op !== ALU_CMP) setReg(cpu, insn.reg, size, r);
  }
}

/** The source of a 64-bit ALU op into the SRC slot: the sign-extended imm32, or the reg operand. */
function loadSrc64(cpu: Cpu, insn: Insn, imm: boolean): void {
  const lf = cpu.lf;
  if (imm) {
    lf[LF_SRC] = insn.imm;
    lf[LF_SRC + 1] = insn.imm >> 31;
  } else {
    lf[LF_SRC] = cpu.r32[insn.reg << 1];
    lf[LF_SRC + 1] = cpu.r32[(insn.reg << 1) + 1];
  }
}

/** TEST r/m, reg or r/m, imm: AND without writing back. */
export function testForm(cpu: Cpu, insn: Insn, imm: boolean): void {
  const size = insn.size;
  const lin = insn.mem ? memAddr(cpu, insn, size, false) : 0;
  if (size === 8) {
    const lf = cpu.lf;
    loadRM64(cpu, insn, lin, lf, LF_DST);
    loadSrc64(cpu, insn, imm);
    alu64(cpu, ALU_AND, false);
    return;
  }
  const a = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
  alu(cpu, ALU_AND, a, imm ? insn.imm : getReg(cpu, insn.reg, size), size);
}

/** INC/DEC/NOT/NEG r/m (unary: 0 INC, 1 DEC, 2 NOT, 3 NEG). */
export function unary(cpu: Cpu, insn: Insn, kind: number): void {
  const size = insn.size;
  const lin = insn.mem ? memAddr(cpu, insn, size, true) : 0;
  const lf = cpu.lf;
  if (size === 8) {
    if (kind < 2) saveCarry(cpu);
    loadRM64(cpu, insn, lin, lf, LF_DST);
    const l = cpu.lf64;
    switch (kind) {
      case 0:
        l[1] = 1n;
        l[2] = l[0] + 1n;
        cpu.lfOp = LazyOp.INC;
        break;
      case 1:
        l[1] = 1n;
        l[2] = l[0] - 1n;
        cpu.lfOp = LazyOp.DEC;
        break;
      case 2:
        storeRM64(cpu, insn, lin, ~lf[LF_DST], ~lf[LF_DST + 1]);
        return; // NOT: no flags
      default:
        l[1] = l[0];
        l[0] = 0n;
        l[2] = -l[1];
        cpu.lfOp = LazyOp.SUB;
        break; // NEG = 0 - x
    }
    cpu.lfSize = 8;
    storeRM64(cpu, insn, lin, lf[LF_RES], lf[LF_RES + 1]);
    return;
  }
  const a = insn.mem ? readMem(cpu, lin, size) : getReg(cpu, insn.rm, size);
  let r: number;
  switch (kind) {
    case 0:
      saveCarry(cpu);
      r = (a + 1) | 0;
      lf[LF_DST] = a;
      lf[LF_SRC] = 1;
      cpu.lfOp = LazyOp.INC;
      break;
    case 1:
      saveCarry(cpu);
      r = (a - 1) | 0;
      lf[LF_DST] = a;
      lf[LF_SRC] = 1;
      cpu.lfOp = LazyOp.DEC;
      break;
    case 2:
      r = ~a;
      break;
    default:
      r = -a | 0;
      lf[LF_DST] = 0;
      lf[LF_SRC] = a;
      cpu.lfOp = LazyOp.SUB;
      break;
  }
  if (kind !== 2) {
    lf[LF_RES] = r;
    cpu.lfSize = size;
  }
  if (insn.mem) writeMem(cpu, lin, size, r);
  else setReg(cpu, insn.rm, size, r);
}

/** INC/DEC keep CF: remember it before the new lazy op replaces the old one. */
export function saveCarry(cpu: Cpu): void {
  cpu.lfCarry = getCF(cpu) ? CF : 0;
}
