// Register numbers as the instruction encodings name them (ModRM.reg/rm with REX.R/B).
export const RAX = 0,
  RCX = 1,
  RDX = 2,
  RBX = 3,
  RSP = 4,
  RBP = 5,
  RSI = 6,
  RDI = 7;
export const R8 = 8,
  R9 = 9,
  R10 = 10,
  R11 = 11,
  R12 = 12,
  R13 = 13,
  R14 = 14,
  R15 = 15;
export const GPR_NAMES = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
] as const;

// Segment registers in sreg encoding order (ModRM.reg of MOV Sreg).
export const ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5;
/** System segments kept in the same descriptor cache arrays. */
export const LDTR = 6,
  TR = 7;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;

// RFLAGS bits (AMD APM vol 2, 3.1.6).
export const CF = 1 << 0,
  PF = 1 << 2,
  AF = 1 << 4,
  ZF = 1 << 6,
  SF = 1 << 7,
  TF = 1 << 8;
export const IF = 1 << 9,
  DF = 1 << 10,
  OF = 1 << 11,
  IOPL = 3 << 12,
  NT = 1 << 14;
export const RF = 1 << 16,
  VM = 1 << 17,
  AC = 1 << 18,
  VIF = 1 << 19,
  VIP = 1 << 20,
  ID = 1 << 21;
/** The six arithmetic status flags, the ones lazy flag evaluation produces. */
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;

// CR0 bits
export const CR0_PE = 1 << 0,
  CR0_MP = 1 << 1,
  CR0_EM = 1 << 2,
  CR0_TS = 1 << 3,
  CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5,
  CR0_WP = 1 << 16,
  CR0_AM = 1 << 18,
  CR0_NW = 1 << 29,
  CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
// CR4 bits
export const CR4_VME = 1 << 0,
  CR4_PVI = 1 << 1,
  CR4_TSD = 1 << 2,
  CR4_DE = 1 << 3,
  CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5,
  CR4_MCE = 1 << 6,
  CR4_PGE = 1 << 7,
  CR4_PCE = 1 << 8;
export const CR4_OSFXSR = 1 << 9,
  CR4_OSXMMEXCPT = 1 << 10,
  CR4_FSGSBASE = 1 << 16;
export const CR4_OSXSAVE = 1 << 18;
// EFER bits
export const EFER_SCE = 1 << 0,
  EFER_LME = 1 << 8,
  EFER_LMA = 1 << 10,
  EFER_NXE = 1 << 11;
export const EFER_SVME = 1 << 12,
  EFER_FFXSR = 1 << 14;

// Exception vectors
export const DE = 0,
  DB = 1,
  NMI_VEC = 2,
  BP = 3,
  OFV = 4,
  BR = 5,
  UD = 6,
  NM = 7,
  DF_VEC = 8;
export const TS = 10,
  NP = 11,
  SS_VEC = 12,
  GP = 13,
  PF_VEC = 14,
  MF = 16,
  AC_VEC = 17,
  MC = 18;
export const XM = 19,
  VE = 20,
  CP = 21,
  VC = 29,
  SX = 30;
export const EXCEPTION_NAMES: Record<number, string> = {
  0: '#DE',
  1: '#DB',
  2: 'NMI',
  3: '#BP',
  4: '#OF',
  5: '#BR',
  6: '#UD',
  7: '#NM',
  8: '#DF',
  10: '#TS',
  11: '#NP',
  12: '#SS',
  13: '#GP',
  14: '#PF',
  16: '#MF',
  17: '#AC',
  18: '#MC',
  19: '#XM',
  20: '#VE',
  21: '#CP',
  29: '#VC',
  30: '#SX',
};
