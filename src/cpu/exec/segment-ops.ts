// MOV Sreg, r/m; MOV r/m, Sreg; LDS/LES/LSS/LFS/LGS.
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { readLin16, readLin32, readLin64 } from '../mmu.js';
import { Op } from '../ops.js';
import { CS, SS } from '../regs.js';
import { loadDataSegment } from '../segments.js';
import { memAddr, readRM, setReg, writeRM } from './operand.js';
import { ud } from './system.js';

export function segmentOps(cpu: Cpu, insn: Insn): void {
  switch (insn.op) {
    case Op.MOV_SREG_RM: {
      const seg = insn.reg & 7;
      if (seg === CS || seg > 5) ud(cpu);
      loadDataSegment(cpu, seg, readRM(cpu, insn, 2) & 0xffff);
      if (seg === SS) cpu.interruptShadow = cpu.dbShadow = true;
      return;
    }
    case Op.MOV_RM_SREG: {
      const seg = insn.reg & 7;
      if (seg > 5) ud(cpu);
      // A register destination is zero-extended at the operand size; memory takes 16 bits.
      if (insn.mem) writeRM(cpu, insn, 2, cpu.segSel[seg]);
      else if (insn.size === 8) {
        cpu.r32[insn.rm << 1] = cpu.segSel[seg];
        cpu.r32[(insn.rm << 1) + 1] = 0;
      } else setReg(cpu, insn.rm, insn.size, cpu.segSel[seg]);
      return;
    }
    default: {
      // LFP: far pointer m16:16/32/64 into seg:reg
      const size = insn.size;
      const lin = memAddr(cpu, insn, size + 2, false);
      let lo: number,
        hi = 0;
      if (size === 8) {
        lo = readLin64(cpu, lin);
        hi = cpu.t32[7];
      } else lo = size === 4 ? readLin32(cpu, lin) : readLin16(cpu, lin);
      const sel = readLin16(cpu, lin + size);
      loadDataSegment(cpu, insn.sub, sel);
      if (size === 8) {
        cpu.r32[insn.reg << 1] = lo;
        cpu.r32[(insn.reg << 1) + 1] = hi;
      } else setReg(cpu, insn.reg, size, lo);
    }
  }
}
