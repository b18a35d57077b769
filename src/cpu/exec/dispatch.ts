// The interpreter's dispatch: one switch over the handler id of a decoded instruction. Hot,
// specialised forms are written inline; everything else calls a family handler.
import type { Cpu } from '../cpu.js';
import { flushFlags, LazyOp, LF_DST, LF_RES, LF_SRC } from '../flags.js';
import type { Insn } from '../insn.js';
import { readLin32, writeLin32 } from '../mmu.js';
import { Op } from '../ops.js';
import { InterceptKind } from '../ports.js';
import { CF, DF } from '../regs.js';
import { alu, aluForm, testForm, unary } from './alu.js';
import { bitCount, bitScan, bswap, btForm, cmovcc, movbe, popcnt, setcc } from './bits.js';
import {
  callFarPtr,
  callRel,
  callRm,
  cliSti,
  farIndirect,
  int1,
  int3,
  intN,
  into,
  iret,
  jcc,
  jcxz,
  jmpFarPtr,
  jmpRel,
  jmpRm,
  loop,
  retFar,
  retNear,
  syscall,
  sysenter,
  sysexit,
  sysret,
} from './control.js';
import { inInsn, outInsn } from './io.js';
import { aaaAas, aad, aam, arpl, bound, daa, das } from './legacy.js';
import { lockedInsn, mfence } from './locked.js';
import {
  cbw,
  cmpxchg,
  cmpxchg8b,
  cwd,
  lahf,
  lea,
  movAMoffs,
  movExtend,
  movRI,
  movRmI,
  movRmR,
  movRRm,
  sahf,
  salc,
  xadd,
  xchg,
  xlat,
} from './mov.js';
import { divAcc, imulForm, mulAcc } from './muldiv.js';
import { memAddr } from './operand.js';
import { segmentOps } from './segment-ops.js';
import { shift32, shiftDouble, shiftForm } from './shift.js';
import { emms, execSse } from './sse.js';
import {
  enter,
  leave,
  popa,
  popf,
  popReg,
  popRm,
  popSreg,
  pusha,
  pushf,
  pushImm,
  pushReg,
  pushRm,
  pushSreg,
} from './stack.js';
import { stringOp } from './string.js';
import {
  cacheOp,
  clflush,
  clts,
  cpuidInsn,
  descriptorQuery,
  hlt,
  intercepted,
  invlpg,
  lmsw,
  loadDtr,
  loadSystemSegment,
  movCr,
  movDr,
  rdmsrInsn,
  rdpid,
  rdrand,
  rdtsc,
  smsw,
  storeDtr,
  storeSystemSelector,
  swapgs,
  ud,
  wrmsrInsn,
  xgetbv,
  xsetbv,
} from './system.js';
import { execX87 } from './x87.js';

/** Execute one decoded instruction. cpu.rip already points at the next instruction. */
export function execute(cpu: Cpu, insn: Insn): void {
  const r32 = cpu.r32;
  switch (insn.op) {
    // ---- hot specialised forms (decoder: specialize()) ----
    case Op.MOV32_RR: {
      r32[insn.rm << 1] = r32[insn.reg << 1];
      r32[(insn.rm << 1) + 1] = 0;
      return;
    }
    case Op.MOV32_R_M: {
      const v = readLin32(cpu, memAddr(cpu, insn, 4, false));
      r32[insn.reg << 1] = v;
      r32[(insn.reg << 1) + 1] = 0;
      return;
    }
    case Op.MOV32_M_R:
      writeLin32(cpu, memAddr(cpu, insn, 4, true), r32[insn.reg << 1]);
      return;
    case Op.ALU32_RR: {
      const d = insn.rm << 1;
      const r = alu(cpu, insn.sub, r32[d], r32[insn.reg << 1], 4);
      if (insn.sub !== 7) {
        r32[d] = r;
        r32[d + 1] = 0;
      }
      return;
    }
    case Op.ALU32_RI: {
      const d = insn.rm << 1;
      const r = alu(cpu, insn.sub, r32[d], insn.imm, 4);
      if (insn.sub !== 7) {
        r32[d] = r;
        r32[d + 1] = 0;
      }
      return;
    }
    case Op.ALU32_R_M: {
      const d = insn.reg << 1;
      const r = alu(cpu, insn.sub, r32[d], readLin32(cpu, memAddr(cpu, insn, 4, false)), 4);
      if (insn.sub !== 7) {
        r32[d] = r;
        r32[d + 1] = 0;
      }
      return;
    }
    case Op.TEST32_RR: {
      const lf = cpu.lf;
      lf[LF_RES] = r32[insn.rm << 1] & r32[insn.reg << 1];
      lf[LF_DST] = 0;
      lf[LF_SRC] = 0;
      cpu.lfOp = LazyOp.LOGIC;
      cpu.lfSize = 4;
      return;
    }
    case Op.SHIFT32_RI: {
      const count = insn.imm & 31;
      const d = insn.rm << 1;
      if (count !== 0) r32[d] = shift32(cpu, insn.sub, r32[d], count, 4);
      r32[d + 1] = 0; // written even for a zero count
      return;
    }
    case Op.INC32_R:
    case Op.DEC32_R:
      unary(cpu, insn, insn.op === Op.INC32_R ? 0 : 1);
      return;
    case Op.JCC:
      jcc(cpu, insn);
      return;
    case Op.JMP_REL:
      jmpRel(cpu, insn);
      return;
    case Op.CALL_REL:
      callRel(cpu, insn);
      return;
    case Op.RET_NEAR:
      retNear(cpu, insn);
      return;
    case Op.NOP:
      return;

    // ---- integer ALU ----
    case Op.ALU_RM_R:
      aluForm(cpu, insn, true, false);
      return;
    case Op.ALU_R_RM:
      aluForm(cpu, insn, false, false);
      return;
    case Op.ALU_RM_I:
      aluForm(cpu, insn, true, true);
      return;
    case Op.TEST_RM_R:
      testForm(cpu, insn, false);
      return;
    case Op.TEST_RM_I:
      testForm(cpu, insn, true);
      return;
    case Op.INC_RM:
      unary(cpu, insn, 0);
      return;
    case Op.DEC_RM:
      unary(cpu, insn, 1);
      return;
    case Op.NOT_RM:
      unary(cpu, insn, 2);
      return;
    case Op.NEG_RM:
      unary(cpu, insn, 3);
      return;
    case Op.MUL_RM:
      mulAcc(cpu, insn, false);
      return;
    case Op.IMUL_RM:
      mulAcc(cpu, insn, true);
      return;
    case Op.DIV_RM:
      divAcc(cpu, insn, false);
      return;
    case Op.IDIV_RM:
      divAcc(cpu, insn, true);
      return;
    case Op.IMUL_R_RM:
      imulForm(cpu, insn, false);
      return;
    case Op.IMUL_R_RM_I:
      imulForm(cpu, insn, true);
      return;
    case Op.SHIFT_RM_I:
      shiftForm(cpu, insn, insn.imm);
      return;
    case Op.SHIFT_RM_CL:
      shiftForm(cpu, insn, cpu.r8[8]);
      return;
    case Op.SHLD:
      shiftDouble(cpu, insn, true);
      return;
    case Op.SHRD:
      shiftDouble(cpu, insn, false);
      return;
    case Op.BT_RM_R:
      btForm(cpu, insn, false);
      return;
    case Op.BT_RM_I:
      btForm(cpu, insn, true);
      return;
    case Op.BSF:
      bitScan(cpu, insn, false);
      return;
    case Op.BSR:
      bitScan(cpu, insn, true);
      return;
    case Op.TZCNT:
      bitCount(cpu, insn, false);
      return;
    case Op.LZCNT:
      bitCount(cpu, insn, true);
      return;
    case Op.POPCNT:
      popcnt(cpu, insn);
      return;
    case Op.SETCC:
      setcc(cpu, insn);
      return;
    case Op.CMOVCC:
      cmovcc(cpu, insn);
      return;

    // ---- data movement ----
    case Op.MOV_RM_R:
      movRmR(cpu, insn);
      return;
    case Op.MOV_R_RM:
      movRRm(cpu, insn);
      return;
    case Op.MOV_RM_I:
      movRmI(cpu, insn);
      return;
    case Op.MOV_R_I:
      movRI(cpu, insn);
      return;
    case Op.MOV_A_MOFFS:
      movAMoffs(cpu, insn, true);
      return;
    case Op.MOV_MOFFS_A:
      movAMoffs(cpu, insn, false);
      return;
    case Op.MOVZX:
      movExtend(cpu, insn, false);
      return;
    case Op.MOVSX:
    case Op.MOVSXD:
      movExtend(cpu, insn, true);
      return;
    case Op.LEA:
      lea(cpu, insn);
      return;
    case Op.XCHG_RM_R:
      xchg(cpu, insn, (insn.opcode & 0xf8) === 0x90);
      return;
    case Op.CMPXCHG:
      cmpxchg(cpu, insn);
      return;
    case Op.XADD:
      xadd(cpu, insn);
      return;
    case Op.CMPXCHG8B:
      cmpxchg8b(cpu, insn);
      return;
    case Op.LOCKED:
      lockedInsn(cpu, insn);
      return;
    case Op.BSWAP:
      bswap(cpu, insn);
      return;
    case Op.MOVBE_R_M:
      movbe(cpu, insn, true);
      return;
    case Op.MOVBE_M_R:
      movbe(cpu, insn, false);
      return;
    case Op.MOV_SREG_RM:
    case Op.MOV_RM_SREG:
    case Op.LFP:
      segmentOps(cpu, insn);
      return;
    case Op.LAHF:
      lahf(cpu);
      return;
    case Op.SAHF:
      sahf(cpu);
      return;
    case Op.CBW:
      cbw(cpu, insn);
      return;
    case Op.CWD:
      cwd(cpu, insn);
      return;
    case Op.XLAT:
      xlat(cpu, insn);
      return;
    case Op.SALC:
      salc(cpu);
      return;

    // ---- stack ----
    case Op.PUSH_R:
      pushReg(cpu, insn);
      return;
    case Op.POP_R:
      popReg(cpu, insn);
      return;
    case Op.PUSH_I:
      pushImm(cpu, insn);
      return;
    case Op.PUSH_RM:
      pushRm(cpu, insn);
      return;
    case Op.POP_RM:
      popRm(cpu, insn);
      return;
    case Op.PUSH_SREG:
      pushSreg(cpu, insn);
      return;
    case Op.POP_SREG:
      popSreg(cpu, insn);
      return;
    case Op.PUSHA:
      pusha(cpu, insn);
      return;
    case Op.POPA:
      popa(cpu, insn);
      return;
    case Op.PUSHF:
      pushf(cpu, insn);
      return;
    case Op.POPF:
      popf(cpu, insn);
      return;
    case Op.ENTER:
      enter(cpu, insn);
      return;
    case Op.LEAVE:
      leave(cpu, insn);
      return;

    // ---- strings ----
    case Op.MOVS:
    case Op.CMPS:
    case Op.STOS:
    case Op.LODS:
    case Op.SCAS:
    case Op.INS:
    case Op.OUTS:
      stringOp(cpu, insn);
      return;

    // ---- control transfer ----
    case Op.JCXZ:
      jcxz(cpu, insn);
      return;
    case Op.LOOP:
      loop(cpu, insn);
      return;
    case Op.JMP_RM:
      jmpRm(cpu, insn);
      return;
    case Op.CALL_RM:
      callRm(cpu, insn);
      return;
    case Op.RET_FAR:
      retFar(cpu, insn);
      return;
    case Op.JMP_FAR_PTR:
      jmpFarPtr(cpu, insn);
      return;
    case Op.CALL_FAR_PTR:
      callFarPtr(cpu, insn);
      return;
    case Op.JMP_FAR_M:
      farIndirect(cpu, insn, false);
      return;
    case Op.CALL_FAR_M:
      farIndirect(cpu, insn, true);
      return;
    case Op.IRET:
      iret(cpu, insn);
      return;
    case Op.INT_N:
      intN(cpu, insn);
      return;
    case Op.INT3:
      int3(cpu);
      return;
    case Op.INTO:
      into(cpu);
      return;
    case Op.INT1:
      int1(cpu);
      return;
    case Op.SYSCALL:
      syscall(cpu);
      return;
    case Op.SYSRET:
      sysret(cpu, insn);
      return;
    case Op.SYSENTER:
      sysenter(cpu);
      return;
    case Op.SYSEXIT:
      sysexit(cpu, insn);
      return;
    case Op.HLT:
      hlt(cpu);
      return;

    // ---- flags ----
    case Op.CLC:
      flushFlags(cpu);
      cpu.eflags &= ~CF;
      return;
    case Op.STC:
      flushFlags(cpu);
      cpu.eflags |= CF;
      return;
    case Op.CMC:
      flushFlags(cpu);
      cpu.eflags ^= CF;
      return;
    case Op.CLD:
      cpu.eflags &= ~DF;
      return;
    case Op.STD:
      cpu.eflags |= DF;
      return;
    case Op.CLI:
      cliSti(cpu, false);
      return;
    case Op.STI:
      cliSti(cpu, true);
      return;

    // ---- system ----
    case Op.CPUID:
      cpuidInsn(cpu);
      return;
    case Op.RDTSC:
      rdtsc(cpu, false);
      return;
    case Op.RDTSCP:
      rdtsc(cpu, true);
      return;
    case Op.RDMSR:
      rdmsrInsn(cpu);
      return;
    case Op.WRMSR:
      wrmsrInsn(cpu);
      return;
    case Op.RDPID:
      rdpid(cpu, insn);
      return;
    case Op.RDRAND:
      rdrand(cpu, insn);
      return;
    case Op.IN_I:
      inInsn(cpu, insn, false);
      return;
    case Op.IN_DX:
      inInsn(cpu, insn, true);
      return;
    case Op.OUT_I:
      outInsn(cpu, insn, false);
      return;
    case Op.OUT_DX:
      outInsn(cpu, insn, true);
      return;
    case Op.MOV_R_CR:
      movCr(cpu, insn, false);
      return;
    case Op.MOV_CR_R:
      movCr(cpu, insn, true);
      return;
    case Op.MOV_R_DR:
      movDr(cpu, insn, false);
      return;
    case Op.MOV_DR_R:
      movDr(cpu, insn, true);
      return;
    case Op.LGDT:
      loadDtr(cpu, insn, false);
      return;
    case Op.LIDT:
      loadDtr(cpu, insn, true);
      return;
    case Op.SGDT:
      storeDtr(cpu, insn, false);
      return;
    case Op.SIDT:
      storeDtr(cpu, insn, true);
      return;
    case Op.LLDT:
      loadSystemSegment(cpu, insn, false);
      return;
    case Op.LTR:
      loadSystemSegment(cpu, insn, true);
      return;
    case Op.SLDT:
      storeSystemSelector(cpu, insn, false);
      return;
    case Op.STR:
      storeSystemSelector(cpu, insn, true);
      return;
    case Op.SMSW:
      smsw(cpu, insn);
      return;
    case Op.LMSW:
      lmsw(cpu, insn);
      return;
    case Op.CLTS:
      clts(cpu);
      return;
    case Op.INVLPG:
      invlpg(cpu, insn);
      return;
    case Op.LAR:
      descriptorQuery(cpu, insn, 'lar');
      return;
    case Op.LSL:
      descriptorQuery(cpu, insn, 'lsl');
      return;
    case Op.VERR:
      descriptorQuery(cpu, insn, 'verr');
      return;
    case Op.VERW:
      descriptorQuery(cpu, insn, 'verw');
      return;
    case Op.SWAPGS:
      swapgs(cpu);
      return;
    case Op.WBINVD:
      cacheOp(cpu, InterceptKind.WBINVD);
      return;
    case Op.INVD:
      cacheOp(cpu, InterceptKind.INVD);
      return;
    case Op.CLFLUSH:
      clflush(cpu, insn);
      return;
    case Op.FENCE:
      if (insn.mem) ud(cpu);
      if ((insn.reg & 7) === 6) mfence(); // LFENCE orders nothing that TSO does not already
      return;
    case Op.XGETBV:
      xgetbv(cpu);
      return;
    case Op.XSETBV:
      xsetbv(cpu);
      return;
    case Op.PAUSE:
      intercepted(cpu, InterceptKind.PAUSE, 0, 0);
      return;
    case Op.VMMCALL:
    case Op.VMGEXIT:
      intercepted(cpu, insn.op === Op.VMMCALL ? InterceptKind.VMMCALL : InterceptKind.VMGEXIT, 0, 0);
      ud(cpu);
      return;
    case Op.VMCALL:
      intercepted(cpu, InterceptKind.VMCALL, 0, 0);
      ud(cpu);
      return;

    // ---- legacy modes only ----
    case Op.DAA:
      daa(cpu);
      return;
    case Op.DAS:
      das(cpu);
      return;
    case Op.AAA:
      aaaAas(cpu, true);
      return;
    case Op.AAS:
      aaaAas(cpu, false);
      return;
    case Op.AAM:
      aam(cpu, insn);
      return;
    case Op.AAD:
      aad(cpu, insn);
      return;
    case Op.BOUND:
      bound(cpu, insn);
      return;
    case Op.ARPL:
      arpl(cpu, insn);
      return;

    // ---- x87 control and SSE ----
    case Op.FNINIT:
    case Op.FNSTSW:
    case Op.FNSTCW:
    case Op.FLDCW:
    case Op.FWAIT:
    case Op.FNCLEX:
    case Op.FXSAVE:
    case Op.FXRSTOR:
    case Op.FPU:
    case Op.LDMXCSR:
    case Op.STMXCSR:
      execX87(cpu, insn);
      return;
    case Op.SSE_LOAD:
    case Op.SSE_STORE:
    case Op.MOVD_X_RM:
    case Op.MOVD_RM_X:
    case Op.MOVQ_X_XM:
    case Op.MOVQ_XM_X:
    case Op.MOV_HALF:
    case Op.SSE_LOGIC:
    case Op.PCMPEQ:
    case Op.PMOVMSKB:
    case Op.PADD:
    case Op.PSUB:
    case Op.PSHUFD:
    case Op.PUNPCKL:
    case Op.PMINMAXUB:
    case Op.PSRLDQ_I:
    case Op.PSLLDQ_I:
    case Op.PSHIFT_I:
    case Op.PCMPGT:
    case Op.PADDSAT:
    case Op.PSUBSAT:
    case Op.PMUL:
    case Op.PACK:
    case Op.PUNPCKH:
    case Op.PSHIFT_R:
      execSse(cpu, insn);
      return;
    case Op.EMMS:
      emms(cpu, insn);
      return;
  }
  // Op.UD and everything not offered (VMRUN & co. until the SVM layer intercepts them, MONITOR, ...).
  undefinedOpcode(cpu, insn);
}

/** #UD, after telling whoever asked which opcode it was. */
function undefinedOpcode(cpu: Cpu, insn: Insn): never {
  if (cpu.onUndefined !== null)
    cpu.onUndefined(cpu.rip - insn.len, insn.bytes ?? new Uint8Array(0), cpu.codeSize);
  return ud(cpu);
}
