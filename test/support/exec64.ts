/**
 * Runs ONE instruction in 64-bit mode (CPL 0, flat segments, identity paging) through src/cpu.
 * Contract shared by the native-oracle tests: the same inputs go to the host processor.
 *
 * - `code`: the instruction bytes (at most 15), placed at CODE_ADDR.
 * - `gpr`: 16 values in encoding order RAX RCX RDX RBX RSP RBP RSI RDI R8..R15.
 * - `rflags`: input RFLAGS (bit 1 is forced on, TF/IF/etc are ignored).
 * - `mem`: optional data region (at most 4 KiB) at `mem.addr` (must be inside [DATA_ADDR, DATA_ADDR+64 KiB)).
 * - `fx`: optional x87/MMX/SSE state, the first 160 to 416 bytes of an FXSAVE image (FCW, FSW,
 *   abridged tags, MXCSR, ST0-7, then XMM registers); without it the FNINIT state. The result's `fx` is the same image afterwards
 *   (pointer fields and reserved bytes zero).
 * Result: registers, RFLAGS, the data region after the instruction, and `fault` = the exception
 * vector the instruction raised (e.g. 0 for #DE, 6 for #UD) or null.
 */
import { flushBlocks } from '../../src/cpu/block.js';
import { Cpu, SEG_DB, SEG_G, SEG_L, SEG_P, SEG_S } from '../../src/cpu/cpu.js';
import { abridgedTags, fullTags } from '../../src/cpu/exec/x87.js';
import { getFlags } from '../../src/cpu/flags.js';
import { InterceptKind } from '../../src/cpu/ports.js';
import {
  CR0_NE,
  CR0_PE,
  CR0_PG,
  CR4_OSFXSR,
  CR4_PAE,
  CS,
  DS,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  EFER_SCE,
  ES,
  FS,
  GS,
  SS,
} from '../../src/cpu/regs.js';
import { run } from '../../src/cpu/run.js';
import { updateSegCheck } from '../../src/cpu/segment-check.js';
import { tlbFlushAll } from '../../src/cpu/tlb.js';

export const CODE_ADDR = 0x100000;
export const DATA_ADDR = 0x200000;
const PML4 = 0x300000;
const RAM = 4 * 1024 * 1024;

export interface Exec64Input {
  code: Uint8Array;
  gpr: bigint[];
  rflags: bigint;
  mem?: { addr: number; bytes: Uint8Array };
  fx?: Uint8Array;
  /** CR0 bits to set on top of PE PG NE ET (EM, TS, MP), or to clear (NE), for the x87/MMX checks. */
  cr0Set?: number;
  cr0Clear?: number;
}
export interface Exec64Result {
  gpr: bigint[];
  rflags: bigint;
  mem: Uint8Array | null;
  fault: number | null;
  fx: Uint8Array | null;
}

let machine: { cpu: Cpu; ram: Uint8Array; fault: number | null } | null = null;

/** One CPU reused for every case: building a Cpu costs far more than running one instruction. */
function getMachine() {
  if (machine) return machine;
  const buf = new SharedArrayBuffer(RAM);
  const ram = new Uint8Array(buf);
  const dv = new DataView(buf);
  // Identity map the first 1 GiB with 2 MiB pages: PML4[0] -> PDPT[0] -> PD.
  dv.setUint32(PML4, PML4 + 0x1000 + 3, true);
  dv.setUint32(PML4 + 0x1000, PML4 + 0x2000 + 3, true);
  for (let i = 0; i < 512; i++) dv.setUint32(PML4 + 0x2000 + i * 8, i * 0x200000 + 0x83, true);
  const cpu = new Cpu({
    ram: buf,
    io: { portRead: () => 0xffffffff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const m = { cpu, ram, fault: null as number | null };
  // Every exception is intercepted so it is reported instead of delivered through an IDT.
  cpu.intercept = {
    intercept(kind, info1) {
      if (kind === InterceptKind.EXCEPTION) {
        m.fault = info1;
        return true;
      }
      return false;
    },
  };
  cpu.interceptMask = 1 << InterceptKind.EXCEPTION;
  machine = m;
  return m;
}

function enterLongMode(cpu: Cpu): void {
  cpu.reset();
  cpu.cr0 = CR0_PE | CR0_PG | CR0_NE | 0x10; // NE as Linux runs: x87 errors raise #MF
  cpu.cr4 = CR4_PAE | CR4_OSFXSR;
  cpu.cr3 = PML4;
  cpu.efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
  for (const s of [ES, SS, DS, FS, GS]) {
    cpu.segSel[s] = 0x10;
    cpu.segBase[s] = 0;
    cpu.segLimit[s] = 0xffffffff;
    cpu.segAttr[s] = 0x93 | SEG_DB | SEG_G;
  }
  cpu.segSel[CS] = 0x08;
  cpu.segBase[CS] = 0;
  cpu.segLimit[CS] = 0xffffffff;
  cpu.segAttr[CS] = SEG_P | SEG_S | 0xb | SEG_L | SEG_G;
  cpu.cpl = 0;
  cpu.updateMode();
  for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
  tlbFlushAll(cpu);
}

export function exec64(input: Exec64Input): Exec64Result {
  const m = getMachine();
  const { cpu, ram } = m;
  enterLongMode(cpu);
  flushBlocks(cpu);
  // HLT right after the instruction: the two form one block, so with HVEMU_TIER2=eager the
  // instruction runs in compiled form (with its flags live, as HLT could expose them).
  ram.fill(0xf4, CODE_ADDR, CODE_ADDR + 32);
  ram.set(input.code, CODE_ADDR);
  ram.fill(0, DATA_ADDR, DATA_ADDR + 0x10000);
  if (input.mem) ram.set(input.mem.bytes, input.mem.addr);
  for (let i = 0; i < 16; i++) cpu.r64[i] = input.gpr[i];
  cpu.eflags = (Number(input.rflags & 0xffffffffn) & 0x00000cd5) | 2;
  cpu.lfOp = 0;
  if (input.fx) loadFx(cpu, input.fx);
  cpu.cr0 = (cpu.cr0 | (input.cr0Set ?? 0)) & ~(input.cr0Clear ?? 0);
  cpu.rip = CODE_ADDR;
  m.fault = null;
  run(cpu, 2);
  const gpr: bigint[] = [];
  for (let i = 0; i < 16; i++) gpr.push(cpu.r64[i]);
  const mem = input.mem ? ram.slice(input.mem.addr, input.mem.addr + input.mem.bytes.length) : null;
  return {
    gpr,
    rflags: BigInt(getFlags(cpu)),
    mem,
    fault: m.fault,
    fx: input.fx ? saveFx(cpu, input.fx.length) : null,
  };
}

/** The x87/MMX state from an FXSAVE image, as FXRSTOR64 loads it (tags recomputed). */
function loadFx(cpu: Cpu, fx: Uint8Array): void {
  const v = new DataView(fx.buffer, fx.byteOffset, fx.byteLength);
  cpu.fcw = (v.getUint16(0, true) & 0x1f3f) | 0x40;
  cpu.fsw = v.getUint16(2, true);
  cpu.mxcsr = v.getUint32(24, true);
  for (let i = 0; i < 8; i++) cpu.st.set(fx.subarray(32 + 16 * i, 42 + 16 * i), 10 * i);
  cpu.ftw = fullTags(cpu, fx[4]);
  cpu.xmm8.fill(0);
  cpu.xmm8.set(fx.subarray(160));
}

function saveFx(cpu: Cpu, len: number): Uint8Array {
  const fx = new Uint8Array(len);
  const v = new DataView(fx.buffer);
  v.setUint16(0, cpu.fcw, true);
  v.setUint16(2, cpu.fsw, true);
  fx[4] = abridgedTags(cpu.ftw);
  v.setUint32(24, cpu.mxcsr, true);
  for (let i = 0; i < 8; i++) fx.set(cpu.st.subarray(10 * i, 10 * i + 10), 32 + 16 * i);
  fx.set(cpu.xmm8.subarray(0, len - 160), 160);
  return fx;
}
