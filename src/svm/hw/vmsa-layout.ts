// The SEV-ES VM save area (VMSA; AMD APM vol 2 Table B-4, Linux struct sev_es_save_area): the guest's
// whole register state in one encrypted page. Its first part has the legacy save area's layout
// (segments, control registers, RIP, RSP, RAX, the SYSCALL MSRs at the same offsets), so the world
// switch reads those with the VMCB save-area accessors; the rest (the other GPRs, x87/SSE) is here.
import type { Cpu } from '../../cpu/cpu.js';
import { type ControlBlockMemory, fillControlBlock } from '../../host/host-memory.js';
import { VMCB_SAVE_AREA_OFFSET, Vmcb } from '../vmcb-layout.js';

const TWO32 = 2 ** 32;

/** VMSA offsets of the GPRs in encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15). */
export const VMSA_GPR = Object.freeze([
  0x1f8, 0x308, 0x310, 0x318, 0x1d8, 0x328, 0x330, 0x338, 0x340, 0x348, 0x350, 0x358, 0x360, 0x368, 0x370,
  0x378,
]);
export const VMSA_DR0 = 0x180; // DR0-DR3, 8 bytes each
export const VMSA_TSC_AUX = 0x2ec;
export const VMSA_SEV_FEATURES = 0x3b0;
export const VMSA_XCR0 = 0x3e8;
export const VMSA_MXCSR = 0x408;
export const VMSA_X87_FTW = 0x40c;
export const VMSA_X87_FSW = 0x40e;
export const VMSA_X87_FCW = 0x410;
export const VMSA_X87_REGS = 0x420; // 8 x 80 bits
export const VMSA_XMM = 0x470; // XMM0-15, 16 bytes each
/** Linux struct sev_es_save_area is 0x670 bytes; the rest of the page is reserved. */
export const VMSA_SIZE = 0x670;
// The same offsets as 32-bit word indices (the world switch's view). FTW and FSW share a word;
// FCW is the low half of the next.
const GPR_W = VMSA_GPR.map((o) => o / 4);
const DR0_W = VMSA_DR0 / 4;
const TSC_AUX_W = VMSA_TSC_AUX / 4;
const XCR0_W = VMSA_XCR0 / 4;
const MXCSR_W = VMSA_MXCSR / 4;
const FTW_FSW_W = VMSA_X87_FTW / 4;
const FCW_W = VMSA_X87_FCW / 4;
const X87_REGS_W = VMSA_X87_REGS / 4;

/** The save-area accessors (VMCB offsets 0x400+) over a VMSA page at `vmsaPa`. */
export function vmsaSaveArea(view: ControlBlockMemory, vmsaPa: number): Vmcb {
  return new Vmcb(view, vmsaPa - VMCB_SAVE_AREA_OFFSET, true);
}

/**
 * The hypervisor's plaintext VMSA before LAUNCH_UPDATE_VMSA (as KVM's sev_es_sync_vmsa): the
 * processor's RESET state (APM vol 2 14.1.3) with CS:IP as the caller says (the BSP at F000:FFF0 with
 * base FFFF0000, an AP at its SEV-ES reset block address), EFER.SVME set as VMRUN requires.
 */
export function writeInitialVmsa(
  view: ControlBlockMemory,
  vmsaPa: number,
  cs: { selector: number; base: number; ip: number },
  edx: number,
): void {
  fillControlBlock(view, vmsaPa, 4096);
  const s = vmsaSaveArea(view, vmsaPa);
  for (const seg of ['es', 'ss', 'ds', 'fs', 'gs'] as const)
    s.setSegment(seg, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
  s.setSegment('cs', { selector: cs.selector, attrib: 0x9b, limit: 0xffff, base: BigInt(cs.base) });
  s.setSegment('ldtr', { selector: 0, attrib: 0x82, limit: 0xffff, base: 0n });
  s.setSegment('tr', { selector: 0, attrib: 0x8b, limit: 0xffff, base: 0n });
  s.setSegment('gdtr', { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
  s.setSegment('idtr', { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
  s.set64('efer', 1n << 12n); // SVME
  s.set64('cr0', 0x60000010n); // CD NW ET
  s.set64('rflags', 2n);
  s.set64('rip', BigInt(cs.ip));
  s.set64('dr6', 0xffff0ff0n);
  s.set64('dr7', 0x400n);
  s.set64('g_pat', 0x0007040600070406n);
  view.setBigUint64(vmsaPa + VMSA_GPR[2], BigInt(edx >>> 0), true);
  view.setBigUint64(vmsaPa + VMSA_XCR0, 1n, true);
  view.setUint32(vmsaPa + VMSA_MXCSR, 0x1f80, true);
  view.setUint16(vmsaPa + VMSA_X87_FCW, 0x40, true);
  view.setUint16(vmsaPa + VMSA_X87_FTW, 0x5555, true);
}

const FPU_WORDS = (80 + 256) / 4;
/** The core's ST0-7 (80 bytes) and XMM0-15 (256 bytes), contiguous in its fpuBuf, as words (made once per processor). */
export function fpuWords(cpu: Cpu): Int32Array {
  if (cpu.st.byteOffset !== 0 || cpu.xmm8.byteOffset !== 80 || VMSA_XMM !== VMSA_X87_REGS + 80)
    throw new Error('x87/SSE layout is not the VMSA order');
  return new Int32Array(cpu.fpuBuf, 0, FPU_WORDS);
}

/** A vCPU's first state in 64-bit mode, as a 64-bit boot loader hands over (Linux boot.rst). */
export interface LongModeEntry {
  rip: number;
  rsi: number;
  cr3: number;
  gdtBase: number;
  gdtLimit: number;
  codeSelector: number;
  dataSelector: number;
}

/**
 * The plaintext VMSA of a vCPU that starts in long mode (paging on through `cr3`, flat 64-bit code
 * and data from the GDT, interrupts off, RSI as given): the RESET state of writeInitialVmsa with
 * what a 64-bit boot loader would have set before jumping.
 */
export function writeLongModeVmsa(
  view: ControlBlockMemory,
  vmsaPa: number,
  e: LongModeEntry,
  edx: number,
): void {
  writeInitialVmsa(view, vmsaPa, { selector: 0, base: 0, ip: e.rip }, edx);
  const s = vmsaSaveArea(view, vmsaPa);
  // attrib: type, S, DPL, P in bits 7:0; L = bit 9, D/B = bit 10, G = bit 11.
  s.setSegment('cs', { selector: e.codeSelector, attrib: 0xa9b, limit: 0xffffffff, base: 0n });
  for (const seg of ['es', 'ss', 'ds', 'fs', 'gs'] as const)
    s.setSegment(seg, { selector: e.dataSelector, attrib: 0xc93, limit: 0xffffffff, base: 0n });
  s.setSegment('gdtr', { selector: 0, attrib: 0, limit: e.gdtLimit, base: BigInt(e.gdtBase) });
  s.setSegment('idtr', { selector: 0, attrib: 0, limit: 0, base: 0n });
  s.set64('cr0', 0x80000033n); // PG NE ET MP PE
  s.set64('cr3', BigInt(e.cr3));
  s.set64('cr4', 0x20n); // PAE
  s.set64('efer', 0x1500n); // SVME LMA LME
  view.setBigUint64(vmsaPa + VMSA_GPR[6], BigInt(e.rsi), true);
}

/** VMRUN (hardware): the VMSA state the legacy save area does not hold. */
// The world switch moves the VMSA as 32-bit words of memory (`w`, the processor's view of DRAM; the
// host is little-endian, as x86): no BigInt, no DataView call per field (issue 12). `fpu` is fpuWords(cpu).
export function loadVmsaExtras(cpu: Cpu, w: Int32Array, vmsaPa: number, fpu: Int32Array): void {
  const r = cpu.r32;
  const v = vmsaPa / 4;
  for (let i = 0; i < 16; i++) {
    const at = v + GPR_W[i];
    r[2 * i] = w[at];
    r[2 * i + 1] = w[at + 1];
  }
  for (let i = 0; i < 4; i++) {
    const at = v + DR0_W + 2 * i;
    cpu.dr[i] = (w[at + 1] >>> 0) * TWO32 + (w[at] >>> 0);
  }
  cpu.tscAux = w[v + TSC_AUX_W] >>> 0;
  cpu.xcr0 = w[v + XCR0_W] >>> 0;
  cpu.mxcsr = w[v + MXCSR_W] >>> 0;
  const x87 = w[v + FTW_FSW_W];
  cpu.ftw = x87 & 0xffff;
  cpu.fsw = x87 >>> 16;
  cpu.fcw = w[v + FCW_W] & 0xffff;
  // ST0-7 and XMM0-15 follow each other in the VMSA as in the core's x87/SSE buffer: 84 words.
  const f = v + X87_REGS_W;
  for (let i = 0; i < FPU_WORDS; i++) fpu[i] = w[f + i];
}

/** #VMEXIT (hardware): store the rest of the state into the VMSA, then leave none of it in the processor. */
export function saveVmsaExtrasAndScrub(cpu: Cpu, w: Int32Array, vmsaPa: number, fpu: Int32Array): void {
  const r = cpu.r32;
  const v = vmsaPa / 4;
  for (let i = 0; i < 16; i++) {
    const at = v + GPR_W[i];
    w[at] = r[2 * i];
    w[at + 1] = r[2 * i + 1];
  }
  for (let i = 0; i < 4; i++) {
    const at = v + DR0_W + 2 * i;
    const d = cpu.dr[i];
    w[at] = d;
    w[at + 1] = d < TWO32 ? 0 : Math.floor(d / TWO32);
  }
  w[v + TSC_AUX_W] = cpu.tscAux;
  w[v + XCR0_W] = cpu.xcr0;
  w[v + XCR0_W + 1] = 0;
  w[v + MXCSR_W] = cpu.mxcsr;
  w[v + FTW_FSW_W] = (cpu.ftw & 0xffff) | ((cpu.fsw & 0xffff) << 16);
  w[v + FCW_W] = (w[v + FCW_W] & ~0xffff) | (cpu.fcw & 0xffff);
  const f = v + X87_REGS_W;
  for (let i = 0; i < FPU_WORDS; i++) w[f + i] = fpu[i];
  // The hypervisor runs next on this processor: it finds its own (here: zero or RESET) register
  // values, the x87/SSE control words and TSC_AUX included (a non-SEV guest run next on this
  // processor reads them with STMXCSR, FNSTCW, RDTSCP, XGETBV), and no record of its exceptions.
  cpu.r32.fill(0);
  cpu.xmm.fill(0);
  cpu.st.fill(0);
  cpu.mxcsr = 0x1f80;
  cpu.fcw = 0x37f;
  cpu.fsw = 0;
  cpu.ftw = 0xffff;
  cpu.xcr0 = 1;
  cpu.tscAux = 0;
  cpu.excHistory.length = 0; // the guest's exceptions, RIPs and error codes (a triple-fault report's)
  cpu.dr[0] = cpu.dr[1] = cpu.dr[2] = cpu.dr[3] = 0;
  cpu.rip = 0;
  cpu.eflags = 2;
  cpu.cr2 = 0;
}
