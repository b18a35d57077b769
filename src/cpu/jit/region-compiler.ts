// Tier 2: a hot block and the blocks it branches to in its page (region.ts) become one JavaScript
// function (new Function). Inside it:
// - blocks jump to each other directly (`block = n; continue`, a jump table), leaving to the
//   dispatcher only at a region exit, a fault, or a check on a backward edge (the budget, an
//   interrupt window or stop request in `cpu.attention`, a code invalidation);
// - guest registers live in JavaScript locals (`eax`, `eax_hi`, ...), loaded once on entry and
//   written back at every way out: exits, faults (the catch), and around calls to interpreter
//   handlers (which read and write `cpu.r32`);
// - the lazy-flag record lives in locals too (`lazyOp`, `lazyDst`, ...), and a flag result no path
//   can observe before the next full flag write is not computed at all (liveness across blocks);
// - everything not written inline calls the interpreter's handler, so both tiers share semantics.
// A fault leaves RIP at the faulting instruction and the instruction count exact, as the
// interpreter does (CI runs every test with tier 2 off and eager; test/fuzz compares the tiers).
import { type Block, RegionRef } from '../block.js';
import type { Cpu } from '../cpu.js';
import { ATT_VMEXIT } from '../events.js';
import { setRip } from '../exec/control.js';
import { execute } from '../exec/dispatch.js';
import { memAddr } from '../exec/operand.js';
import { getCF, LazyOp, setPartialFlags, testCond } from '../flags.js';
import { BASE_RIP, type Insn } from '../insn.js';
import {
  readLin8,
  readLin16,
  readLin32,
  readLin64,
  writeLin8,
  writeLin16,
  writeLin32,
  writeLin64,
} from '../mmu.js';
import { Op } from '../ops.js';
import { InterceptKind } from '../ports.js';
import { CF, OF, ZF } from '../regs.js';
import { segFault } from '../segment-check.js';
import { TLB_BITS, TLB_MASK, tlbIndex } from '../tlb.js';
import { blockBytes, formRegion, type Region, staticBranch } from './region.js';
import { RegionExit, tier2Stats } from './stats.js';
import { dumpRegions } from './tier2.js';

/**
 * Runs the region from the current RIP; false (nothing done) when it cannot run whole blocks
 * within `limit` instructions or the code segment no longer covers it: the caller interprets.
 */
export type CompiledRegion = (cpu: Cpu, limit: number, start: number) => boolean;

/**
 * The compiled code for a hot block: the region of an earlier hot block that already holds it
 * (entered at its member index: the same loop is not compiled again for each of its blocks), else
 * a new region grown from it; null when nothing is gained.
 */
export function regionFor(cpu: Cpu, b: Block): CompiledRegion | null {
  const rs = b.inRegions;
  if (rs !== null)
    for (const r of rs) {
      if (!r.valid || r.fn === null) continue;
      const m = r.members.indexOf(b);
      if (m < 0) continue;
      b.fn = r.fn;
      b.fnEntry = m;
      b.region = r;
      r.users.push(b);
      if (tier2Stats.enabled) tier2Stats.shared++;
      return r.fn;
    }
  b.fnEntry = 0;
  return compileRegion(cpu, b);
}

const REG32 = [
  'eax',
  'ecx',
  'edx',
  'ebx',
  'esp',
  'ebp',
  'esi',
  'edi',
  'r8d',
  'r9d',
  'r10d',
  'r11d',
  'r12d',
  'r13d',
  'r14d',
  'r15d',
];
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const ALU_JS = ['+', '|', '', '', '&', '-', '^', '-'];
const ALU_LAZY = ['LAZY_ADD', 'LAZY_LOGIC', '', '', 'LAZY_LOGIC', 'LAZY_SUB', 'LAZY_LOGIC', 'LAZY_SUB'];
const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
const CC = ['o', 'no', 'b', 'ae', 'z', 'nz', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const TWO32 = 4294967296;

/** Values the generated code names instead of writing numbers (the dump reads like the manuals). */
const CONSTANTS = `const LAZY_NONE = ${LazyOp.NONE}, LAZY_ADD = ${LazyOp.ADD}, LAZY_SUB = ${LazyOp.SUB}, LAZY_LOGIC = ${LazyOp.LOGIC}, LAZY_INC = ${LazyOp.INC}, LAZY_DEC = ${LazyOp.DEC}, LAZY_RESULT = ${LazyOp.RESULT}, LAZY_PARTIAL = ${LazyOp.PARTIAL}, LAZY_ADC1 = ${LazyOp.ADC1}, LAZY_SBB1 = ${LazyOp.SBB1};
const CF = ${CF}, ZF = ${ZF}, OF = ${OF}, CS = 1, ATT_VMEXIT = ${ATT_VMEXIT}, TWO32 = ${TWO32}, CANON = 140737488355328;`;

/**
 * The generated code probes the TLB's first way itself, with tlb.ts's index function written out;
 * should that function change, the check below turns the inline probe off (correct, only slower).
 */
const INLINE_TLB = [0, 1, 255, 256, 0x7c, 0x12345, 0xfffff, 0x80000].every(
  (p) => tlbIndex(p) === ((p ^ (p >>> TLB_BITS)) & TLB_MASK),
);

/** The flag locals' names and the Cpu fields they stand for when the record stays in the Cpu. */
const FLAG_FIELDS: [string, string][] = [
  ['lazyOp', 'cpu.lfOp'],
  ['lazyDst', 'lf[0]'],
  ['lazySrc', 'lf[2]'],
  ['lazyRes', 'lf[4]'],
  ['lazyDstHi', 'lf[1]'],
  ['lazySrcHi', 'lf[3]'],
  ['lazyResHi', 'lf[5]'],
  ['savedDstHi', 'sv[1]'],
  ['savedSrcHi', 'sv[3]'],
  ['savedResHi', 'sv[5]'],
  ['lazySize', 'cpu.lfSize'],
  ['lazyCarry', 'cpu.lfCarry'],
  ['savedOp', 'cpu.lfSavedOp'],
  ['savedDst', 'sv[0]'],
  ['savedSrc', 'sv[2]'],
  ['savedRes', 'sv[4]'],
  ['savedSize', 'cpu.lfSavedSize'],
  ['savedCarry', 'cpu.lfSavedCarry'],
  ['partialMask', 'cpu.lfPartialMask'],
];
function flagsInCpu(code: string, only?: RegExp): string {
  for (const [local, field] of FLAG_FIELDS)
    if (only === undefined || only.test(local)) code = code.replace(new RegExp(`\\b${local}\\b`, 'g'), field);
  return code;
}
/**
 * The record a rotate stacks its CF/OF on (saved*) stays in the Cpu even where the rest of the
 * record is in locals: only a rotate on a live record writes it and nothing inline reads it, so
 * keeping it in locals cost seven loads and stores at every entry, exit and handler call for nothing.
 */
const SAVED = /^saved/;

const LOAD_FLAGS =
  'lazyOp = cpu.lfOp; lazyDst = lf[0]; lazySrc = lf[2]; lazyRes = lf[4]; lazyDstHi = lf[1]; lazySrcHi = lf[3]; lazyResHi = lf[5]; lazySize = cpu.lfSize; lazyCarry = cpu.lfCarry; partialMask = cpu.lfPartialMask;';
const STORE_FLAGS =
  'cpu.lfOp = lazyOp; lf[0] = lazyDst; lf[2] = lazySrc; lf[4] = lazyRes; lf[1] = lazyDstHi; lf[3] = lazySrcHi; lf[5] = lazyResHi; cpu.lfSize = lazySize; cpu.lfCarry = lazyCarry; cpu.lfPartialMask = partialMask;';

// CF and ZF of the record in locals, written out (calls would box their int32 arguments):
// 1 or 0, or -1 when only the Cpu's full record can say (RFLAGS itself, 64-bit records, ADC/SBB).
const below64 = (x: string, y: string) =>
  `((${x}Hi >>> 0) < (${y}Hi >>> 0) || (${x}Hi === ${y}Hi && (${x} >>> 0) < (${y} >>> 0)) ? 1 : 0)`;
const CARRY_NOW =
  `(lazySize === 8 ? (lazyOp === LAZY_ADD ? ${below64('lazyRes', 'lazyDst')} : lazyOp === LAZY_ADC1 ? 1 - ${below64('lazyDst', 'lazyRes')} : ` +
  `lazyOp === LAZY_SUB ? ${below64('lazyDst', 'lazySrc')} : lazyOp === LAZY_SBB1 ? 1 - ${below64('lazySrc', 'lazyDst')} : lazyOp === LAZY_LOGIC ? 0 : ` +
  'lazyOp === LAZY_INC || lazyOp === LAZY_DEC || lazyOp === LAZY_RESULT ? lazyCarry & CF : -1) : lazyOp === LAZY_SUB && lazySize === 4 ? ((lazyDst >>> 0) < (lazySrc >>> 0) ? 1 : 0) : ' +
  'lazyOp === LAZY_ADD && lazySize === 4 ? ((lazyRes >>> 0) < (lazyDst >>> 0) ? 1 : 0) : lazyOp === LAZY_LOGIC ? 0 : ' +
  'lazyOp === LAZY_INC || lazyOp === LAZY_DEC || lazyOp === LAZY_RESULT || (lazyOp === LAZY_PARTIAL && (partialMask & CF) !== 0) ? lazyCarry & CF : -1)';
const ZERO_NOW =
  '(lazyOp === LAZY_NONE || lazyOp === LAZY_PARTIAL || lazySize === 8 ? -1 : (lazyRes & (lazySize === 4 ? -1 : lazySize === 2 ? 0xffff : 0xff)) === 0 ? 1 : 0)';

/**
 * Statements that leave in `pa` the RAM offset of linear page `lpn` plus `o`, or -1 on a miss.
 * Each memory instruction remembers in two locals (`cache`Page, `cache`Base) the page it used
 * last: a hit there skips the TLB. Only a TLB hit fills them, and every way the TLB can lose a
 * mapping (INVLPG, CR3/CR0/CR4 writes, a page becoming code) happens outside the region or in a
 * handler, after which the locals are reset (with the registers, LOAD_ALL).
 */
function pageLookup(lpn: string, o: string, write: boolean, cache: string, caches: string[]): string {
  if (!pageCaches)
    return `const lpn = ${lpn}, o = ${o}; let pa = -1; { const slot = ${write ? 'tlbW' : 'tlbR'} + ((lpn ^ (lpn >>> ${TLB_BITS})) & ${TLB_MASK}); if (tlbTag[slot] === lpn) pa = tlbPhys[slot] + o; }`;
  caches.push(cache);
  return (
    `const lpn = ${lpn}, o = ${o}; let pa = -1; if (lpn === ${cache}Page) pa = ${cache}Base + o; ` +
    `else { const slot = ${write ? 'tlbW' : 'tlbR'} + ((lpn ^ (lpn >>> ${TLB_BITS})) & ${TLB_MASK}); ` +
    `if (tlbTag[slot] === lpn) { ${cache}Page = lpn; ${cache}Base = tlbPhys[slot]; pa = ${cache}Base + o; } }`
  );
}

/**
 * Whether the region being compiled keeps per-instruction page caches: only in regions with few
 * memory instructions. Each cache is two locals live across the whole region, and V8's optimizing
 * compiler (register allocation over one big loop) took hundreds of milliseconds per kernel region
 * with a hundred of them.
 */
let pageCaches = true;
/** Most memory instructions in a region that keeps page caches. */
const PAGE_CACHE_MAX = 8;

/** Host byte order: the aligned fast path reads RAM through an Int32Array only on a little-endian host. */
const LITTLE_ENDIAN = new Uint8Array(Int32Array.of(1).buffer)[0] === 1;
/** A dword of RAM at offset `pa` (an expression), aligned through ram32. */
function ramGet(pa: string): string {
  return LITTLE_ENDIAN
    ? `((${pa} & 3) === 0 ? ram32[${pa} >>> 2] : ram.getInt32(${pa}, true))`
    : `ram.getInt32(${pa}, true)`;
}
function ramSet(pa: string, v: string): string {
  return LITTLE_ENDIAN
    ? `if ((${pa} & 3) === 0) ram32[${pa} >>> 2] = ${v}; else ram.setInt32(${pa}, ${v}, true);`
    : `ram.setInt32(${pa}, ${v}, true);`;
}
const SEG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

/**
 * Statements for a `size`-byte access at linear `addr` (an expression; `u32`: known below 2^32)
 * through the page cache and the TLB's first way inline, else `slow`. `ok` is the fast access
 * with `pa` its RAM offset.
 */
function tlbAccess(
  addr: string,
  u32: boolean,
  write: boolean,
  size: number,
  ok: string,
  slow: string,
  cache: string,
  caches: string[],
): string {
  if (!INLINE_TLB) return slow;
  const lpn = u32 ? `${addr} >>> 12` : `Math.floor(${addr} / 4096)`;
  return `{ ${pageLookup(lpn, `${addr} & 0xfff`, write, cache, caches)} if (pa >= 0 && o <= ${4096 - size}) { ${ok} } else { ${slow} } }`;
}

/** With --stats: count a region exit of this kind (nothing otherwise). */
function why(reason: RegionExit): string {
  return tier2Stats.enabled ? `st.exits[${reason}]++; ` : '';
}

/** With --stats: count a call that leaves compiled code for the interpreter, under `name`. */
function countCall(name: string): string {
  if (!tier2Stats.enabled) return '';
  const names = tier2Stats.handlerNames;
  let id = -1;
  for (const [k, v] of names) if (v === name) id = k;
  if (id < 0) {
    id = names.size;
    if (id >= tier2Stats.handlerCalls.length) return '';
    names.set(id, name);
  }
  return `st.handlerCalls[${id}]++; `;
}

/** The name an instruction's handler calls are counted under: opcode, operand size, r/m kind. */
function handlerName(ins: Insn): string {
  const map = ['', '0f ', '0f38 ', '0f3a '][ins.opcode >> 8];
  return `${map}${(ins.opcode & 0xff).toString(16).padStart(2, '0')}${ins.mem ? ' m' : ''} ${ins.size * 8}${ins.lock ? ' lock' : ''}`;
}

/** The switch case of the region's shared handler call, and the first of the resume labels (one per instruction id). */
const HANDLER_CASE = -1;
const RESUME_CASE = 1 << 16;

/** A region is not compiled when more than (DECLINE_RATIO - 1) / DECLINE_RATIO of its instructions are handler calls. */
const DECLINE_RATIO = 2;

/** Registers are cached in locals when at most one instruction in this many calls a handler. */
const HANDLER_RATIO = 4;

function inlineAlu(sub: number): boolean {
  return sub !== 2 && sub !== 3; // ADC and SBB read CF: through the handler
}

/** Byte register (Insn.rm/reg of a byte operand is an index into Cpu.r8) as an expression. */
function byteReg(b: number, use: (r: number) => string): string {
  const sh = (b & 7) * 8;
  return sh === 0 ? `(${use(b >> 3)} & 0xff)` : `((${use(b >> 3)} >>> ${sh}) & 0xff)`;
}

/** How an instruction affects the flag liveness (backwards): what is live before it. */
const enum FlagUse {
  /** Writes all six arithmetic flags, reads none, cannot leave the region. */
  KILL = 0,
  /** Neither reads nor writes, or writes some on top of the earlier record: live before = live after. */
  PASS = 1,
  /** Reads flags, may fault or calls a handler: the flags must be exact before it. */
  USE = 2,
}

/** Is the instruction compiled inline (else: the interpreter's handler)? */
function inlineForm(ins: Insn, last: boolean, codeSize: number): boolean {
  switch (ins.op) {
    case Op.NOP:
    case Op.PAUSE: // a test of interceptMask; the hand-over only when intercepted or counted
    case Op.MOV32_RR:
    case Op.TEST32_RR:
    case Op.INC32_R:
    case Op.DEC32_R:
    case Op.MOV32_R_M:
    case Op.MOV32_M_R:
      return true;
    case Op.ALU32_RR:
    case Op.ALU32_RI:
      return inlineAlu(ins.sub);
    case Op.TEST_RM_I:
      return !ins.mem || ins.size !== 2;
    case Op.SHIFT32_RI:
      return (ins.imm & 31) === 0 || ins.sub === 0 || ins.sub === 1 || ins.sub >= 4;
    // The general forms the decoder does not specialize (64-bit, byte, memory operands).
    case Op.MOV_RM_R:
    case Op.MOV_R_RM:
    case Op.MOV_RM_I:
      return !ins.lock && ins.size >= 4 ? true : ins.mem && !ins.lock && ins.size === 1;
    case Op.MOV_R_I:
      return ins.size >= 4;
    case Op.PUSH_R:
    case Op.POP_R:
      return codeSize === 64 && ins.size === 8;
    case Op.ALU_RM_R:
    case Op.ALU_R_RM:
    case Op.ALU_RM_I:
      // A memory operand: read only (a memory source, or CMP); read-modify-write stays with the
      // handler (LOCK forms too: their atomicity is the interpreter's).
      if (ins.mem) return ins.size !== 2 && inlineAlu(ins.sub) && (ins.op === Op.ALU_R_RM || ins.sub === 7);
      // Byte registers, and 64-bit ones with ADC and SBB too (the carry in from the record in locals).
      return ins.size === 8 || (ins.size === 1 && inlineAlu(ins.sub));
    case Op.TEST_RM_R:
      return ins.size !== 2 && (ins.mem || ins.size !== 4);
    case Op.ALU32_R_M:
      return inlineAlu(ins.sub) && !ins.lock;
    // Inline only where its flags are dead (else the handler, which reads no flags and cannot
    // fault in the register form: its flag use is a plain write either way).
    case Op.IMUL_R_RM:
    case Op.IMUL_R_RM_I:
      return !ins.mem && (ins.size === 8 || ins.size === 4);
    case Op.SETCC:
      return !ins.mem;
    case Op.CMOVCC:
      return !ins.mem && ins.size >= 4;
    case Op.SHIFT_RM_I:
      return !ins.mem && ins.size === 8 && (ins.sub >= 4 || (ins.imm & 63) === 0);
    case Op.LEA:
      return ins.size >= 4 && ins.asize >= 4;
    case Op.MOVZX:
    case Op.MOVSX:
    case Op.MOVSXD:
      return ins.size >= 4 && !ins.lock;
    case Op.JCC:
    case Op.JMP_REL:
    case Op.CALL_REL:
      return last && staticBranch(ins, codeSize);
    case Op.RET_NEAR:
      return last && ins.size === (codeSize === 64 ? 8 : 4);
  }
  return false;
}

function flagUse(ins: Insn, last: boolean, codeSize: number): FlagUse {
  if (!inlineForm(ins, last, codeSize)) return FlagUse.USE;
  switch (ins.op) {
    case Op.ALU32_RR:
    case Op.ALU32_RI:
    case Op.TEST32_RR:
    case Op.IMUL_R_RM:
    case Op.IMUL_R_RM_I:
      return FlagUse.KILL;
    case Op.ALU_RM_R:
    case Op.ALU_R_RM:
    case Op.ALU_RM_I:
      if (ins.sub === 2 || ins.sub === 3) return FlagUse.USE; // ADC, SBB read CF
      return ins.mem ? FlagUse.USE : FlagUse.KILL; // a memory operand may fault
    case Op.TEST_RM_I:
    case Op.TEST_RM_R:
      return ins.mem ? FlagUse.USE : FlagUse.KILL; // a memory operand may fault
    case Op.SHIFT_RM_I:
      return (ins.imm & 63) !== 0 ? FlagUse.KILL : FlagUse.PASS;
    case Op.MOV_RM_R:
    case Op.MOV_R_RM:
    case Op.MOV_RM_I:
    case Op.MOVZX:
    case Op.MOVSX:
    case Op.MOVSXD:
      return ins.mem ? FlagUse.USE : FlagUse.PASS; // a memory operand may fault
    case Op.MOV_R_I:
    case Op.LEA:
      return FlagUse.PASS;
    case Op.SHIFT32_RI:
      return (ins.imm & 31) !== 0 && ins.sub >= 4 ? FlagUse.KILL : FlagUse.PASS;
    case Op.NOP:
    case Op.MOV32_RR:
    case Op.INC32_R:
    case Op.DEC32_R:
      return FlagUse.PASS;
    case Op.JMP_REL:
      return FlagUse.PASS; // a target outside the region is checked by setRip, with flags exact (edge exit)
  }
  return FlagUse.USE;
}

/** A plain-text rendering of an instruction for the comments of the generated code. */
function mnemonic(ins: Insn): string {
  const d = REG32[ins.rm] ?? `r${ins.rm}`;
  const s = REG32[ins.reg] ?? `r${ins.reg}`;
  const m = () => {
    const parts: string[] = [];
    if (ins.base === BASE_RIP) parts.push('rip');
    else if (ins.base >= 0) parts.push(REG32[ins.base]);
    if (ins.index >= 0) parts.push(`${REG32[ins.index]}*${1 << ins.scale}`);
    if (ins.disp || parts.length === 0) parts.push(`0x${(ins.disp >>> 0).toString(16)}`);
    return `[${parts.join(' + ')}]`;
  };
  switch (ins.op) {
    case Op.NOP:
      return 'nop';
    case Op.PAUSE:
      return 'pause';
    case Op.MOV32_RR:
      return `mov ${d}, ${s}`;
    case Op.ALU32_RR:
      return `${ALU[ins.sub]} ${d}, ${s}`;
    case Op.ALU32_RI:
      return `${ALU[ins.sub]} ${d}, ${ins.imm}`;
    case Op.TEST32_RR:
      return `test ${d}, ${s}`;
    case Op.TEST_RM_I:
      return `test r/m${ins.size * 8}, ${ins.imm}`;
    case Op.SHIFT32_RI:
      return `${SHIFT[ins.sub]} ${d}, ${ins.imm & 31}`;
    case Op.INC32_R:
      return `inc ${d}`;
    case Op.DEC32_R:
      return `dec ${d}`;
    case Op.MOV32_R_M:
      return `mov ${s}, dword ${m()}`;
    case Op.MOV32_M_R:
      return `mov dword ${m()}, ${s}`;
    case Op.JCC:
      return `j${CC[ins.sub]} ${ins.imm >= 0 ? '+' : ''}${ins.imm}`;
    case Op.JMP_REL:
      return `jmp ${ins.imm >= 0 ? '+' : ''}${ins.imm}`;
    case Op.CALL_REL:
      return `call ${ins.imm >= 0 ? '+' : ''}${ins.imm}`;
    case Op.RET_NEAR:
      return ins.imm ? `ret ${ins.imm}` : 'ret';
    case Op.PUSH_R:
      return `push r${ins.rm}`;
    case Op.SETCC:
      return `set${CC[ins.sub]} r8 #${ins.rm}`;
    case Op.IMUL_R_RM:
    case Op.IMUL_R_RM_I:
      return `imul/${ins.size * 8} r${ins.reg}, r${ins.rm}${ins.op === Op.IMUL_R_RM_I ? `, ${ins.imm}` : ''}`;
    case Op.ALU32_R_M:
      return `${ALU[ins.sub]} ${s}, dword ${m()}`;
    case Op.CMOVCC:
      return `cmov${CC[ins.sub]}/${ins.size * 8} r${ins.reg}, r${ins.rm}`;
    case Op.POP_R:
      return `pop r${ins.rm}`;
    case Op.MOV_RM_R:
    case Op.MOV_R_RM:
    case Op.MOV_RM_I:
    case Op.MOV_R_I:
    case Op.ALU_RM_R:
    case Op.ALU_R_RM:
    case Op.ALU_RM_I:
    case Op.TEST_RM_R:
    case Op.SHIFT_RM_I:
    case Op.LEA:
    case Op.MOVZX:
    case Op.MOVSX:
    case Op.MOVSXD: {
      const name =
        ins.op === Op.ALU_RM_R || ins.op === Op.ALU_R_RM || ins.op === Op.ALU_RM_I
          ? ALU[ins.sub]
          : ins.op === Op.SHIFT_RM_I
            ? SHIFT[ins.sub]
            : ins.op === Op.TEST_RM_R
              ? 'test'
              : ins.op === Op.LEA
                ? 'lea'
                : ins.op === Op.MOVZX
                  ? 'movzx'
                  : ins.op === Op.MOVSX
                    ? 'movsx'
                    : ins.op === Op.MOVSXD
                      ? 'movsxd'
                      : 'mov';
      const rm = ins.mem
        ? `${['', 'byte', 'word', '', 'dword', '', '', '', 'qword'][ins.size]} ${m()}`
        : `r${ins.rm}`;
      return `${name}/${ins.size * 8} ${rm}, ${ins.op === Op.MOV_R_I || ins.op === Op.MOV_RM_I || ins.op === Op.ALU_RM_I || ins.op === Op.SHIFT_RM_I ? ins.imm : `r${ins.reg}`}`;
    }
  }
  return `(handler) opcode 0x${ins.opcode.toString(16)} op ${ins.op}`;
}

interface Edge {
  /** Target offset from the region entry's RIP. */
  delta: number;
  /** Member index, or -1 for a region exit. */
  member: number;
  /** Go through the dispatcher checks (budget, attention, validity) before taking it. */
  checked: boolean;
}

/** Flag liveness per instruction: live[j][i] = the flags after instruction i of member j are observable. */
function flagLiveness(region: Region, edges: Edge[][]): boolean[][] {
  const { members, codeSize } = region;
  const liveIn = members.map(() => true);
  const live: boolean[][] = members.map((b) => b.insns.map(() => true));
  for (let changed = true; changed; ) {
    changed = false;
    for (let j = members.length - 1; j >= 0; j--) {
      const insns = members[j].insns;
      const n = insns.length;
      const last = insns[n - 1];
      let l = false;
      if (!inlineForm(last, true, codeSize) || last.op === Op.RET_NEAR) l = true;
      for (const e of edges[j]) l ||= e.member < 0 || e.checked || liveIn[e.member];
      for (let i = n - 1; i >= 0; i--) {
        live[j][i] = l;
        const u = flagUse(insns[i], i === n - 1, codeSize);
        if (u === FlagUse.KILL) l = false;
        else if (u === FlagUse.USE) l = true;
      }
      if (l !== liveIn[j]) {
        liveIn[j] = l;
        changed = true;
      }
    }
  }
  return live;
}

/** Compile the region grown from `entry` (32- or 64-bit code only); null when nothing is gained. */
export function compileRegion(cpu: Cpu, entry: Block): CompiledRegion | null {
  if (cpu.codeSize === 16) return null;
  const t0 = tier2Stats.enabled ? performance.now() : 0;
  const region = formRegion(cpu, entry);
  const { members, deltas, codeSize } = region;
  const ref = new RegionRef(entry, members);
  // Edges: constant targets; a backward edge (or one back to the entry) is checked, so every
  // cycle passes a check and at most `total` instructions run between two checks.
  const edges: Edge[][] = members.map((b, j) => {
    const last = b.insns[b.insns.length - 1];
    if (!inlineForm(last, true, codeSize) || last.op === Op.RET_NEAR) return [];
    const end = deltas[j] + blockBytes(b);
    const targets = last.op === Op.JMP_REL ? [end + last.imm] : [end + last.imm, end];
    if (last.op === Op.CALL_REL) targets.pop(); // the return address is reached through RET
    return targets.map((t) => {
      const m = deltas.indexOf(t);
      return { delta: t, member: m, checked: m >= 0 && t <= deltas[j] };
    });
  });
  let total = 0;
  let maxEnd = 0;
  for (let j = 0; j < members.length; j++) {
    total += members[j].insns.length;
    maxEnd = Math.max(maxEnd, deltas[j] + blockBytes(members[j]));
  }
  const live = flagLiveness(region, edges);

  const used = new Set<number>();
  const segs = new Set<number>();
  const caches: string[] = [];
  let memInsns = 0;
  for (const b of members)
    for (const ins of b.insns) if (ins.mem || ins.op === Op.CALL_REL || ins.op === Op.RET_NEAR) memInsns++;
  pageCaches = memInsns <= PAGE_CACHE_MAX;
  // Registers live in locals unless handlers are frequent: each handler call writes back and
  // reloads every cached register, which costs more than it saves in code that is mostly handlers.
  let handlers = 0;
  let insns = 0;
  for (let j = 0; j < members.length; j++)
    for (let i = 0; i < members[j].insns.length; i++) {
      insns++;
      if (!inlineForm(members[j].insns[i], i === members[j].insns.length - 1, codeSize)) handlers++;
    }
  // A region that would be mostly handler calls runs no faster than the interpreter's blocks
  // and costs a compile: the block stays with the interpreter.
  if (handlers * DECLINE_RATIO > insns * (DECLINE_RATIO - 1)) {
    if (tier2Stats.enabled) tier2Stats.declined++;
    return null;
  }
  const cacheRegs = handlers * HANDLER_RATIO <= insns;
  const use = (r: number) => {
    if (!cacheRegs) return `r32[${2 * r}]`;
    used.add(r);
    return REG32[r];
  };
  const hi = (r: number) => {
    if (!cacheRegs) return `r32[${2 * r + 1}]`;
    used.add(r);
    return `${REG32[r]}_hi`;
  };
  const insnTable: Insn[] = [];
  const ripOf: number[] = [];
  const countOf: number[] = [];
  const cases: string[] = [];
  for (let j = 0; j < members.length; j++) {
    const b = members[j];
    const n = b.insns.length;
    const src: string[] = [];
    let off = deltas[j];
    const known: Known = { kind: null, size: 4 };
    for (let i = 0; i < n; i++) {
      const ins = b.insns[i];
      const id = insnTable.length;
      insnTable.push(ins);
      ripOf.push(off);
      countOf.push(i);
      const end = off + ins.len;
      src.push(`// +0x${off.toString(16)}: ${mnemonic(ins)}${live[j][i] ? '' : '  (flags dead)'}`, '{');
      const g = new Gen(src, use, hi, ins, id, i, n, end, live[j][i], codeSize, known, segs, caches);
      if (i === n - 1) g.last(edges[j], deltas, total);
      else g.body();
      src.push('}');
      off = end;
    }
    cases.push(`case ${j}: // block at +0x${deltas[j].toString(16)}, ${n} instructions\n${src.join('\n')}`);
  }
  const regs = [...used].sort((a, b) => a - b);
  const loadR = regs.map((r) => `${REG32[r]} = r32[${2 * r}]; ${REG32[r]}_hi = r32[${2 * r + 1}];`).join(' ');
  // Only registers the inline code assigns need writing back: the others still hold what the
  // Cpu has (loaded on entry, or reloaded after the last handler). Kernel regions read many
  // registers (base pointers, arguments) and write few, and every exit paid for all of them.
  const casesSrc = cases.join('\n');
  const storeR = regs
    .filter((r) => new RegExp(`\\b${REG32[r]}(_hi)? = `).test(casesSrc))
    .map((r) => `r32[${2 * r}] = ${REG32[r]}; r32[${2 * r + 1}] = ${REG32[r]}_hi;`)
    .join(' ');
  // Segment bases and limits (a limit of -1 when the segment needs the full check), the stack
  // and CS state: constant inside a region except across a handler, which reloads them.
  const segState = [...segs]
    .sort()
    .map((g) =>
      codeSize === 64
        ? `${SEG[g]}BaseHi = Math.floor(cpu.segBase[${g}] / TWO32); ${SEG[g]}BaseLo = cpu.segBase[${g}] - ${SEG[g]}BaseHi * TWO32;`
        : // -16: the segment needs the full check (no access of 1-8 bytes passes `lin + size - 4 <= limit`).
          `${SEG[g]}Limit = cpu.segCheck[${g}] === 0 ? cpu.segLimit[${g}] - 3 : -16; ${SEG[g]}Base = cpu.segBase[${g}];`,
    )
    .join(' ');
  // No page: NaN equals no lpn. (-1 did: it is the page of 0xFFFFFFFFFFFFF000, whose accesses then
  // hit an empty cache at RAM offset 0 instead of faulting.)
  const resetCaches = caches.map((c) => `${c}Page = NaN;`).join(' ');
  // Where handlers are frequent, the flag record stays in the Cpu too (the names below become its
  // fields), so a handler call hands nothing over: the code is what tier 2 used to be per block.
  const flagLoad = cacheRegs ? LOAD_FLAGS : '';
  const storeF = cacheRegs ? STORE_FLAGS : '';
  // The shared way into the interpreter: a handler call, or the slow path of an inline form, jumps
  // here with the instruction in hk and comes back at its resume label (Gen.outOfLine). One copy
  // of the register and flag hand-over per region instead of one per call keeps the function small
  // enough for V8 to optimize quickly.
  cases.push(
    `case ${HANDLER_CASE}: { k = ~hk; /*STORE_ALL*/ cpu.rip = base + END_OF[hk]; cpu.icount = ic; execute(cpu, I[hk]); /*LOAD_ALL*/ sl = 1; block = resume; continue run; }`,
  );
  const raw = cases.join('\n');
  const usesState = /\b(tlbR|tlbW|stackFlat|codeLimit)\b/.test(raw);
  const loadF = `${flagLoad} ${resetCaches} ${usesState ? 'tlbR = cpu.tlbRead; tlbW = cpu.tlbWrite; stackFlat = cpu.stackFlat32; codeLimit = cpu.segLimit[CS];' : ''} ${segState}`;
  const body0 = raw
    .replaceAll('/*LOAD_ALL*/', `${loadR} ${loadF}`)
    .replaceAll('/*STORE_ALL*/', `${storeR} ${storeF}`)
    .replaceAll('/*STORE_REGS*/', storeR)
    .replaceAll('/*LOAD_FLAGS*/', loadF)
    .replaceAll('/*STORE_FLAGS*/', storeF)
    .replaceAll('/*STORE_FLAGS_EXPR*/', storeF === '' ? '' : `${storeF.replaceAll(';', ',')}`);
  const body = cacheRegs ? flagsInCpu(body0, SAVED) : flagsInCpu(body0);
  const entryLin = codeSize === 64 ? cpu.rip : cpu.segBase[1] + cpu.rip;
  const name = `region_${Math.floor(entry.key / 4).toString(16)}_${codeSize}`;
  const src = `${CONSTANTS}
// Region at physical 0x${Math.floor(entry.key / 4).toString(16)} (linear 0x${entryLin.toString(16)} when compiled), ${codeSize}-bit code:
// ${members.length} blocks, ${total} instructions (${handlers} through handlers); register locals: ${cacheRegs ? regs.map((r) => REG32[r]).join(' ') || 'none' : 'none (registers stay in cpu.r32: handlers are frequent here)'}.
return function ${name}(cpu, limit, start) {
  ${tier2Stats.enabled ? 'st.entries++; ' : ''}if (cpu.icount + ${total} > limit || !region.valid) { ${tier2Stats.enabled ? 'st.refused++; ' : ''}return false; }
  const base = cpu.rip - DELTAS[start];${codeSize === 64 ? '\n  const baseHi = Math.floor(base / TWO32), baseLo = base - baseHi * TWO32;' : ''}${codeSize === 32 ? `\n  if (base < 0 || base + ${maxEnd - 1} > cpu.segLimit[CS]) return false;` : ''}
  const r32 = cpu.r32, lf = cpu.lf, sv = cpu.lfSaved, ram = cpu.ram, ram8 = cpu.ram8, ram32 = cpu.ram32, tlbTag = cpu.tlbTag, tlbPhys = cpu.tlbPhys;
  let ${caches.map((c) => `${c}Page = NaN, ${c}Base = 0`).join(', ') || 'noCaches = 0'};
  // CS's limit for a return target (codeLimit: a CS override in the region declares csLimit).
  let tlbR = cpu.tlbRead, tlbW = cpu.tlbWrite, stackFlat = cpu.stackFlat32, codeLimit = cpu.segLimit[CS];
  let ${[...segs].map((g) => `${SEG[g]}Limit = 0, ${SEG[g]}Base = 0, ${SEG[g]}BaseLo = 0, ${SEG[g]}BaseHi = 0`).join(', ') || 'noSegs = 0'};
  ${segState}
  let ${regs.map((r) => `${REG32[r]} = r32[${2 * r}], ${REG32[r]}_hi = r32[${2 * r + 1}]`).join(', ') || 'unused = 0'};
  // The lazy-flag record (flags.ts), and the one a rotate stacked its CF/OF on (LAZY_PARTIAL).
  ${
    cacheRegs
      ? `let lazyOp = 0, lazyDst = 0, lazySrc = 0, lazyRes = 0, lazyDstHi = 0, lazySrcHi = 0, lazyResHi = 0, lazySize = 0, lazyCarry = 0;
  let partialMask = 0;
  ${LOAD_FLAGS}`
      : '// The lazy-flag record stays in the Cpu (cpu.lfOp, cpu.lf, ...).'
  }
  let ic = cpu.icount; // instructions retired before the current block${tier2Stats.enabled ? '\n  const ic0 = ic;' : ''}
  let k = 0; // the instruction that may fault (ones' complement: inside a handler, which left cpu exact)
  let block = start, exitAt = 0, z = 0, sl = 0, hk = 0, resume = 0, t = 0;
  try {
    run: for (;;) {
      switch (block) {
${body}
      }
    }
    ${storeR} ${storeF}
    cpu.rip = base + exitAt;
    ${tier2Stats.enabled ? 'st.ran += ic - ic0; ' : ''}cpu.icount = ic;
    return true;
  } catch (e) {
    ${why(RegionExit.FAULT)}const at = k < 0 ? ~k : k;
    if (k >= 0) { ${storeR} ${storeF} }
    cpu.rip = base + RIP_OF[at];
    cpu.icount = ic + COUNT_OF[at];
    throw e;
  }
};`;
  if (dumpRegions()) process.stderr.write(`${src}\n\n`);
  const factory = new Function(
    'I',
    'RIP_OF',
    'COUNT_OF',
    'DELTAS',
    'END_OF',
    'region',
    'st',
    'h',
    `const {${HELPER_NAMES}} = h;\n${src}`,
  );
  const fn = factory(
    insnTable,
    Float64Array.from(ripOf),
    Int32Array.from(countOf),
    Float64Array.from(deltas),
    Float64Array.from(insnTable.map((ins, id) => ripOf[id] + ins.len)),
    ref,
    tier2Stats,
    helpers,
  ) as CompiledRegion;
  // Regions dropped earlier leave the lists here, so a block that outlives many recompiled
  // regions (code next to a self-modifying loop) does not collect them.
  for (const b of members) {
    const list = b.inRegions?.filter((r) => r.valid) ?? [];
    list.push(ref);
    b.inRegions = list;
  }
  entry.region = ref;
  ref.fn = fn;
  ref.users.push(entry);
  if (tier2Stats.enabled) {
    const s = tier2Stats;
    s.compiled++;
    s.blocks += members.length;
    s.insns += insns;
    s.handlerInsns += handlers;
    s.compileMs += performance.now() - t0;
  }
  return fn;
}

const helpers = {
  execute,
  segFault,
  memAddr,
  readLin8,
  readLin16,
  readLin32,
  readLin64,
  writeLin8,
  writeLin16,
  writeLin32,
  writeLin64,
  setRip,
  testCond,
  getCF,
  setPartialFlags,
};
const HELPER_NAMES = Object.keys(helpers).join(', ');

/**
 * A rotate's CF and OF stacked on the record in locals, as setPartialFlags does on the Cpu's
 * (through the Cpu when the record is RFLAGS itself or a 64-bit one).
 */
function ROTATE_FLAGS(bits: string): string {
  return (
    `const bits = ${bits}; if (lazyOp === LAZY_PARTIAL) { lazyCarry = (lazyCarry & ~(CF | OF)) | bits; partialMask |= CF | OF; } ` +
    'else if (lazyOp === LAZY_NONE || lazySize === 8) { /*STORE_FLAGS*/ setPartialFlags(cpu, CF | OF, bits); /*LOAD_FLAGS*/ } ' +
    'else { savedOp = lazyOp; savedDst = lazyDst; savedSrc = lazySrc; savedRes = lazyRes; savedDstHi = lazyDstHi; savedSrcHi = lazySrcHi; savedResHi = lazyResHi; savedSize = lazySize; savedCarry = lazyCarry; lazyOp = LAZY_PARTIAL; lazyCarry = bits; partialMask = CF | OF; }'
  );
}

/** Instructions whose intercept the compiled code checks itself, and their intercept kind. */
function interceptKindOf(op: number): number {
  switch (op) {
    case Op.CPUID:
      return InterceptKind.CPUID;
    case Op.PAUSE:
      return InterceptKind.PAUSE;
    case Op.VMMCALL:
      return InterceptKind.VMMCALL;
    case Op.VMGEXIT:
      return InterceptKind.VMGEXIT;
  }
  return -1;
}

/** What the generator knows, inside a block, about the record in the flag locals. */
interface Known {
  /** Kind of the last record written (null: unknown, e.g. after a handler or a rotate). */
  kind: 'ADD' | 'SUB' | 'LOGIC' | 'INCDEC' | 'RESULT' | null;
  size: number;
}

/** The code of one instruction. */
class Gen {
  private readonly d: number;
  private readonly s: number;
  constructor(
    private readonly src: string[],
    private readonly use: (r: number) => string,
    private readonly hi: (r: number) => string,
    private readonly ins: Insn,
    private readonly id: number,
    private readonly i: number,
    private readonly n: number,
    private readonly end: number,
    private readonly live: boolean,
    private readonly codeSize: number,
    private readonly known: Known,
    /** Segments whose base and limit the region keeps in locals. */
    private readonly segs: Set<number>,
    /** Page-cache local prefixes (pageLookup) declared by the region. */
    private readonly caches: string[],
  ) {
    this.d = ins.rm;
    this.s = ins.reg;
  }

  /** CF of the record in locals: from what this block just wrote when the generator knows it. */
  private carryNow(): string {
    const { kind, size } = this.known;
    if (size === 4 && kind === 'SUB') return '((lazyDst >>> 0) < (lazySrc >>> 0) ? 1 : 0)';
    if (size === 4 && kind === 'ADD') return '((lazyRes >>> 0) < (lazyDst >>> 0) ? 1 : 0)';
    if (kind === 'LOGIC') return '0';
    if (kind === 'INCDEC' || kind === 'RESULT') return '(lazyCarry & CF)';
    return CARRY_NOW;
  }

  /** The page of the 64-bit stack address (hi, lo), canonical only (hi in 16 bits): no division. */
  private probe64(write: boolean): string {
    if (!INLINE_TLB) return 'const o = 0, pa = -1;';
    const c = `m${this.id}`;
    if (!pageCaches)
      return `const o = lo & 0xfff; let pa = -1; if (hi >= -32768 && hi <= 32767) { const lpn = hi * 1048576 + (lo >>> 12); const slot = ${write ? 'tlbW' : 'tlbR'} + ((lpn ^ (lpn >>> ${TLB_BITS})) & ${TLB_MASK}); if (tlbTag[slot] === lpn) pa = tlbPhys[slot] + o; }`;
    this.caches.push(c);
    return (
      `const o = lo & 0xfff; let pa = -1; if (hi >= -32768 && hi <= 32767) { const lpn = hi * 1048576 + (lo >>> 12); ` +
      `if (lpn === ${c}Page) pa = ${c}Base + o; else { const slot = ${write ? 'tlbW' : 'tlbR'} + ((lpn ^ (lpn >>> ${TLB_BITS})) & ${TLB_MASK}); ` +
      `if (tlbTag[slot] === lpn) { ${c}Page = lpn; ${c}Base = tlbPhys[slot]; pa = ${c}Base + o; } } }`
    );
  }

  private setKnown(kind: Known['kind'], size: number): void {
    this.known.kind = kind;
    this.known.size = size;
  }

  private put(code: string): void {
    this.src.push(code);
  }

  /** Leave the region after this (non-last) instruction when something needs the dispatcher. */
  private attentionExit(): void {
    this.put(this.attentionCheck());
  }

  private attentionCheck(): string {
    return this.i < this.n - 1
      ? `if (cpu.attention !== 0) { ${why(RegionExit.ATTENTION)}ic += ${this.i + 1}; exitAt = ${this.end}; break run; }`
      : '';
  }

  /** Write a 32-bit register (the upper half of the 64-bit register becomes zero). */
  private set32(r: number, v: string): string {
    return `${this.use(r)} = ${v}; ${this.hi(r)} = 0;`;
  }

  /** The interpreter's handler, with registers and flags handed over and taken back. */
  private handler(): void {
    this.known.kind = null;
    const { ins, id, end, i } = this;
    const kind = interceptKindOf(ins.op);
    if (kind >= 0) {
      // An instruction the hypervisor may intercept asks its port here: a hit leaves the region
      // with RIP at the instruction and ATT_VMEXIT, a status instead of a thrown VMEXIT.
      const info = ins.op === Op.CPUID ? 'r32[0], r32[2]' : '0, 0';
      if (ins.op === Op.PAUSE) {
        // Outside an intercept PAUSE is a NOP (the interpreter asks only when interceptMask says
        // so): the hand-over runs only when the hypervisor intercepts or counts it (pause filter,
        // PLE), and the spin loop keeps its registers and page caches in locals.
        this.put(
          `if (cpu.interceptMask & ${1 << kind}) { k = ${~id}; /*STORE_ALL*/ cpu.rip = base + ${end}; cpu.icount = ic; ` +
            `if (cpu.intercept !== null && cpu.intercept.intercept(${kind}, 0, 0)) { ${why(RegionExit.ATTENTION)}cpu.attention |= ATT_VMEXIT; ic += ${i}; exitAt = ${end - ins.len}; break run; } /*LOAD_ALL*/ }`,
        );
        return;
      }
      this.put(
        `k = ${~id}; /*STORE_ALL*/ cpu.rip = base + ${end}; cpu.icount = ic; ` +
          `if (cpu.interceptMask & ${1 << kind} && cpu.intercept !== null && cpu.intercept.intercept(${kind}, ${info})) { ${why(RegionExit.ATTENTION)}cpu.attention |= ATT_VMEXIT; ic += ${i}; exitAt = ${end - ins.len}; break run; } ` +
          // They ask again in their handler (no side effect) and run.
          `${countCall(handlerName(ins))}execute(cpu, I[${id}]); /*LOAD_ALL*/`,
      );
      return;
    }
    this.put(this.outOfLine());
    this.resumeHere();
    this.put('sl = 0;');
  }

  /** An instruction inside a block. */
  body(): void {
    if (!this.inline()) {
      this.handler();
      this.attentionExit();
    }
  }

  /** Inline forms that do not end a block; false if the handler must run it. */
  private inline(): boolean {
    const { ins, d, s, live } = this;
    const flags = (a: string, b: string, r: string, kind: string) =>
      live ? `lazyDst = ${a}; lazySrc = ${b}; lazyRes = ${r}; lazyOp = ${kind}; lazySize = 4;` : '';
    switch (ins.op) {
      case Op.NOP:
        return true;
      case Op.MOV32_RR:
        this.put(this.set32(d, this.use(s)));
        return true;
      case Op.ALU32_RR:
      case Op.ALU32_RI: {
        if (!inlineAlu(ins.sub)) return false;
        const b = ins.op === Op.ALU32_RR ? this.use(s) : `${ins.imm | 0}`;
        const write = ins.sub === 7 ? '' : this.set32(d, 'r');
        if (ins.sub === 7 && !live) return true;
        if (live) this.setKnown(ins.sub === 0 ? 'ADD' : ins.sub === 5 || ins.sub === 7 ? 'SUB' : 'LOGIC', 4);
        this.put(
          `{ const a = ${this.use(d)}, b = ${b}, r = (a ${ALU_JS[ins.sub]} b) | 0; ${flags('a', 'b', 'r', ALU_LAZY[ins.sub])} ${write} }`,
        );
        return true;
      }
      case Op.TEST32_RR:
        if (live) {
          this.put(`lazyRes = ${this.use(d)} & ${this.use(s)}; lazyOp = LAZY_LOGIC; lazySize = 4;`);
          this.setKnown('LOGIC', 4);
        }
        return true;
      case Op.TEST_RM_I: {
        if (ins.mem) {
          if (ins.size === 2) return false;
          const imm = ins.size === 1 ? `${ins.imm & 0xff}` : `${ins.imm | 0}`;
          this.put(this.load(ins.size, this.aluOp(4, ins.size, 'v', 'vh', imm, `${ins.imm >> 31}`, -1)));
          return true;
        }
        if (ins.size === 8) {
          if (live) {
            this.put(
              `lazyRes = ${this.use(ins.rm)} & ${ins.imm | 0}; lazyResHi = ${this.hi(ins.rm)} & ${ins.imm >> 31}; lazyOp = LAZY_LOGIC; lazySize = 8;`,
            );
            this.setKnown('LOGIC', 8);
          }
          return true;
        }
        const v =
          ins.size === 1
            ? byteReg(ins.rm, this.use)
            : ins.size === 2
              ? `(${this.use(ins.rm)} & 0xffff)`
              : this.use(ins.rm);
        if (live) {
          this.put(`lazyRes = ${v} & ${ins.imm | 0}; lazyOp = LAZY_LOGIC; lazySize = ${ins.size};`);
          this.setKnown('LOGIC', ins.size);
        }
        return true;
      }
      case Op.SHIFT32_RI:
        return this.shift();
      case Op.INC32_R:
      case Op.DEC32_R: {
        const inc = ins.op === Op.INC32_R;
        const fl = live
          ? // CF is kept: read it from the record in locals, or from the Cpu when only it knows.
            `let c = ${this.carryNow()}; if (c < 0) { /*STORE_FLAGS*/ c = getCF(cpu) ? 1 : 0; } lazyCarry = c; lazyDst = a; lazySrc = 1; lazyRes = r; lazyOp = ${inc ? 'LAZY_INC' : 'LAZY_DEC'}; lazySize = 4;`
          : '';
        this.put(
          `{ const a = ${this.use(d)}, r = (a ${inc ? '+' : '-'} 1) | 0; ${fl} ${this.set32(d, 'r')} }`,
        );
        if (live) this.setKnown('INCDEC', 4);
        return true;
      }
      // Only the slow path can reach code or a device (the TLB's write banks never hold a page
      // with decoded code; MMIO never enters the TLB), so only it checks for attention (ATT_SMC, an
      // interrupt a device raised) and leaves after the instruction.
      case Op.MOV32_R_M:
        this.put(this.load(4, this.set32(s, 'v')));
        return true;
      case Op.MOV32_M_R:
        this.put(this.store(4, this.use(s), '0'));
        return true;
    }
    return this.wide();
  }

  /** A 64-bit register written from two int32 expressions. */
  private set64(r: number, lo: string, hi: string): string {
    return `${this.use(r)} = ${lo}; ${this.hi(r)} = ${hi};`;
  }

  /** A byte register (an index into Cpu.r8) written from an expression in 0..255. */
  private setByte(b: number, v: string): string {
    const sh = (b & 7) * 8;
    const r = this.use(b >> 3);
    return `${r} = (${r} & ${~(0xff << sh)}) | (${sh === 0 ? v : `(${v}) << ${sh}`});`;
  }

  /**
   * The general forms (ops.ts's ALU_RM_R, MOV_R_RM, ...) the decoder leaves unspecialized: 64-bit
   * operands in register pairs, byte operands, memory operands of any size.
   */
  private wide(): boolean {
    const { ins, live } = this;
    if (!inlineForm(ins, false, this.codeSize)) return false;
    const rm = ins.rm;
    const reg = ins.reg;
    const size = ins.size;
    switch (ins.op) {
      case Op.MOV_RM_R:
        if (ins.mem)
          this.put(
            size === 1
              ? this.store(1, byteReg(reg, this.use), '0')
              : this.store(size, this.use(reg), size === 8 ? this.hi(reg) : '0'),
          );
        else
          this.put(size === 8 ? this.set64(rm, this.use(reg), this.hi(reg)) : this.set32(rm, this.use(reg)));
        return true;
      case Op.MOV_R_RM:
        if (ins.mem)
          this.put(
            this.load(
              size,
              size === 1
                ? this.setByte(reg, 'v')
                : size === 8
                  ? this.set64(reg, 'v', 'vh')
                  : this.set32(reg, 'v'),
            ),
          );
        else
          this.put(size === 8 ? this.set64(reg, this.use(rm), this.hi(rm)) : this.set32(reg, this.use(rm)));
        return true;
      case Op.MOV_RM_I: {
        const lo = size === 1 ? `${ins.imm & 0xff}` : `${ins.imm | 0}`;
        const hi = `${ins.imm >> 31}`;
        if (ins.mem) this.put(this.store(size, lo, size === 8 ? hi : '0'));
        else this.put(size === 8 ? this.set64(rm, lo, hi) : this.set32(rm, lo));
        return true;
      }
      case Op.MOV_R_I:
        this.put(
          size === 8 ? this.set64(rm, `${ins.imm | 0}`, `${ins.imm2 | 0}`) : this.set32(rm, `${ins.imm | 0}`),
        );
        return true;
      case Op.ALU32_R_M:
        this.put(this.load(4, this.aluOp(ins.sub, 4, this.use(reg), '0', 'v', '0', reg)));
        return true;
      case Op.ALU_RM_R:
      case Op.ALU_R_RM:
      case Op.ALU_RM_I: {
        // An operand register by size (byte registers are Cpu.r8 indices), and its high half.
        const lo = (x: number) => (size === 1 ? byteReg(x, this.use) : this.use(x));
        const hi = (x: number) => (size === 8 ? this.hi(x) : '0');
        const immLo = size === 1 ? `${ins.imm & 0xff}` : `${ins.imm | 0}`;
        if (ins.mem) {
          const imm = ins.op === Op.ALU_RM_I;
          const code =
            ins.op === Op.ALU_R_RM
              ? this.aluOp(ins.sub, size, lo(reg), hi(reg), 'v', 'vh', reg)
              : this.aluOp(
                  ins.sub,
                  size,
                  'v',
                  'vh',
                  imm ? immLo : lo(reg),
                  imm ? `${ins.imm >> 31}` : hi(reg),
                  -1,
                );
          this.put(this.load(size, code));
          return true;
        }
        if (size === 1) {
          const d = ins.op === Op.ALU_R_RM ? reg : rm;
          const b = ins.op === Op.ALU_RM_I ? immLo : lo(ins.op === Op.ALU_R_RM ? rm : reg);
          if (ins.sub === 7 && !live) return true;
          this.put(this.aluOp(ins.sub, 1, lo(d), '0', b, '0', d));
          return true;
        }
        const d = ins.op === Op.ALU_R_RM ? reg : rm;
        const b = ins.op === Op.ALU_RM_I ? `${ins.imm | 0}` : this.use(ins.op === Op.ALU_R_RM ? rm : reg);
        const bh = ins.op === Op.ALU_RM_I ? `${ins.imm >> 31}` : this.hi(ins.op === Op.ALU_R_RM ? rm : reg);
        const sub = ins.sub;
        if (sub === 2 || sub === 3) {
          // ADC/SBB: CF in from the record in locals (or the Cpu's), the record ADC1/SBB1 when it was set.
          const adc = sub === 2;
          const fl = live
            ? `lazyDst = a; lazyDstHi = ah; lazySrc = b; lazySrcHi = bh; lazyRes = r; lazyResHi = rh; lazyOp = c ? ${adc ? 'LAZY_ADC1' : 'LAZY_SBB1'} : ${adc ? 'LAZY_ADD' : 'LAZY_SUB'}; lazySize = 8;`
            : '';
          const code = adc
            ? 'const s = (a >>> 0) + (b >>> 0) + c, r = s | 0, rh = (ah + bh + (s >= TWO32 ? 1 : 0)) | 0;'
            : 'const s = (a >>> 0) - (b >>> 0) - c, r = s | 0, rh = (ah - bh - (s < 0 ? 1 : 0)) | 0;';
          this.put(
            `{ let c = ${this.carryNow()}; if (c < 0) { /*STORE_FLAGS*/ c = getCF(cpu) ? 1 : 0; } const a = ${this.use(d)}, ah = ${this.hi(d)}, b = ${b}, bh = ${bh}; ${code} ${fl} ${this.set64(d, 'r', 'rh')} }`,
          );
          this.setKnown(null, 8);
          return true;
        }
        if (sub === 7 && !live) return true;
        let code: string;
        if (sub === 0)
          code = 'const s = (a >>> 0) + (b >>> 0), r = s | 0, rh = (ah + bh + (s >= TWO32 ? 1 : 0)) | 0;';
        else if (sub === 5 || sub === 7)
          code = 'const r = (a - b) | 0, rh = (ah - bh - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;';
        else code = `const r = a ${ALU_JS[sub]} b, rh = ah ${ALU_JS[sub]} bh;`;
        const fl = live
          ? `lazyDst = a; lazyDstHi = ah; lazySrc = b; lazySrcHi = bh; lazyRes = r; lazyResHi = rh; lazyOp = ${ALU_LAZY[sub]}; lazySize = 8;`
          : '';
        if (live) this.setKnown(sub === 0 ? 'ADD' : sub === 5 || sub === 7 ? 'SUB' : 'LOGIC', 8);
        this.put(
          `{ const a = ${this.use(d)}, ah = ${this.hi(d)}, b = ${b}, bh = ${bh}; ${code} ${fl} ${sub === 7 ? '' : this.set64(d, 'r', 'rh')} }`,
        );
        return true;
      }
      case Op.TEST_RM_R:
        if (ins.mem) {
          const b = size === 1 ? byteReg(reg, this.use) : this.use(reg);
          this.put(this.load(size, this.aluOp(4, size, 'v', 'vh', b, size === 8 ? this.hi(reg) : '0', -1)));
          return true;
        }
        if (!live) return true;
        if (size === 1)
          this.put(
            `lazyRes = ${byteReg(rm, this.use)} & ${byteReg(reg, this.use)}; lazyOp = LAZY_LOGIC; lazySize = 1;`,
          );
        else
          this.put(
            `lazyRes = ${this.use(rm)} & ${this.use(reg)}; lazyResHi = ${this.hi(rm)} & ${this.hi(reg)}; lazyOp = LAZY_LOGIC; lazySize = 8;`,
          );
        this.setKnown('LOGIC', size);
        return true;
      case Op.SHIFT_RM_I:
        return this.shift64();
      case Op.SETCC:
        this.put(this.setByte(rm, `(${this.cond()}) ? 1 : 0`));
        return true;
      case Op.IMUL_R_RM:
      case Op.IMUL_R_RM_I: {
        if (live) return false;
        const three = ins.op === Op.IMUL_R_RM_I;
        const b = three ? `${ins.imm | 0}` : this.use(reg);
        const bh = three ? `${ins.imm >> 31}` : this.hi(reg);
        if (size === 4) {
          this.put(this.set32(reg, `Math.imul(${this.use(rm)}, ${b})`));
          return true;
        }
        // The low 64 bits of the product on 32-bit halves: al * bl in full (16-bit pieces, each
        // product exact in a double), plus the cross products shifted up by 32.
        this.put(
          `{ const al = ${this.use(rm)}, ah = ${this.hi(rm)}, bl = ${b}, bh = ${bh}; ` +
            'const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16; ' +
            'const p01 = a0 * b1, p10 = a1 * b0, mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff); ' +
            'const h = (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0; ' +
            `${this.set64(reg, 'Math.imul(al, bl)', '(h + Math.imul(al, bh) + Math.imul(ah, bl)) | 0')} }`,
        );
        return true;
      }
      case Op.CMOVCC:
        // A 32-bit destination is zero-extended even when nothing moves.
        this.put(
          `if (${this.cond()}) { ${size === 8 ? this.set64(reg, this.use(rm), this.hi(rm)) : this.set32(reg, this.use(rm))} }${size === 4 ? ` else ${this.hi(reg)} = 0;` : ''}`,
        );
        return true;
      case Op.PUSH_R:
      case Op.POP_R:
        this.put(this.pushPop64(ins.op === Op.PUSH_R));
        return true;
      case Op.LEA: {
        if (ins.asize === 4) {
          const terms: string[] = [];
          if (ins.base === BASE_RIP) terms.push(`baseLo + ${this.end}`);
          else if (ins.base >= 0) terms.push(this.use(ins.base));
          if (ins.index >= 0) terms.push(`(${this.use(ins.index)} << ${ins.scale})`);
          terms.push(`${ins.disp | 0}`);
          this.put(
            size === 8
              ? this.set64(reg, `(${terms.join(' + ')}) | 0`, '0')
              : this.set32(reg, `(${terms.join(' + ')}) | 0`),
          );
          return true;
        }
        this.put(
          `{ ${this.addr64(false)} ${size === 8 ? this.set64(reg, 'alo | 0', 'ahi') : this.set32(reg, 'alo | 0')} }`,
        );
        return true;
      }
      case Op.MOVZX:
      case Op.MOVSX:
      case Op.MOVSXD: {
        const ss = ins.sub;
        const signed = ins.op !== Op.MOVZX;
        const ext = !signed || ss === 4 ? 'v' : ss === 1 ? '((v << 24) >> 24)' : '((v << 16) >> 16)';
        const write = `{ const x = ${ext}; ${size === 8 ? this.set64(reg, 'x', signed ? 'x >> 31' : '0') : this.set32(reg, 'x')} }`;
        if (ins.mem) this.put(this.load(ss, write));
        else {
          const v = ss === 1 ? byteReg(rm, this.use) : ss === 2 ? `(${this.use(rm)} & 0xffff)` : this.use(rm);
          this.put(`{ const v = ${v}; ${write} }`);
        }
        return true;
      }
    }
    return false;
  }

  /**
   * PUSH r64 / POP r64 in 64-bit mode: RSP in 32-bit halves and the TLB probed inline, as CALL and
   * RET do; anything else (a miss, a page end, a fault) through the handler.
   */
  private pushPop64(push: boolean): string {
    const { id, ins } = this;
    const sp = this.use(4);
    const spHi = this.hi(4);
    const slow = `{ ${this.outOfLine()} }`;
    const att = this.attentionCheck();
    const back = `} case ${RESUME_CASE + id}: { if (sl !== 0) { sl = 0; ${att} }`;
    if (push)
      return (
        `k = ${id}; { const v = ${this.use(ins.rm)}, vh = ${this.hi(ins.rm)}; let lo = (${sp} >>> 0) - 8, hi = ${spHi}; if (lo < 0) { lo += TWO32; hi = (hi - 1) | 0; } ` +
        `${this.probe64(true)} if (pa >= 0 && o <= 4088) { ${ramSet('pa', 'v')} ${ramSet('pa + 4', 'vh')} ${sp} = lo | 0; ${spHi} = hi; } else ${slow} } ${back}`
      );
    return (
      `k = ${id}; { const lo = ${sp} >>> 0, hi = ${spHi}; ${this.probe64(false)} ` +
      `if (pa >= 0 && o <= 4088) { const v = ${ramGet('pa')}, vh = ${ramGet('pa + 4')}; let nl = lo + 8, nh = hi; if (nl >= TWO32) { nl -= TWO32; nh = (nh + 1) | 0; } ` +
      `${sp} = nl | 0; ${spHi} = nh; ${this.set64(ins.rm, 'v', 'vh')} } else ${slow} } ${back}`
    );
  }

  /**
   * ADD OR AND SUB XOR CMP (and TEST as AND without a write) of `size` 4 or 8 on int32 halves
   * (a, ah) and (b, bh), the result written to register `dest` (none: -1, or CMP), the flag
   * record in locals where live.
   */
  private aluOp(
    sub: number,
    size: number,
    a: string,
    ah: string,
    b: string,
    bh: string,
    dest: number,
  ): string {
    const live = this.live;
    const write = dest >= 0 && sub !== 7;
    let code: string;
    let fl = '';
    if (size === 8) {
      if (sub === 0)
        code = 'const s = (a >>> 0) + (b >>> 0), r = s | 0, rh = (ah + bh + (s >= TWO32 ? 1 : 0)) | 0;';
      else if (sub === 5 || sub === 7)
        code = 'const r = (a - b) | 0, rh = (ah - bh - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;';
      else code = `const r = a ${ALU_JS[sub]} b, rh = ah ${ALU_JS[sub]} bh;`;
      if (live)
        fl = `lazyDst = a; lazyDstHi = ah; lazySrc = b; lazySrcHi = bh; lazyRes = r; lazyResHi = rh; lazyOp = ${ALU_LAZY[sub]}; lazySize = 8;`;
    } else {
      code = size === 1 ? `const r = (a ${ALU_JS[sub]} b) & 0xff;` : `const r = (a ${ALU_JS[sub]} b) | 0;`;
      if (live) fl = `lazyDst = a; lazySrc = b; lazyRes = r; lazyOp = ${ALU_LAZY[sub]}; lazySize = ${size};`;
    }
    if (live) this.setKnown(sub === 0 ? 'ADD' : sub === 5 || sub === 7 ? 'SUB' : 'LOGIC', size);
    const w = write
      ? size === 8
        ? this.set64(dest, 'r', 'rh')
        : size === 1
          ? this.setByte(dest, 'r')
          : this.set32(dest, 'r')
      : '';
    return `{ const a = ${a}, ah = ${size === 8 ? ah : '0'}, b = ${b}, bh = ${size === 8 ? bh : '0'}; ${code} ${fl} ${w} }`;
  }

  /** Run this instruction's handler in the region's shared handler case; control comes back at resumeHere(). */
  private outOfLine(): string {
    return `${countCall(handlerName(this.ins))}hk = ${this.id}; resume = ${RESUME_CASE + this.id}; block = ${HANDLER_CASE}; continue run;`;
  }

  /** Where outOfLine() comes back (sl = 1 then): a case label between two parts of this instruction. */
  private resumeHere(): void {
    this.put(`} case ${RESUME_CASE + this.id}: {`);
  }

  /** SHL/SAL, SHR, SAR of a 64-bit register by a constant, as exec/shift.ts's shift64 on halves. */
  private shift64(): boolean {
    const { ins, live } = this;
    const c = ins.imm & 63;
    if (c === 0) return true;
    let code: string;
    let of: string;
    let cf: string;
    if (ins.sub === 4 || ins.sub === 6) {
      cf = c <= 32 ? `(h >>> ${32 - c}) & 1` : `(l >>> ${64 - c}) & 1`;
      code =
        c < 32
          ? `const rl = l << ${c}, rh = (h << ${c}) | (l >>> ${32 - c});`
          : `const rl = 0, rh = l << ${c - 32};`;
      of = '((rh >>> 31) & 1) ^ cf';
    } else {
      const sar = ins.sub === 7;
      cf = c <= 32 ? `(l >>> ${c - 1}) & 1` : `(h >>> ${c - 33}) & 1`;
      code =
        c < 32
          ? `const rl = (l >>> ${c}) | (h << ${32 - c}), rh = h ${sar ? '>>' : '>>>'} ${c};`
          : `const rl = ${c === 32 ? 'h' : `h ${sar ? '>>' : '>>>'} ${c - 32}`}, rh = ${sar ? 'h >> 31' : '0'};`;
      of = sar ? '0' : '(h >>> 31) & 1';
    }
    const fl = live
      ? `const cf = ${cf}; lazyRes = rl | 0; lazyResHi = rh | 0; lazyOp = LAZY_RESULT; lazySize = 8; lazyCarry = cf | ((${of}) << 11);`
      : '';
    this.put(
      `{ const l = ${this.use(ins.rm)}, h = ${this.hi(ins.rm)}; ${code} ${fl} ${this.set64(ins.rm, 'rl | 0', 'rh | 0')} }`,
    );
    if (live) this.setKnown('RESULT', 8);
    return true;
  }

  /**
   * Statements that leave the 64-bit effective address of the operand in `alo` (0 .. 2^32-1) and
   * `ahi` (int32), plus the FS/GS base when `seg` (linear address, before the canonical check).
   */
  private addr64(seg: boolean): string {
    const { ins } = this;
    const lo: string[] = [];
    const hi: string[] = [];
    if (ins.base === BASE_RIP) {
      lo.push(`baseLo + ${this.end}`);
      hi.push('baseHi');
    } else if (ins.base >= 0) {
      lo.push(`(${this.use(ins.base)} >>> 0)`);
      hi.push(this.hi(ins.base));
    }
    if (ins.index >= 0) {
      const m = 1 << ins.scale;
      lo.push(m === 1 ? `(${this.use(ins.index)} >>> 0)` : `(${this.use(ins.index)} >>> 0) * ${m}`);
      hi.push(m === 1 ? this.hi(ins.index) : `${this.hi(ins.index)} * ${m}`);
    }
    if (seg && ins.seg >= 4) {
      this.segs.add(ins.seg);
      lo.push(`${SEG[ins.seg]}BaseLo`);
      hi.push(`${SEG[ins.seg]}BaseHi`);
    }
    if (ins.disp !== 0 || lo.length === 0) lo.push(`${ins.disp | 0}`);
    return (
      `let alo = ${lo.join(' + ')}, ahi = ${hi.join(' + ') || '0'}; ` +
      'if (alo < 0 || alo >= TWO32) { const c = Math.floor(alo / TWO32); alo -= c * TWO32; ahi += c; } ahi |= 0;'
    );
  }

  /**
   * Statements for a `size`-byte access to the memory operand: `fast` with `pa` the RAM offset when
   * the address is computed inline (flat 32-bit segments on the fast check; 64-bit addresses with
   * FS/GS bases, canonical) and the instruction's page cache or the TLB's first way maps it; `slow`
   * with `lin` on a TLB miss (readLin/writeLin: the walk, faults, MMIO); anything else through
   * memAddr (segment and canonical checks), which reads the registers from the Cpu.
   */
  private memory(size: number, write: boolean, fast: string, slow: string): string {
    const { ins, id, end, codeSize } = this;
    const viaMemAddr = `/*STORE_REGS*/ cpu.rip = base + ${end}; ${countCall('(memAddr: slow address)')}const lin = memAddr(cpu, I[${id}], ${size}, ${write}); ${slow}`;
    if (!INLINE_TLB) return `{ ${viaMemAddr} }`;
    const cache = `m${id}`;
    if (codeSize === 32 && ins.asize === 4 && ins.base !== BASE_RIP) {
      const terms: string[] = [];
      if (ins.base >= 0) terms.push(`(${this.use(ins.base)} >>> 0)`);
      if (ins.index >= 0) terms.push(`(${this.use(ins.index)} >>> 0) * ${1 << ins.scale}`);
      terms.push(`${ins.disp | 0}`);
      const g = ins.seg;
      this.segs.add(g);
      const tlb = tlbAccess('lin', true, write, size, fast, slow, cache, this.caches);
      return `{ let lin = (${terms.join(' + ')}) >>> 0; if (lin${size === 4 ? '' : ` + ${size - 4}`} <= ${SEG[g]}Limit) { lin = (${SEG[g]}Base + lin) >>> 0; ${tlb} } else { ${viaMemAddr} } }`;
    }
    if (codeSize === 64 && ins.asize === 8) {
      // A non-canonical address is #GP(0), or #SS(0) for the stack segment, as linearAddr raises it.
      return (
        `{ ${this.addr64(true)} if (ahi >= -32768 && ahi <= 32767) { ${pageLookup('ahi * 1048576 + (alo >>> 12)', 'alo & 0xfff', write, cache, this.caches)} ` +
        `if (pa >= 0 && o <= ${4096 - size}) { ${fast} } else { const lin = ahi * TWO32 + alo; ${slow} } } else segFault(cpu, ${ins.seg}); }`
      );
    }
    return `{ ${viaMemAddr} }`;
  }

  /**
   * A load of `size` bytes into `v` (and `vh`, the high half of 8), then `write` (which consumes
   * them). Only the slow path can reach a device (MMIO never enters the TLB), so only after it
   * does the region look at cpu.attention.
   */
  private load(size: number, write: string): string {
    const fast =
      size === 1
        ? 'v = ram8[pa];'
        : size === 2
          ? 'v = ram.getUint16(pa, true);'
          : size === 4
            ? `v = ${ramGet('pa')};`
            : `v = ${ramGet('pa')}; vh = ${ramGet('pa + 4')};`;
    const slow = `${size === 8 ? 'v = readLin64(cpu, lin); vh = cpu.t32[7];' : `v = readLin${size * 8}(cpu, lin);`} sl = 1;`;
    const att = this.attentionCheck();
    return `k = ${this.id}; { let v = 0, vh = 0; ${this.memory(size, false, fast, slow)} ${write} ${att === '' ? '' : `if (sl !== 0) { sl = 0; ${att} }`} }`;
  }

  /**
   * A store of `size` bytes of `lo` (`hi`: the high half of 8). Only the slow path can write into
   * code (the TLB's write banks never hold a page with decoded code), raising ATT_SMC: the region
   * leaves right after it.
   */
  private store(size: number, lo: string, hi: string): string {
    const fast =
      size === 1
        ? 'ram8[pa] = v;'
        : size === 2
          ? 'ram.setUint16(pa, v, true);'
          : size === 4
            ? ramSet('pa', 'v')
            : `${ramSet('pa', 'v')} ${ramSet('pa + 4', 'vh')}`;
    const slow = `${size === 8 ? 'writeLin64(cpu, lin, v, vh);' : `writeLin${size * 8}(cpu, lin, v);`} ${this.attentionCheck()}`;
    return `k = ${this.id}; { const v = ${lo}, vh = ${hi}; ${this.memory(size, true, fast, slow)} }`;
  }

  private shift(): boolean {
    const { ins, d, live } = this;
    const c = ins.imm & 31;
    const a = this.use(d);
    if (c === 0) {
      this.put(`${this.hi(d)} = 0;`);
      return true;
    }
    let code: string;
    switch (ins.sub) {
      case 0: // ROL: CF and OF on top of the earlier record (handed to the Cpu: rare enough)
        code =
          `const r = (a << ${c}) | (a >>> ${32 - c});` +
          (live ? ` const cf = r & 1; ${ROTATE_FLAGS('cf | ((((r >>> 31) ^ cf) & 1) << 11)')}` : '');
        break;
      case 1: // ROR
        code =
          `const r = (a >>> ${c}) | (a << ${32 - c});` +
          (live ? ` const cf = (r >>> 31) & 1; ${ROTATE_FLAGS('cf | (((cf ^ (r >>> 30)) & 1) << 11)')}` : '');
        break;
      case 4:
      case 6: // SHL/SAL
        code =
          `const r = a << ${c};` +
          (live
            ? ` const cf = (a >>> ${32 - c}) & 1; lazyRes = r; lazyOp = LAZY_RESULT; lazySize = 4; lazyCarry = cf | ((((r >>> 31) ^ cf) & 1) << 11);`
            : '');
        break;
      case 5: // SHR
        code =
          `const r = a >>> ${c};` +
          (live
            ? ` lazyRes = r; lazyOp = LAZY_RESULT; lazySize = 4; lazyCarry = ((a >>> ${c - 1}) & 1) | (((a >>> 31) & 1) << 11);`
            : '');
        break;
      case 7: // SAR
        code =
          `const r = a >> ${c};` +
          (live ? ` lazyRes = r; lazyOp = LAZY_RESULT; lazySize = 4; lazyCarry = (a >> ${c - 1}) & 1;` : '');
        break;
      default:
        return false;
    }
    this.put(`{ const a = ${a}; ${code} ${this.set32(d, 'r | 0')} }`);
    if (live) this.setKnown(ins.sub <= 1 ? null : 'RESULT', 4);
    return true;
  }

  /** Go to region offset `e.delta` after this block (its n instructions have retired). */
  private edge(e: Edge, total: number): string {
    const n = this.n;
    if (e.member < 0) return `${why(RegionExit.BRANCH)}ic += ${n}; exitAt = ${e.delta}; break run;`;
    const go = `block = ${e.member}; continue run;`;
    if (!e.checked) return `ic += ${n}; ${go}`;
    return `ic += ${n}; if (ic + ${total} > limit || cpu.attention !== 0 || !region.valid) { ${why(RegionExit.CHECK)}exitAt = ${e.delta}; break run; } ${go}`;
  }

  /** A taken branch to `e`: outside the region, setRip checks the target (CS limit, canonical) first. */
  private taken(e: Edge, total: number): string {
    if (e.member >= 0) return this.edge(e, total);
    return `k = ${this.id}; setRip(cpu, base + ${e.delta}); ${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = cpu.rip - base; break run;`;
  }

  /** The last instruction of a block, and where control goes next. */
  last(edges: Edge[], deltas: number[], total: number): void {
    const { ins, codeSize } = this;
    if (!inlineForm(ins, true, codeSize)) {
      this.handler();
      this.put(`${why(RegionExit.DYNAMIC)}ic += ${this.n}; exitAt = cpu.rip - base; break run;`);
      return;
    }
    switch (ins.op) {
      case Op.JMP_REL:
        this.put(this.taken(edges[0], total));
        return;
      case Op.JCC:
        this.put(`if (${this.cond()}) { ${this.taken(edges[0], total)} }`);
        this.put(this.edge(edges[1], total));
        return;
      case Op.CALL_REL:
        this.call(edges[0], total);
        return;
      case Op.RET_NEAR:
        this.ret(deltas, total);
        return;
    }
    if (!this.inline()) this.handler(); // IMUL with live flags
    this.put(`${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = ${this.end}; break run;`);
  }

  /** A Jcc condition from the lazy record in locals; rare cases through the Cpu's record. */
  private cond(): string {
    const cc = this.ins.sub;
    const neg = (x: string) => (cc & 1 ? `!(${x})` : `(${x})`);
    const { kind, size } = this.known;
    const m = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    const sign =
      size === 8
        ? 'lazyResHi < 0'
        : size === 4
          ? 'lazyRes < 0'
          : `(lazyRes & ${size === 2 ? 0x8000 : 0x80}) !== 0`;
    const zero =
      size === 8 ? '(lazyRes | lazyResHi) === 0' : size === 4 ? 'lazyRes === 0' : `(lazyRes & ${m}) === 0`;
    const test = cc >> 1;
    // Written out from the record the block itself just wrote (Intel SDM vol 1 B.1 conditions).
    if (kind !== null && (test === 2 || test === 4)) return neg(test === 2 ? zero : sign);
    if (kind === 'SUB' && size === 8) {
      // Compare the high halves (unsigned for B/BE, signed for L/LE), then the low ones unsigned.
      const lowB = '(lazyDst >>> 0) < (lazySrc >>> 0)';
      const lowBE = '(lazyDst >>> 0) <= (lazySrc >>> 0)';
      const eq = 'lazyDstHi === lazySrcHi';
      if (test === 1) return neg(`(lazyDstHi >>> 0) < (lazySrcHi >>> 0) || (${eq} && ${lowB})`);
      if (test === 3) return neg(`(lazyDstHi >>> 0) < (lazySrcHi >>> 0) || (${eq} && ${lowBE})`);
      if (test === 6) return neg(`lazyDstHi < lazySrcHi || (${eq} && ${lowB})`);
      if (test === 7) return neg(`lazyDstHi < lazySrcHi || (${eq} && ${lowBE})`);
    }
    if (kind === 'SUB' && size === 4) {
      if (test === 1) return neg('(lazyDst >>> 0) < (lazySrc >>> 0)');
      if (test === 3) return neg('(lazyDst >>> 0) <= (lazySrc >>> 0)');
      if (test === 6) return neg('lazyDst < lazySrc');
      if (test === 7) return neg('lazyDst <= lazySrc');
    }
    if (kind === 'LOGIC') {
      if (test === 0 || test === 1) return neg('false'); // OF = CF = 0
      if (test === 3) return neg(zero);
      if (test === 6) return neg(sign);
      if (test === 7) return neg(`${zero} || ${sign}`);
    }
    if (test === 2) return neg(`(z = ${ZERO_NOW}) < 0 ? (/*STORE_FLAGS_EXPR*/ testCond(cpu, 4)) : z === 1`);
    return neg(`/*STORE_FLAGS_EXPR*/ testCond(cpu, ${cc & ~1})`);
  }

  private call(e: Edge, total: number): void {
    const { id, end } = this;
    const sp = this.use(4);
    const spHi = this.hi(4);
    if (e.member < 0 && this.codeSize === 64) {
      // The target leaves the region: push inline and leave there (a non-canonical target, checked
      // before anything changes, and a slow push go through the handler, which faults or pushes).
      this.put(
        `k = ${id}; if (base + ${e.delta} < -CANON || base + ${e.delta} >= CANON) { ${this.outOfLine()} } ` +
          `{ let lo = (${sp} >>> 0) - 8, hi = ${spHi}; if (lo < 0) { lo += TWO32; hi = (hi - 1) | 0; } ` +
          `${this.probe64(true)} if (pa >= 0 && o <= 4088) { const rl = baseLo + ${end}; ${ramSet('pa', 'rl | 0')} ${ramSet('pa + 4', `baseHi + (rl >= TWO32 ? 1 : 0)`)} ${sp} = lo | 0; ${spHi} = hi; } else { ${this.outOfLine()} } }`,
      );
      this.resumeHere();
      this.put(
        `if (sl !== 0) { sl = 0; ${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = cpu.rip - base; break run; } ${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = ${e.delta}; break run;`,
      );
      return;
    }
    if (e.member < 0) {
      // The target leaves the region: the handler checks it and pushes.
      this.put(this.outOfLine());
      this.resumeHere();
      this.put(`sl = 0; ${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = cpu.rip - base; break run;`);
      return;
    }
    // Only a slow push can have written into code: leave at the target then.
    const attention = `if (cpu.attention !== 0) { ${why(RegionExit.ATTENTION)}ic += ${this.n}; exitAt = ${e.delta}; break run; }`;
    const slowCall = `{ ${this.outOfLine()} }`;
    if (this.codeSize === 32) {
      this.put(
        `k = ${id}; if (stackFlat) { const sp = (${sp} - 4) >>> 0; ${tlbAccess('sp', true, true, 4, `${ramSet('pa', `base + ${end}`)} ${sp} = sp | 0;`, `writeLin32(cpu, sp, base + ${end}); ${sp} = sp | 0; ${attention}`, `m${id}`, this.caches)} } else ${slowCall}`,
      );
    } else {
      this.put(
        // RSP and the return address in 32-bit halves: no division on the way (canonical: hi in 16 bits).
        `k = ${id}; { let lo = (${sp} >>> 0) - 8, hi = ${spHi}; if (lo < 0) { lo += TWO32; hi = (hi - 1) | 0; } ` +
          `${this.probe64(true)} if (pa >= 0 && o <= 4088) { const rl = baseLo + ${end}; ${ramSet('pa', 'rl | 0')} ${ramSet('pa + 4', `baseHi + (rl >= TWO32 ? 1 : 0)`)} ${sp} = lo | 0; ${spHi} = hi; } else ${slowCall} }`,
      );
    }
    this.resumeHere();
    this.put(`if (sl !== 0) { sl = 0; ${attention} }`);
    this.put(this.edge(e, total));
  }

  private ret(deltas: number[], total: number): void {
    const { id, ins } = this;
    const sp = this.use(4);
    const spHi = this.hi(4);
    const slow = `{ ${this.outOfLine()} }`;
    if (this.codeSize === 32) {
      this.put(
        `k = ${id}; t = 0; if (stackFlat) { const sp = ${sp} >>> 0; ${tlbAccess('sp', true, false, 4, `t = ${ramGet('pa')} >>> 0;`, 't = readLin32(cpu, sp) >>> 0;', `m${id}`, this.caches)} if (t > codeLimit) ${slow} else ${sp} = (sp + ${4 + ins.imm}) | 0; } else ${slow}`,
      );
    } else {
      this.put(
        `k = ${id}; t = 0; { const lo = ${sp} >>> 0, hi = ${spHi}; let done = false; ${this.probe64(false)} ` +
          `if (pa >= 0 && o <= 4088) { const th = ${ramGet('pa + 4')}; if (th >= -32768 && th <= 32767) { ` +
          `t = th * TWO32 + (${ramGet('pa')} >>> 0); let nl = lo + ${8 + ins.imm}, nh = hi; if (nl >= TWO32) { nl -= TWO32; nh = (nh + 1) | 0; } ${sp} = nl | 0; ${spHi} = nh; done = true; } } ` +
          `if (!done) ${slow} }`,
      );
    }
    this.resumeHere();
    this.put('if (sl !== 0) { sl = 0; t = cpu.rip; }');
    // Back into the region where the return address is a member (checked: the target is dynamic).
    const cases = deltas
      .map((d, m) => `case ${d}: ${this.edge({ delta: d, member: m, checked: true }, total)}`)
      .join(' ');
    this.put(
      `ic += ${this.n}; switch (t - base) { ${cases.replaceAll(`ic += ${this.n}; `, '')} } ${why(RegionExit.DYNAMIC)}exitAt = t - base; break run;`,
    );
  }
}
