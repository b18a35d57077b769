// The processor's architectural state and its wiring to the machine. The execution loop lives in
// run.ts, address translation in mmu.ts, instruction semantics in exec/.

import type { Block } from './block.js';
import type { BusLock } from './bus-lock.js';
import { CodeCache, nextChainEpoch } from './code-cache.js';
import { type CpuidFeatures, defaultFeatures } from './cpuid.js';
import { LazyOp } from './flags.js';
import type { MsrHandler } from './msr.js';
import type { InterceptPort, InterruptController, IoBus, MemoryEncryption, MmioBus } from './ports.js';
import { CR0_CD, CR0_ET, CR0_NW, CR0_PE, CR0_PG, CS, DS, EFER_LMA, ES, FS, GS, SS } from './regs.js';
import { NTLB_SIZE, TLB_SIZE, tlbFlushAll } from './tlb.js';

export type Vendor = 'AuthenticAMD' | 'GenuineIntel';

// Segment attribute bits, in the VMCB's 12-bit packing of descriptor bits 40-47 and 52-55.
export const SEG_TYPE = 0xf,
  SEG_S = 1 << 4,
  SEG_DPL_SHIFT = 5,
  SEG_P = 1 << 7;
export const SEG_AVL = 1 << 8,
  SEG_L = 1 << 9,
  SEG_DB = 1 << 10,
  SEG_G = 1 << 11;
/** Not an architectural bit: the cache holds a null selector (protected mode). */
export const SEG_UNUSABLE = 1 << 16;

export interface CpuOptions {
  vendor?: Vendor;
  /** Guest-physical RAM, shared so vCPU workers can see it. */
  ram: SharedArrayBuffer | ArrayBuffer;
  io: IoBus;
  mmio: MmioBus;
  apicId?: number;
  /** The decoded-code cache shared with the other processors on the same RAM (a VM's vCPUs). */
  codeCache?: CodeCache;
}

/** Raised through the interpreter for a guest exception; caught once per block (see run.ts). */
export const FAULT = { kind: 'fault' } as const;
/** Raised when an intercept fired: the instruction did not execute, the exit is recorded. */
export const VMEXIT = { kind: 'vmexit' } as const;

export class Cpu {
  readonly vendor: Vendor;
  readonly apicId: number;
  /** Feature bits the machine layers add to CPUID (cpuid.ts). */
  readonly features: CpuidFeatures = defaultFeatures();

  // ---- general registers: one buffer, several views (regs.ts names the indices) ----
  readonly regBuf = new ArrayBuffer(16 * 8);
  /** GPR i low half at [2i], high half at [2i+1]. */
  readonly r32 = new Int32Array(this.regBuf);
  readonly r64 = new BigUint64Array(this.regBuf);
  readonly ri64 = new BigInt64Array(this.regBuf);
  /** GPR i low word at [4i]. */
  readonly r16 = new Uint16Array(this.regBuf);
  /** GPR i low byte at [8i]; AH..BH at [8(i-4)+1]. */
  readonly r8 = new Uint8Array(this.regBuf);
  /** Instruction pointer: EIP/IP as an unsigned number, RIP as a signed canonical number. */
  rip = 0;

  // ---- flags ----
  /** RFLAGS; its arithmetic bits are stale while lfOp !== NONE (flags.ts). */
  eflags = 2;
  readonly lfBuf = new ArrayBuffer(8 * 4);
  readonly lf = new Int32Array(this.lfBuf);
  readonly lf64 = new BigUint64Array(this.lfBuf);
  lfOp: LazyOp = LazyOp.NONE;
  /** Operand size of the last lazy op in bytes: 1, 2, 4, 8. */
  lfSize = 4;
  /** CF (INC/DEC) or CF|OF|AF (RESULT) carried over by the last lazy op. */
  lfCarry = 0;
  /** Flags a PARTIAL lazy op set (flags.ts), and the op saved under it. */
  lfPartialMask = 0;
  readonly lfSaved = new Int32Array(6);
  lfSavedOp: LazyOp = LazyOp.NONE;
  lfSavedSize = 4;
  lfSavedCarry = 0;
  /** 64-bit scratch words for memory operands and wide arithmetic. */
  readonly tmpBuf = new ArrayBuffer(8 * 4);
  readonly t32 = new Int32Array(this.tmpBuf);
  readonly t64 = new BigUint64Array(this.tmpBuf);
  readonly ti64 = new BigInt64Array(this.tmpBuf);

  // ---- segment descriptor caches: ES CS SS DS FS GS LDTR TR ----
  readonly segSel = new Uint16Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Float64Array(8);
  readonly segAttr = new Uint32Array(8);
  /** Why an access to the segment needs the slow check (segment-check.ts), 0 for the fast path. */
  readonly segCheck = new Uint8Array(8);
  gdtrBase = 0;
  gdtrLimit = 0xffff;
  idtrBase = 0;
  idtrLimit = 0xffff;
  cpl = 0;

  // ---- control, debug and model-specific registers ----
  cr0 = CR0_ET | CR0_CD | CR0_NW;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  /** Task priority (CR8 in 64-bit mode), bits 3:0. */
  cr8 = 0;
  efer = 0;
  readonly dr = new Float64Array(8);
  /** DR7 enables a breakpoint: the run loop steps one instruction at a time (debug.ts). */
  breakpointsArmed = false;
  /** DR7 enables a data breakpoint: the slow memory paths check accesses (debug.ts). */
  dataBreakpoints = false;
  /** B0-B3 of data breakpoints the current instruction hit (reported as a #DB trap after it). */
  dbHits = 0;
  /** MOV SS/POP SS hold debug exceptions until after the next instruction (SDM vol 3 6.8.3). */
  dbShadow = false;
  /** DR6 bits of a #DB trap held by that shadow. */
  dbHeld = 0;
  xcr0 = 1;
  readonly msr = new Map<number, bigint>();
  /** MSR ranges owned by other layers (x2APIC, SVM, SEV-ES), asked first. */
  readonly msrHandlers: MsrHandler[] = [];
  tscOffset = 0;
  // SYSCALL/SYSENTER MSRs kept as plain numbers for the hot paths.
  star = 0n;
  lstar = 0;
  cstar = 0;
  sfmask = 0;
  kernelGsBase = 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  tscAux = 0;
  /** State of the deterministic RDRAND generator. */
  rngState = 0x2545f491;
  apicBase = 0xfee00900; // enabled, BSP; cleared for APs by the machine
  pat = 0x0007040600070406n;

  // ---- x87 and SSE ----
  fcw = 0x37f;
  fsw = 0;
  ftw = 0xffff;
  readonly fpuBuf = new ArrayBuffer(8 * 10 + 16 * 16);
  /** XMM0-15 as 32-bit lanes: register i at [4i..4i+3]. */
  readonly xmm = new Int32Array(this.fpuBuf, 80, 64);
  readonly xmm8 = new Uint8Array(this.fpuBuf, 80, 256);
  /** ST0-7 raw 80-bit images (only saved/restored, no arithmetic). */
  readonly st = new Uint8Array(this.fpuBuf, 0, 80);
  mxcsr = 0x1f80;

  // ---- execution mode, recomputed by updateMode() ----
  /** Code size of CS: 16, 32 or 64. */
  codeSize = 16;
  /** Stack address size: 2, 4 or 8 bytes. */
  stackSize = 2;
  /** 32-bit stack in a flat SS (base 0, limit 4 GiB, plain data): pushes skip the segment checks. */
  stackFlat32 = false;
  /** EFER.LMA set (long mode, 64-bit or compatibility). */
  longMode = false;
  /** Protected mode (CR0.PE). */
  protectedMode = false;
  /** Paging enabled (CR0.PG). */
  paging = false;

  // ---- events ----
  halted = false;
  /** Nonzero: the run loop must look at events before the next block. */
  attention = 0;
  /** Interrupt shadow after STI / MOV SS / POP SS: interrupts stay blocked for one instruction. */
  interruptShadow = false;
  nmiPending = false;
  nmiBlocked = false;
  /** Instructions retired (the virtual clock of the deterministic scheduler). */
  icount = 0;

  // ---- the exception being raised (set before throwing FAULT) ----
  excVector = -1;
  excError = 0;
  excHasError = false;
  /** Human-readable chain of the last exceptions, for triple-fault reports. */
  readonly excHistory: string[] = [];

  // ---- the machine around the core ----
  readonly ramBytes: number;
  readonly ram: DataView;
  readonly ram8: Uint8Array;
  /** RAM as aligned little-endian dwords (tier 2's inline loads and stores; the host is little-endian). */
  readonly ram32: Int32Array;
  /** RAM as words and qwords for the locked accesses' Atomics (exec/locked.ts). */
  readonly ram16: Uint16Array;
  readonly ram64: BigInt64Array;
  /**
   * The machine's bus lock (bus-lock.ts) and this processor's slot in it; null for a processor
   * alone on its thread with its RAM (then a split lock needs no one else's agreement).
   */
  busLock: BusLock | null = null;
  busSlot = 0;
  io: IoBus;
  mmio: MmioBus;
  intc: InterruptController | null = null;
  intercept: InterceptPort | null = null;
  /** Bit (1 << InterceptKind) set: ask `intercept` at that point. */
  interceptMask = 0;
  /**
   * Nested paging (SVM NPT): host-physical address of the nested PML4, or -1 when off. The SVM
   * world switch sets it from N_CR3; guest-physical addresses then go through nestedTranslate().
   */
  nptRoot = -1;
  /** Host EFER.NXE: the NX bit of nested entries applies. */
  nptNxe = true;
  /**
   * EPT (Intel VMX, SDM vol 3C 28.2): host-physical address of the EPT PML4 table, or -1 when off.
   * The VMX world switch sets it from the EPT pointer; guest-physical addresses then go through
   * eptTranslate(). At most one of nptRoot and eptRoot is set.
   */
  eptRoot = -1;
  /** The guest-linear address whose translation is under way while EPT is on (for EPT-violation exits). */
  eptLinear = 0;
  /**
   * The hypervisor's instruction emulation (KVM's x86_emulate_instruction, done here by borrowing
   * the interpreter for one instruction): a guest-physical address with no nested mapping reaches
   * the MmioBus at MMIO_ASSIST_BASE + gpa instead of ending the run with #NPF.
   */
  mmioAssist = false;
  /**
   * SEV (set by the SVM world switch for an SEV guest, else null): the C-bit in guest-physical
   * addresses and the memory controller that keeps private pages decrypted only for the guest.
   */
  memCrypt: MemoryEncryption | null = null;
  /** A20 gate: bit 20 of every physical address is ANDed with this. */
  a20Mask = -1;
  /** Told about every #UD from an undefined or unimplemented opcode: its RIP, bytes and code size (debug option). */
  onUndefined: ((rip: number, bytes: Uint8Array, codeSize: number) => void) | null = null;

  // ---- software TLB (tlb.ts) ----
  readonly tlbTag = new Float64Array(TLB_SIZE * 6).fill(Number.NaN);
  readonly tlbPhys = new Float64Array(TLB_SIZE * 6);
  /** Bit 0: global page; bit 1: part of a large page. */
  readonly tlbGlobal = new Uint8Array(TLB_SIZE * 6);
  /** The second way (tlb.ts): what the first evicted, looked at only on a first-way miss. */
  readonly tlbTag2 = new Float64Array(TLB_SIZE * 6).fill(Number.NaN);
  readonly tlbPhys2 = new Float64Array(TLB_SIZE * 6);
  readonly tlbGlobal2 = new Uint8Array(TLB_SIZE * 6);
  tlbHasLarge = false;
  /**
   * Guest-physical to host-physical translations under nested paging or EPT (tlb.ts, NTLB_SIZE
   * entries, direct-mapped): the hardware's nested TLB. Guest page walks read their tables through
   * it, so a TLB miss costs one nested walk at most instead of one per guest paging entry.
   */
  readonly nTlbTag = new Float64Array(NTLB_SIZE).fill(Number.NaN);
  readonly nTlbPage = new Float64Array(NTLB_SIZE);
  /** What the cached walk allowed: NTLB_READ, NTLB_WRITE (and the dirty bit set), NTLB_EXEC. */
  readonly nTlbPerm = new Uint8Array(NTLB_SIZE);
  /** Offset of the TLB bank in use for data reads / writes (supervisor or user). */
  tlbRead = 0;
  tlbWrite = TLB_SIZE;

  // ---- decoded-block cache (block.ts, code-cache.ts; shared by the processors of one machine) ----
  readonly code: CodeCache;
  readonly blockTable: (Block | null)[];
  /** Per physical page: the 128-byte chunks that hold decoded code (block.ts), 0 for none. */
  readonly codePages: Int32Array;
  readonly pageBlocks: Map<number, Block[]>;
  /**
   * Bumped whenever linear-to-physical translation or the code mode may have changed (TLB flush,
   * CS load, mode switch): block-to-block links made in an older epoch are not followed.
   */
  chainEpoch = nextChainEpoch();

  constructor(opts: CpuOptions) {
    this.vendor = opts.vendor ?? 'AuthenticAMD';
    this.apicId = opts.apicId ?? 0;
    this.ram = new DataView(opts.ram);
    this.ram8 = new Uint8Array(opts.ram);
    this.ram32 = new Int32Array(opts.ram, 0, opts.ram.byteLength >>> 2);
    this.ram16 = new Uint16Array(opts.ram, 0, Math.floor(opts.ram.byteLength / 2));
    this.ram64 = new BigInt64Array(opts.ram, 0, Math.floor(opts.ram.byteLength / 8));
    this.ramBytes = opts.ram.byteLength;
    this.code = opts.codeCache ?? new CodeCache(this.ramBytes);
    this.code.cpus.push(this);
    this.blockTable = this.code.blockTable;
    this.codePages = this.code.codePages;
    this.pageBlocks = this.code.pageBlocks;
    this.io = opts.io;
    this.mmio = opts.mmio;
    this.reset();
  }

  /** RESET state (AMD APM vol 2 14.1.3, Intel SDM vol 3 Table 10-1), CS:IP = F000:FFF0. */
  reset(): void {
    this.r32.fill(0);
    this.r32[2 * 2] = 0x600; // EDX: family/model/stepping
    this.rip = 0xfff0;
    this.eflags = 2;
    this.lfOp = LazyOp.NONE;
    for (let s = 0; s < 8; s++) {
      this.segSel[s] = 0;
      this.segBase[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segAttr[s] = SEG_P | SEG_S | 3; // read/write data, accessed
    }
    this.segAttr[CS] = SEG_P | SEG_S | 0xb; // execute/read code, accessed
    this.segSel[CS] = 0xf000;
    this.segBase[CS] = 0xffff0000;
    this.segAttr[6] = SEG_P | 2; // LDT
    this.segAttr[7] = SEG_P | 3; // busy 16-bit TSS
    this.gdtrBase = this.idtrBase = 0;
    this.gdtrLimit = this.idtrLimit = 0xffff;
    this.cpl = 0;
    this.cr0 = CR0_ET | CR0_CD | CR0_NW;
    this.cr2 = this.cr3 = this.cr4 = this.cr8 = 0;
    this.efer = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0;
    this.dr[7] = 0x400;
    this.breakpointsArmed = this.dataBreakpoints = this.dbShadow = false;
    this.dbHits = this.dbHeld = 0;
    this.xcr0 = 1;
    this.fcw = 0x37f;
    this.fsw = 0;
    this.ftw = 0xffff;
    this.mxcsr = 0x1f80;
    this.xmm.fill(0);
    this.halted = false;
    this.interruptShadow = false;
    this.nmiPending = false;
    this.nmiBlocked = false;
    this.segCheck.fill(0); // real mode: only the cached limits apply
    tlbFlushAll(this);
    this.updateMode();
  }

  /** Recompute the cached mode fields after CR0, EFER or CS/SS changes. */
  updateMode(): void {
    this.chainEpoch = nextChainEpoch();
    this.protectedMode = (this.cr0 & CR0_PE) !== 0;
    this.paging = (this.cr0 & CR0_PG) !== 0;
    this.longMode = (this.efer & EFER_LMA) !== 0;
    const csAttr = this.segAttr[CS];
    if (this.longMode && csAttr & SEG_L) this.codeSize = 64;
    else this.codeSize = csAttr & SEG_DB ? 32 : 16;
    if (this.codeSize === 64) this.stackSize = 8;
    else this.stackSize = this.segAttr[SS] & SEG_DB ? 4 : 2;
    this.stackFlat32 =
      this.stackSize === 4 &&
      this.segBase[SS] === 0 &&
      this.segLimit[SS] === 0xffffffff &&
      this.protectedMode &&
      (this.segAttr[SS] & 0x1c) === 0x10 /* data, expand-up */ &&
      (this.segAttr[SS] & 2) !== 0;
    this.tlbRead = this.cpl === 3 ? TLB_SIZE * 3 : 0;
    this.tlbWrite = this.tlbRead + TLB_SIZE;
  }

  /** Real-mode (and virtual-8086) segment load: base = selector << 4, attributes kept (unreal mode). */
  loadSegReal(seg: number, sel: number): void {
    this.segSel[seg] = sel;
    this.segBase[seg] = sel << 4;
    if (seg === CS) {
      this.segAttr[CS] &= ~(SEG_DB | SEG_L);
      this.chainEpoch = nextChainEpoch();
    }
  }

  /** The A20 gate (port 0x92, keyboard controller): off masks physical address bit 20. */
  setA20(on: boolean): void {
    const mask = on ? -1 : ~(1 << 20);
    if (mask !== this.a20Mask) {
      this.a20Mask = mask;
      tlbFlushAll(this);
    }
  }

  // ---- 64-bit register helpers (not for hot paths) ----
  getReg(i: number): bigint {
    return this.r64[i];
  }
  setReg(i: number, v: bigint): void {
    this.r64[i] = v;
  }
  /** Register i as a number, for values known to fit (addresses, counts). */
  regNum(i: number): number {
    return this.r32[2 * i + 1] * 4294967296 + (this.r32[2 * i] >>> 0);
  }
}

export const DATA_SEGS = [ES, SS, DS, FS, GS] as const;
