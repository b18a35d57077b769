// Handler ids: what the decoder produces and exec/dispatch.ts switches on. Names follow the
// instruction families of the manuals; `Insn.sub` carries the member of a family (ALU op,
// condition code, shift kind). Operand forms in Intel notation: RM = r/m operand, R = ModRM.reg,
// I = immediate.
export const enum Op {
  UD = 0, // invalid or unimplemented: #UD
  NOP,
  // ---- integer ALU (sub: 0 ADD 1 OR 2 ADC 3 SBB 4 AND 5 SUB 6 XOR 7 CMP) ----
  ALU_RM_R, ALU_R_RM, ALU_RM_I,
  ALU32_RR, ALU32_RI, ALU32_R_M, // hot 32-bit forms specialised by the decoder
  TEST_RM_R, TEST_RM_I, TEST32_RR,
  INC_RM, DEC_RM, INC32_R, DEC32_R, NOT_RM, NEG_RM,
  MUL_RM, IMUL_RM, DIV_RM, IDIV_RM, IMUL_R_RM, IMUL_R_RM_I,
  SHIFT_RM_I, SHIFT_RM_CL, SHIFT32_RI, // sub: 0 ROL 1 ROR 2 RCL 3 RCR 4 SHL 5 SHR 6 SAL 7 SAR
  SHLD, SHRD, // imm2 = 1: count in CL
  BT_RM_R, BT_RM_I, // sub: 0 BT 1 BTS 2 BTR 3 BTC
  BSF, BSR, TZCNT, LZCNT, POPCNT,
  SETCC, CMOVCC,
  // ---- data movement ----
  MOV_RM_R, MOV_R_RM, MOV_RM_I, MOV_R_I, MOV_A_MOFFS, MOV_MOFFS_A,
  MOV32_RR, MOV32_R_M, MOV32_M_R,
  MOVZX, MOVSX, MOVSXD, // sub: source size in bytes
  LEA, XCHG_RM_R, CMPXCHG, XADD, CMPXCHG8B, BSWAP, MOVBE_R_M, MOVBE_M_R,
  MOV_SREG_RM, MOV_RM_SREG, LFP, // LFP: LDS/LES/LSS/LFS/LGS, sub = segment
  LAHF, SAHF, CBW, CWD, XLAT, SALC,
  PUSH_R, POP_R, PUSH_I, PUSH_RM, POP_RM, PUSH_SREG, POP_SREG, PUSHA, POPA, PUSHF, POPF,
  ENTER, LEAVE,
  // ---- strings (size, rep) ----
  MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS,
  // ---- control transfer ----
  JMP_REL, JCC, JCXZ, LOOP, CALL_REL, JMP_RM, CALL_RM, RET_NEAR, RET_FAR,
  JMP_FAR_PTR, CALL_FAR_PTR, JMP_FAR_M, CALL_FAR_M, IRET, INT_N, INT3, INTO, INT1,
  SYSCALL, SYSRET, SYSENTER, SYSEXIT, HLT,
  // ---- flags ----
  CLC, STC, CMC, CLD, STD, CLI, STI,
  // ---- system ----
  CPUID, RDTSC, RDTSCP, RDMSR, WRMSR, RDPID,
  IN_I, IN_DX, OUT_I, OUT_DX,
  MOV_R_CR, MOV_CR_R, MOV_R_DR, MOV_DR_R,
  LGDT, LIDT, SGDT, SIDT, LLDT, SLDT, LTR, STR, LMSW, SMSW, CLTS, INVLPG,
  LAR, LSL, VERR, VERW, SWAPGS,
  WBINVD, INVD, CLFLUSH, FENCE, XGETBV, XSETBV, PAUSE,
  VMMCALL, VMGEXIT, VMRUN, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA, VMCALL,
  MONITOR, MWAIT, RDRAND,
  // ---- x87 control and state ----
  FNINIT, FNSTSW, FNSTCW, FLDCW, FWAIT, FNCLEX, FXSAVE, FXRSTOR, LDMXCSR, STMXCSR,
  // ---- SSE/SSE2 moves and integer operations (sse.ts) ----
  SSE_LOAD, SSE_STORE, MOVD_X_RM, MOVD_RM_X, MOVQ_X_XM, MOVQ_XM_X,
  SSE_LOGIC, // sub: 0 AND 1 ANDN 2 OR 3 XOR
  PCMPEQ, PMOVMSKB, PADD, PSUB, PSHUFD, PUNPCKL, PMINMAXUB, PSRLDQ_I, PSLLDQ_I, PSHIFT_I,
  COUNT,
}
