// Segment loads: descriptor fetch from the GDT/LDT, the privilege and type checks of MOV Sreg,
// POP Sreg, LDS/LSS/..., and the code-segment loads of far transfers (AMD APM vol 2 4.7-4.11;
// Intel SDM vol 3 5.5-5.8). Faults carry the selector's error code as the manuals specify.
import { type Cpu, FAULT, SEG_UNUSABLE } from './cpu.js';
import { readSys, writeSys } from './mmu.js';
import { CS, GP, LDTR, NP, SS, SS_VEC } from './regs.js';
import { updateSegCheck } from './segment-check.js';

/** The descriptor last read by readDescriptor(): low and high dwords. */
export const desc = new Int32Array(2);

export function fault(cpu: Cpu, vector: number, code: number): never {
  cpu.excVector = vector;
  cpu.excError = code;
  cpu.excHasError = true;
  throw FAULT;
}

/**
 * Linear address of the descriptor for `sel`, or NaN when it lies past the table limit (`bytes`:
 * 16 for the system descriptors of long mode). Long mode keeps upper-half table bases signed
 * (a kernel's GDT at 0xffff...), so any number, negative ones included, is an address; outside
 * long mode linear addresses wrap at 4 GiB.
 */
export function descriptorAddr(cpu: Cpu, sel: number, bytes = 8): number {
  const index = sel & 0xfff8;
  let base: number;
  if (sel & 4) {
    if (cpu.segAttr[LDTR] & SEG_UNUSABLE || index + bytes - 1 > cpu.segLimit[LDTR]) return Number.NaN;
    base = cpu.segBase[LDTR];
  } else {
    if (index + bytes - 1 > cpu.gdtrLimit) return Number.NaN;
    base = cpu.gdtrBase;
  }
  return cpu.longMode ? base + index : (base + index) >>> 0;
}

/** Read the 8-byte descriptor for `sel` into `desc`; #GP(selector) (or `vec`) when out of the table. */
export function readDescriptor(cpu: Cpu, sel: number, vec = GP): void {
  const a = descriptorAddr(cpu, sel);
  if (Number.isNaN(a)) fault(cpu, vec, sel & 0xfffc);
  desc[0] = readSys(cpu, a, 4);
  desc[1] = readSys(cpu, a + 4, 4);
}

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
}
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & (1 << 23) ? raw * 4096 + 0xfff : raw;
}
/** Attributes in the VMCB packing: type S DPL P (bits 0-7), AVL L D/B G (bits 8-11). */
export function descAttr(hi: number): number {
  return ((hi >>> 8) & 0xff) | ((hi >>> 12) & 0xf00);
}

/**
 * Set the accessed bit of the descriptor in `desc` and in memory: processors do on every segment
 * load (SDM vol 3 3.4.5.1, APM vol 2 4.7.2), far transfers and IDT-gate delivery included.
 */
export function setAccessed(cpu: Cpu, sel: number): void {
  if (desc[1] & 0x100) return;
  desc[1] |= 0x100;
  const a = descriptorAddr(cpu, sel);
  writeSys(cpu, a + 5, 1, (desc[1] >>> 8) & 0xff);
}

/** Fill the descriptor cache of `seg` from `desc`. */
export function cacheDescriptor(cpu: Cpu, seg: number, sel: number): void {
  const lo = desc[0],
    hi = desc[1];
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = descBase(lo, hi);
  cpu.segLimit[seg] = descLimit(lo, hi);
  cpu.segAttr[seg] = descAttr(hi);
  updateSegCheck(cpu, seg);
}

function loadNull(cpu: Cpu, seg: number, sel: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = 0;
  cpu.segAttr[seg] = SEG_UNUSABLE;
  updateSegCheck(cpu, seg);
}

/**
 * MOV/POP/LxS to a data segment register or SS. In real mode base = selector << 4 and the cached
 * limit and attributes stay (that is what makes unreal mode work).
 */
export function loadDataSegment(cpu: Cpu, seg: number, sel: number): void {
  if (!cpu.protectedMode || cpu.eflags & (1 << 17)) {
    cpu.loadSegReal(seg, sel);
    updateSegCheck(cpu, seg);
    if (seg === SS) cpu.updateMode();
    return;
  }
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) {
    if (seg === SS && !(cpu.codeSize === 64 && cpu.cpl !== 3 && rpl === cpu.cpl)) fault(cpu, GP, 0);
    loadNull(cpu, seg, sel);
    if (seg === SS) cpu.updateMode();
    return;
  }
  readDescriptor(cpu, sel);
  const hi = desc[1];
  const type = (hi >>> 8) & 0xf;
  const s = (hi >>> 12) & 1;
  const dpl = (hi >>> 13) & 3;
  const present = (hi >>> 15) & 1;
  const code = (type & 8) !== 0;
  if (seg === SS) {
    // SS: a writable data segment with RPL = DPL = CPL.
    if (!s || code || !(type & 2) || rpl !== cpu.cpl || dpl !== cpu.cpl) fault(cpu, GP, sel & 0xfffc);
    if (!present) fault(cpu, SS_VEC, sel & 0xfffc);
  } else {
    // Data, or readable code; privilege checked unless conforming code.
    if (!s || (code && !(type & 2))) fault(cpu, GP, sel & 0xfffc);
    const conforming = code && (type & 4) !== 0;
    if (!conforming && (dpl < cpu.cpl || dpl < rpl)) fault(cpu, GP, sel & 0xfffc);
    if (!present) fault(cpu, NP, sel & 0xfffc);
  }
  setAccessed(cpu, sel);
  cacheDescriptor(cpu, seg, sel);
  if (seg === SS) cpu.updateMode();
}

/**
 * Load CS for a far JMP/CALL/RET/IRET or interrupt to a code segment at privilege `newCpl`.
 * `checkedDpl`: the caller has already decided the privilege rules (RET/IRET/gates); here only the
 * segment type and presence are checked.
 */
export function loadCodeSegment(cpu: Cpu, sel: number, newCpl: number): void {
  setAccessed(cpu, sel);
  cacheDescriptor(cpu, CS, (sel & 0xfffc) | newCpl);
  cpu.cpl = newCpl;
  cpu.updateMode();
}

/** Checks for a direct far JMP/CALL target (no gates): returns with `desc` holding the descriptor. */
export function checkFarTarget(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) fault(cpu, GP, 0);
  readDescriptor(cpu, sel);
  const hi = desc[1];
  const type = (hi >>> 8) & 0xf;
  const dpl = (hi >>> 13) & 3;
  if (!((hi >>> 12) & 1) || !(type & 8)) fault(cpu, GP, sel & 0xfffc); // system descriptors: gates/TSS not offered
  if (type & 4) {
    if (dpl > cpu.cpl) fault(cpu, GP, sel & 0xfffc); // conforming
  } else if ((sel & 3) > cpu.cpl || dpl !== cpu.cpl) fault(cpu, GP, sel & 0xfffc);
  if (!(hi & 0x8000)) fault(cpu, NP, sel & 0xfffc);
  if (cpu.longMode && hi & (1 << 21) && hi & (1 << 22)) fault(cpu, GP, sel & 0xfffc); // L and D both set
}

/** Real-mode CS load for far transfers. */
export function loadCsReal(cpu: Cpu, sel: number): void {
  cpu.loadSegReal(CS, sel);
  updateSegCheck(cpu, CS);
  cpu.updateMode();
}
