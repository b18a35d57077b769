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
import { readLin32, readLin64, writeLin32, writeLin64 } from '../mmu.js';
import { Op } from '../ops.js';
import { InterceptKind } from '../ports.js';
import { CF, OF, ZF } from '../regs.js';
import { TLB_BITS, TLB_MASK, tlbIndex } from '../tlb.js';
import { blockBytes, formRegion, type Region, staticBranch } from './region.js';
import { RegionExit, tier2Stats } from './stats.js';
import { dumpRegions } from './tier2.js';

/**
 * Runs the region from the current RIP; false (nothing done) when it cannot run whole blocks
 * within `limit` instructions or the code segment no longer covers it: the caller interprets.
 */
export type CompiledRegion = (cpu: Cpu, limit: number) => boolean;

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
const CONSTANTS = `const LAZY_NONE = ${LazyOp.NONE}, LAZY_ADD = ${LazyOp.ADD}, LAZY_SUB = ${LazyOp.SUB}, LAZY_LOGIC = ${LazyOp.LOGIC}, LAZY_INC = ${LazyOp.INC}, LAZY_DEC = ${LazyOp.DEC}, LAZY_RESULT = ${LazyOp.RESULT}, LAZY_PARTIAL = ${LazyOp.PARTIAL};
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
function flagsInCpu(code: string): string {
  for (const [local, field] of FLAG_FIELDS) code = code.replace(new RegExp(`\\b${local}\\b`, 'g'), field);
  return code;
}

const LOAD_FLAGS =
  'lazyOp = cpu.lfOp; lazyDst = lf[0]; lazySrc = lf[2]; lazyRes = lf[4]; lazySize = cpu.lfSize; lazyCarry = cpu.lfCarry; ' +
  'savedOp = cpu.lfSavedOp; savedDst = sv[0]; savedSrc = sv[2]; savedRes = sv[4]; savedSize = cpu.lfSavedSize; savedCarry = cpu.lfSavedCarry; partialMask = cpu.lfPartialMask;';
const STORE_FLAGS =
  'cpu.lfOp = lazyOp; lf[0] = lazyDst; lf[2] = lazySrc; lf[4] = lazyRes; cpu.lfSize = lazySize; cpu.lfCarry = lazyCarry; ' +
  'cpu.lfSavedOp = savedOp; sv[0] = savedDst; sv[2] = savedSrc; sv[4] = savedRes; cpu.lfSavedSize = savedSize; cpu.lfSavedCarry = savedCarry; cpu.lfPartialMask = partialMask;';

// CF and ZF of the record in locals, written out (calls would box their int32 arguments):
// 1 or 0, or -1 when only the Cpu's full record can say (RFLAGS itself, 64-bit records, ADC/SBB).
const CARRY_NOW =
  '(lazySize === 8 ? -1 : lazyOp === LAZY_SUB && lazySize === 4 ? ((lazyDst >>> 0) < (lazySrc >>> 0) ? 1 : 0) : ' +
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
  caches.push(cache);
  return (
    `const lpn = ${lpn}, o = ${o}; let pa = -1; if (lpn === ${cache}Page) pa = ${cache}Base + o; ` +
    `else { const slot = ${write ? 'tlbW' : 'tlbR'} + ((lpn ^ (lpn >>> ${TLB_BITS})) & ${TLB_MASK}); ` +
    `if (tlbTag[slot] === lpn) { ${cache}Page = lpn; ${cache}Base = tlbPhys[slot]; pa = ${cache}Base + o; } }`
  );
}

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
      return !ins.mem && ins.size !== 8;
    case Op.SHIFT32_RI:
      return (ins.imm & 31) === 0 || ins.sub === 0 || ins.sub === 1 || ins.sub >= 4;
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
    case Op.TEST_RM_I:
      return FlagUse.KILL;
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
  const ref = new RegionRef(entry);
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
  // Registers live in locals unless handlers are frequent: each handler call writes back and
  // reloads every cached register, which costs more than it saves in code that is mostly handlers.
  let handlers = 0;
  let insns = 0;
  for (let j = 0; j < members.length; j++)
    for (let i = 0; i < members[j].insns.length; i++) {
      insns++;
      if (!inlineForm(members[j].insns[i], i === members[j].insns.length - 1, codeSize)) handlers++;
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
      src.push(`// +0x${off.toString(16)}: ${mnemonic(ins)}${live[j][i] ? '' : '  (flags dead)'}`);
      const g = new Gen(src, use, hi, ins, id, i, n, end, live[j][i], codeSize, known, segs, caches);
      if (i === n - 1) g.last(edges[j], deltas, total);
      else g.body();
      off = end;
    }
    cases.push(
      `case ${j}: { // block at +0x${deltas[j].toString(16)}, ${n} instructions\n${src.join('\n')}\n}`,
    );
  }
  const regs = [...used].sort((a, b) => a - b);
  const loadR = regs.map((r) => `${REG32[r]} = r32[${2 * r}]; ${REG32[r]}_hi = r32[${2 * r + 1}];`).join(' ');
  const storeR = regs
    .map((r) => `r32[${2 * r}] = ${REG32[r]}; r32[${2 * r + 1}] = ${REG32[r]}_hi;`)
    .join(' ');
  // Segment bases and limits (a limit of -1 when the segment needs the full check), the stack
  // and CS state: constant inside a region except across a handler, which reloads them.
  const segState = [...segs]
    .sort()
    .map(
      (g) =>
        `${SEG[g]}Limit = cpu.segCheck[${g}] === 0 ? cpu.segLimit[${g}] - 3 : -1; ${SEG[g]}Base = cpu.segBase[${g}];`,
    )
    .join(' ');
  const resetCaches = caches.map((c) => `${c}Page = -1;`).join(' ');
  // Where handlers are frequent, the flag record stays in the Cpu too (the names below become its
  // fields), so a handler call hands nothing over: the code is what tier 2 used to be per block.
  const flagLoad = cacheRegs ? LOAD_FLAGS : '';
  const storeF = cacheRegs ? STORE_FLAGS : '';
  const raw = cases.join('\n');
  const usesState = /\b(tlbR|tlbW|stackFlat|csLimit)\b/.test(raw);
  const loadF = `${flagLoad} ${resetCaches} ${usesState ? 'tlbR = cpu.tlbRead; tlbW = cpu.tlbWrite; stackFlat = cpu.stackFlat32; csLimit = cpu.segLimit[CS];' : ''} ${segState}`;
  const body0 = raw
    .replaceAll('/*LOAD_ALL*/', `${loadR} ${loadF}`)
    .replaceAll('/*STORE_ALL*/', `${storeR} ${storeF}`)
    .replaceAll('/*STORE_REGS*/', storeR)
    .replaceAll('/*LOAD_FLAGS*/', loadF)
    .replaceAll('/*STORE_FLAGS*/', storeF)
    .replaceAll('/*STORE_FLAGS_EXPR*/', storeF === '' ? '' : `${storeF.replaceAll(';', ',')}`);
  const body = cacheRegs ? body0 : flagsInCpu(body0);
  const entryLin = codeSize === 64 ? cpu.rip : cpu.segBase[1] + cpu.rip;
  const name = `region_${Math.floor(entry.key / 4).toString(16)}_${codeSize}`;
  const src = `${CONSTANTS}
// Region at physical 0x${Math.floor(entry.key / 4).toString(16)} (linear 0x${entryLin.toString(16)} when compiled), ${codeSize}-bit code:
// ${members.length} blocks, ${total} instructions (${handlers} through handlers); register locals: ${cacheRegs ? regs.map((r) => REG32[r]).join(' ') || 'none' : 'none (registers stay in cpu.r32: handlers are frequent here)'}.
return function ${name}(cpu, limit) {
  ${tier2Stats.enabled ? 'st.entries++; ' : ''}if (cpu.icount + ${total} > limit || !region.valid) { ${tier2Stats.enabled ? 'st.refused++; ' : ''}return false; }
  const base = cpu.rip;${codeSize === 64 ? '\n  const baseHi = Math.floor(base / TWO32), baseLo = base - baseHi * TWO32;' : ''}${codeSize === 32 ? `\n  if (base + ${maxEnd - 1} > cpu.segLimit[CS]) return false;` : ''}
  const r32 = cpu.r32, lf = cpu.lf, sv = cpu.lfSaved, ram = cpu.ram, ram32 = cpu.ram32, tlbTag = cpu.tlbTag, tlbPhys = cpu.tlbPhys;
  let ${caches.map((c) => `${c}Page = -1, ${c}Base = 0`).join(', ') || 'noCaches = 0'};
  let tlbR = cpu.tlbRead, tlbW = cpu.tlbWrite, stackFlat = cpu.stackFlat32, csLimit = cpu.segLimit[CS];
  let ${[...segs].map((g) => `${SEG[g]}Limit = 0, ${SEG[g]}Base = 0`).join(', ') || 'noSegs = 0'};
  ${segState}
  let ${regs.map((r) => `${REG32[r]} = r32[${2 * r}], ${REG32[r]}_hi = r32[${2 * r + 1}]`).join(', ') || 'unused = 0'};
  // The lazy-flag record (flags.ts), and the one a rotate stacked its CF/OF on (LAZY_PARTIAL).
  ${
    cacheRegs
      ? `let lazyOp = 0, lazyDst = 0, lazySrc = 0, lazyRes = 0, lazySize = 0, lazyCarry = 0;
  let savedOp = 0, savedDst = 0, savedSrc = 0, savedRes = 0, savedSize = 0, savedCarry = 0, partialMask = 0;
  ${LOAD_FLAGS}`
      : '// The lazy-flag record stays in the Cpu (cpu.lfOp, cpu.lf, ...).'
  }
  let ic = cpu.icount; // instructions retired before the current block
  let k = 0; // the instruction that may fault (ones' complement: inside a handler, which left cpu exact)
  let block = 0, exitAt = 0, z = 0;
  try {
    run: for (;;) {
      switch (block) {
${body}
      }
    }
    ${storeR} ${storeF}
    cpu.rip = base + exitAt;
    cpu.icount = ic;
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
    'region',
    'st',
    'h',
    `const {${HELPER_NAMES}} = h;\n${src}`,
  );
  const fn = factory(
    insnTable,
    Float64Array.from(ripOf),
    Int32Array.from(countOf),
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
  memAddr,
  readLin32,
  readLin64,
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
    'else { savedOp = lazyOp; savedDst = lazyDst; savedSrc = lazySrc; savedRes = lazyRes; savedSize = lazySize; savedCarry = lazyCarry; lazyOp = LAZY_PARTIAL; lazyCarry = bits; partialMask = CF | OF; }'
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
      this.put(
        `k = ${~id}; /*STORE_ALL*/ cpu.rip = base + ${end}; cpu.icount = ic; ` +
          `if (cpu.interceptMask & ${1 << kind} && cpu.intercept !== null && cpu.intercept.intercept(${kind}, ${info})) { ${why(RegionExit.ATTENTION)}cpu.attention |= ATT_VMEXIT; ic += ${i}; exitAt = ${end - ins.len}; break run; } ` +
          // PAUSE does nothing else; the others ask again in their handler (no side effect) and run.
          `${ins.op === Op.PAUSE ? '' : `${countCall(handlerName(ins))}execute(cpu, I[${id}]);`} /*LOAD_ALL*/`,
      );
      return;
    }
    this.put(
      `k = ${~id}; /*STORE_ALL*/ cpu.rip = base + ${end}; cpu.icount = ic; ${countCall(handlerName(ins))}execute(cpu, I[${id}]); /*LOAD_ALL*/`,
    );
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
        if (ins.mem || ins.size === 8) return false;
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
      case Op.MOV32_R_M: {
        const r = this.use(s);
        this.put(
          `k = ${this.id}; ${this.access(false, r, `${this.hi(s)} = 0; ${this.attentionCheck()}`)} ${this.hi(s)} = 0;`,
        );
        return true;
      }
      case Op.MOV32_M_R:
        this.put(`k = ${this.id}; ${this.access(true, this.use(s), this.attentionCheck())}`);
        return true;
    }
    return false;
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

  /**
   * A 4-byte load into `v` or store of `v`. The flat cases compute the linear address inline
   * (32-bit addressing in a segment on the fast check; 64-bit addressing below 4 GiB) and probe
   * the TLB's first way inline; a miss goes to readLin32/writeLin32 (page walk, faults, MMIO).
   * Anything else takes memAddr (segment and canonical checks), which reads registers from the Cpu.
   */
  private access(write: boolean, v: string, afterSlow: string): string {
    const { ins, id, end, codeSize } = this;
    const slowAccess = `${write ? `writeLin32(cpu, lin, ${v});` : `${v} = readLin32(cpu, lin);`} ${afterSlow}`;
    const slow = `/*STORE_REGS*/ cpu.rip = base + ${end}; ${countCall('(memAddr: slow address)')}const lin = memAddr(cpu, I[${id}], 4, ${write}); ${slowAccess}`;
    // lin is below 2^32 here, so its page number is lin >>> 12.
    const tlb = tlbAccess(
      'lin',
      true,
      write,
      4,
      write ? ramSet('pa', v) : `${v} = ${ramGet('pa')};`,
      slowAccess,
      `m${id}`,
      this.caches,
    );
    if (ins.base === BASE_RIP) return `{ ${slow} }`;
    const terms: string[] = [];
    if (ins.base >= 0) terms.push(`(${this.use(ins.base)} >>> 0)`);
    if (ins.index >= 0) terms.push(`(${this.use(ins.index)} >>> 0) * ${1 << ins.scale}`);
    terms.push(`${ins.disp | 0}`);
    const sum = terms.join(' + ');
    if (codeSize === 32 && ins.asize === 4) {
      const g = ins.seg;
      this.segs.add(g);
      return `{ let lin = (${sum}) >>> 0; if (lin <= ${SEG[g]}Limit) { lin = (${SEG[g]}Base + lin) >>> 0; ${tlb} } else { ${slow} } }`;
    }
    if (codeSize === 64 && ins.asize === 8 && ins.seg < 4) {
      const his: string[] = [];
      if (ins.base >= 0) his.push(this.hi(ins.base));
      if (ins.index >= 0) his.push(this.hi(ins.index));
      const hiZero = his.length ? `(${his.join(' | ')}) === 0 && ` : '';
      return `{ const lin = ${sum}; if (${hiZero}lin >= 0 && lin < TWO32) { ${tlb} } else { ${slow} } }`;
    }
    return `{ ${slow} }`;
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
    if (!this.inline()) throw new Error(`region compiler: no inline form for op ${ins.op}`);
    this.put(`${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = ${this.end}; break run;`);
  }

  /** A Jcc condition from the lazy record in locals; rare cases through the Cpu's record. */
  private cond(): string {
    const cc = this.ins.sub;
    const neg = (x: string) => (cc & 1 ? `!(${x})` : `(${x})`);
    const { kind, size } = this.known;
    const m = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    const sign = size === 4 ? 'lazyRes < 0' : `(lazyRes & ${size === 2 ? 0x8000 : 0x80}) !== 0`;
    const zero = size === 4 ? 'lazyRes === 0' : `(lazyRes & ${m}) === 0`;
    const test = cc >> 1;
    // Written out from the record the block itself just wrote (Intel SDM vol 1 B.1 conditions).
    if (kind !== null && (test === 2 || test === 4)) return neg(test === 2 ? zero : sign);
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
    const slow = `{ k = ${~id}; /*STORE_ALL*/ cpu.rip = base + ${end}; cpu.icount = ic; execute(cpu, I[${id}]); /*LOAD_ALL*/ }`;
    if (e.member < 0) {
      // The target leaves the region: the handler checks it and pushes.
      this.put(`${slow} ${why(RegionExit.BRANCH)}ic += ${this.n}; exitAt = cpu.rip - base; break run;`);
      return;
    }
    // Only a slow push can have written into code: leave at the target then.
    const attention = `if (cpu.attention !== 0) { ${why(RegionExit.ATTENTION)}ic += ${this.n}; exitAt = ${e.delta}; break run; }`;
    const slowCall = `{ ${slow} ${attention} }`;
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
    this.put(this.edge(e, total));
  }

  private ret(deltas: number[], total: number): void {
    const { id, end, ins } = this;
    const sp = this.use(4);
    const spHi = this.hi(4);
    const slow = `{ k = ${~id}; /*STORE_ALL*/ cpu.rip = base + ${end}; cpu.icount = ic; execute(cpu, I[${id}]); /*LOAD_ALL*/ t = cpu.rip; }`;
    if (this.codeSize === 32) {
      this.put(
        `k = ${id}; let t = 0; if (stackFlat) { const sp = ${sp} >>> 0; ${tlbAccess('sp', true, false, 4, `t = ${ramGet('pa')} >>> 0;`, 't = readLin32(cpu, sp) >>> 0;', `m${id}`, this.caches)} if (t > csLimit) ${slow} else ${sp} = (sp + ${4 + ins.imm}) | 0; } else ${slow}`,
      );
    } else {
      this.put(
        `k = ${id}; let t = 0; { const lo = ${sp} >>> 0, hi = ${spHi}; let done = false; ${this.probe64(false)} ` +
          `if (pa >= 0 && o <= 4088) { const th = ${ramGet('pa + 4')}; if (th >= -32768 && th <= 32767) { ` +
          `t = th * TWO32 + (${ramGet('pa')} >>> 0); let nl = lo + ${8 + ins.imm}, nh = hi; if (nl >= TWO32) { nl -= TWO32; nh = (nh + 1) | 0; } ${sp} = nl | 0; ${spHi} = nh; done = true; } } ` +
          `if (!done) ${slow} }`,
      );
    }
    // Back into the region where the return address is a member (checked: the target is dynamic).
    const cases = deltas
      .map((d, m) => `case ${d}: ${this.edge({ delta: d, member: m, checked: true }, total)}`)
      .join(' ');
    this.put(
      `ic += ${this.n}; switch (t - base) { ${cases.replaceAll(`ic += ${this.n}; `, '')} } ${why(RegionExit.DYNAMIC)}exitAt = t - base; break run;`,
    );
  }
}
