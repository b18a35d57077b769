// The execution loop: blocks from the cache, events between blocks, faults delivered through the
// IDT, stops reported to the caller (HLT, intercept, triple fault, instruction budget).
import { type Block, getBlock, linkBlocks, syncSharedCode } from './block.js';
import { type Cpu, FAULT, VMEXIT } from './cpu.js';
import { DR6_BS, instructionBreakpoints } from './debug.js';
import { ATT_EVENT, ATT_STOP, ATT_VMEXIT } from './events.js';
import { execute } from './exec/dispatch.js';
import { deliver, deliverException, EV_EXCEPTION, EV_EXTERNAL, EV_NMI } from './interrupts.js';
import { regionFor } from './jit/region-compiler.js';
import { JIT_ENABLED, JIT_THRESHOLD } from './jit/tier2.js';
import { Op } from './ops.js';
import { InterceptKind } from './ports.js';
import { CS, DB, IF, RF, TF } from './regs.js';

/** Why run() returned. */
export const enum Stop {
  /** The instruction budget ran out. */
  BUDGET = 0,
  /** HLT with no deliverable interrupt: wait for one, then call run() again. */
  HALT = 1,
  /** An intercept fired; the intercept port holds the exit record. */
  VMEXIT = 2,
  /** Triple fault: the processor shut down (cpu.excHistory has the chain). */
  SHUTDOWN = 3,
  /** The owner asked the CPU to stop (ATT_STOP). */
  STOPPED = 4,
}

/**
 * Run until `budget` more instructions have retired (a delivered exception counts as one) or
 * something stops the CPU. Deterministic: the same state and inputs give the same instruction stream.
 */
export function run(cpu: Cpu, budget: number): Stop {
  // Each entry (each VM entry) is this thread's serializing point for code other threads wrote.
  if (cpu.code.share !== null) syncSharedCode(cpu);
  const limit = cpu.icount + budget;
  let prev: Block | null = null;
  for (;;) {
    if (cpu.attention !== 0) {
      prev = null;
      const s = serviceEvents(cpu);
      if (s >= 0) return s;
    }
    if (cpu.icount >= limit) return Stop.BUDGET;
    try {
      const rip = cpu.rip;
      let block: Block;
      if (prev !== null && prev.next0Rip === rip && prev.next0Epoch === cpu.chainEpoch && prev.next0!.valid) {
        block = prev.next0!;
      } else if (
        prev !== null &&
        prev.next1Rip === rip &&
        prev.next1Epoch === cpu.chainEpoch &&
        prev.next1!.valid
      ) {
        block = prev.next1!;
      } else {
        block = lookupBlock(cpu);
        if (prev !== null && block.pages.length > 0) linkBlocks(cpu, prev, block, rip);
      }
      const n = block.insns.length;
      if (cpu.eflags & TF || cpu.breakpointsArmed) {
        debugStep(cpu, block);
        prev = null;
        continue;
      }
      if (block.fn === null && JIT_ENABLED && ++block.hits > JIT_THRESHOLD && block.pages.length > 0) {
        block.fn = regionFor(cpu, block);
        if (block.fn === null) block.hits = -1e9;
      }
      // A region declines (returns false) when its blocks would not fit in the budget.
      if (block.fn === null || cpu.interruptShadow || !block.fn(cpu, limit, block.fnEntry))
        execBlock(cpu, block.insns, cpu.interruptShadow ? 1 : Math.min(n, limit - cpu.icount));
      prev = block;
    } catch (e) {
      prev = null;
      if (e === FAULT) {
        // A delivery takes time as an instruction does: the budget and the virtual clock advance, so a
        // guest whose every handler faults again (a CS limit below its IP, say) still ends its quantum.
        cpu.icount++;
        try {
          if (!deliverException(cpu)) return shutdown(cpu);
        } catch (e2) {
          if (e2 === VMEXIT) return Stop.VMEXIT;
          throw e2;
        }
      } else if (e === VMEXIT) return Stop.VMEXIT;
      else throw e;
    }
  }
}

/** The block at CS:RIP through the code TLB and the block cache (CS limit checked outside 64-bit mode). */
function lookupBlock(cpu: Cpu): Block {
  let lin = cpu.rip;
  if (cpu.codeSize !== 64) {
    if (cpu.rip > cpu.segLimit[CS]) {
      cpu.excVector = 13;
      cpu.excError = 0;
      cpu.excHasError = true;
      throw FAULT;
    }
    lin = (cpu.segBase[CS] + cpu.rip) >>> 0;
  }
  return getBlock(cpu, lin);
}

/**
 * One instruction under the debug features (SDM vol 3 17.3): an instruction breakpoint on it is a
 * fault before it runs (unless RF is set, which lasts one instruction); data breakpoints it hit and
 * RFLAGS.TF are a #DB trap after it, with RIP at the next instruction and DR6 saying why (18.3.1.4
 * for TF). Software interrupts clear TF on their way into the handler and report no single step.
 * MOV SS and POP SS hold the trap until after the next instruction (6.8.3); STI does not.
 */
function debugStep(cpu: Cpu, block: Block): void {
  const insn = block.insns[0];
  const rf = cpu.eflags & RF;
  if (cpu.breakpointsArmed && !rf && !cpu.dbShadow) {
    const lin = cpu.codeSize === 64 ? cpu.rip : (cpu.segBase[CS] + cpu.rip) >>> 0;
    const hits = instructionBreakpoints(cpu, lin);
    if (hits !== 0) {
      cpu.dr[6] = (cpu.dr[6] | hits) >>> 0;
      deliver(cpu, DB, EV_EXCEPTION, 0, false);
      return;
    }
  }
  const tf = (cpu.eflags & TF) !== 0;
  const held = cpu.dbShadow ? cpu.dbHeld : 0;
  cpu.dbShadow = false;
  cpu.dbHeld = 0;
  cpu.dbHits = 0;
  execBlock(cpu, block.insns, 1);
  if (rf) cpu.eflags &= ~RF; // RF covered this one instruction
  const op = insn.op;
  const softInt = op === Op.INT_N || op === Op.INT3 || op === Op.INTO || op === Op.INT1;
  const bits = held | cpu.dbHits | (tf && !softInt ? DR6_BS : 0);
  cpu.dbHits = 0;
  if (bits === 0) return;
  if (cpu.dbShadow) {
    cpu.dbHeld = bits; // this instruction was MOV SS or POP SS
    return;
  }
  cpu.dr[6] = (cpu.dr[6] | bits) >>> 0;
  deliver(cpu, DB, EV_EXCEPTION, 0, false);
}

function shutdown(cpu: Cpu): Stop {
  if (
    cpu.interceptMask & (1 << InterceptKind.SHUTDOWN) &&
    cpu.intercept?.intercept(InterceptKind.SHUTDOWN, 0, 0)
  ) {
    return Stop.VMEXIT;
  }
  cpu.halted = true;
  return Stop.SHUTDOWN;
}

/** Execute up to `n` instructions of a block; stops early when something needs attention. */
function execBlock(cpu: Cpu, insns: import('./insn.js').Insn[], n: number): void {
  let i = 0;
  let start = cpu.rip;
  // Only a shadow that was already in force covers this block's first instruction; one set by an
  // instruction of this block (STI, MOV SS) covers the next block's first instruction.
  const shadowAtEntry = cpu.interruptShadow;
  try {
    for (; i < n; ) {
      const insn = insns[i];
      start = cpu.rip;
      cpu.rip = start + insn.len;
      execute(cpu, insn);
      i++;
      if (cpu.attention !== 0) break;
    }
  } catch (e) {
    cpu.rip = start;
    cpu.icount += i;
    throw e;
  }
  cpu.icount += i;
  if (cpu.codeSize === 16) cpu.rip &= 0xffff;
  if (shadowAtEntry && cpu.interruptShadow) {
    cpu.interruptShadow = false;
    cpu.dbShadow = false;
    cpu.attention |= ATT_EVENT;
  }
}

/** Take pending NMI/interrupts, handle HLT and stop requests. Returns a Stop, or -1 to go on. */
function serviceEvents(cpu: Cpu): number {
  const att = cpu.attention;
  cpu.attention = 0;
  if (att & ATT_VMEXIT) {
    cpu.attention = att & ~ATT_VMEXIT; // the other reasons wait for the next run()
    return Stop.VMEXIT;
  }
  if (att & ATT_STOP) return Stop.STOPPED;
  if (cpu.interruptShadow) return -1;
  try {
    if (cpu.nmiPending && !cpu.nmiBlocked) {
      if (cpu.interceptMask & (1 << InterceptKind.NMI) && cpu.intercept?.intercept(InterceptKind.NMI, 0, 0))
        return Stop.VMEXIT;
      cpu.nmiPending = false;
      cpu.nmiBlocked = true;
      deliver(cpu, 2, EV_NMI, 0, false);
    } else if (cpu.eflags & IF && cpu.intc !== null) {
      const v = cpu.intc.pendingVector();
      if (v >= 0) {
        if (
          cpu.interceptMask & (1 << InterceptKind.INTR) &&
          cpu.intercept?.intercept(InterceptKind.INTR, v, 0)
        )
          return Stop.VMEXIT;
        cpu.intc.acknowledge(v);
        deliver(cpu, v, EV_EXTERNAL, 0, false);
      }
    }
  } catch (e) {
    if (e === FAULT) {
      if (!deliverException(cpu)) return shutdown(cpu);
    } else if (e === VMEXIT) return Stop.VMEXIT;
    else throw e;
  }
  if (cpu.halted) {
    cpu.attention |= ATT_EVENT;
    return Stop.HALT;
  }
  return -1;
}
