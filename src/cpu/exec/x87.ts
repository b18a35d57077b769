// x87 control instructions and the FXSAVE/FXRSTOR/LDMXCSR/STMXCSR state instructions (Intel SDM
// vol 1 ch. 8 and 10.5, vol 2; AMD APM vol 5). ST0-7 are raw 80-bit images (Cpu.st, in stack
// order ST(0)..ST(7)); the arithmetic lives in x87-arith.ts, the register stack in x87-stack.ts.
// The core keeps no FPU instruction/data pointers or last opcode: they read back as 0.
import { type Cpu, FAULT } from '../cpu.js';
import type { Insn } from '../insn.js';
import { probeWrite, readLin16, readLin32, writeLin16, writeLin32 } from '../mmu.js';
import { Op } from '../ops.js';
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS, CR4_OSFXSR, GP, MF, NM, UD } from '../regs.js';
import { memAddr } from './operand.js';
import { execFpu } from './x87-arith.js';
import { setTopKeepRegs, tagOf } from './x87-stack.js';

/** FSW: exception flags IE..PE and SF (bits 0-6), ES (bit 7), B (bit 15). */
const FSW_EXC = 0x7f,
  FSW_ES = 0x80,
  FSW_B = 0x8000;
/** FCW exception masks IM..PM (bits 0-5). */
const FCW_MASKS = 0x3f;
/** FCW bits that hold state (IM..PM, PC, RC, X); bit 6 reads as 1, bits 7 and 13-15 as 0. */
const FCW_BITS = 0x1f3f,
  FCW_ONE = 0x40;
/** Bits of MXCSR that software may set (reported as MXCSR_MASK in the FXSAVE image). */
export const MXCSR_MASK = 0xffff;

/** FXSAVE image staging area: at most 416 bytes are written (XMM0-15), 288 read back at least. */
const fx = new ArrayBuffer(512);
const fx32 = new Int32Array(fx);
const fx8 = new Uint8Array(fx);
const fxView = new DataView(fx);

function raise(cpu: Cpu, vector: number, code: number, hasCode: boolean): never {
  cpu.excVector = vector;
  cpu.excError = code;
  cpu.excHasError = hasCode;
  throw FAULT;
}

/** #UD for a LOCK prefix; #NM when CR0.EM or CR0.TS is set (every x87 instruction but FWAIT). */
export function checkFpu(cpu: Cpu, insn: Insn): void {
  if (insn.lock) raise(cpu, UD, 0, false);
  if (cpu.cr0 & (CR0_EM | CR0_TS)) raise(cpu, NM, 0, false);
}

/**
 * The pending-exception check of the waiting instructions: with FSW.ES set, #MF when CR0.NE is
 * set (with NE clear the processor would signal FERR#, which this machine does not wire up).
 */
function pendingException(cpu: Cpu): void {
  if (cpu.fsw & FSW_ES && cpu.cr0 & CR0_NE) raise(cpu, MF, 0, false);
}

// ---------------------------------------------------------------- x87 control

/** FNINIT: default control word, clear status, all registers empty. */
export function fninit(cpu: Cpu): void {
  setTopKeepRegs(cpu, 0); // the registers keep their contents
  cpu.fcw = 0x37f;
  cpu.fsw = 0;
  cpu.ftw = 0xffff;
}

/** FNSTSW m16 / FNSTSW AX (insn.mem false). */
export function fnstsw(cpu: Cpu, insn: Insn): void {
  if (insn.mem) writeLin16(cpu, memAddr(cpu, insn, 2, true), cpu.fsw);
  else cpu.r16[0] = cpu.fsw;
}

/** FNSTCW m16. */
export function fnstcw(cpu: Cpu, insn: Insn): void {
  writeLin16(cpu, memAddr(cpu, insn, 2, true), cpu.fcw);
}

/**
 * FLDCW m16. A pending exception that the new control word unmasks sets FSW.ES (and B), so the
 * next waiting instruction raises it; one it masks clears them.
 */
export function fldcw(cpu: Cpu, insn: Insn): void {
  pendingException(cpu);
  const v = readLin16(cpu, memAddr(cpu, insn, 2, false));
  cpu.fcw = (v & FCW_BITS) | FCW_ONE;
  updateErrorSummary(cpu);
}

function updateErrorSummary(cpu: Cpu): void {
  if (cpu.fsw & ~cpu.fcw & FCW_MASKS) cpu.fsw |= FSW_ES | FSW_B;
  else cpu.fsw &= ~(FSW_ES | FSW_B);
}

/** FWAIT: #NM only when CR0.TS and CR0.MP are both set; then the pending-exception check. */
export function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_TS | CR0_MP)) === (CR0_TS | CR0_MP)) raise(cpu, NM, 0, false);
  pendingException(cpu);
}

/** FNCLEX: clear the exception flags, SF, ES and B (FSW bits 0-7 and 15). */
export function fnclex(cpu: Cpu): void {
  cpu.fsw &= ~(FSW_EXC | FSW_ES | FSW_B);
}

// ---------------------------------------------------------------- MXCSR

/** LDMXCSR m32: #GP(0) if a reserved bit (outside MXCSR_MASK) is set. */
export function ldmxcsr(cpu: Cpu, insn: Insn): void {
  const v = readLin32(cpu, memAddr(cpu, insn, 4, false));
  if (v & ~MXCSR_MASK) raise(cpu, GP, 0, true);
  cpu.mxcsr = v;
}

/** STMXCSR m32. */
export function stmxcsr(cpu: Cpu, insn: Insn): void {
  writeLin32(cpu, memAddr(cpu, insn, 4, true), cpu.mxcsr);
}

/** LDMXCSR/STMXCSR are SSE instructions: #UD without CR4.OSFXSR or with CR0.EM, #NM on CR0.TS. */
function checkSseState(cpu: Cpu, insn: Insn): void {
  if (insn.lock || cpu.cr0 & CR0_EM || !(cpu.cr4 & CR4_OSFXSR)) raise(cpu, UD, 0, false);
  if (cpu.cr0 & CR0_TS) raise(cpu, NM, 0, false);
}

// ---------------------------------------------------------------- FXSAVE / FXRSTOR

/** Abridged tag word: bit i set when physical register i is not empty (tag != 11b). */
export function abridgedTags(ftw: number): number {
  let t = 0;
  for (let i = 0; i < 8; i++) if (((ftw >> (2 * i)) & 3) !== 3) t |= 1 << i;
  return t;
}

/** Full tag word from an abridged one; physical register i holds ST((i - TOP) & 7). */
export function fullTags(cpu: Cpu, abridged: number): number {
  const top = (cpu.fsw >> 11) & 7;
  let ftw = 0;
  for (let i = 0; i < 8; i++) {
    const tag = abridged & (1 << i) ? tagOf(cpu.st, 10 * ((i - top) & 7)) : 3;
    ftw |= tag << (2 * i);
  }
  return ftw;
}

/** Number of XMM registers in the image: 16 in 64-bit mode, 8 otherwise, 0 without CR4.OSFXSR. */
function xmmCount(cpu: Cpu): number {
  if (!(cpu.cr4 & CR4_OSFXSR)) return 0;
  return cpu.codeSize === 64 ? 16 : 8;
}

/**
 * FXSAVE / FXSAVE64 m512byte (SDM vol 1 Table 10-2). FOP, FIP/FCS and FDP/FDS are zero, so the
 * 64-bit (REX.W) and legacy layouts of bytes 6-23 coincide. Bytes past the last XMM register are
 * not written. Without CR4.OSFXSR the XMM registers are not saved (MXCSR still is, as on Intel).
 */
export function fxsave(cpu: Cpu, insn: Insn): void {
  const lin = memAddr(cpu, insn, 512, true);
  if (lin & 15) raise(cpu, GP, 0, true);
  const nx = xmmCount(cpu);
  const len = 160 + 16 * nx;
  fx32.fill(0, 0, len >> 2);
  fxView.setUint16(0, cpu.fcw, true);
  fxView.setUint16(2, cpu.fsw, true);
  fx8[4] = abridgedTags(cpu.ftw);
  fxView.setInt32(24, cpu.mxcsr, true);
  fxView.setInt32(28, MXCSR_MASK, true);
  const st = cpu.st;
  for (let i = 0; i < 8; i++) for (let j = 0; j < 10; j++) fx8[32 + 16 * i + j] = st[10 * i + j];
  const x = cpu.xmm8;
  for (let i = 0; i < 16 * nx; i++) fx8[160 + i] = x[i];
  probeWrite(cpu, lin, len); // all or nothing when the area crosses a page
  for (let i = 0; i < len; i += 4) writeLin32(cpu, lin + i, fx32[i >> 2]);
}

/** FXRSTOR / FXRSTOR64 m512byte: #GP(0) for a misaligned area or reserved MXCSR bits. */
export function fxrstor(cpu: Cpu, insn: Insn): void {
  const lin = memAddr(cpu, insn, 512, false);
  if (lin & 15) raise(cpu, GP, 0, true);
  const nx = xmmCount(cpu);
  const len = 160 + 16 * nx;
  for (let i = 0; i < len; i += 4) fx32[i >> 2] = readLin32(cpu, lin + i);
  const mxcsr = fxView.getInt32(24, true);
  if (mxcsr & ~MXCSR_MASK) raise(cpu, GP, 0, true);
  cpu.fcw = (fxView.getUint16(0, true) & FCW_BITS) | FCW_ONE;
  cpu.fsw = fxView.getUint16(2, true);
  cpu.mxcsr = mxcsr;
  const st = cpu.st;
  for (let i = 0; i < 8; i++) for (let j = 0; j < 10; j++) st[10 * i + j] = fx8[32 + 16 * i + j];
  cpu.ftw = fullTags(cpu, fx8[4]); // after ST and FSW.TOP are in place
  const x = cpu.xmm8;
  for (let i = 0; i < 16 * nx; i++) x[i] = fx8[160 + i];
}

// ---------------------------------------------------------------- entry point

/** Execute one x87 control / FPU-state instruction (the Op ids from FNINIT to STMXCSR). */
export function execX87(cpu: Cpu, insn: Insn): void {
  switch (insn.op) {
    case Op.FWAIT:
      if (insn.lock) raise(cpu, UD, 0, false);
      fwait(cpu);
      return;
    case Op.LDMXCSR:
      checkSseState(cpu, insn);
      ldmxcsr(cpu, insn);
      return;
    case Op.STMXCSR:
      checkSseState(cpu, insn);
      stmxcsr(cpu, insn);
      return;
  }
  checkFpu(cpu, insn);
  switch (insn.op) {
    case Op.FNINIT:
      fninit(cpu);
      return;
    case Op.FNSTSW:
      fnstsw(cpu, insn);
      return;
    case Op.FNSTCW:
      fnstcw(cpu, insn);
      return;
    case Op.FLDCW:
      fldcw(cpu, insn);
      return;
    case Op.FNCLEX:
      fnclex(cpu);
      return;
    case Op.FXSAVE:
      fxsave(cpu, insn);
      return;
    case Op.FXRSTOR:
      fxrstor(cpu, insn);
      return;
    case Op.FPU:
      execFpu(cpu, insn);
      return;
    default:
      raise(cpu, UD, 0, false);
  }
}
