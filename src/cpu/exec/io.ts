// IN/OUT and the I/O permission rules: CPL <= IOPL, else the TSS I/O permission bitmap
// (AMD APM vol 2 13.3; Intel SDM vol 1 19.5). Intercepts are asked before the access happens.
import { type Cpu, VMEXIT } from '../cpu.js';
import type { Insn } from '../insn.js';
import { readSys } from '../mmu.js';
import { InterceptKind } from '../ports.js';
import { GP, IOPL, TR, VM } from '../regs.js';
import { fault } from '../segments.js';
import { setReg } from './operand.js';

/** #GP(0) unless the current privilege may access `size` ports from `port`. */
export function checkIo(cpu: Cpu, port: number, size: number): void {
  if (!cpu.protectedMode) return;
  if (!(cpu.eflags & VM) && cpu.cpl <= (cpu.eflags & IOPL) >>> 12) return;
  // Only a 32/64-bit TSS has a bitmap; its offset is the word at 0x66.
  const type = cpu.segAttr[TR] & 0xf;
  if (type !== 0x9 && type !== 0xb) fault(cpu, GP, 0);
  const limit = cpu.segLimit[TR];
  if (limit < 0x67) fault(cpu, GP, 0);
  const base = cpu.segBase[TR];
  const mapOff = readSys(cpu, base + 0x66, 2);
  const byte = mapOff + (port >>> 3);
  if (byte + 1 > limit) fault(cpu, GP, 0);
  const bits = readSys(cpu, base + byte, 2);
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) fault(cpu, GP, 0);
}

/** Exit information for an I/O intercept, in the SVM IOIO EXITINFO1 layout (APM vol 2 15.10.2). */
function ioInfo(insn: Insn, port: number, size: number, isIn: boolean, str: boolean): number {
  return (
    (((port & 0xffff) << 16) |
      (size === 1 ? 0x10 : size === 2 ? 0x20 : 0x40) |
      (insn.asize === 2 ? 0x80 : insn.asize === 4 ? 0x100 : 0x200) |
      (insn.rep ? 8 : 0) |
      (str ? 4 : 0) |
      (isIn ? 1 : 0)) >>>
    0
  );
}

export function ioIn(cpu: Cpu, insn: Insn, port: number, size: number): number {
  if (cpu.interceptMask & (1 << InterceptKind.IO) && cpu.intercept !== null) {
    if (cpu.intercept.intercept(InterceptKind.IO, ioInfo(insn, port, size, true, isString(insn)), cpu.rip))
      throw VMEXIT;
  }
  return cpu.io.portRead(port, size);
}

export function ioOut(cpu: Cpu, insn: Insn, port: number, size: number, v: number): void {
  if (cpu.interceptMask & (1 << InterceptKind.IO) && cpu.intercept !== null) {
    if (cpu.intercept.intercept(InterceptKind.IO, ioInfo(insn, port, size, false, isString(insn)), cpu.rip))
      throw VMEXIT;
  }
  cpu.io.portWrite(port, size, size === 4 ? v >>> 0 : v & (size === 1 ? 0xff : 0xffff));
}

function isString(insn: Insn): boolean {
  return insn.op === Op.INS || insn.op === Op.OUTS;
}

import { Op } from '../ops.js';

/** IN AL/AX/EAX, imm8 or DX. */
export function inInsn(cpu: Cpu, insn: Insn, dx: boolean): void {
  const size = insn.size; // never 8: the decoder drops REX.W for port I/O
  const port = dx ? cpu.r16[8] : insn.imm;
  checkIo(cpu, port, size);
  setReg(cpu, 0, size, ioIn(cpu, insn, port, size));
}

export function outInsn(cpu: Cpu, insn: Insn, dx: boolean): void {
  const size = insn.size;
  const port = dx ? cpu.r16[8] : insn.imm;
  checkIo(cpu, port, size);
  ioOut(cpu, insn, port, size, size === 1 ? cpu.r8[0] : size === 2 ? cpu.r16[0] : cpu.r32[0]);
}
