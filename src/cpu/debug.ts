// Debug registers (Intel SDM vol 3 ch. 17.2-17.3; AMD APM vol 2 13.1): DR0-DR3 hold linear
// breakpoint addresses, DR7 enables them (L/G bits) with a kind (R/W: 00 execute, 01 write,
// 11 read or write; 10 I/O is not offered) and a length (LEN: 1, 2, 8, 4 bytes); DR6 reports which
// fired (B0-B3) and single steps (BS). Nothing here runs on the hot path: while breakpoints are
// armed the run loop steps one instruction at a time (run.ts), and pages holding a data breakpoint
// stay out of the TLB, so every access to them takes the slow path that checks them.
import type { Cpu } from './cpu.js';
import { tlbFlushAll } from './tlb.js';

/** DR6.BS: the #DB came from single-stepping (TF). */
export const DR6_BS = 1 << 14;

/** Bytes covered by breakpoint `i` (LEN field: 00 1, 01 2, 10 8, 11 4). */
function bpLength(dr7: number, i: number): number {
  const len = (dr7 >>> (18 + 4 * i)) & 3;
  return len === 0 ? 1 : len === 1 ? 2 : len === 2 ? 8 : 4;
}
function bpKind(dr7: number, i: number): number {
  return (dr7 >>> (16 + 4 * i)) & 3;
}
function bpEnabled(dr7: number, i: number): boolean {
  return ((dr7 >>> (2 * i)) & 3) !== 0;
}
/** DRi as a linear address, aligned down to its length (the low bits are ignored). */
function bpAddr(cpu: Cpu, i: number, len: number): number {
  const a = cpu.dr[i];
  return a - (((a % len) + len) % len);
}

/**
 * Recompute what the processor watches after a write to DR0-DR3 or DR7 (MOV DR, a world switch).
 * Pages with a data breakpoint leave the TLB.
 */
export function debugRegsChanged(cpu: Cpu): void {
  const dr7 = cpu.dr[7];
  let data = false;
  for (let i = 0; i < 4; i++) {
    const k = bpKind(dr7, i);
    if (bpEnabled(dr7, i) && (k === 1 || k === 3)) data = true;
  }
  cpu.breakpointsArmed = (dr7 & 0xff) !== 0;
  if (data || cpu.dataBreakpoints) tlbFlushAll(cpu);
  cpu.dataBreakpoints = data;
}

/** Instruction breakpoints at linear address `lin`: the B0-B3 bits that match. */
export function instructionBreakpoints(cpu: Cpu, lin: number): number {
  const dr7 = cpu.dr[7];
  let hits = 0;
  for (let i = 0; i < 4; i++) {
    if (bpEnabled(dr7, i) && bpKind(dr7, i) === 0 && cpu.dr[i] === lin) hits |= 1 << i;
  }
  return hits;
}

/** Does linear page `lpn` hold (part of) an armed data breakpoint? Such pages are not cached in the TLB. */
export function dataBreakpointOnPage(cpu: Cpu, lpn: number): boolean {
  const dr7 = cpu.dr[7];
  for (let i = 0; i < 4; i++) {
    const k = bpKind(dr7, i);
    if (!bpEnabled(dr7, i) || (k !== 1 && k !== 3)) continue;
    const len = bpLength(dr7, i);
    const a = bpAddr(cpu, i, len);
    if (Math.floor(a / 4096) === lpn || Math.floor((a + len - 1) / 4096) === lpn) return true;
  }
  return false;
}

/** A data access of `size` bytes at `lin`: record the breakpoints it hits in cpu.dbHits (a trap after the instruction). */
export function checkDataBreakpoints(cpu: Cpu, lin: number, size: number, write: boolean): void {
  const dr7 = cpu.dr[7];
  for (let i = 0; i < 4; i++) {
    const k = bpKind(dr7, i);
    if (!bpEnabled(dr7, i) || (k !== 3 && !(k === 1 && write))) continue;
    const len = bpLength(dr7, i);
    const a = bpAddr(cpu, i, len);
    if (lin < a + len && a < lin + size) cpu.dbHits |= 1 << i;
  }
}
