// A decoded instruction. One class, one shape: every field is a number or boolean so that the
// interpreter's loads stay monomorphic (design-examples.md 4.3).
import { DS } from './regs.js';

/** Base register value meaning "RIP-relative" (64-bit mode, ModRM mod=00 rm=101). */
export const BASE_RIP = 16;
export const NO_REG = -1;

export class Insn {
  /** Handler id (ops.ts). */
  op = 0;
  /** Length in bytes. */
  len = 0;
  /** Operand size in bytes: 1, 2, 4 or 8. */
  size = 4;
  /** Address size in bytes: 2, 4 or 8. */
  asize = 4;
  /** ModRM.reg (+REX.R): a register number, or an index into Cpu.r8 for byte operands. */
  reg = 0;
  /** ModRM.rm (+REX.B) when the operand is a register (same encoding as reg). */
  rm = 0;
  /** The r/m operand is in memory. */
  mem = false;
  base = NO_REG;
  index = NO_REG;
  /** SIB scale as a shift count (0-3). */
  scale = 0;
  disp = 0;
  /** Segment of the memory operand (default or override). */
  seg = DS;
  /** First immediate, sign-extended to a 32-bit int where the form sign-extends. */
  imm = 0;
  /** Second immediate (ENTER level, far-pointer selector) or the high half of MOV r64, imm64. */
  imm2 = 0;
  /** Group sub-operation: ALU op, condition code, shift kind, ... */
  sub = 0;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;
  /** For Op.LOCKED: the handler id the instruction has without LOCK (ALU_RM_R, XADD, ...). */
  lockOp = 0;
  /** Opcode as map << 8 | byte (map 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A), for traces. */
  opcode = 0;
  /** Mandatory/operand-size prefix seen (SSE forms): 0 none, 0x66, 0xF3, 0xF2. */
  pfx = 0;
  /** The raw bytes, kept only for undefined opcodes (for the #UD report). */
  bytes: Uint8Array | null = null;
}
