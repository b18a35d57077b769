// The x87 register stack (Intel SDM vol 1 8.1.2-8.1.7): eight 80-bit registers, TOP in FSW
// bits 13:11, a 2-bit tag per physical register in FTW. Cpu.st keeps the images in stack order
// ST(0)..ST(7) (the FXSAVE/FNSAVE/VMSA order), so a push or pop rotates the 80 bytes; the tags
// stay physical: ST(i) is physical register (TOP + i) & 7.
import type { Cpu } from '../cpu.js';
import { type F80, IE, indefinite, read80, write80 } from './f80.js';

export const FSW_C0 = 0x100,
  FSW_C1 = 0x200,
  FSW_C2 = 0x400,
  FSW_C3 = 0x4000,
  FSW_SF = 0x40,
  FSW_ES = 0x80,
  FSW_B = 0x8000;
export const FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3;

export const TAG_VALID = 0,
  TAG_ZERO = 1,
  TAG_SPECIAL = 2,
  TAG_EMPTY = 3;

export function top(cpu: Cpu): number {
  return (cpu.fsw >> 11) & 7;
}

function setTop(cpu: Cpu, t: number): void {
  cpu.fsw = (cpu.fsw & ~0x3800) | ((t & 7) << 11);
}

/** Tag of the 80-bit image at st[o..o+9]: valid, zero or special (NaN, infinity, denormal, unnormal). */
export function tagOf(st: Uint8Array, o: number): number {
  const exp = (st[o + 8] | (st[o + 9] << 8)) & 0x7fff;
  if (exp === 0x7fff) return TAG_SPECIAL;
  if (exp === 0) {
    for (let i = 0; i < 8; i++) if (st[o + i] !== 0) return TAG_SPECIAL;
    return TAG_ZERO;
  }
  return st[o + 7] & 0x80 ? TAG_VALID : TAG_SPECIAL;
}

export function tag(cpu: Cpu, i: number): number {
  return (cpu.ftw >> (2 * ((top(cpu) + i) & 7))) & 3;
}

export function setTag(cpu: Cpu, i: number, t: number): void {
  const p = 2 * ((top(cpu) + i) & 7);
  cpu.ftw = (cpu.ftw & ~(3 << p)) | (t << p);
}

export function isEmpty(cpu: Cpu, i: number): boolean {
  return tag(cpu, i) === TAG_EMPTY;
}

export function readST(cpu: Cpu, i: number, out: F80): F80 {
  read80(cpu.st, 10 * i, out);
  return out;
}

/** ST(i) = v, with its tag. */
export function writeST(cpu: Cpu, i: number, v: F80): void {
  write80(cpu.st, 10 * i, v);
  setTag(cpu, i, tagOf(cpu.st, 10 * i));
}

/** Moves TOP down one: the old ST(7) becomes ST(0) (its image is kept until written). */
export function decTop(cpu: Cpu): void {
  const st = cpu.st;
  for (let j = 0; j < 10; j++) rot[j] = st[70 + j];
  st.copyWithin(10, 0, 70);
  for (let j = 0; j < 10; j++) st[j] = rot[j];
  setTop(cpu, top(cpu) - 1);
}

/** Moves TOP up one: the old ST(0) becomes ST(7). */
export function incTop(cpu: Cpu): void {
  const st = cpu.st;
  for (let j = 0; j < 10; j++) rot[j] = st[j];
  st.copyWithin(0, 10, 80);
  for (let j = 0; j < 10; j++) st[70 + j] = rot[j];
  setTop(cpu, top(cpu) + 1);
}
const rot = new Uint8Array(10);

/** Pop: ST(0) becomes empty, TOP goes up. */
export function pop(cpu: Cpu): void {
  setTag(cpu, 0, TAG_EMPTY);
  incTop(cpu);
}

/**
 * Push v. A full stack (ST(7) not empty) is a stack overflow: IE, SF and C1 set; the real
 * indefinite is pushed when IE is masked, nothing happens otherwise. Returns false on overflow.
 */
export function push(cpu: Cpu, v: F80): boolean {
  if (!isEmpty(cpu, 7)) {
    stackFault(cpu, true);
    if (!(cpu.fcw & IE)) return false;
    decTop(cpu);
    writeST(cpu, 0, indefinite(v));
    return false;
  }
  decTop(cpu);
  writeST(cpu, 0, v);
  return true;
}

/** Stack overflow (C1 = 1) or underflow (C1 = 0): IE and SF, and ES when IE is unmasked. */
export function stackFault(cpu: Cpu, overflow: boolean): void {
  cpu.fsw = (cpu.fsw & ~FSW_C1) | IE | FSW_SF | (overflow ? FSW_C1 : 0);
  if (!(cpu.fcw & IE)) cpu.fsw |= FSW_ES | FSW_B;
}

/** Records exceptions `exc` in FSW (sticky) with C1; ES and B when one of them is unmasked. */
export function report(cpu: Cpu, exc: number, c1: number): void {
  cpu.fsw = (cpu.fsw & ~FSW_C1) | exc | (c1 ? FSW_C1 : 0);
  if (exc & ~cpu.fcw & 0x3f) cpu.fsw |= FSW_ES | FSW_B;
}

/**
 * Sets TOP without moving the physical registers (FNINIT, FLDENV): the stack-order images are
 * rotated so that ST(i) is still physical register (TOP + i) & 7.
 */
export function setTopKeepRegs(cpu: Cpu, t: number): void {
  while (top(cpu) !== (t & 7)) decTop(cpu);
}

/** TOP = 0 and every tag valid: what any MMX instruction does to the x87 state (SDM vol 1 9.5.1). */
export function mmxEnter(cpu: Cpu): void {
  if (top(cpu) !== 0) setTopKeepRegs(cpu, 0);
  cpu.ftw = 0;
}
