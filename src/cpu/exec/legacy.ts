// Instructions that exist only outside 64-bit mode: the BCD adjustments DAA DAS AAA AAS AAM AAD,
// BOUND and ARPL (Intel SDM vol 2 and AMD APM vol 3 pseudo-code). Flags the manuals leave
// undefined are set from the result (SF ZF PF) or cleared, as most processors do.
import { type Cpu, FAULT } from '../cpu.js';
import { arithFlags, LazyOp, LF_RES, setArithFlags } from '../flags.js';
import type { Insn } from '../insn.js';
import { AF, BR, CF, DE, ZF } from '../regs.js';
import { linearAddr } from '../segment-check.js';
import { effAddr, readMem, writeMem } from './operand.js';
import { ud } from './system.js';

/** Flags from AL (SF ZF PF) with the given CF and AF; OF cleared. */
function bcdFlags(cpu: Cpu, cf: boolean, af: boolean): void {
  cpu.lf[LF_RES] = cpu.r8[0];
  cpu.lfOp = LazyOp.RESULT;
  cpu.lfSize = 1;
  cpu.lfCarry = (cf ? CF : 0) | (af ? AF : 0);
}

export function daa(cpu: Cpu): void {
  const f = arithFlags(cpu);
  const oldAl = cpu.r8[0];
  const oldCf = (f & CF) !== 0;
  let cf = false;
  let af = false;
  if ((oldAl & 0xf) > 9 || f & AF) {
    cf = oldCf || oldAl + 6 > 0xff;
    cpu.r8[0] = oldAl + 6;
    af = true;
  }
  if (oldAl > 0x99 || oldCf) {
    cpu.r8[0] += 0x60;
    cf = true;
  }
  bcdFlags(cpu, cf, af);
}

export function das(cpu: Cpu): void {
  const f = arithFlags(cpu);
  const oldAl = cpu.r8[0];
  const oldCf = (f & CF) !== 0;
  let cf = false;
  let af = false;
  if ((oldAl & 0xf) > 9 || f & AF) {
    cf = oldCf || oldAl < 6;
    cpu.r8[0] = oldAl - 6;
    af = true;
  }
  if (oldAl > 0x99 || oldCf) {
    cpu.r8[0] -= 0x60;
    cf = true;
  }
  bcdFlags(cpu, cf, af);
}

/** AAA (add = true) and AAS. */
export function aaaAas(cpu: Cpu, add: boolean): void {
  const f = arithFlags(cpu);
  const adjust = (cpu.r8[0] & 0xf) > 9 || (f & AF) !== 0;
  if (adjust) {
    if (add) cpu.r16[0] += 0x106;
    else {
      cpu.r16[0] -= 6;
      cpu.r8[1] -= 1;
    }
  }
  cpu.r8[0] &= 0xf;
  bcdFlags(cpu, adjust, adjust);
}

/** AAM imm8: AH = AL / imm, AL = AL mod imm; #DE for 0. */
export function aam(cpu: Cpu, insn: Insn): void {
  const base = insn.imm & 0xff;
  if (base === 0) {
    cpu.excVector = DE;
    cpu.excHasError = false;
    throw FAULT;
  }
  const al = cpu.r8[0];
  cpu.r8[1] = Math.floor(al / base);
  cpu.r8[0] = al % base;
  bcdFlags(cpu, false, false);
}

/** AAD imm8: AL = AL + AH * imm, AH = 0. */
export function aad(cpu: Cpu, insn: Insn): void {
  cpu.r8[0] = cpu.r8[0] + cpu.r8[1] * (insn.imm & 0xff);
  cpu.r8[1] = 0;
  bcdFlags(cpu, false, false);
}

/** BOUND r, m16&16 / m32&32: #BR when the signed index is outside [lower, upper]. */
export function bound(cpu: Cpu, insn: Insn): void {
  const size = insn.size === 2 ? 2 : 4;
  const ea = effAddr(cpu, insn);
  const wrap = insn.asize === 2 ? 0xffff : 0xffffffff;
  const lower = readMem(cpu, linearAddr(cpu, insn.seg, ea, size, false), size);
  const upper = readMem(cpu, linearAddr(cpu, insn.seg, (ea + size) & wrap, size, false), size);
  const sx = (v: number) => (size === 2 ? (v << 16) >> 16 : v | 0);
  const index = sx(size === 2 ? cpu.r16[insn.reg << 2] : cpu.r32[insn.reg << 1]);
  if (index < sx(lower) || index > sx(upper)) {
    cpu.excVector = BR;
    cpu.excHasError = false;
    throw FAULT;
  }
}

/** ARPL r/m16, r16: raise the destination selector's RPL to the source's; ZF tells whether it did. */
export function arpl(cpu: Cpu, insn: Insn): void {
  if (!cpu.protectedMode) ud(cpu);
  const lin = insn.mem ? linearAddr(cpu, insn.seg, effAddr(cpu, insn), 2, true) : 0;
  const dst = insn.mem ? readMem(cpu, lin, 2) : cpu.r16[insn.rm << 2];
  const src = cpu.r16[insn.reg << 2];
  const f = arithFlags(cpu);
  if ((dst & 3) < (src & 3)) {
    const v = (dst & ~3) | (src & 3);
    if (insn.mem) writeMem(cpu, lin, 2, v);
    else cpu.r16[insn.rm << 2] = v;
    setArithFlags(cpu, f | ZF);
  } else setArithFlags(cpu, f & ~ZF);
}
