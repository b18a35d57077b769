// Segment limit and type checks for data accesses in real, protected and compatibility mode
// (AMD APM vol 2 4.12; Intel SDM vol 3 5.3), and canonical checks in 64-bit mode.
import { type Cpu, FAULT, SEG_DB, SEG_P, SEG_S, SEG_UNUSABLE } from './cpu.js';
import { GP, SS, SS_VEC } from './regs.js';

/** Per-segment flags in Cpu.segCheck: a reason to leave the fast limit compare. */
export const SC_UNUSABLE = 1,
  SC_EXPAND_DOWN = 2,
  SC_NO_WRITE = 4,
  SC_NO_READ = 8;

const CANON = 140737488355328; // 2^47

/** Recompute Cpu.segCheck[seg] from the descriptor cache (after any segment load). */
export function updateSegCheck(cpu: Cpu, seg: number): void {
  const a = cpu.segAttr[seg];
  let f = 0;
  if (!cpu.protectedMode) {
    f = 0; // real mode: the cached limit still applies (unreal mode keeps a big one)
  } else if (a & SEG_UNUSABLE || !(a & SEG_P)) {
    f = SC_UNUSABLE;
  } else if (a & SEG_S) {
    const type = a & 0xf;
    if (type & 8) {
      f |= SC_NO_WRITE; // code: never writable
      if (!(type & 2)) f |= SC_NO_READ; // execute-only
    } else {
      if (!(type & 2)) f |= SC_NO_WRITE;
      if (type & 4) f |= SC_EXPAND_DOWN;
    }
  }
  cpu.segCheck[seg] = f;
}

export function segFault(cpu: Cpu, seg: number, code = 0): never {
  cpu.excVector = seg === SS ? SS_VEC : GP;
  cpu.excError = code;
  cpu.excHasError = true;
  throw FAULT;
}

/** Slow path of the segment check: null, expand-down, read-only and execute-only segments. */
export function segCheckSlow(cpu: Cpu, seg: number, ea: number, size: number, write: boolean): void {
  const f = cpu.segCheck[seg];
  if (f & SC_UNUSABLE) segFault(cpu, seg);
  if (write && f & SC_NO_WRITE) segFault(cpu, seg);
  if (!write && f & SC_NO_READ) segFault(cpu, seg);
  const last = ea + size - 1;
  if (f & SC_EXPAND_DOWN) {
    const upper = cpu.segAttr[seg] & SEG_DB ? 0xffffffff : 0xffff;
    if (ea <= cpu.segLimit[seg] || last > upper) segFault(cpu, seg);
  } else if (last > cpu.segLimit[seg]) segFault(cpu, seg);
}

/** Linear address of offset `ea` in segment `seg` for an access of `size` bytes. */
export function linearAddr(cpu: Cpu, seg: number, ea: number, size: number, write: boolean): number {
  if (cpu.codeSize === 64) {
    const lin = seg >= 4 ? ea + cpu.segBase[seg] : ea;
    if (lin < -CANON || lin >= CANON) segFault(cpu, seg);
    return lin;
  }
  if (cpu.segCheck[seg] !== 0) segCheckSlow(cpu, seg, ea, size, write);
  else if (ea + size - 1 > cpu.segLimit[seg]) segFault(cpu, seg);
  return (cpu.segBase[seg] + ea) >>> 0;
}
