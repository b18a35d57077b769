// Exception and interrupt delivery (AMD APM vol 2 ch. 8; Intel SDM vol 3 ch. 6): the real-mode
// IVT, 16/32-bit interrupt and trap gates with the privilege-level stack switch through the TSS,
// 64-bit gates with IST, error codes, the double-fault rules and triple fault.
import { type Cpu, FAULT, SEG_DB, VMEXIT } from './cpu.js';
import { setSp } from './exec/stack.js';
import { getFlags } from './flags.js';
import { readSys, writeSys } from './mmu.js';
import { InterceptKind } from './ports.js';
import { AC, CS, DF_VEC, EXCEPTION_NAMES, GP, IF, NP, NT, PF_VEC, RF, SS, TF, TR, TS, VM } from './regs.js';
import { updateSegCheck } from './segment-check.js';
import { cacheDescriptor, desc, fault, readDescriptor, setAccessed } from './segments.js';

/** How the event arose: decides the gate DPL check and the EXT bit of error codes. */
export const EV_EXCEPTION = 0,
  EV_SOFTWARE = 1,
  EV_EXTERNAL = 2,
  EV_NMI = 3;

const TWO32 = 4294967296;

/** Exceptions that push an error code (AMD APM vol 2 Table 8-1). */
export function hasErrorCode(vector: number): boolean {
  return (
    vector === 8 ||
    (vector >= 10 && vector <= 14) ||
    vector === 17 ||
    vector === 21 ||
    vector === 29 ||
    vector === 30
  );
}
/**
 * Fault-class exceptions push RFLAGS with RF set, so that the restarted instruction does not
 * report its instruction breakpoint again (Intel SDM vol 3 17.3.1.1; AMD APM vol 2 13.1.1.7).
 * #DB is a fault only for instruction breakpoints, which push RF as it is.
 */
function faultClass(v: number): boolean {
  return (
    v === 0 ||
    v === 5 ||
    v === 6 ||
    v === 7 ||
    (v >= 10 && v <= 14) ||
    v === 16 ||
    v === 17 ||
    v === 19 ||
    v === 20 ||
    v === 21 ||
    v === 29
  );
}
/** The RFLAGS image the event being delivered pushes. */
function pushedFlags(cpu: Cpu, vector: number, kind: number): number {
  const f = getFlags(cpu);
  return kind === EV_EXCEPTION && faultClass(vector) ? f | RF : f;
}

function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

function record(cpu: Cpu, text: string): void {
  const h = cpu.excHistory;
  if (h.length >= 16) h.shift();
  h.push(text);
}

function describe(vector: number, hasErr: boolean, err: number, rip: number): string {
  const name = EXCEPTION_NAMES[vector] ?? `vector ${vector}`;
  return `${name}${hasErr ? `(${err.toString(16)})` : ''} at rip ${rip.toString(16)}`;
}

/**
 * Deliver the exception recorded in cpu.excVector/excError/excHasError, applying the double-fault
 * rules to faults raised during delivery. Returns false on a triple fault (shutdown).
 */
export function deliverException(cpu: Cpu): boolean {
  let vec = cpu.excVector;
  let err = cpu.excError;
  let has = cpu.excHasError;
  for (;;) {
    record(cpu, describe(vec, has, err, cpu.rip));
    try {
      deliver(cpu, vec, EV_EXCEPTION, err, has);
      return true;
    } catch (e) {
      if (e !== FAULT) throw e;
      const second = cpu.excVector;
      if (vec === DF_VEC) {
        record(
          cpu,
          `${describe(second, cpu.excHasError, cpu.excError, cpu.rip)} while delivering #DF: triple fault`,
        );
        return false;
      }
      record(
        cpu,
        `${describe(second, cpu.excHasError, cpu.excError, cpu.rip)} while delivering ${EXCEPTION_NAMES[vec] ?? vec}`,
      );
      if (
        (contributory(vec) && contributory(second)) ||
        (vec === PF_VEC && (second === PF_VEC || contributory(second)))
      ) {
        vec = DF_VEC;
        err = 0;
        has = true;
      } else {
        vec = second;
        err = cpu.excError;
        has = cpu.excHasError;
      }
    }
  }
}

/**
 * Deliver `vector` through the IVT or IDT. `kind` is EV_*; cpu.rip is the return address
 * (the faulting instruction for faults, the next one for traps and INT n).
 */
export function deliver(cpu: Cpu, vector: number, kind: number, err: number, hasErr: boolean): void {
  if (kind === EV_EXCEPTION && cpu.interceptMask & (1 << InterceptKind.EXCEPTION) && cpu.intercept !== null) {
    if (cpu.intercept.intercept(InterceptKind.EXCEPTION, vector, hasErr ? err : 0)) throw VMEXIT;
  }
  cpu.halted = false;
  if (!cpu.protectedMode) deliverReal(cpu, vector);
  else if (cpu.longMode) deliverLong(cpu, vector, kind, err, hasErr);
  else deliverProtected(cpu, vector, kind, err, hasErr);
}

function deliverReal(cpu: Cpu, vector: number): void {
  if (vector * 4 + 3 > cpu.idtrLimit) fault(cpu, GP, vector * 8 + 2);
  const ip = readSys(cpu, cpu.idtrBase + vector * 4, 2);
  const cs = readSys(cpu, cpu.idtrBase + vector * 4 + 2, 2);
  const flags = getFlags(cpu);
  const sp = cpu.r16[16];
  const base = cpu.segBase[SS];
  writeSys(cpu, base + ((sp - 2) & 0xffff), 2, flags);
  writeSys(cpu, base + ((sp - 4) & 0xffff), 2, cpu.segSel[CS]);
  writeSys(cpu, base + ((sp - 6) & 0xffff), 2, cpu.rip & 0xffff);
  cpu.r16[16] = sp - 6;
  cpu.eflags &= ~(IF | TF | AC | RF);
  cpu.loadSegReal(CS, cs);
  updateSegCheck(cpu, CS);
  cpu.updateMode();
  cpu.rip = ip;
}

/** Read the stack pointer for privilege level `dpl` from a 16- or 32-bit TSS. */
function tssStack(cpu: Cpu, dpl: number): void {
  const type = cpu.segAttr[TR] & 0xf;
  const base = cpu.segBase[TR];
  if (type === 0xb || type === 0x9) {
    const off = 4 + dpl * 8;
    if (off + 5 > cpu.segLimit[TR]) fault(cpu, TS, cpu.segSel[TR] & 0xfffc);
    stackSwitch.sp = readSys(cpu, base + off, 4) >>> 0;
    stackSwitch.ss = readSys(cpu, base + off + 4, 2);
  } else {
    const off = 2 + dpl * 4;
    if (off + 3 > cpu.segLimit[TR]) fault(cpu, TS, cpu.segSel[TR] & 0xfffc);
    stackSwitch.sp = readSys(cpu, base + off, 2);
    stackSwitch.ss = readSys(cpu, base + off + 2, 2);
  }
}
const stackSwitch = { sp: 0, ss: 0 };

/** Read gate `vector` (8 bytes at idtr.base + 8v): the gate's dwords into `gate`. */
const gate = new Int32Array(4);

function readGate(cpu: Cpu, vector: number, size: number, ext: number): void {
  if (vector * size + size - 1 > cpu.idtrLimit) fault(cpu, GP, vector * 8 + 2 + ext);
  const a = cpu.idtrBase + vector * size;
  for (let i = 0; i < size / 4; i++) gate[i] = readSys(cpu, a + i * 4, 4);
}

/** The target code segment of a gate: checked and left in `desc`; returns its DPL. */
function gateTarget(cpu: Cpu, sel: number, ext: number): number {
  if ((sel & 0xfffc) === 0) fault(cpu, GP, ext);
  readDescriptor(cpu, sel);
  const hi = desc[1];
  const dpl = (hi >>> 13) & 3;
  if (!((hi >>> 12) & 1) || !(hi & 0x800) || dpl > cpu.cpl) fault(cpu, GP, (sel & 0xfffc) + ext);
  if (!(hi & 0x8000)) fault(cpu, NP, (sel & 0xfffc) + ext);
  return (hi & 0x400) !== 0 ? cpu.cpl : dpl; // conforming code keeps the CPL
}

function deliverProtected(cpu: Cpu, vector: number, kind: number, err: number, hasErr: boolean): void {
  const ext = kind === EV_SOFTWARE ? 0 : 1;
  readGate(cpu, vector, 8, ext);
  const lo = gate[0],
    hi = gate[1];
  const type = (hi >>> 8) & 0x1f;
  const gdpl = (hi >>> 13) & 3;
  if (type !== 0x6 && type !== 0x7 && type !== 0xe && type !== 0xf) fault(cpu, GP, vector * 8 + 2 + ext);
  if (kind === EV_SOFTWARE && gdpl < cpu.cpl) fault(cpu, GP, vector * 8 + 2);
  if (!(hi & 0x8000)) fault(cpu, NP, vector * 8 + 2 + ext);
  const gate32 = (type & 8) !== 0;
  const sel = lo >>> 16;
  const offset = gate32 ? ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0 : lo & 0xffff;
  const newCpl = gateTarget(cpu, sel, ext);
  const csDesc0 = desc[0],
    csDesc1 = desc[1];
  const flags = pushedFlags(cpu, vector, kind);
  const psize = gate32 ? 4 : 2;
  const oldSs = cpu.segSel[SS];
  const oldSp = cpu.stackSize === 4 ? cpu.r32[8] >>> 0 : cpu.r16[16];
  let ssBase: number, sp: number, ssBig: boolean;
  if (newCpl < cpu.cpl) {
    tssStack(cpu, newCpl);
    const nss = stackSwitch.ss;
    if ((nss & 0xfffc) === 0) fault(cpu, TS, ext);
    readDescriptor(cpu, nss, TS);
    const shi = desc[1];
    if (
      (nss & 3) !== newCpl ||
      ((shi >>> 13) & 3) !== newCpl ||
      !((shi >>> 12) & 1) ||
      shi & 0x800 ||
      !(shi & 0x200)
    )
      fault(cpu, TS, (nss & 0xfffc) + ext);
    if (!(shi & 0x8000)) fault(cpu, 12, (nss & 0xfffc) + ext);
    ssBase = ((desc[0] >>> 16) | ((shi & 0xff) << 16) | (shi & 0xff000000)) >>> 0;
    ssBig = (shi & 0x400000) !== 0;
    sp = stackSwitch.sp;
    const p = (v: number) => {
      sp = ssBig ? (sp - psize) >>> 0 : (sp - psize) & 0xffff;
      writeSys(cpu, ssBase + sp, psize, v);
    };
    p(oldSs);
    p(oldSp);
    p(flags);
    p(cpu.segSel[CS]);
    p(cpu.rip);
    if (hasErr) p(err);
    setAccessed(cpu, nss);
    cacheDescriptor(cpu, SS, nss);
  } else {
    ssBase = cpu.segBase[SS];
    ssBig = cpu.stackSize === 4;
    sp = oldSp;
    const p = (v: number) => {
      sp = ssBig ? (sp - psize) >>> 0 : (sp - psize) & 0xffff;
      writeSys(cpu, ssBase + sp, psize, v);
    };
    p(flags);
    p(cpu.segSel[CS]);
    p(cpu.rip);
    if (hasErr) p(err);
  }
  desc[0] = csDesc0;
  desc[1] = csDesc1;
  setAccessed(cpu, sel);
  cacheDescriptor(cpu, CS, (sel & 0xfffc) | newCpl);
  cpu.cpl = newCpl;
  cpu.updateMode();
  if (ssBig) cpu.r32[8] = sp;
  else cpu.r16[16] = sp;
  cpu.eflags &= ~(TF | NT | RF | VM);
  if (!(type & 1)) cpu.eflags &= ~IF;
  cpu.rip = offset;
}

function deliverLong(cpu: Cpu, vector: number, kind: number, err: number, hasErr: boolean): void {
  const ext = kind === EV_SOFTWARE ? 0 : 1;
  readGate(cpu, vector, 16, ext);
  const lo = gate[0],
    hi = gate[1];
  const type = (hi >>> 8) & 0x1f;
  const gdpl = (hi >>> 13) & 3;
  if (type !== 0xe && type !== 0xf) fault(cpu, GP, vector * 8 + 2 + ext);
  if (kind === EV_SOFTWARE && gdpl < cpu.cpl) fault(cpu, GP, vector * 8 + 2);
  if (!(hi & 0x8000)) fault(cpu, NP, vector * 8 + 2 + ext);
  const sel = lo >>> 16;
  const offset = gate[2] * TWO32 + (((lo & 0xffff) | (hi & 0xffff0000)) >>> 0);
  // The target RIP must be canonical: #GP(EXT) (SDM vol 2 "INT n": IA-32e mode).
  if (offset < -140737488355328 || offset >= 140737488355328) fault(cpu, GP, ext);
  const ist = hi & 7;
  const newCpl = gateTarget(cpu, sel, ext);
  if (!(desc[1] & (1 << 21)) || desc[1] & (1 << 22)) fault(cpu, GP, (sel & 0xfffc) + ext); // must be 64-bit code
  const csDesc0 = desc[0],
    csDesc1 = desc[1];
  const flags = pushedFlags(cpu, vector, kind);
  const oldSs = cpu.segSel[SS];
  const oldSp = cpu.r32[9] * TWO32 + (cpu.r32[8] >>> 0);
  let sp = oldSp;
  if (newCpl < cpu.cpl || ist !== 0) {
    const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
    if (off + 7 > cpu.segLimit[TR]) fault(cpu, TS, cpu.segSel[TR] & 0xfffc);
    const a = cpu.segBase[TR] + off;
    sp = readSys(cpu, a + 4, 4) * TWO32 + (readSys(cpu, a, 4) >>> 0);
  }
  sp -= sp % 16 === 0 ? 0 : ((sp % 16) + 16) % 16; // align to 16 bytes
  const push64 = (v: number) => {
    sp -= 8;
    if (sp < -140737488355328 || sp >= 140737488355328) fault(cpu, 12, ext);
    writeSys(cpu, sp, 4, v % TWO32);
    writeSys(cpu, sp + 4, 4, Math.floor(v / TWO32));
  };
  push64(oldSs);
  push64(oldSp);
  push64(flags);
  push64(cpu.segSel[CS]);
  push64(cpu.rip);
  if (hasErr) push64(err >>> 0);
  if (newCpl < cpu.cpl) {
    // 64-bit mode: SS becomes a null selector with RPL = the new CPL.
    cpu.segSel[SS] = newCpl;
    cpu.segBase[SS] = 0;
    cpu.segLimit[SS] = 0xffffffff;
    cpu.segAttr[SS] = 0x93 | SEG_DB | (newCpl << 5);
    updateSegCheck(cpu, SS);
  }
  desc[0] = csDesc0;
  desc[1] = csDesc1;
  setAccessed(cpu, sel);
  cacheDescriptor(cpu, CS, (sel & 0xfffc) | newCpl);
  cpu.cpl = newCpl;
  cpu.updateMode();
  setSp(cpu, sp);
  cpu.eflags &= ~(TF | NT | RF | VM);
  if (!(type & 1)) cpu.eflags &= ~IF;
  cpu.rip = offset;
}
