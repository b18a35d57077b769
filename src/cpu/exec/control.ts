// Control transfer: JMP/Jcc/JCXZ/LOOPcc, near and far CALL/JMP/RET, IRET, INT n/INT3/INTO/INT1,
// SYSCALL/SYSRET, SYSENTER/SYSEXIT. Handlers are entered with cpu.rip = the next instruction.
import { type Cpu, FAULT, SEG_DB, SEG_L } from '../cpu.js';
import { ATT_EVENT } from '../events.js';
import { arithFlags, getFlags, testCond } from '../flags.js';
import type { Insn } from '../insn.js';
import { deliver, EV_EXCEPTION, EV_SOFTWARE } from '../interrupts.js';
import { readLin16, readLin32, readLin64 } from '../mmu.js';
import { InterceptKind } from '../ports.js';
import { CS, DS, EFER_LMA, EFER_SCE, ES, FS, GP, GS, IF, IOPL, NT, OF, RF, SS, UD, VM } from '../regs.js';
import { updateSegCheck } from '../segment-check.js';
import {
  checkFarTarget,
  desc,
  descLimit,
  fault,
  loadCodeSegment,
  loadCsReal,
  loadDataSegment,
  readDescriptor,
} from '../segments.js';
import { loadRM64, memAddr, readRMNum, regSigned } from './operand.js';
import { getSp, peek, push, setSp, writeFlags } from './stack.js';
import { intercepted } from './system.js';

const TWO32 = 4294967296;
const CANON = 140737488355328;

/** Set RIP for a near transfer, applying the code size: wrap, CS limit or canonical check (#GP(0)). */
export function setRip(cpu: Cpu, target: number): void {
  const cs = cpu.codeSize;
  if (cs === 64) {
    if (target < -CANON || target >= CANON) fault(cpu, GP, 0);
  } else {
    target = cs === 32 ? target >>> 0 : target & 0xffff;
    if (target > cpu.segLimit[CS]) fault(cpu, GP, 0);
  }
  cpu.rip = target;
}

/** Truncate a branch target to a 16-bit operand size when the instruction has one. */
function nearTarget(insn: Insn, target: number): number {
  return insn.size === 2 ? target & 0xffff : target;
}

export function jmpRel(cpu: Cpu, insn: Insn): void {
  setRip(cpu, nearTarget(insn, cpu.rip + insn.imm));
}

export function jcc(cpu: Cpu, insn: Insn): void {
  if (testCond(cpu, insn.sub)) setRip(cpu, nearTarget(insn, cpu.rip + insn.imm));
}

/** Count register of JCXZ/LOOP: CX, ECX or RCX by address size. */
function countReg(cpu: Cpu, insn: Insn): number {
  if (insn.asize === 2) return cpu.r16[4];
  if (insn.asize === 4) return cpu.r32[2];
  return cpu.r32[2] | cpu.r32[3];
}

export function jcxz(cpu: Cpu, insn: Insn): void {
  if (countReg(cpu, insn) === 0) setRip(cpu, nearTarget(insn, cpu.rip + insn.imm));
}

/** LOOPNE (sub 0), LOOPE (1), LOOP (2): decrement the count register without touching flags. */
export function loop(cpu: Cpu, insn: Insn): void {
  const r32 = cpu.r32;
  let nz: boolean;
  if (insn.asize === 2) nz = --cpu.r16[4] !== 0;
  else if (insn.asize === 4) nz = (r32[2] = (r32[2] - 1) | 0) !== 0;
  else {
    cpu.r64[1] = cpu.r64[1] - 1n;
    nz = (r32[2] | r32[3]) !== 0;
  }
  if (insn.asize === 4 && cpu.codeSize === 64) r32[3] = 0;
  let take = nz;
  if (insn.sub === 0) take = nz && !(arithFlags(cpu) & 0x40);
  else if (insn.sub === 1) take = nz && (arithFlags(cpu) & 0x40) !== 0;
  if (take) setRip(cpu, nearTarget(insn, cpu.rip + insn.imm));
}

export function callRel(cpu: Cpu, insn: Insn): void {
  const target = nearTarget(insn, cpu.rip + insn.imm);
  const ret = cpu.rip;
  checkTarget(cpu, target);
  push(cpu, insn.size, ret % TWO32, Math.floor(ret / TWO32));
  setRip(cpu, target);
}

/** Check a near target before any state changes (so a bad CALL target leaves the stack alone). */
function checkTarget(cpu: Cpu, target: number): void {
  if (cpu.codeSize === 64) {
    if (target < -CANON || target >= CANON) fault(cpu, GP, 0);
  } else {
    const t = cpu.codeSize === 32 ? target >>> 0 : target & 0xffff;
    if (t > cpu.segLimit[CS]) fault(cpu, GP, 0);
  }
}

/** Near target from r/m (JMP/CALL FF /4, /2). */
function rmTarget(cpu: Cpu, insn: Insn): number {
  if (insn.size === 8) {
    if (!insn.mem) return regSigned(cpu, insn.rm);
    loadRM64(cpu, insn, memAddr(cpu, insn, 8, false), cpu.t32, 0);
    return cpu.t32[1] * TWO32 + (cpu.t32[0] >>> 0);
  }
  return readRMNum(cpu, insn, insn.size);
}

export function jmpRm(cpu: Cpu, insn: Insn): void {
  setRip(cpu, rmTarget(cpu, insn));
}

export function callRm(cpu: Cpu, insn: Insn): void {
  const target = rmTarget(cpu, insn);
  const ret = cpu.rip;
  checkTarget(cpu, target);
  push(cpu, insn.size, ret % TWO32, Math.floor(ret / TWO32));
  setRip(cpu, target);
}

export function retNear(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lo = peek(cpu, 0, size);
  const target = size === 8 ? cpu.t32[7] * TWO32 + (lo >>> 0) : size === 4 ? lo >>> 0 : lo;
  checkTarget(cpu, target);
  setSp(cpu, wrapStack(cpu, getSp(cpu) + size + insn.imm));
  setRip(cpu, target);
}

function wrapStack(cpu: Cpu, sp: number): number {
  return cpu.stackSize === 8 ? sp : cpu.stackSize === 4 ? sp >>> 0 : sp & 0xffff;
}

// ---------------------------------------------------------------- far transfers

/**
 * The new RIP of a far transfer against the target code descriptor in `desc`: canonical for a
 * 64-bit segment, within the limit otherwise, else #GP(0) before anything changes (SDM vol 2 JMP,
 * CALL, RET, IRET; APM vol 3 the same).
 */
function checkFarRip(cpu: Cpu, offset: number): void {
  const hi = desc[1];
  if (cpu.longMode && hi & (1 << 21)) {
    if (offset < -CANON || offset >= CANON) fault(cpu, GP, 0);
  } else if (offset > descLimit(desc[0], hi)) fault(cpu, GP, 0);
}

/** Far JMP/CALL to sel:offset (direct, no gates). */
function farTransfer(cpu: Cpu, sel: number, offset: number, call: boolean, size: number): void {
  if (!cpu.protectedMode || cpu.eflags & VM) {
    if (call) {
      push(cpu, size, cpu.segSel[CS]);
      push(cpu, size, cpu.rip);
    }
    loadCsReal(cpu, sel);
    cpu.rip = size === 2 ? offset & 0xffff : offset;
    return;
  }
  checkFarTarget(cpu, sel);
  checkFarRip(cpu, offset);
  if (call) {
    const retCs = cpu.segSel[CS];
    const ret = cpu.rip;
    const saved0 = desc[0],
      saved1 = desc[1];
    push(cpu, size, retCs);
    push(cpu, size, ret % TWO32, Math.floor(ret / TWO32));
    desc[0] = saved0;
    desc[1] = saved1;
  }
  loadCodeSegment(cpu, sel, cpu.cpl);
  cpu.rip = size === 2 ? offset & 0xffff : offset;
}

export function jmpFarPtr(cpu: Cpu, insn: Insn): void {
  farTransfer(cpu, insn.imm2, insn.imm, false, insn.size);
}
export function callFarPtr(cpu: Cpu, insn: Insn): void {
  farTransfer(cpu, insn.imm2, insn.imm, true, insn.size);
}

/** JMP/CALL m16:16, m16:32 or m16:64 (REX.W). */
export function farIndirect(cpu: Cpu, insn: Insn, call: boolean): void {
  const size = insn.size;
  const lin = memAddr(cpu, insn, size + 2, false);
  let offset: number;
  if (size === 8) {
    const lo = readLin64(cpu, lin);
    offset = cpu.t32[7] * TWO32 + (lo >>> 0);
  } else offset = size === 4 ? readLin32(cpu, lin) >>> 0 : readLin16(cpu, lin);
  const sel = readLin16(cpu, lin + size);
  farTransfer(cpu, sel, offset, call, size);
}

/** Null the data segment registers a return to an outer privilege level may not keep. */
function nullifyDataSegments(cpu: Cpu): void {
  for (const s of [ES, DS, FS, GS]) {
    const a = cpu.segAttr[s];
    const dpl = (a >> 5) & 3;
    const confCode = (a & 0xc) === 0xc && (a & 0x10) !== 0;
    if ((cpu.segSel[s] & 0xfffc) !== 0 && dpl < cpu.cpl && !confCode) {
      cpu.segSel[s] = 0;
      cpu.segAttr[s] = 1 << 16;
      updateSegCheck(cpu, s);
    }
  }
}

export function retFar(cpu: Cpu, insn: Insn): void {
  const size = insn.size;
  const lo = peek(cpu, 0, size);
  const offset = size === 8 ? cpu.t32[7] * TWO32 + (lo >>> 0) : size === 4 ? lo >>> 0 : lo;
  const sel = peek(cpu, size, size) & 0xffff;
  if (!cpu.protectedMode || cpu.eflags & VM) {
    setSp(cpu, wrapStack(cpu, getSp(cpu) + 2 * size + insn.imm));
    loadCsReal(cpu, sel);
    cpu.rip = offset;
    return;
  }
  const rpl = checkReturnCs(cpu, sel);
  checkFarRip(cpu, offset);
  if (rpl > cpu.cpl) {
    const spLo = peek(cpu, 2 * size + insn.imm, size);
    const newSp = size === 8 ? cpu.t32[7] * TWO32 + (spLo >>> 0) : size === 4 ? spLo >>> 0 : spLo;
    const newSs = peek(cpu, 3 * size + insn.imm, size) & 0xffff;
    loadCodeSegment(cpu, sel, rpl);
    loadStackForReturn(cpu, newSs, rpl);
    setSp(cpu, wrapStack(cpu, newSp + insn.imm));
    nullifyDataSegments(cpu);
  } else {
    setSp(cpu, wrapStack(cpu, getSp(cpu) + 2 * size + insn.imm));
    loadCodeSegment(cpu, sel, cpu.cpl);
  }
  cpu.rip = offset;
}

/**
 * The code-segment checks of RET far and IRET (AMD APM vol 3 "RET (Far)", "IRET"): returns the
 * selector's RPL, which becomes the CPL; leaves the descriptor in `desc`.
 */
function checkReturnCs(cpu: Cpu, sel: number): number {
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) fault(cpu, GP, 0);
  if (rpl < cpu.cpl) fault(cpu, GP, sel & 0xfffc);
  readDescriptor(cpu, sel);
  const hi = desc[1];
  const dpl = (hi >>> 13) & 3;
  if (!((hi >>> 12) & 1) || !(hi & 0x800)) fault(cpu, GP, sel & 0xfffc); // not a code segment
  if (hi & 0x400 ? dpl > rpl : dpl !== rpl) fault(cpu, GP, sel & 0xfffc); // conforming : non-conforming
  if (!(hi & 0x8000)) fault(cpu, 11, sel & 0xfffc);
  return rpl;
}

/** SS load on a return to an outer level (null allowed in 64-bit mode below CPL 3). */
function loadStackForReturn(cpu: Cpu, sel: number, newCpl: number): void {
  if ((sel & 0xfffc) === 0 && cpu.codeSize === 64 && newCpl !== 3) {
    cpu.segSel[SS] = sel;
    cpu.segAttr[SS] = 0x93 | SEG_DB | (newCpl << 5);
    cpu.segBase[SS] = 0;
    cpu.segLimit[SS] = 0xffffffff;
    updateSegCheck(cpu, SS);
    cpu.updateMode();
    return;
  }
  loadDataSegment(cpu, SS, sel);
}

export function iret(cpu: Cpu, insn: Insn): void {
  // SVM's IRET intercept (APM vol 2 15.9): how a hypervisor learns that an NMI handler ended.
  intercepted(cpu, InterceptKind.IRET, 0, 0);
  const size = insn.size;
  if (!cpu.protectedMode) {
    const ip = peek(cpu, 0, size);
    const cs = peek(cpu, size, size) & 0xffff;
    const fl = peek(cpu, 2 * size, size);
    setSp(cpu, wrapStack(cpu, getSp(cpu) + 3 * size));
    loadCsReal(cpu, cs);
    cpu.rip = size === 4 ? ip >>> 0 : ip;
    writeFlags(cpu, size === 2 ? (cpu.eflags & ~0xffff) | fl : fl, size === 2 ? 2 : 4, true);
    unblockNmi(cpu);
    return;
  }
  if (cpu.eflags & NT && !cpu.longMode) fault(cpu, GP, 0); // task return: task switching is not offered
  const lo = peek(cpu, 0, size);
  const offset = size === 8 ? cpu.t32[7] * TWO32 + (lo >>> 0) : size === 4 ? lo >>> 0 : lo;
  const sel = peek(cpu, size, size) & 0xffff;
  const fl = peek(cpu, 2 * size, size) >>> 0;
  if (fl & VM && cpu.cpl === 0 && size === 4) fault(cpu, GP, 0); // return to virtual-8086 mode: not offered
  const rpl = checkReturnCs(cpu, sel);
  checkFarRip(cpu, size === 2 ? offset & 0xffff : offset);
  const toOuter = rpl > cpu.cpl;
  const popsStack = toOuter || cpu.codeSize === 64;
  let newSp = 0,
    newSs = 0;
  if (popsStack) {
    const spLo = peek(cpu, 3 * size, size);
    newSp = size === 8 ? cpu.t32[7] * TWO32 + (spLo >>> 0) : size === 4 ? spLo >>> 0 : spLo;
    newSs = peek(cpu, 4 * size, size) & 0xffff;
  }
  const oldCpl = cpu.cpl;
  const sp0 = getSp(cpu);
  // Flags are written with the privilege of the IRET itself (before the CPL changes).
  writeFlags(cpu, size === 2 ? (cpu.eflags & ~0xffff) | fl : fl, size === 2 ? 2 : 4, true);
  loadCodeSegment(cpu, sel, rpl);
  if (popsStack) {
    loadStackForReturn(cpu, newSs, rpl);
    setSp(cpu, newSp);
  } else setSp(cpu, wrapStack(cpu, sp0 + 3 * size));
  if (rpl > oldCpl) nullifyDataSegments(cpu);
  cpu.rip = size === 2 ? offset & 0xffff : offset;
  unblockNmi(cpu);
}

/**
 * IRET ends NMI blocking (SDM vol 3 6.7.1, APM vol 2 8.2.3); an NMI that arrived meanwhile is
 * taken at the next instruction boundary, so the run loop must look at events again.
 */
function unblockNmi(cpu: Cpu): void {
  if (!cpu.nmiBlocked) return;
  cpu.nmiBlocked = false;
  if (cpu.nmiPending) cpu.attention |= ATT_EVENT;
}

// ---------------------------------------------------------------- software interrupts

export function intN(cpu: Cpu, insn: Insn): void {
  deliver(cpu, insn.imm, EV_SOFTWARE, 0, false);
}
export function int3(cpu: Cpu): void {
  deliver(cpu, 3, EV_SOFTWARE, 0, false);
}
export function into(cpu: Cpu): void {
  if (arithFlags(cpu) & OF) deliver(cpu, 4, EV_SOFTWARE, 0, false);
}
/** INT1 (ICEBP, F1): a #DB trap without the gate DPL check. */
export function int1(cpu: Cpu): void {
  deliver(cpu, 1, EV_EXCEPTION, 0, false);
}

// ---------------------------------------------------------------- fast system calls

function flatCs(cpu: Cpu, sel: number, dpl: number, long: boolean): void {
  cpu.segSel[CS] = sel;
  cpu.segBase[CS] = 0;
  cpu.segLimit[CS] = 0xffffffff;
  cpu.segAttr[CS] = 0x9b | (dpl << 5) | (1 << 11) | (long ? SEG_L : SEG_DB);
  updateSegCheck(cpu, CS);
}
function flatSs(cpu: Cpu, sel: number, dpl: number): void {
  cpu.segSel[SS] = sel;
  cpu.segBase[SS] = 0;
  cpu.segLimit[SS] = 0xffffffff;
  cpu.segAttr[SS] = 0x93 | (dpl << 5) | (1 << 11) | SEG_DB;
  updateSegCheck(cpu, SS);
}

/** SYSCALL (AMD APM vol 3): CS/SS from STAR[47:32], RIP from LSTAR/CSTAR, RFLAGS masked by SFMASK. */
export function syscall(cpu: Cpu): void {
  if (!(cpu.efer & EFER_SCE)) fault0(cpu, UD);
  const sel = Number((cpu.star >> 32n) & 0xffffn);
  const next = cpu.rip;
  const flags = getFlags(cpu);
  if (cpu.efer & EFER_LMA) {
    cpu.r32[2] = next % TWO32;
    cpu.r32[3] = Math.floor(next / TWO32);
    cpu.r32[22] = flags & ~RF;
    cpu.r32[23] = 0;
    const compat = cpu.codeSize !== 64;
    flatCs(cpu, sel & 0xfffc, 0, true);
    flatSs(cpu, (sel + 8) & 0xfffc, 0);
    cpu.cpl = 0;
    cpu.updateMode();
    writeFlagsRaw(cpu, flags & ~cpu.sfmask & ~RF);
    cpu.rip = compat ? cpu.cstar : cpu.lstar;
  } else {
    cpu.r32[2] = next;
    flatCs(cpu, sel & 0xfffc, 0, false);
    flatSs(cpu, (sel + 8) & 0xfffc, 0);
    cpu.cpl = 0;
    cpu.updateMode();
    writeFlagsRaw(cpu, flags & ~(IF | VM | RF));
    cpu.rip = Number(cpu.star & 0xffffffffn);
  }
}

/** SYSRET: back to CPL 3 with CS/SS from STAR[63:48]; RFLAGS from R11 in long mode. */
export function sysret(cpu: Cpu, insn: Insn): void {
  if (!(cpu.efer & EFER_SCE)) fault0(cpu, UD);
  if (!cpu.protectedMode || cpu.cpl !== 0) fault(cpu, GP, 0);
  const sel = Number((cpu.star >> 48n) & 0xffffn);
  if (cpu.efer & EFER_LMA) {
    const to64 = insn.size === 8;
    const target = to64 ? regSigned(cpu, 1) : cpu.r32[2] >>> 0; // RCX
    if (to64 && (target < -CANON || target >= CANON)) fault(cpu, GP, 0);
    flatCs(cpu, ((to64 ? sel + 16 : sel) & 0xfffc) | 3, 3, to64);
    flatSs(cpu, ((sel + 8) & 0xfffc) | 3, 3);
    cpu.cpl = 3;
    cpu.updateMode();
    writeFlagsRaw(cpu, (cpu.r32[22] & ~(RF | VM)) | 2);
    cpu.rip = target;
  } else {
    flatCs(cpu, (sel & 0xfffc) | 3, 3, false);
    flatSs(cpu, ((sel + 8) & 0xfffc) | 3, 3);
    cpu.cpl = 3;
    cpu.updateMode();
    cpu.eflags |= IF;
    cpu.rip = cpu.r32[2] >>> 0;
  }
}

/** SYSENTER/SYSEXIT (Intel SDM; on AMD they are #UD in long mode). */
export function sysenter(cpu: Cpu): void {
  if (!cpu.protectedMode || (cpu.longMode && cpu.vendor === 'AuthenticAMD'))
    fault0(cpu, cpu.protectedMode ? UD : GP);
  if ((cpu.sysenterCs & 0xfffc) === 0) fault(cpu, GP, 0);
  const long = cpu.longMode;
  flatCs(cpu, cpu.sysenterCs & 0xfffc, 0, long);
  flatSs(cpu, (cpu.sysenterCs + 8) & 0xfffc, 0);
  cpu.cpl = 0;
  cpu.updateMode();
  cpu.eflags &= ~(IF | VM | RF);
  setSp(cpu, long ? cpu.sysenterEsp : cpu.sysenterEsp >>> 0);
  cpu.rip = long ? cpu.sysenterEip : cpu.sysenterEip >>> 0;
}

export function sysexit(cpu: Cpu, insn: Insn): void {
  if (!cpu.protectedMode || (cpu.longMode && cpu.vendor === 'AuthenticAMD'))
    fault0(cpu, cpu.protectedMode ? UD : GP);
  if (cpu.cpl !== 0 || (cpu.sysenterCs & 0xfffc) === 0) fault(cpu, GP, 0);
  const to64 = insn.size === 8;
  if (to64) {
    // The new RIP (RDX) and RSP (RCX) must be canonical (SDM vol 2 "SYSEXIT").
    const rip = regSigned(cpu, 2),
      rsp = regSigned(cpu, 1);
    if (rip < -CANON || rip >= CANON || rsp < -CANON || rsp >= CANON) fault(cpu, GP, 0);
  }
  flatCs(cpu, ((cpu.sysenterCs + (to64 ? 32 : 16)) & 0xfffc) | 3, 3, to64);
  flatSs(cpu, ((cpu.sysenterCs + (to64 ? 40 : 24)) & 0xfffc) | 3, 3);
  cpu.cpl = 3;
  cpu.updateMode();
  if (to64) {
    cpu.r64[4] = cpu.r64[1];
    cpu.rip = regSigned(cpu, 2);
  } else {
    setSp(cpu, cpu.r32[2] >>> 0);
    cpu.rip = cpu.r32[4] >>> 0;
  }
}

function writeFlagsRaw(cpu: Cpu, v: number): void {
  const oldIf = cpu.eflags & IF;
  cpu.eflags = (v | 2) >>> 0;
  cpu.lfOp = 0;
  if (!oldIf && v & IF) cpu.attention |= 1;
}

function fault0(cpu: Cpu, vec: number): never {
  cpu.excVector = vec;
  cpu.excError = 0;
  cpu.excHasError = false;
  throw FAULT;
}

// ---------------------------------------------------------------- flag instructions with privilege rules

/** CLI/STI need CPL <= IOPL in protected mode (#GP(0) otherwise). STI blocks interrupts for one instruction. */
export function cliSti(cpu: Cpu, set: boolean): void {
  if (cpu.protectedMode && cpu.cpl > (cpu.eflags & IOPL) >>> 12) fault(cpu, GP, 0);
  if (set) {
    if (!(cpu.eflags & IF)) {
      cpu.eflags |= IF;
      cpu.interruptShadow = true;
      cpu.attention |= 1;
    }
  } else cpu.eflags &= ~IF;
}
