// The opcode maps as tables: one row per opcode (or group member) gives the handler, operand
// flags and immediate kind. The decoder (decode.ts) reads only these tables; adding an
// instruction means adding a row here and a case in exec/dispatch.ts.
import { Op } from './ops.js';

// ---- row flags ----
export const M = 1 << 0; // has ModRM
export const B = 1 << 1; // byte operand size
export const D64 = 1 << 2; // operand size defaults to 64 bits in 64-bit mode (stack ops, near branches)
export const TERM = 1 << 3; // ends a decoded block (control transfer, mode or interrupt-state change)
export const NO64 = 1 << 4; // #UD in 64-bit mode
export const GRP = 1 << 5; // the row names a group: Insn.sub and the handler come from ModRM.reg
export const SUBREG = 1 << 6; // Insn.sub = ModRM.reg (one handler for the whole group)
export const REGONLY = 1 << 7; // ModRM must name a register (mod = 3), else #UD
export const MEMONLY = 1 << 8; // ModRM must name memory, else #UD
/** ModRM.mod is ignored and read as 11: no SIB, no displacement (MOV CR/DR, SDM vol 2 and APM vol 3 "MOV CRn/DRn"). */
export const MODREG = 1 << 13;
export const BREG = 1 << 9; // the ModRM.reg operand is a byte register (MOVZX/MOVSX have a byte rm only)
export const BRM = 1 << 10; // the r/m operand is a byte (MOVZX r, r/m8)
export const F64 = 1 << 11; // operand size is always 64 bits in 64-bit mode (MOV CR/DR)
export const ONLY64 = 1 << 12; // #UD outside 64-bit mode
// immediate kinds (bits 16-19)
export const IMM_SHIFT = 16;
export const IB = 1 << 16; // imm8 sign-extended
export const IBU = 2 << 16; // imm8 zero-extended
export const IW = 3 << 16; // imm16
export const IZ = 4 << 16; // imm16 or imm32 (sign-extended to 64)
export const IV = 5 << 16; // imm16/32/64 (MOV r, imm)
export const IPTR = 6 << 16; // far pointer ptr16:16 / ptr16:32
export const IMOFFS = 7 << 16; // moffs: address-size offset
export const IENTER = 8 << 16; // imm16 + imm8
export const REL8 = 9 << 16;
export const RELZ = 10 << 16;

export const opTable = new Uint16Array(4 * 256);
export const flagTable = new Uint32Array(4 * 256);
export const subTable = new Uint8Array(4 * 256);
/** Group members: index group * 8 + ModRM.reg. */
export const grpOp = new Uint16Array(32 * 8);
export const grpFlags = new Uint32Array(32 * 8);
export const grpSub = new Uint8Array(32 * 8);

function row(map: number, code: number, op: Op, flags = 0, sub = 0): void {
  opTable[map * 256 + code] = op;
  flagTable[map * 256 + code] = flags;
  subTable[map * 256 + code] = sub;
}
function grpRow(g: number, reg: number, op: Op, flags = 0, sub = 0): void {
  grpOp[g * 8 + reg] = op;
  grpFlags[g * 8 + reg] = flags;
  grpSub[g * 8 + reg] = sub;
}

// Group numbers (Intel SDM Table A-6 names in comments).
export const G1_EB_IB = 1,
  G1_EV_IZ = 2,
  G1_EV_IB = 3,
  G2_EB = 4,
  G2_EV = 5,
  G3_EB = 6,
  G3_EV = 7;
export const G4 = 8,
  G5 = 9,
  G6 = 10,
  G7 = 11,
  G8 = 12,
  G9 = 13,
  G11_EB = 14,
  G11_EV = 15;
export const G15 = 16,
  G1A = 17,
  G12 = 18,
  G13 = 19,
  G14 = 20,
  G2_EB1 = 21,
  G2_EV1 = 22;
export const G2_EBCL = 23,
  G2_EVCL = 24,
  G16 = 25;

// ------------------------------------------------------------ one-byte map
for (let alu = 0; alu < 8; alu++) {
  const b = alu << 3;
  row(0, b + 0, Op.ALU_RM_R, M | B, alu);
  row(0, b + 1, Op.ALU_RM_R, M, alu);
  row(0, b + 2, Op.ALU_R_RM, M | B, alu);
  row(0, b + 3, Op.ALU_R_RM, M, alu);
  row(0, b + 4, Op.ALU_RM_I, B | IB, alu); // AL, imm8 (rm = 0 forced by the decoder)
  row(0, b + 5, Op.ALU_RM_I, IZ, alu); // eAX, imm
}
// segment push/pop and the BCD/segment-prefix holes
row(0, 0x06, Op.PUSH_SREG, NO64, 0);
row(0, 0x07, Op.POP_SREG, NO64 | TERM, 0);
row(0, 0x0e, Op.PUSH_SREG, NO64, 1);
row(0, 0x16, Op.PUSH_SREG, NO64, 2);
row(0, 0x17, Op.POP_SREG, NO64 | TERM, 2);
row(0, 0x1e, Op.PUSH_SREG, NO64, 3);
row(0, 0x1f, Op.POP_SREG, NO64 | TERM, 3);
for (let r = 0; r < 8; r++) {
  row(0, 0x40 + r, Op.INC_RM, NO64, 0); // REX in 64-bit mode; rm = r set by the decoder
  row(0, 0x48 + r, Op.DEC_RM, NO64, 0);
  row(0, 0x50 + r, Op.PUSH_R, D64);
  row(0, 0x58 + r, Op.POP_R, D64);
  row(0, 0x90 + r, Op.XCHG_RM_R, 0); // 0x90 without REX.B is NOP (decoder)
  row(0, 0xb0 + r, Op.MOV_R_I, B | IBU);
  row(0, 0xb8 + r, Op.MOV_R_I, IV);
}
row(0, 0x27, Op.DAA, NO64);
row(0, 0x2f, Op.DAS, NO64);
row(0, 0x37, Op.AAA, NO64);
row(0, 0x3f, Op.AAS, NO64);
row(0, 0xd4, Op.AAM, NO64 | IBU);
row(0, 0xd5, Op.AAD, NO64 | IBU);
row(0, 0x62, Op.BOUND, M | MEMONLY | NO64); // EVEX prefix in 64-bit mode (not offered)
row(0, 0x60, Op.PUSHA, NO64);
row(0, 0x61, Op.POPA, NO64);
row(0, 0x63, Op.MOVSXD, M, 4); // ARPL r/m16, r16 outside 64-bit mode (decode.ts)
row(0, 0x68, Op.PUSH_I, D64 | IZ);
row(0, 0x69, Op.IMUL_R_RM_I, M | IZ);
row(0, 0x6a, Op.PUSH_I, D64 | IB);
row(0, 0x6b, Op.IMUL_R_RM_I, M | IB);
row(0, 0x6c, Op.INS, B | TERM);
row(0, 0x6d, Op.INS, TERM);
row(0, 0x6e, Op.OUTS, B | TERM);
row(0, 0x6f, Op.OUTS, TERM);
for (let cc = 0; cc < 16; cc++) {
  row(0, 0x70 + cc, Op.JCC, D64 | REL8 | TERM, cc);
  row(1, 0x80 + cc, Op.JCC, D64 | RELZ | TERM, cc);
  row(1, 0x90 + cc, Op.SETCC, M | B, cc);
  row(1, 0x40 + cc, Op.CMOVCC, M, cc);
}
row(0, 0x80, Op.UD, M | B | GRP | IB, G1_EB_IB);
row(0, 0x81, Op.UD, M | GRP | IZ, G1_EV_IZ);
row(0, 0x82, Op.UD, M | B | GRP | IB | NO64, G1_EB_IB);
row(0, 0x83, Op.UD, M | GRP | IB, G1_EV_IB);
for (let alu = 0; alu < 8; alu++) {
  grpRow(G1_EB_IB, alu, Op.ALU_RM_I, 0, alu);
  grpRow(G1_EV_IZ, alu, Op.ALU_RM_I, 0, alu);
  grpRow(G1_EV_IB, alu, Op.ALU_RM_I, 0, alu);
}
row(0, 0x84, Op.TEST_RM_R, M | B);
row(0, 0x85, Op.TEST_RM_R, M);
row(0, 0x86, Op.XCHG_RM_R, M | B);
row(0, 0x87, Op.XCHG_RM_R, M);
row(0, 0x88, Op.MOV_RM_R, M | B);
row(0, 0x89, Op.MOV_RM_R, M);
row(0, 0x8a, Op.MOV_R_RM, M | B);
row(0, 0x8b, Op.MOV_R_RM, M);
row(0, 0x8c, Op.MOV_RM_SREG, M);
row(0, 0x8d, Op.LEA, M | MEMONLY);
row(0, 0x8e, Op.MOV_SREG_RM, M | TERM);
row(0, 0x8f, Op.UD, M | GRP | D64, G1A);
grpRow(G1A, 0, Op.POP_RM);
row(0, 0x98, Op.CBW);
row(0, 0x99, Op.CWD);
row(0, 0x9a, Op.CALL_FAR_PTR, IPTR | NO64 | TERM);
row(0, 0x9b, Op.FWAIT);
row(0, 0x9c, Op.PUSHF, D64);
row(0, 0x9d, Op.POPF, D64 | TERM);
row(0, 0x9e, Op.SAHF);
row(0, 0x9f, Op.LAHF);
row(0, 0xa0, Op.MOV_A_MOFFS, B | IMOFFS);
row(0, 0xa1, Op.MOV_A_MOFFS, IMOFFS);
row(0, 0xa2, Op.MOV_MOFFS_A, B | IMOFFS);
row(0, 0xa3, Op.MOV_MOFFS_A, IMOFFS);
row(0, 0xa4, Op.MOVS, B | TERM);
row(0, 0xa5, Op.MOVS, TERM);
row(0, 0xa6, Op.CMPS, B | TERM);
row(0, 0xa7, Op.CMPS, TERM);
row(0, 0xa8, Op.TEST_RM_I, B | IB);
row(0, 0xa9, Op.TEST_RM_I, IZ);
row(0, 0xaa, Op.STOS, B | TERM);
row(0, 0xab, Op.STOS, TERM);
row(0, 0xac, Op.LODS, B | TERM);
row(0, 0xad, Op.LODS, TERM);
row(0, 0xae, Op.SCAS, B | TERM);
row(0, 0xaf, Op.SCAS, TERM);
row(0, 0xc0, Op.UD, M | B | GRP | IBU, G2_EB);
row(0, 0xc1, Op.UD, M | GRP | IBU, G2_EV);
row(0, 0xd0, Op.UD, M | B | GRP, G2_EB1);
row(0, 0xd1, Op.UD, M | GRP, G2_EV1);
row(0, 0xd2, Op.UD, M | B | GRP, G2_EBCL);
row(0, 0xd3, Op.UD, M | GRP, G2_EVCL);
for (let s = 0; s < 8; s++) {
  grpRow(G2_EB, s, Op.SHIFT_RM_I, 0, s);
  grpRow(G2_EV, s, Op.SHIFT_RM_I, 0, s);
  grpRow(G2_EB1, s, Op.SHIFT_RM_I, 0, s); // count 1 set by the decoder
  grpRow(G2_EV1, s, Op.SHIFT_RM_I, 0, s);
  grpRow(G2_EBCL, s, Op.SHIFT_RM_CL, 0, s);
  grpRow(G2_EVCL, s, Op.SHIFT_RM_CL, 0, s);
}
row(0, 0xc2, Op.RET_NEAR, D64 | IW | TERM);
row(0, 0xc3, Op.RET_NEAR, D64 | TERM);
row(0, 0xc4, Op.LFP, M | MEMONLY | NO64, 0); // LES (VEX in 64-bit mode: #UD here)
row(0, 0xc5, Op.LFP, M | MEMONLY | NO64, 3); // LDS
row(0, 0xc6, Op.UD, M | B | GRP | IBU, G11_EB);
row(0, 0xc7, Op.UD, M | GRP | IZ, G11_EV);
grpRow(G11_EB, 0, Op.MOV_RM_I);
grpRow(G11_EV, 0, Op.MOV_RM_I);
row(0, 0xc8, Op.ENTER, D64 | IENTER);
row(0, 0xc9, Op.LEAVE, D64);
row(0, 0xca, Op.RET_FAR, IW | TERM);
row(0, 0xcb, Op.RET_FAR, TERM);
row(0, 0xcc, Op.INT3, TERM);
row(0, 0xcd, Op.INT_N, IBU | TERM);
row(0, 0xce, Op.INTO, NO64 | TERM);
row(0, 0xcf, Op.IRET, TERM);
row(0, 0xd6, Op.SALC, NO64);
row(0, 0xd7, Op.XLAT);
row(0, 0xe0, Op.LOOP, D64 | REL8 | TERM, 0); // LOOPNE
row(0, 0xe1, Op.LOOP, D64 | REL8 | TERM, 1); // LOOPE
row(0, 0xe2, Op.LOOP, D64 | REL8 | TERM, 2); // LOOP
row(0, 0xe3, Op.JCXZ, D64 | REL8 | TERM);
row(0, 0xe4, Op.IN_I, B | IBU | TERM);
row(0, 0xe5, Op.IN_I, IBU | TERM);
row(0, 0xe6, Op.OUT_I, B | IBU | TERM);
row(0, 0xe7, Op.OUT_I, IBU | TERM);
row(0, 0xe8, Op.CALL_REL, D64 | RELZ | TERM);
row(0, 0xe9, Op.JMP_REL, D64 | RELZ | TERM);
row(0, 0xea, Op.JMP_FAR_PTR, IPTR | NO64 | TERM);
row(0, 0xeb, Op.JMP_REL, D64 | REL8 | TERM);
row(0, 0xec, Op.IN_DX, B | TERM);
row(0, 0xed, Op.IN_DX, TERM);
row(0, 0xee, Op.OUT_DX, B | TERM);
row(0, 0xef, Op.OUT_DX, TERM);
row(0, 0xf1, Op.INT1, TERM);
row(0, 0xf4, Op.HLT, TERM);
row(0, 0xf5, Op.CMC);
row(0, 0xf6, Op.UD, M | B | GRP, G3_EB);
row(0, 0xf7, Op.UD, M | GRP, G3_EV);
for (const [g, imm] of [
  [G3_EB, IB],
  [G3_EV, IZ],
] as const) {
  grpRow(g, 0, Op.TEST_RM_I, imm);
  grpRow(g, 1, Op.TEST_RM_I, imm); // undocumented alias of /0
  grpRow(g, 2, Op.NOT_RM);
  grpRow(g, 3, Op.NEG_RM);
  grpRow(g, 4, Op.MUL_RM);
  grpRow(g, 5, Op.IMUL_RM);
  grpRow(g, 6, Op.DIV_RM);
  grpRow(g, 7, Op.IDIV_RM);
}
row(0, 0xf8, Op.CLC);
row(0, 0xf9, Op.STC);
row(0, 0xfa, Op.CLI);
row(0, 0xfb, Op.STI, TERM);
row(0, 0xfc, Op.CLD);
row(0, 0xfd, Op.STD);
row(0, 0xfe, Op.UD, M | B | GRP, G4);
grpRow(G4, 0, Op.INC_RM);
grpRow(G4, 1, Op.DEC_RM);
row(0, 0xff, Op.UD, M | GRP, G5);
grpRow(G5, 0, Op.INC_RM);
grpRow(G5, 1, Op.DEC_RM);
grpRow(G5, 2, Op.CALL_RM, D64 | TERM);
grpRow(G5, 3, Op.CALL_FAR_M, MEMONLY | TERM);
grpRow(G5, 4, Op.JMP_RM, D64 | TERM);
grpRow(G5, 5, Op.JMP_FAR_M, MEMONLY | TERM);
grpRow(G5, 6, Op.PUSH_RM, D64);
// x87 escapes D8-DF: every ModRM value is decoded by decodeX87 (decode.ts)
for (let b = 0xd8; b <= 0xdf; b++) row(0, b, Op.UD, M, b); // resolved by decodeX87 in decode.ts

// ------------------------------------------------------------ two-byte map (0F xx)
row(1, 0x00, Op.UD, M | GRP, G6);
grpRow(G6, 0, Op.SLDT);
grpRow(G6, 1, Op.STR);
grpRow(G6, 2, Op.LLDT, TERM);
grpRow(G6, 3, Op.LTR, TERM);
grpRow(G6, 4, Op.VERR);
grpRow(G6, 5, Op.VERW);
row(1, 0x01, Op.UD, M | GRP, G7); // register forms (VMRUN, SWAPGS, ...) resolved in decode.ts
grpRow(G7, 0, Op.SGDT, MEMONLY);
grpRow(G7, 1, Op.SIDT, MEMONLY);
grpRow(G7, 2, Op.LGDT, MEMONLY | TERM);
grpRow(G7, 3, Op.LIDT, MEMONLY | TERM);
grpRow(G7, 4, Op.SMSW);
grpRow(G7, 6, Op.LMSW, TERM);
grpRow(G7, 7, Op.INVLPG, MEMONLY | TERM);
row(1, 0x02, Op.LAR, M);
row(1, 0x03, Op.LSL, M);
row(1, 0x05, Op.SYSCALL, TERM);
row(1, 0x06, Op.CLTS, TERM);
row(1, 0x07, Op.SYSRET, TERM);
row(1, 0x08, Op.INVD);
row(1, 0x09, Op.WBINVD);
row(1, 0x0b, Op.UD); // UD2
row(1, 0x0d, Op.NOP, M); // PREFETCH/PREFETCHW (AMD 3DNow! prefetch group)
row(1, 0x18, Op.NOP, M); // PREFETCHh, reserved NOPs
for (let i = 0x19; i <= 0x1f; i++) row(1, i, Op.NOP, M); // hint NOPs (0F 1F /0 is the long NOP)
row(1, 0x20, Op.MOV_R_CR, M | F64 | MODREG);
row(1, 0x21, Op.MOV_R_DR, M | F64 | MODREG);
row(1, 0x22, Op.MOV_CR_R, M | F64 | MODREG | TERM);
row(1, 0x23, Op.MOV_DR_R, M | F64 | MODREG | TERM);
row(1, 0x30, Op.WRMSR, TERM);
row(1, 0x31, Op.RDTSC);
row(1, 0x32, Op.RDMSR);
row(1, 0x34, Op.SYSENTER, TERM);
row(1, 0x35, Op.SYSEXIT, TERM);
row(1, 0xa0, Op.PUSH_SREG, D64, 4);
row(1, 0xa1, Op.POP_SREG, D64, 4);
row(1, 0xa2, Op.CPUID);
row(1, 0xa3, Op.BT_RM_R, M, 0);
row(1, 0xa4, Op.SHLD, M | IBU, 0);
row(1, 0xa5, Op.SHLD, M, 1);
row(1, 0xa8, Op.PUSH_SREG, D64, 5);
row(1, 0xa9, Op.POP_SREG, D64, 5);
row(1, 0xab, Op.BT_RM_R, M, 1);
row(1, 0xac, Op.SHRD, M | IBU, 0);
row(1, 0xad, Op.SHRD, M, 1);
row(1, 0xae, Op.UD, M | GRP, G15);
row(1, 0x77, Op.EMMS);
grpRow(G15, 0, Op.FXSAVE, MEMONLY);
grpRow(G15, 1, Op.FXRSTOR, MEMONLY);
grpRow(G15, 2, Op.LDMXCSR, MEMONLY);
grpRow(G15, 3, Op.STMXCSR, MEMONLY);
grpRow(G15, 5, Op.FENCE); // LFENCE (reg form)
grpRow(G15, 6, Op.FENCE); // MFENCE
grpRow(G15, 7, Op.CLFLUSH); // CLFLUSH m8 / SFENCE (reg form)
row(1, 0xaf, Op.IMUL_R_RM, M);
row(1, 0xb0, Op.CMPXCHG, M | B);
row(1, 0xb1, Op.CMPXCHG, M);
row(1, 0xb2, Op.LFP, M | MEMONLY, 2); // LSS
row(1, 0xb3, Op.BT_RM_R, M, 2);
row(1, 0xb4, Op.LFP, M | MEMONLY, 4); // LFS
row(1, 0xb5, Op.LFP, M | MEMONLY, 5); // LGS
row(1, 0xb6, Op.MOVZX, M | BRM, 1);
row(1, 0xb7, Op.MOVZX, M, 2);
row(1, 0xb8, Op.POPCNT, M); // F3 prefix required (decoder)
row(1, 0xb9, Op.UD, M); // UD1
row(1, 0xba, Op.UD, M | GRP | IBU, G8);
grpRow(G8, 4, Op.BT_RM_I, 0, 0);
grpRow(G8, 5, Op.BT_RM_I, 0, 1);
grpRow(G8, 6, Op.BT_RM_I, 0, 2);
grpRow(G8, 7, Op.BT_RM_I, 0, 3);
row(1, 0xbb, Op.BT_RM_R, M, 3);
row(1, 0xbc, Op.BSF, M); // TZCNT with F3
row(1, 0xbd, Op.BSR, M); // LZCNT with F3
row(1, 0xbe, Op.MOVSX, M | BRM, 1);
row(1, 0xbf, Op.MOVSX, M, 2);
row(1, 0xc0, Op.XADD, M | B);
row(1, 0xc1, Op.XADD, M);
row(1, 0xc7, Op.UD, M | GRP, G9);
grpRow(G9, 1, Op.CMPXCHG8B, MEMONLY);
grpRow(G9, 6, Op.RDRAND, REGONLY);
grpRow(G9, 7, Op.RDPID, REGONLY); // F3 0F C7 /7 (RDSEED without F3: not offered)
for (let r = 0; r < 8; r++) row(1, 0xc8 + r, Op.BSWAP);

// ------------------------------------------------------------ 0F 38 map
row(2, 0xf0, Op.MOVBE_R_M, M | MEMONLY);
row(2, 0xf1, Op.MOVBE_M_R, M | MEMONLY);
