// Tier 2: a hot decoded block becomes one JavaScript function (new Function), with the common
// register-only and simple memory forms written inline with their operands as constants, and
// everything else calling the interpreter's handler. Flag results no later instruction can see are
// not computed. The function runs the whole block, or stops after an instruction that needs the
// run loop's attention, and leaves RIP, the instruction count and faults exactly as the
// interpreter would (tests run the whole suite with tier 2 off and eager).
import type { Block } from '../block.js';
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
import { CF, OF } from '../regs.js';

export type CompiledBlock = (cpu: Cpu) => void;

/** How many times a block runs in the interpreter before it is compiled. */
export let JIT_THRESHOLD = Number(process.env.HVEMU_TIER2_THRESHOLD ?? 50);
/** HVEMU_TIER2=off disables tier 2; =eager compiles every block on first use. */
const MODE = process.env.HVEMU_TIER2 ?? 'on';
if (MODE === 'eager') JIT_THRESHOLD = 0;
export const JIT_ENABLED = MODE !== 'off';

// ALU sub-ops that can be inlined (ADC/SBB read CF: they go through the handler).
const ALU_JS = ['+', '|', '', '', '&', '-', '^', '-'];
const ALU_LAZY = [LazyOp.ADD, LazyOp.LOGIC, 0, 0, LazyOp.LOGIC, LazyOp.SUB, LazyOp.LOGIC, LazyOp.SUB];

function inlineAlu(sub: number): boolean {
  return sub !== 2 && sub !== 3;
}

/** Does the instruction set all six arithmetic flags without reading any (and cannot fault)? */
function killsFlags(i: Insn): boolean {
  switch (i.op) {
    case Op.ALU32_RR:
    case Op.ALU32_RI:
      return inlineAlu(i.sub);
    case Op.TEST32_RR:
      return true;
    case Op.TEST_RM_I:
      return !i.mem && i.size !== 8;
    case Op.SHIFT32_RI:
      return (i.imm & 31) !== 0 && i.sub >= 4; // SHL SHR SAL SAR
  }
  return false;
}

/** Register-only forms compiled inline that neither fault nor read flags. */
function isPureInline(i: Insn): boolean {
  switch (i.op) {
    case Op.MOV32_RR:
    case Op.NOP:
      return true;
    case Op.ALU32_RR:
    case Op.ALU32_RI:
      return inlineAlu(i.sub);
    case Op.TEST32_RR:
    case Op.SHIFT32_RI:
      return true;
    case Op.TEST_RM_I:
      return !i.mem && i.size !== 8;
  }
  return false;
}

/** INC/DEC read CF (kept) and write the other five: flags stay live before them. */

const TWO32 = 4294967296;
const CANON = 140737488355328;

/**
 * CALL rel with a flat 32-bit stack in 32-bit code, or in 64-bit mode: push and jump without the
 * general handler. Returns false (nothing done) for every other case, which the handler then takes.
 */
function fastCall(cpu: Cpu, size: number, rel: number): boolean {
  const ret = cpu.rip;
  if (size === 4 && cpu.stackFlat32 && cpu.codeSize === 32) {
    const t = (ret + rel) >>> 0;
    if (t > cpu.segLimit[1]) return false;
    const sp = (cpu.r32[8] - 4) >>> 0;
    writeLin32(cpu, sp, ret);
    cpu.r32[8] = sp;
    cpu.rip = t;
    return true;
  }
  if (size === 8 && cpu.codeSize === 64) {
    const t = ret + rel;
    const sp = cpu.r32[9] * TWO32 + (cpu.r32[8] >>> 0) - 8;
    if (t < -CANON || t >= CANON || sp < -CANON || sp >= CANON) return false;
    const hi = Math.floor(ret / TWO32);
    writeLin64(cpu, sp, ret - hi * TWO32, hi);
    cpu.r32[8] = sp - Math.floor(sp / TWO32) * TWO32;
    cpu.r32[9] = Math.floor(sp / TWO32);
    cpu.rip = t;
    return true;
  }
  return false;
}

/** RET (imm16) for the same two cases as fastCall. */
function fastRet(cpu: Cpu, size: number, imm: number): boolean {
  if (size === 4 && cpu.stackFlat32 && cpu.codeSize === 32) {
    const sp = cpu.r32[8] >>> 0;
    const t = readLin32(cpu, sp) >>> 0;
    if (t > cpu.segLimit[1]) return false;
    cpu.r32[8] = sp + 4 + imm;
    cpu.rip = t;
    return true;
  }
  if (size === 8 && cpu.codeSize === 64) {
    const sp = cpu.r32[9] * TWO32 + (cpu.r32[8] >>> 0);
    if (sp < -CANON || sp + 7 >= CANON) return false;
    const lo = readLin64(cpu, sp);
    const t = cpu.t32[7] * TWO32 + (lo >>> 0);
    if (t < -CANON || t >= CANON) return false;
    const nsp = sp + 8 + imm;
    cpu.r32[8] = nsp - Math.floor(nsp / TWO32) * TWO32;
    cpu.r32[9] = Math.floor(nsp / TWO32);
    cpu.rip = t;
    return true;
  }
  return false;
}

/** Instructions whose intercept compiled code checks itself, and their intercept kind. */
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

/** Result mask by operand size, for ZF from a lazy record. */
const ZMASK = Int32Array.of(0, 0xff, 0xffff, 0, -1);
const helpers = {
  ZMASK,
  execute,
  memAddr,
  readLin32,
  writeLin32,
  setRip,
  testCond,
  getCF,
  setPartialFlags,
  fastCall,
  fastRet,
};

/** Compile `block` (32- or 64-bit code only); returns null when nothing is gained. */
export function compileBlock(cpu: Cpu, block: Block): CompiledBlock | null {
  if (cpu.codeSize === 16) return null;
  const insns = block.insns;
  const n = insns.length;
  // Flag liveness, backwards: a flag result is needed unless a later pure instruction overwrites
  // all flags first. Anything that may fault or call out keeps flags live (a handler could see them).
  const live: boolean[] = new Array(n);
  let l = true;
  for (let i = n - 1; i >= 0; i--) {
    live[i] = l;
    const ins = insns[i];
    if (killsFlags(ins)) l = false;
    else if (!isPureInline(ins)) l = true;
  }
  const src: string[] = [];
  const starts: number[] = [];
  let off = 0;
  for (let i = 0; i < n; i++) {
    starts.push(off);
    const ins = insns[i];
    off += ins.len;
    src.push(`// ${i}: op ${ins.op}`);
    emit(src, ins, i, off, live[i], i === n - 1, cpu.codeSize);
  }
  const body = `
const r32 = cpu.r32, lf = cpu.lf, base = cpu.rip;
let k = 0;
try {
${src.join('\n')}
} catch (e) {
  cpu.rip = base + S[k];
  cpu.icount += k;
  throw e;
}`;
  const name = `blk_${Math.floor(block.key / 4).toString(16)}_${block.key % 4}`;
  const factory = new Function(
    'I',
    'S',
    'h',
    `const {ZMASK, execute, memAddr, readLin32, writeLin32, setRip, testCond, getCF, setPartialFlags, fastCall, fastRet} = h;\nreturn function ${name}(cpu) {${body}\n};`,
  );
  return factory(insns, Int32Array.from(starts), helpers) as CompiledBlock;
}

/**
 * Statements that leave in `lin` the linear address of a 4-byte memory operand: the common flat
 * cases inline (32-bit addressing in a segment on the fast check; 64-bit addressing with registers
 * below 4 GiB), anything else through memAddr (segment and canonical checks, faults).
 */
function linearStmt(ins: Insn, i: number, end: number, write: boolean, codeSize: number): string {
  const slow = `lin = memAddr(cpu, I[${i}], 4, ${write});`;
  if (ins.base === BASE_RIP) return `cpu.rip = base + ${end}; ${slow}`;
  const terms: string[] = [];
  if (ins.base >= 0) terms.push(`(r32[${ins.base << 1}] >>> 0)`);
  if (ins.index >= 0) terms.push(`(r32[${ins.index << 1}] >>> 0) * ${1 << ins.scale}`);
  terms.push(`${ins.disp | 0}`);
  const sum = terms.join(' + ');
  if (codeSize === 32 && ins.asize === 4) {
    const g = ins.seg;
    return `lin = (${sum}) >>> 0; if (cpu.segCheck[${g}] === 0 && lin <= cpu.segLimit[${g}] - 3) lin = (cpu.segBase[${g}] + lin) >>> 0; else { ${slow} }`;
  }
  if (codeSize === 64 && ins.asize === 8 && ins.seg < 4) {
    const his: string[] = [];
    if (ins.base >= 0) his.push(`r32[${(ins.base << 1) + 1}]`);
    if (ins.index >= 0) his.push(`r32[${(ins.index << 1) + 1}]`);
    const hiZero = his.length ? `(${his.join(' | ')}) === 0 && ` : '';
    return `lin = ${sum}; if (!(${hiZero}lin >= 0 && lin < 4294967296)) { ${slow} }`;
  }
  return slow;
}

function emit(
  src: string[],
  ins: Insn,
  i: number,
  end: number,
  live: boolean,
  last: boolean,
  codeSize: number,
): void {
  const d = ins.rm << 1;
  const s = ins.reg << 1;
  const done = `cpu.icount += ${i + 1};`;
  const attention = last ? '' : `if (cpu.attention !== 0) { ${done} return; }`;
  const flags = (a: string, b: string, r: string, kind: number) =>
    live ? `lf[0] = ${a}; lf[2] = ${b}; lf[4] = ${r}; cpu.lfOp = ${kind}; cpu.lfSize = 4;` : '';
  const tail = last ? `cpu.rip = base + ${end}; ${done}` : '';
  switch (ins.op) {
    case Op.NOP:
      src.push(tail);
      return;
    case Op.MOV32_RR:
      src.push(`r32[${d}] = r32[${s}]; r32[${d + 1}] = 0; ${tail}`);
      return;
    case Op.ALU32_RR:
    case Op.ALU32_RI:
      if (inlineAlu(ins.sub)) {
        const b = ins.op === Op.ALU32_RR ? `r32[${s}]` : `${ins.imm | 0}`;
        const write = ins.sub === 7 ? '' : `r32[${d}] = r; r32[${d + 1}] = 0;`;
        src.push(
          `{ const a = r32[${d}], b = ${b}, r = (a ${ALU_JS[ins.sub]} b) | 0; ${flags('a', 'b', 'r', ALU_LAZY[ins.sub])} ${write} } ${tail}`,
        );
        return;
      }
      break;
    case Op.TEST_RM_I:
      if (!ins.mem && ins.size !== 8) {
        const v =
          ins.size === 1 ? `cpu.r8[${ins.rm}]` : ins.size === 2 ? `cpu.r16[${ins.rm << 2}]` : `r32[${d}]`;
        src.push(
          `${live ? `lf[4] = ${v} & ${ins.imm | 0}; cpu.lfOp = ${LazyOp.LOGIC}; cpu.lfSize = ${ins.size};` : ''} ${tail}`,
        );
        return;
      }
      break;
    case Op.TEST32_RR:
      src.push(
        `${live ? `lf[4] = r32[${d}] & r32[${s}]; cpu.lfOp = ${LazyOp.LOGIC}; cpu.lfSize = 4;` : ''} ${tail}`,
      );
      return;
    case Op.SHIFT32_RI: {
      const c = ins.imm & 31;
      if (c === 0) {
        src.push(`r32[${d + 1}] = 0; ${tail}`);
        return;
      }
      let code: string;
      switch (ins.sub) {
        case 0: // ROL
          code =
            `const r = (a << ${c}) | (a >>> ${32 - c});` +
            (live
              ? `const cf = r & 1; setPartialFlags(cpu, ${CF | OF}, cf | ((((r >>> 31) ^ cf) & 1) << 11));`
              : '');
          break;
        case 1: // ROR
          code =
            `const r = (a >>> ${c}) | (a << ${32 - c});` +
            (live
              ? `const cf = (r >>> 31) & 1; setPartialFlags(cpu, ${CF | OF}, cf | (((cf ^ (r >>> 30)) & 1) << 11));`
              : '');
          break;
        case 4:
        case 6: // SHL/SAL
          code =
            `const r = a << ${c};` +
            (live
              ? `const cf = (a >>> ${32 - c}) & 1; lf[4] = r; cpu.lfOp = ${LazyOp.RESULT}; cpu.lfSize = 4; cpu.lfCarry = cf | ((((r >>> 31) ^ cf) & 1) << 11);`
              : '');
          break;
        case 5: // SHR
          code =
            `const r = a >>> ${c};` +
            (live
              ? `lf[4] = r; cpu.lfOp = ${LazyOp.RESULT}; cpu.lfSize = 4; cpu.lfCarry = ((a >>> ${c - 1}) & 1) | (((a >>> 31) & 1) << 11);`
              : '');
          break;
        case 7: // SAR
          code =
            `const r = a >> ${c};` +
            (live
              ? `lf[4] = r; cpu.lfOp = ${LazyOp.RESULT}; cpu.lfSize = 4; cpu.lfCarry = (a >> ${c - 1}) & 1;`
              : '');
          break;
        default:
          code = '';
      }
      if (code !== '') {
        src.push(`{ const a = r32[${d}]; ${code} r32[${d}] = r; r32[${d + 1}] = 0; } ${tail}`);
        return;
      }
      break;
    }
    case Op.MOV32_R_M:
      src.push(
        `k = ${i}; { let lin; ${linearStmt(ins, i, end, false, codeSize)} const v = readLin32(cpu, lin); r32[${s}] = v; r32[${s + 1}] = 0; } ${tail}`,
      );
      if (!last) src.push(attention);
      return;
    case Op.MOV32_M_R:
      src.push(
        `k = ${i}; { let lin; ${linearStmt(ins, i, end, true, codeSize)} writeLin32(cpu, lin, r32[${s}]); } ${tail}`,
      );
      if (!last) src.push(attention);
      return;
    case Op.INC32_R:
    case Op.DEC32_R: {
      const op = ins.op === Op.INC32_R ? '+' : '-';
      const kind = ins.op === Op.INC32_R ? LazyOp.INC : LazyOp.DEC;
      const fl = live
        ? `cpu.lfCarry = getCF(cpu) ? 1 : 0; lf[0] = a; lf[2] = 1; lf[4] = r; cpu.lfOp = ${kind}; cpu.lfSize = 4;`
        : '';
      src.push(
        `{ const a = r32[${d}], r = (a ${op} 1) | 0; ${fl} r32[${d}] = r; r32[${d + 1}] = 0; } ${tail}`,
      );
      return;
    }
    case Op.JMP_REL:
      if (last) {
        const target = ins.size === 2 ? `(cpu.rip + ${ins.imm}) & 0xffff` : `cpu.rip + ${ins.imm}`;
        src.push(`k = ${i}; cpu.rip = base + ${end}; setRip(cpu, ${target}); ${done}`);
        return;
      }
      break;
    case Op.CALL_REL:
      if (last && (ins.size === 4 || ins.size === 8)) {
        src.push(
          `k = ${i}; cpu.rip = base + ${end}; if (!fastCall(cpu, ${ins.size}, ${ins.imm})) execute(cpu, I[${i}]); ${done}`,
        );
        return;
      }
      break;
    case Op.RET_NEAR:
      if (last && (ins.size === 4 || ins.size === 8)) {
        src.push(
          `k = ${i}; cpu.rip = base + ${end}; if (!fastRet(cpu, ${ins.size}, ${ins.imm})) execute(cpu, I[${i}]); ${done}`,
        );
        return;
      }
      break;
    case Op.JCC:
      if (last && (ins.sub === 4 || ins.sub === 5)) {
        // JZ/JNZ straight from a fresh 32-bit result; other states go through testCond.
        const target = ins.size === 2 ? `(cpu.rip + ${ins.imm}) & 0xffff` : `cpu.rip + ${ins.imm}`;
        const zf = `(cpu.lfSize !== 8 && cpu.lfOp !== ${LazyOp.NONE} && cpu.lfOp !== ${LazyOp.PARTIAL} ? (lf[4] & ZMASK[cpu.lfSize]) === 0 : testCond(cpu, 4))`;
        src.push(
          `k = ${i}; cpu.rip = base + ${end}; if (${ins.sub === 4 ? '' : '!'}${zf}) setRip(cpu, ${target}); ${done}`,
        );
        return;
      }
      if (last) {
        // The target is computed by the handler's rules (size, limit or canonical checks).
        const target = ins.size === 2 ? `(cpu.rip + ${ins.imm}) & 0xffff` : `cpu.rip + ${ins.imm}`;
        src.push(
          `k = ${i}; cpu.rip = base + ${end}; if (testCond(cpu, ${ins.sub})) setRip(cpu, ${target}); ${done}`,
        );
        return;
      }
      break;
  }
  // Everything else: the interpreter's handler, with RIP set as it expects.
  const kind = interceptKindOf(ins.op);
  if (kind >= 0) {
    // An instruction the hypervisor may intercept asks its port here: a hit leaves the block with
    // RIP at the instruction and ATT_VMEXIT, a status instead of a thrown VMEXIT (issue 12).
    const info = ins.op === Op.CPUID ? 'r32[0], r32[2]' : '0, 0';
    src.push(
      `k = ${i}; cpu.rip = base + ${end}; if (cpu.interceptMask & ${1 << kind} && cpu.intercept !== null && cpu.intercept.intercept(${kind}, ${info})) { cpu.rip = base + ${end - ins.len}; cpu.icount += ${i}; cpu.attention |= ${ATT_VMEXIT}; return; }`,
    );
    // PAUSE does nothing else; the others ask again in their handler (no side effect) and run.
    if (ins.op !== Op.PAUSE) src.push(`execute(cpu, I[${i}]);`);
    if (last) src.push(done);
    else src.push(attention);
    return;
  }
  src.push(`k = ${i}; cpu.rip = base + ${end}; execute(cpu, I[${i}]);`);
  if (last) src.push(done);
  else src.push(attention);
}
