/**
 * A bare 32-bit protected-mode machine for event tests: CPL 0, flat 4 GiB code (0x08) and data
 * (0x10) segments from a real GDT (gate delivery reads it), an IDT of 256 not-present gates,
 * paging off, 1 MiB of RAM. Code goes anywhere in RAM; `gate()` installs 32-bit gates.
 */
import { flushBlocks } from '../../src/cpu/block.js';
import type { CodeCache } from '../../src/cpu/code-cache.js';
import { Cpu, SEG_DB, SEG_G } from '../../src/cpu/cpu.js';
import type { InterruptController } from '../../src/cpu/ports.js';
import { CR0_PE, CS, DS, ES, FS, GS, SS } from '../../src/cpu/regs.js';
import { updateSegCheck } from '../../src/cpu/segment-check.js';

export const GDT = 0x1000;
export const IDT = 0x2000;
export const STACK_TOP = 0x80000;
export const RAM_BYTES = 1 << 20;

export interface Pm32 {
  cpu: Cpu;
  ram: Uint8Array;
  dv: DataView;
  /** Install a 32-bit gate: `type` 0xE interrupt gate (clears IF), 0xF trap gate. */
  gate(vector: number, offset: number, type?: 0xe | 0xf): void;
  /** Copy code bytes into RAM (and drop decoded blocks). */
  load(addr: number, bytes: number[]): void;
}

/** `opts`: RAM and a code cache to share with another processor (by default its own of each). */
export function makePm32(opts: { ram?: SharedArrayBuffer; codeCache?: CodeCache } = {}): Pm32 {
  const buf = opts.ram ?? new SharedArrayBuffer(RAM_BYTES);
  const ram = new Uint8Array(buf);
  const dv = new DataView(buf);
  const cpu = new Cpu({
    ram: buf,
    codeCache: opts.codeCache,
    io: { portRead: () => 0xffffffff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  // GDT: null, 0x08 code (base 0, limit 4 GiB, 32-bit, execute/read), 0x10 data (read/write).
  dv.setBigUint64(GDT + 8, 0x00cf9a000000ffffn, true);
  dv.setBigUint64(GDT + 16, 0x00cf92000000ffffn, true);
  cpu.gdtrBase = GDT;
  cpu.gdtrLimit = 23;
  cpu.idtrBase = IDT;
  cpu.idtrLimit = 256 * 8 - 1;
  cpu.cr0 |= CR0_PE;
  for (const s of [ES, SS, DS, FS, GS]) {
    cpu.segSel[s] = 0x10;
    cpu.segBase[s] = 0;
    cpu.segLimit[s] = 0xffffffff;
    cpu.segAttr[s] = 0x93 | SEG_DB | SEG_G;
  }
  cpu.segSel[CS] = 0x08;
  cpu.segBase[CS] = 0;
  cpu.segLimit[CS] = 0xffffffff;
  cpu.segAttr[CS] = 0x9b | SEG_DB | SEG_G;
  cpu.cpl = 0;
  cpu.updateMode();
  for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
  cpu.r32[4 * 2] = STACK_TOP; // ESP
  return {
    cpu,
    ram,
    dv,
    gate(vector, offset, type = 0xe) {
      dv.setUint32(IDT + vector * 8, (0x08 << 16) | (offset & 0xffff), true);
      dv.setUint32(IDT + vector * 8 + 4, ((offset & 0xffff0000) | 0x8000 | (type << 8)) >>> 0, true);
    },
    load(addr, bytes) {
      ram.set(bytes, addr);
      flushBlocks(cpu);
    },
  };
}

/** An interrupt controller with one level-style pending vector, recording acknowledgements. */
export class FakeIntc implements InterruptController {
  pending = -1;
  readonly acked: number[] = [];
  /** How many times the core asked (it must ask only when RFLAGS.IF = 1). */
  asked = 0;
  pendingVector(): number {
    this.asked++;
    return this.pending;
  }
  acknowledge(vector: number): void {
    this.acked.push(vector);
    this.pending = -1;
  }
}
