// x86 instruction decoder (Intel SDM vol 2 ch. 2, AMD APM vol 3 ch. 1): legacy prefixes, REX,
// the one-byte, 0F, 0F38 and 0F3A maps, ModRM/SIB, RIP-relative addressing, immediates, and the
// 15-byte limit. It fills an Insn; the tables in decode-tables.ts say what each opcode is.
import { type Cpu, FAULT } from './cpu.js';
import { decodeSse } from './decode-sse.js';
import {
  B,
  BREG,
  BRM,
  D64,
  F64,
  flagTable,
  G7,
  GRP,
  grpFlags,
  grpOp,
  grpSub,
  IB,
  IBU,
  IENTER,
  IMM_SHIFT,
  IMOFFS,
  IPTR,
  IV,
  IW,
  IZ,
  M,
  MEMONLY,
  MODREG,
  NO64,
  ONLY64,
  opTable,
  REGONLY,
  REL8,
  RELZ,
  SUBREG,
  subTable,
  TERM,
} from './decode-tables.js';
import { BASE_RIP, type Insn, NO_REG } from './insn.js';
import { physRead, translateExec } from './mmu.js';
import { Op } from './ops.js';
import { CS, DS, ES, FS, GP, GS, SS, UD } from './regs.js';

/** Result flags of decode(). */
export const DEC_TERM = 1;

// The fetch window: bytes come through the code TLB one at a time (decoding is off the hot path).
let fLin = 0;
let fPage = Number.NaN;
let fPhys = 0;
let fCpu = null as unknown as Cpu;

/** Forget the processor of the last decode, so a dropped VM is not kept alive by this module. */
export function releaseDecoder(): void {
  fCpu = null as unknown as Cpu;
}
let fLen = 0;

function fb(): number {
  if (fLen >= 15) {
    // An instruction longer than 15 bytes raises #GP(0) (SDM vol 2 2.3.11).
    fCpu.excVector = GP;
    fCpu.excError = 0;
    fCpu.excHasError = true;
    throw FAULT;
  }
  let lin = fLin + fLen;
  if (fCpu.codeSize !== 64) lin = lin >>> 0;
  const lpn = Math.floor(lin / 4096);
  if (lpn !== fPage) {
    fPhys = translateExec(fCpu, lin) - (lin & 0xfff);
    fPage = lpn;
  }
  const v = physRead(fCpu, fPhys + (lin & 0xfff), 1) & 0xff;
  fBytes[fLen++] = v;
  return v;
}
/** The bytes fetched for the instruction being decoded. */
const fBytes = new Uint8Array(16);

function fimm(bytes: number): number {
  let v = 0;
  for (let i = 0; i < bytes; i++) v |= fb() << (8 * i);
  if (bytes === 1) return (v << 24) >> 24;
  if (bytes === 2) return (v << 16) >> 16;
  return v | 0;
}

/** Byte-register index into Cpu.r8: with a REX prefix (or below 4) register r's low byte, else AH..BH. */
function byteReg(r: number, rex: boolean): number {
  return rex || r < 4 ? r * 8 : (r - 4) * 8 + 1;
}

// 16-bit addressing (SDM vol 2 Table 2-1): BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP, BX.
const BASE16 = [3, 3, 5, 5, 6, 7, 5, 3];
const INDEX16 = [6, 7, 6, 7, NO_REG, NO_REG, NO_REG, NO_REG];

const SEG_PREFIX: Record<number, number> = { 38: ES, 46: CS, 54: SS, 62: DS, 100: FS, 101: GS };

/**
 * Decode the instruction at linear address `lin` (CS base included) into `insn`. Returns DEC_TERM
 * when the instruction must end a block. Raises #PF/#GP through FAULT on fetch problems; an
 * undefined opcode decodes to Op.UD (raised when executed, so a fault happens only if reached).
 */
export function decode(cpu: Cpu, lin: number, insn: Insn): number {
  fCpu = cpu;
  fLin = lin;
  fLen = 0;
  fPage = Number.NaN;
  const mode64 = cpu.codeSize === 64;
  let opsz = cpu.codeSize === 16 ? 2 : 4;
  let asz = mode64 ? 8 : cpu.codeSize === 16 ? 2 : 4;
  let seg = -1;
  let rep = 0;
  let lock = false;
  let pfx66 = false;
  let pfx67 = false;
  let lastPfx = 0;
  let rex = 0;
  let b: number;
  // ---- prefixes ----
  for (;;) {
    b = fb();
    if (b === 0x66) {
      pfx66 = true;
      lastPfx = 0x66;
    } else if (b === 0x67) pfx67 = true;
    else if (b === 0xf0) lock = true;
    else if (b === 0xf2) {
      rep = 2;
      lastPfx = 0xf2;
    } else if (b === 0xf3) {
      rep = 1;
      lastPfx = 0xf3;
    } else if (SEG_PREFIX[b] !== undefined) seg = SEG_PREFIX[b];
    else if (mode64 && (b & 0xf0) === 0x40) {
      rex = b;
      b = fb();
      // A REX prefix counts only immediately before the opcode.
      if (
        b === 0x66 ||
        b === 0x67 ||
        b === 0xf0 ||
        b === 0xf2 ||
        b === 0xf3 ||
        SEG_PREFIX[b] !== undefined ||
        (b & 0xf0) === 0x40
      ) {
        rex = 0;
        fLen--;
        continue;
      }
      break;
    } else break;
  }
  if (pfx66) opsz = cpu.codeSize === 16 ? 4 : 2;
  // A repeated 67 acts as one (SDM vol 2 2.1.1: one prefix from each group is meaningful).
  if (pfx67) asz = mode64 ? 4 : cpu.codeSize === 16 ? 4 : 2;
  const rexW = (rex & 8) !== 0;
  const rexR = (rex & 4) << 1;
  const rexX = (rex & 2) << 2;
  const rexB = (rex & 1) << 3;
  // ---- opcode map ----
  let map = 0;
  if (b === 0x0f) {
    b = fb();
    map = 1;
    if (b === 0x38) {
      map = 2;
      b = fb();
    } else if (b === 0x3a) {
      map = 3;
      b = fb();
    }
  }
  const code = map * 256 + b;
  let op: number = opTable[code];
  let flags = flagTable[code];
  let sub = subTable[code];
  insn.opcode = code;
  insn.rep = rep;
  insn.lock = lock;
  insn.pfx = lastPfx;
  insn.mem = false;
  insn.base = NO_REG;
  insn.index = NO_REG;
  insn.scale = 0;
  insn.disp = 0;
  insn.imm = 0;
  insn.imm2 = 0;
  insn.reg = 0;
  insn.rm = 0;
  insn.asize = asz;

  // SSE forms of the 0F map, selected by the mandatory prefix (F3/F2 win over 66).
  let sse = false;
  if (map === 1 && op === Op.UD && flags === 0) {
    const mandatory = rep === 1 ? 0xf3 : rep === 2 ? 0xf2 : pfx66 ? 0x66 : 0;
    const s = decodeSse(b, mandatory);
    if (s !== 0) {
      op = s >> 8;
      sub = s & 0xff;
      flags = M;
      sse = true;
      insn.pfx = mandatory;
    }
  }

  // ---- ModRM / SIB / displacement ----
  let modrm = 0;
  let mod = 3;
  if (flags & M) {
    modrm = fb();
    mod = flags & MODREG ? 3 : modrm >> 6;
    insn.reg = ((modrm >> 3) & 7) | rexR;
    const rmv = modrm & 7;
    if (mod === 3) {
      insn.rm = rmv | rexB;
    } else {
      insn.mem = true;
      let defSeg = DS;
      if (asz === 2) {
        // 16-bit addressing (SDM Table 2-1)
        if (mod === 0 && rmv === 6) {
          insn.disp = fimm(2) & 0xffff;
        } else {
          insn.base = BASE16[rmv];
          insn.index = INDEX16[rmv];
          if (rmv === 2 || rmv === 3 || rmv === 6) defSeg = SS;
          if (mod === 1) insn.disp = fimm(1);
          else if (mod === 2) insn.disp = fimm(2);
        }
      } else {
        let base = rmv;
        if (rmv === 4) {
          const sib = fb();
          insn.scale = sib >> 6;
          const idx = ((sib >> 3) & 7) | rexX;
          insn.index = idx === 4 ? NO_REG : idx;
          base = sib & 7;
          if (base === 5 && mod === 0) {
            insn.base = NO_REG;
            insn.disp = fimm(4);
          } else {
            insn.base = base | rexB;
          }
        } else if (rmv === 5 && mod === 0) {
          insn.base = mode64 ? BASE_RIP : NO_REG;
          insn.disp = fimm(4);
        } else {
          insn.base = base | rexB;
        }
        if (insn.base === 4 || insn.base === 5) defSeg = SS;
        if (mod === 1) insn.disp = fimm(1);
        else if (mod === 2) insn.disp = fimm(4);
      }
      insn.seg = seg >= 0 ? seg : defSeg;
    }
    if (flags & GRP) {
      const g = sub * 8 + ((modrm >> 3) & 7);
      op = grpOp[g];
      sub = grpSub[g];
      flags = (flags & ~GRP) | grpFlags[g];
      if (g >> 3 === G7 && mod === 3) {
        op = group7Reg(modrm & 7, (modrm >> 3) & 7, rep);
        flags = (flags & ~MEMONLY) | TERM; // the register forms are other instructions, not #UD
      }
    }
    if (op === Op.SHIFT_RM_I && !(flags & IBU)) insn.imm = 1; // D0/D1: count 1
    if (flags & SUBREG) sub = (modrm >> 3) & 7;
  } else {
    insn.seg = seg >= 0 ? seg : DS;
  }
  if (seg >= 0) insn.seg = seg;

  // ---- operand size ----
  let size: number;
  if (flags & B) size = 1;
  else if (mode64 && flags & F64) size = 8;
  else if (rexW) size = 8;
  else if (mode64 && flags & D64) size = pfx66 ? 2 : 8;
  else size = opsz;
  if (!mode64 && flags & F64) size = 4;
  if (sse) size = rexW ? 8 : 4; // 66 is a mandatory prefix here, not an operand-size override
  // Ports are 8, 16 or 32 bits wide: IN, OUT, INS and OUTS have no 64-bit form and ignore REX.W
  // (SDM vol 2 IN/OUT/INS/OUTS list no 64-bit operand; the I/O address space is at most 32 bits wide).
  if (size === 8 && (op === Op.INS || op === Op.OUTS || (op >= Op.IN_I && op <= Op.OUT_DX))) size = 4;
  insn.size = size;
  // Near branches in 64-bit mode: AMD honours 66 (16-bit target, rel16); Intel ignores it and keeps
  // 64 bits and rel32 (SDM vol 2 CALL/JMP/Jcc/RET/LOOP: "operand size is forced to 64 bits").
  if (mode64 && pfx66 && size === 2 && cpu.vendor === 'GenuineIntel' && nearBranch(op)) size = insn.size = 8;

  // Opcodes whose meaning depends on the mode or a prefix.
  const byteRegs = rex !== 0;
  if (map === 0) {
    if (b >= 0x40 && b <= 0x4f)
      insn.rm = b & 7; // INC/DEC r16/32 (not 64-bit mode: REX there)
    else if ((b >= 0x50 && b <= 0x5f) || (b >= 0xb8 && b <= 0xbf) || (b >= 0x91 && b <= 0x97)) {
      insn.rm = (b & 7) | rexB;
    } else if (b >= 0xb0 && b <= 0xb7)
      insn.rm = (b & 7) | rexB; // mapped to a byte register below
    else if (b === 0x90) {
      if (rexB) insn.rm = 8;
      else {
        op = rep === 1 ? Op.PAUSE : Op.NOP;
      }
    } else if ((b & 0xc7) === 0x04 || (b & 0xc7) === 0x05 || b === 0xa8 || b === 0xa9) {
      insn.rm = 0; // AL/eAX short forms
    } else if (b === 0x63) {
      if (!mode64) {
        op = Op.ARPL; // #UD in real mode, checked when it runs
        insn.size = 2;
      } else if (!rexW) {
        op = Op.MOV_R_RM; // MOVSXD without REX.W: a plain 32/16-bit move
      }
    } else if (b >= 0xd8 && b <= 0xdf) {
      const x = decodeX87(b, modrm);
      op = x >> 8;
      sub = x & 0xff;
    }
  } else if (map === 1) {
    if (b >= 0xc8 && b <= 0xcf) insn.rm = (b & 7) | rexB; // BSWAP (not the SSE/MMX forms above it)
    if (b === 0xb8) op = rep === 1 ? Op.POPCNT : Op.UD;
    else if (b === 0xbc && rep === 1) op = Op.TZCNT;
    else if (b === 0xbd && rep === 1) op = Op.LZCNT;
    else if (b === 0xc7 && op === Op.CMPXCHG8B && rexW) size = insn.size = 16;
    else if (b === 0xc7 && op === Op.RDPID && rep !== 1) op = Op.UD;
    else if (b === 0xae && (rep !== 0 || pfx66))
      op = Op.UD; // prefixed 0F AE forms (RDFSBASE, CLFLUSHOPT, ...) not offered
    // RDRAND is NFx 0F C7 /6: an F2/F3 prefix makes it #UD (SDM vol 2 RDRAND).
    else if (b === 0xc7 && op === Op.RDRAND && rep !== 0) op = Op.UD;
    else if (b === 0x05 && !mode64 && cpu.vendor === 'GenuineIntel') op = Op.UD;
    else if (b === 0x07 && !mode64 && cpu.vendor === 'GenuineIntel') op = Op.UD;
  } else if (map === 2) {
    if (b === 0xf0 || b === 0xf1) {
      if (rep !== 0) op = Op.UD; // CRC32 (F2) not offered
    }
  }
  if (flags & B || flags & BRM) {
    if (!insn.mem) insn.rm = byteReg(insn.rm, byteRegs);
  }
  if (flags & B || flags & BREG) insn.reg = byteReg(insn.reg, byteRegs);
  if ((flags & NO64 && mode64) || (flags & ONLY64 && !mode64)) op = Op.UD;
  // MOVNTPS/MOVNTPD (0F 2B) and MOVNTDQ (66 0F E7) store to memory only: the register form is #UD.
  if (sse && (b === 0x2b || b === 0xe7) && mod === 3) op = Op.UD;
  if (flags & REGONLY && mod !== 3) op = Op.UD;
  if (flags & MEMONLY && mod === 3) op = Op.UD;

  // ---- immediates ----
  switch ((flags >> IMM_SHIFT) & 0xf) {
    case IB >> IMM_SHIFT:
    case REL8 >> IMM_SHIFT:
      insn.imm = fimm(1);
      break;
    case IBU >> IMM_SHIFT:
      insn.imm = fimm(1) & 0xff;
      break;
    case IW >> IMM_SHIFT:
      insn.imm = fimm(2) & 0xffff;
      break;
    case IZ >> IMM_SHIFT:
    case RELZ >> IMM_SHIFT:
      insn.imm = size === 2 ? fimm(2) : fimm(4);
      if (size === 2 && ((flags >> IMM_SHIFT) & 0xf) === IZ >> IMM_SHIFT) insn.imm &= 0xffff;
      break;
    case IV >> IMM_SHIFT:
      if (size === 8) {
        insn.imm = fimm(4);
        insn.imm2 = fimm(4);
      } else insn.imm = size === 2 ? fimm(2) & 0xffff : fimm(4);
      break;
    case IPTR >> IMM_SHIFT:
      insn.imm = opsz === 2 ? fimm(2) & 0xffff : fimm(4) >>> 0;
      insn.imm2 = fimm(2) & 0xffff;
      break;
    case IMOFFS >> IMM_SHIFT:
      if (asz === 8) {
        insn.disp = fimm(4);
        insn.imm2 = fimm(4);
      } else insn.disp = asz === 2 ? fimm(2) & 0xffff : fimm(4);
      insn.mem = true;
      insn.seg = seg >= 0 ? seg : DS;
      break;
    case IENTER >> IMM_SHIFT:
      insn.imm = fimm(2) & 0xffff;
      insn.imm2 = fimm(1) & 0xff;
      break;
  }
  // SSE shift-by-immediate groups (66 0F 71-73) carry an imm8 too.
  if (op === Op.PSHUFD || op === Op.PSRLDQ_I || op === Op.PSLLDQ_I || op === Op.PSHIFT_I)
    insn.imm = fimm(1) & 0xff;
  // Near branches in 16-bit operand size take a 16-bit displacement (E8/E9/0F 8x with 66).
  if ((op === Op.JMP_REL || op === Op.CALL_REL || op === Op.JCC) && size === 2)
    insn.imm = (insn.imm << 16) >> 16;
  if (lock && !lockable(op, sub, insn.mem)) op = Op.UD;
  // Locked forms, and XCHG with memory (always locked, SDM vol 2 XCHG), leave the plain handlers
  // alone: they run through exec/locked.ts, so the unlocked forms pay nothing for atomicity.
  insn.lockOp = 0;
  if (op !== Op.UD && insn.mem && (lock || op === Op.XCHG_RM_R)) {
    insn.lockOp = op;
    op = Op.LOCKED;
  }
  insn.op = op;
  insn.sub = sub;
  insn.len = fLen;
  specialize(insn);
  insn.bytes = op === Op.UD ? fBytes.slice(0, fLen) : null;
  return flags & TERM || op === Op.UD ? DEC_TERM : 0;
}

function nearBranch(op: number): boolean {
  switch (op) {
    case Op.JMP_REL:
    case Op.CALL_REL:
    case Op.JCC:
    case Op.RET_NEAR:
    case Op.JMP_RM:
    case Op.CALL_RM:
    case Op.LOOP:
    case Op.JCXZ:
      return true;
  }
  return false;
}

/** LOCK is allowed only on read-modify-write instructions with a memory destination. */
function lockable(op: number, sub: number, mem: boolean): boolean {
  if (!mem) return false;
  switch (op) {
    case Op.ALU_RM_R:
    case Op.ALU_RM_I:
      return sub !== 7; // not CMP
    case Op.BT_RM_R:
    case Op.BT_RM_I:
      return sub !== 0; // BTS BTR BTC, not BT
    case Op.INC_RM:
    case Op.DEC_RM:
    case Op.NOT_RM:
    case Op.NEG_RM:
    case Op.XCHG_RM_R:
    case Op.CMPXCHG:
    case Op.XADD:
    case Op.CMPXCHG8B:
      return true;
  }
  return false;
}

/** 0F 01 with a register operand (AMD APM vol 3 Table A-7). */
function group7Reg(rm: number, reg: number, rep: number): number {
  switch (reg) {
    case 0:
      if (rm === 1) return Op.VMCALL;
      return Op.UD;
    case 1:
      if (rm === 0) return Op.MONITOR;
      if (rm === 1) return Op.MWAIT;
      return Op.UD;
    case 2:
      if (rm === 0) return Op.XGETBV;
      if (rm === 1) return Op.XSETBV;
      return Op.UD;
    case 3: // SVM: VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA; F3 0F 01 D9 is VMGEXIT
      switch (rm) {
        case 0:
          return Op.VMRUN;
        case 1:
          return rep === 1 ? Op.VMGEXIT : Op.VMMCALL;
        case 2:
          return Op.VMLOAD;
        case 3:
          return Op.VMSAVE;
        case 4:
          return Op.STGI;
        case 5:
          return Op.CLGI;
        case 6:
          return Op.SKINIT;
        default:
          return Op.INVLPGA;
      }
    case 4:
      return Op.SMSW;
    case 6:
      return Op.LMSW;
    case 7:
      if (rm === 0) return Op.SWAPGS;
      if (rm === 1) return Op.RDTSCP;
      return Op.UD;
  }
  return Op.UD;
}

/**
 * x87 escapes (SDM vol 2 Tables ): the control instructions keep their own handler
 * ids; everything else is Op.FPU with sub = (escape - D8) * 8 + ModRM.reg, plus 64 for the
 * register forms (execFpu raises #UD for the undefined register encodings). Returns op << 8 | sub.
 */
function decodeX87(b: number, modrm: number): number {
  const reg = (modrm >> 3) & 7;
  const mem = modrm < 0xc0;
  if (b === 0xd9 && mem && reg === 5) return Op.FLDCW << 8;
  if (b === 0xd9 && mem && reg === 7) return Op.FNSTCW << 8;
  if (b === 0xdd && mem && reg === 7) return Op.FNSTSW << 8;
  if (b === 0xdf && modrm === 0xe0) return Op.FNSTSW << 8; // FNSTSW AX
  if (b === 0xdb && modrm === 0xe3) return Op.FNINIT << 8;
  if (b === 0xdb && modrm === 0xe2) return Op.FNCLEX << 8;
  return (Op.FPU << 8) | (mem ? 0 : 64) | ((b - 0xd8) << 3) | reg;
}

export const UD_VECTOR = UD;

/**
 * Hot 32-bit forms get their own handler ids so the interpreter runs them without the generic
 * operand-size and operand-kind branches (the peer benchmark's loop is made of these).
 */
function specialize(insn: Insn): void {
  if (insn.size !== 4 || insn.lock) return;
  switch (insn.op) {
    case Op.MOV_RM_R:
      insn.op = insn.mem ? Op.MOV32_M_R : Op.MOV32_RR;
      return;
    case Op.MOV_R_RM:
      if (insn.mem) insn.op = Op.MOV32_R_M;
      else swapToRmDest(insn, Op.MOV32_RR);
      return;
    case Op.ALU_RM_R:
      if (!insn.mem) insn.op = Op.ALU32_RR;
      return;
    case Op.ALU_R_RM:
      if (insn.mem) insn.op = Op.ALU32_R_M;
      else swapToRmDest(insn, Op.ALU32_RR);
      return;
    case Op.ALU_RM_I:
      if (!insn.mem) insn.op = Op.ALU32_RI;
      return;
    case Op.TEST_RM_R:
      if (!insn.mem) insn.op = Op.TEST32_RR;
      return;
    case Op.SHIFT_RM_I:
      if (!insn.mem) insn.op = Op.SHIFT32_RI;
      return;
    case Op.INC_RM:
      if (!insn.mem) insn.op = Op.INC32_R;
      return;
    case Op.DEC_RM:
      if (!insn.mem) insn.op = Op.DEC32_R;
      return;
  }
}

/** Register-register forms written "reg, r/m": swap so the destination is always in rm. */
function swapToRmDest(insn: Insn, op: number): void {
  const t = insn.reg;
  insn.reg = insn.rm;
  insn.rm = t;
  insn.op = op;
}
