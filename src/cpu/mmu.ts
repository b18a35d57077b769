// Linear-to-physical translation (AMD APM vol 2 ch. 5; Intel SDM vol 3 ch. 4) and the linear
// memory accessors the instructions use. Fast path: one TLB compare and a DataView access.
import { chunkMask, invalidateCodeChunks } from './block.js';
import { type Cpu, FAULT, VMEXIT } from './cpu.js';
import { checkDataBreakpoints, dataBreakpointOnPage } from './debug.js';
import { InterceptKind, type MemoryEncryption } from './ports.js';
import { CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, EFER_NXE, PF_VEC } from './regs.js';
import {
  BANK_EXEC,
  BANK_READ,
  BANK_USER,
  BANK_WRITE,
  NTLB_EXEC,
  NTLB_READ,
  NTLB_WRITE,
  nTlbIndex,
  TLB_SIZE,
  tlbEnter,
  tlbIndex,
  tlbSecondWay,
} from './tlb.js';

/** Access kinds for translate(). */
export const ACC_READ = 0,
  ACC_WRITE = 1,
  ACC_USER = 2,
  ACC_EXEC = 4;
/** Accesses the processor makes for itself (descriptor tables, TSS): supervisor even at CPL 3. */
export const ACC_IMPLICIT = 8;

// #PF error code bits
const PFE_P = 1,
  PFE_W = 2,
  PFE_U = 4,
  PFE_RSVD = 8,
  PFE_ID = 16;
const TWO32 = 4294967296;

/** Raise #PF for `lin` with error code `err` (sets CR2). */
function pageFault(cpu: Cpu, lin: number, err: number): never {
  cpu.cr2 = lin;
  cpu.excVector = PF_VEC;
  cpu.excError = err;
  cpu.excHasError = true;
  throw FAULT;
}

/**
 * 32-bit read of a paging-structure entry at physical address `pa` (guest-physical when nested
 * paging is on: then the nested tables translate it, as a guest page-table access). Holes read as
 * all ones.
 */
function pte32(cpu: Cpu, pa: number): number {
  const mc = cpu.memCrypt;
  if (mc !== null && pa >= mc.cBitValue) pa -= mc.cBitValue;
  let hpa = a20(cpu, pa);
  if (cpu.nptRoot >= 0) hpa = nestedTranslate(cpu, pa, ACC_READ, true);
  else if (cpu.eptRoot >= 0) hpa = eptTranslate(cpu, pa, ACC_READ, true);
  if (hpa + 4 > cpu.ramBytes) return cpu.mmio.mmioRead(hpa, 4) | 0;
  if (mc !== null) mc.access(cpu, hpa, true); // SEV: guest page tables are read as private memory
  return cpu.ram.getInt32(hpa, true);
}
function setPteBits(cpu: Cpu, pa: number, bits: number): void {
  const mc = cpu.memCrypt;
  if (mc !== null && pa >= mc.cBitValue) pa -= mc.cBitValue;
  let hpa = a20(cpu, pa);
  if (cpu.nptRoot >= 0) hpa = nestedTranslate(cpu, pa, ACC_WRITE, true);
  else if (cpu.eptRoot >= 0) {
    // An EPT write access only when the bits really change (SDM 28.2.3.2: the A/D update is a write).
    hpa = eptTranslate(cpu, pa, ACC_READ, true);
    if (hpa + 4 <= cpu.ramBytes && (cpu.ram.getInt32(hpa, true) & bits) === bits) return;
    hpa = eptTranslate(cpu, pa, ACC_WRITE, true);
  }
  if (hpa + 4 <= cpu.ramBytes) {
    const v = cpu.ram.getInt32(hpa, true);
    if ((v & bits) !== bits) cpu.ram.setInt32(hpa, v | bits, true);
  }
}

/** Page size of the last translate() (4096, or a large page), for the TLB's INVLPG bookkeeping. */
let lastPageLarge = false;
let lastPageGlobal = false;

/**
 * Walk the paging structures for `lin`; returns the physical address (host-physical under nested
 * paging), setting accessed and dirty bits, or raises #PF with the architectural error code
 * (or stops with #NPF under nested paging).
 */
export function translate(cpu: Cpu, lin: number, acc: number): number {
  if (cpu.eptRoot >= 0) {
    cpu.eptLinear = lin;
    const hpa = eptTranslate(cpu, guestTranslate(cpu, lin, acc), acc, false);
    // No SEV under VMX: every access goes to the memory controller without a key.
    if (cpu.memCrypt !== null && hpa < cpu.ramBytes) cpu.memCrypt.access(cpu, hpa, false);
    return hpa;
  }
  const pa = guestTranslate(cpu, lin, acc);
  if (cpu.memCrypt !== null) return sevTranslate(cpu, pa, acc);
  return cpu.nptRoot < 0 ? pa : nestedTranslate(cpu, pa, acc, false);
}

/**
 * SEV (APM vol 2 15.34.5-6): the C-bit of the guest-physical address says private or shared and
 * is dropped before the nested walk. Instruction fetches, and every access while guest paging is
 * off, are private whatever the bit says.
 */
function sevTranslate(cpu: Cpu, pa: number, acc: number): number {
  const mc = cpu.memCrypt as MemoryEncryption;
  const cbit = pa >= mc.cBitValue;
  const gpa = cbit ? pa - mc.cBitValue : pa;
  const hpa = cpu.nptRoot < 0 ? gpa : nestedTranslate(cpu, gpa, acc, false);
  if (hpa < cpu.ramBytes) mc.access(cpu, hpa, cbit || (acc & ACC_EXEC) !== 0 || !cpu.paging);
  return hpa;
}

/** The guest's own walk: linear to (guest-)physical. */
function guestTranslate(cpu: Cpu, lin: number, acc: number): number {
  lastPageLarge = false;
  lastPageGlobal = false;
  if (!cpu.paging) return ((lin >>> 0) & cpu.a20Mask) >>> 0; // unsigned: addresses from 2 GiB up stay positive
  const write = (acc & ACC_WRITE) !== 0;
  const user = (acc & ACC_USER) !== 0;
  const exec = (acc & ACC_EXEC) !== 0;
  const nxe = (cpu.efer & EFER_NXE) !== 0;
  // I/D is reported only when execute-disable is in force: CR4.PAE = 1 and EFER.NXE = 1 (SDM vol 3 4.7).
  const errBase = (write ? PFE_W : 0) | (user ? PFE_U : 0) | (exec && nxe && cpu.cr4 & CR4_PAE ? PFE_ID : 0);
  let allowW = true,
    allowU = true,
    allowX = true;
  let pa: number;
  if (!(cpu.cr4 & CR4_PAE)) {
    // 32-bit paging: 10/10/12, 4 MiB pages with CR4.PSE.
    const l = lin >>> 0;
    const pdeAddr = ((cpu.cr3 & 0xfffff000) >>> 0) + ((l >>> 22) << 2); // >>> 0: tables at or above 2 GiB
    const pde = pte32(cpu, pdeAddr);
    if (!(pde & 1)) pageFault(cpu, lin, errBase);
    allowW = (pde & 2) !== 0;
    allowU = (pde & 4) !== 0;
    if (pde & 0x80 && cpu.cr4 & CR4_PSE) {
      // Bit 21 of a 4 MiB PDE is reserved (SDM vol 3 Table 4-4 and 4.7; APM vol 2 5.3.4).
      if (pde & 0x200000) pageFault(cpu, lin, errBase | PFE_P | PFE_RSVD);
      checkPerm(cpu, lin, errBase, write, user, allowW, allowU, true);
      setPteBits(cpu, pdeAddr, write ? 0x60 : 0x20);
      lastPageLarge = true;
      lastPageGlobal = (pde & 0x100) !== 0;
      pa = (pde & 0xffc00000) + (l & 0x3fffff);
    } else {
      const pteAddr = ((pde & 0xfffff000) >>> 0) + (((l >>> 12) & 0x3ff) << 2);
      const pte = pte32(cpu, pteAddr);
      if (!(pte & 1)) pageFault(cpu, lin, errBase);
      allowW = allowW && (pte & 2) !== 0;
      allowU = allowU && (pte & 4) !== 0;
      checkPerm(cpu, lin, errBase, write, user, allowW, allowU, true);
      setPteBits(cpu, pdeAddr, 0x20);
      setPteBits(cpu, pteAddr, write ? 0x60 : 0x20);
      lastPageGlobal = (pte & 0x100) !== 0;
      pa = (pte & 0xfffff000) + (l & 0xfff);
    }
    return ((pa >>> 0) & cpu.a20Mask) >>> 0;
  }
  // PAE and 4-level paging: 64-bit entries. Reserved physical-address bits 63:MAXPHYADDR (48)
  // unless NX; bit 63 is reserved without EFER.NXE.
  const rsvdHi = nxe ? 0x7fff0000 : 0xffff0000 | 0;
  let tableBase: number;
  let levels: number;
  if (cpu.longMode) {
    tableBase = physPage(cpu.cr3);
    levels = 4;
  } else {
    // PAE: the PDPTE comes from CR3[31:5].
    const l = lin >>> 0;
    const pdpteAddr = (cpu.cr3 & 0xffffffe0) + ((l >>> 30) << 3);
    const lo = pte32(cpu, pdpteAddr);
    const hi = pte32(cpu, pdpteAddr + 4);
    if (!(lo & 1)) pageFault(cpu, lin, errBase);
    if (lo & 0x1e6 || hi & 0xffff0000) pageFault(cpu, lin, errBase | PFE_P | PFE_RSVD);
    tableBase = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    levels = 2;
  }
  // Index bits for each level: 4-level uses 47:39, 38:30, 29:21, 20:12.
  const l48 = lin < 0 ? lin + 281474976710656 : lin; // bits 47:0 as a non-negative number
  const lHi = Math.floor(l48 / TWO32);
  const lLo = l48 >>> 0;
  const addrs = walkAddrs;
  for (let level = levels; level >= 1; level--) {
    const idx = tableIndex(lHi, lLo, level);
    const entAddr = tableBase + idx * 8;
    addrs[level] = entAddr;
    const lo = pte32(cpu, entAddr);
    const hi = pte32(cpu, entAddr + 4);
    if (!(lo & 1)) pageFault(cpu, lin, errBase);
    if (hi & rsvdHi) pageFault(cpu, lin, errBase | PFE_P | PFE_RSVD);
    allowW = allowW && (lo & 2) !== 0;
    allowU = allowU && (lo & 4) !== 0;
    if (hi < 0) allowX = false;
    const ps = (lo & 0x80) !== 0;
    if (level === 4 && ps) pageFault(cpu, lin, errBase | PFE_P | PFE_RSVD);
    if (level > 1 && ps && level <= 3) {
      // 1 GiB (level 3) or 2 MiB (level 2) page; PAT bit 12 and the low frame bits must be 0.
      const size = level === 3 ? 1073741824 : 2097152;
      const lowMask = (level === 3 ? 0x3fffe000 : 0x1fe000) | 0;
      if (lo & lowMask) pageFault(cpu, lin, errBase | PFE_P | PFE_RSVD);
      checkPerm(cpu, lin, errBase, write, user, allowW, allowU, allowX || !exec || !nxe);
      for (let up = levels; up > level; up--) setPteBits(cpu, addrs[up], 0x20);
      setPteBits(cpu, entAddr, write ? 0x60 : 0x20);
      lastPageLarge = true;
      lastPageGlobal = (lo & 0x100) !== 0;
      const frame = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
      return a20(cpu, frame - (frame % size) + (l48 % size));
    }
    const next = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    if (level === 1) {
      checkPerm(cpu, lin, errBase, write, user, allowW, allowU, allowX || !exec || !nxe);
      for (let up = levels; up > 1; up--) setPteBits(cpu, addrs[up], 0x20);
      setPteBits(cpu, entAddr, write ? 0x60 : 0x20);
      lastPageGlobal = (lo & 0x100) !== 0;
      return a20(cpu, next + (l48 % 4096));
    }
    tableBase = next;
  }
  throw new Error('unreachable: page walk fell through');
}
const walkAddrs = new Float64Array(5);

/**
 * The 9-bit table index of paging level `level` (1: bits 20:12 ... 4: bits 47:39) of the address
 * whose bits 63:32 are `hi` and 31:0 `lo`: integer shifts, no floating-point division per level.
 */
function tableIndex(hi: number, lo: number, level: number): number {
  switch (level) {
    case 1:
      return (lo >>> 12) & 511;
    case 2:
      return (lo >>> 21) & 511;
    case 3:
      return ((lo >>> 30) | (hi << 2)) & 511;
    default:
      return (hi >>> 7) & 511;
  }
}

function a20(cpu: Cpu, pa: number): number {
  return cpu.a20Mask === -1 ? pa : pa - (pa % TWO32) + (((pa % TWO32) & cpu.a20Mask) >>> 0);
}

// ---------------------------------------------------------------- nested paging (AMD APM vol 2 15.25)

/** #NPF EXITINFO1 bits beyond the page-fault error code (APM vol 2 15.25.6). */
const NPF_FINAL = 4294967296; // bit 32: fault on the final guest-physical address
const NPF_WALK = 8589934592; // bit 33: fault on a guest page-table access

/**
 * Guest-physical to host-physical through the nested tables at cpu.nptRoot (4-level long-mode
 * format). Every nested access counts as a user access; a missing, reserved or protected entry
 * ends the guest's run with #NPF, reported through the intercept port.
 */
export function nestedTranslate(cpu: Cpu, gpa: number, acc: number, walk: boolean): number {
  const gpn = Math.floor(gpa / 4096);
  const ni = nTlbIndex(gpn);
  const need = acc & ACC_WRITE ? NTLB_WRITE : acc & ACC_EXEC ? NTLB_EXEC : NTLB_READ;
  if (cpu.nTlbTag[ni] === gpn && (cpu.nTlbPerm[ni] & need) !== 0) return cpu.nTlbPage[ni] + (gpa & 0xfff);
  return nestedWalk(cpu, gpa, acc, walk);
}

/** The nested walk behind nestedTranslate's cache, which it fills. */
function nestedWalk(cpu: Cpu, gpa: number, acc: number, walk: boolean): number {
  const write = (acc & ACC_WRITE) !== 0;
  const exec = (acc & ACC_EXEC) !== 0;
  const err = (write ? PFE_W : 0) | PFE_U | (exec && cpu.nptNxe ? PFE_ID : 0);
  const rsvdHi = cpu.nptNxe ? 0x7fff0000 : 0xffff0000 | 0;
  let table = cpu.nptRoot;
  let allowW = true;
  let allowU = true;
  let allowX = true;
  const gHi = Math.floor(gpa / TWO32);
  const gLo = gpa >>> 0;
  for (let level = 4; level >= 1; level--) {
    const ent = table + tableIndex(gHi, gLo, level) * 8;
    const inRam = ent + 8 <= cpu.ramBytes;
    // The tables are the host's: read with the host's key (APM 15.34.5), whatever the guest's.
    if (inRam && cpu.memCrypt !== null) cpu.memCrypt.access(cpu, ent, false);
    const lo = inRam ? cpu.ram.getInt32(ent, true) : -1;
    const hi = inRam ? cpu.ram.getInt32(ent + 4, true) : -1;
    if (!(lo & 1)) return nestedMiss(cpu, gpa, err, walk);
    const ps = (lo & 0x80) !== 0;
    if (hi & rsvdHi || (level === 4 && ps)) return nestedMiss(cpu, gpa, err | PFE_P | PFE_RSVD, walk);
    allowW = allowW && (lo & 2) !== 0;
    allowU = allowU && (lo & 4) !== 0;
    if (hi < 0) allowX = false;
    const frame = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    if (level === 1 || ((level === 2 || level === 3) && ps)) {
      if (!allowU || (write && !allowW) || (exec && !allowX && cpu.nptNxe)) {
        nestedFault(cpu, gpa, err | PFE_P, walk);
      }
      // Accessed (and dirty on writes) in the leaf; the upper levels get accessed below.
      const bits = write ? 0x60 : 0x20;
      if ((lo & bits) !== bits && inRam) cpu.ram.setInt32(ent, lo | bits, true);
      const size = level === 1 ? 4096 : level === 2 ? 2097152 : 1073741824;
      const hpa = frame - (frame % size) + (gpa % size);
      // Cached with the rights that need no further walk: writes only once the dirty bit is set.
      const ni = nTlbIndex(Math.floor(gpa / 4096));
      cpu.nTlbTag[ni] = Math.floor(gpa / 4096);
      cpu.nTlbPage[ni] = hpa - (hpa % 4096);
      cpu.nTlbPerm[ni] =
        NTLB_READ |
        (allowW && (write || lo & 0x40) ? NTLB_WRITE : 0) |
        (allowX || !cpu.nptNxe ? NTLB_EXEC : 0);
      return hpa;
    }
    if (!(lo & 0x20) && inRam) cpu.ram.setInt32(ent, lo | 0x20, true);
    table = frame;
  }
  throw new Error('unreachable: nested walk fell through');
}

/** Where emulated MMIO accesses appear on the MmioBus (above any host RAM): MMIO_ASSIST_BASE + gpa. */
export const MMIO_ASSIST_BASE = 2 ** 48;

/**
 * A guest-physical address with no nested mapping (not present, or the reserved-bit pattern a
 * hypervisor uses to mark MMIO): the MMIO-assist address during emulation, else #NPF.
 */
function nestedMiss(cpu: Cpu, gpa: number, err: number, walk: boolean): number {
  if (cpu.mmioAssist && !walk) return MMIO_ASSIST_BASE + gpa;
  return nestedFault(cpu, gpa, err, walk);
}

function nestedFault(cpu: Cpu, gpa: number, err: number, walk: boolean): never {
  cpu.intercept?.intercept(InterceptKind.NPF, err + (walk ? NPF_WALK : NPF_FINAL), gpa);
  throw VMEXIT;
}

// ---------------------------------------------------------------- EPT (Intel SDM vol 3C 28.2)
// Sections are the 2016 edition's (as in src/vmx/vmcs-fields.ts); later editions have EPT in 29.3.

/** EPT-violation exit qualification bits (SDM Table 27-7). */
export const EPT_QUAL_READ = 1,
  EPT_QUAL_WRITE = 2,
  EPT_QUAL_FETCH = 4,
  EPT_QUAL_READABLE = 8,
  EPT_QUAL_WRITABLE = 16,
  EPT_QUAL_EXECUTABLE = 32,
  /** The guest-linear address field is valid (every access of this core has one). */
  EPT_QUAL_GLA_VALID = 128,
  /** With GLA_VALID: the access was to the final translation, not to a guest paging-structure entry. */
  EPT_QUAL_GLA_FINAL = 256;

/**
 * Guest-physical to host-physical through the EPT paging structures at cpu.eptRoot (4 levels,
 * SDM 28.2.2): bit 0 read, bit 1 write, bit 2 execute in every level; bit 7 maps a 2 MiB (PDE) or
 * 1 GiB (PDPTE) page; bits 5:3 are the leaf's memory type. An entry with bits 2:0 clear is not
 * present (EPT violation); write-only or write/execute, a reserved bit, or a reserved memory type
 * is an EPT misconfiguration (28.2.3.1). Execute-only entries are allowed (IA32_VMX_EPT_VPID_CAP
 * bit 0); there are no EPT accessed/dirty flags and no mode-based execute control.
 */
export function eptTranslate(cpu: Cpu, gpa: number, acc: number, walk: boolean): number {
  const need = acc & ACC_WRITE ? 2 : acc & ACC_EXEC ? 4 : 1;
  const gpn = Math.floor(gpa / 4096);
  const ni = nTlbIndex(gpn);
  if (cpu.nTlbTag[ni] === gpn && (cpu.nTlbPerm[ni] & need) !== 0) return cpu.nTlbPage[ni] + (gpa & 0xfff);
  return eptWalk(cpu, gpa, acc, walk, need);
}

/** The EPT walk behind eptTranslate's cache, which it fills (EPT read/write/execute are NTLB_*). */
function eptWalk(cpu: Cpu, gpa: number, acc: number, walk: boolean, need: number): number {
  let table = cpu.eptRoot;
  let rwx = 7; // logical AND of bits 2:0 along the walk
  const gHi = Math.floor(gpa / TWO32);
  const gLo = gpa >>> 0;
  for (let level = 4; level >= 1; level--) {
    const ent = table + tableIndex(gHi, gLo, level) * 8;
    const inRam = ent + 8 <= cpu.ramBytes;
    // The tables are the host's: read with the host's key (APM 15.34.5), whatever the guest's.
    if (inRam && cpu.memCrypt !== null) cpu.memCrypt.access(cpu, ent, false);
    const lo = inRam ? cpu.ram.getInt32(ent, true) : -1;
    const hi = inRam ? cpu.ram.getInt32(ent + 4, true) : -1;
    rwx &= lo;
    if ((lo & 7) === 0) {
      // Not present: during the hypervisor's emulation the access goes to its MMIO devices.
      if (cpu.mmioAssist && !walk) return MMIO_ASSIST_BASE + gpa;
      eptViolation(cpu, gpa, acc, 0, walk);
    }
    const large = (lo & 0x80) !== 0 && level !== 1;
    const leaf = level === 1 || ((level === 2 || level === 3) && large);
    // Reserved: bits 51:48 (MAXPHYADDR 48); bits 7:3 of a PML4E and of a PDPTE or PDE that points
    // to a table (bit 7 clear there); memory type 2, 3 or 7 in a leaf; the frame's low bits of a
    // large page.
    let bad = (lo & 7) === 2 || (lo & 7) === 6 || (hi & 0x000f0000) !== 0;
    if (level === 4) bad ||= (lo & 0xf8) !== 0;
    else if (!leaf) bad ||= (lo & 0x78) !== 0;
    else {
      const mt = (lo >>> 3) & 7;
      bad ||= mt === 2 || mt === 3 || mt === 7;
      if (level === 3) bad ||= (lo & 0x3ffff000) !== 0;
      else if (level === 2) bad ||= (lo & 0x1ff000) !== 0;
    }
    if (bad) eptMisconfig(cpu, gpa);
    const frame = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    if (leaf) {
      if (!(rwx & need)) eptViolation(cpu, gpa, acc, rwx, walk);
      const size = level === 1 ? 4096 : level === 2 ? 2097152 : 1073741824;
      const hpa = frame - (frame % size) + (gpa % size);
      const ni = nTlbIndex(Math.floor(gpa / 4096));
      cpu.nTlbTag[ni] = Math.floor(gpa / 4096);
      cpu.nTlbPage[ni] = hpa - (hpa % 4096);
      cpu.nTlbPerm[ni] = rwx & 7;
      return hpa;
    }
    table = frame;
  }
  throw new Error('unreachable: EPT walk fell through');
}

function eptViolation(cpu: Cpu, gpa: number, acc: number, rwx: number, walk: boolean): never {
  const qual =
    (acc & ACC_WRITE ? EPT_QUAL_WRITE : acc & ACC_EXEC ? EPT_QUAL_FETCH : EPT_QUAL_READ) |
    ((rwx & 7) << 3) |
    EPT_QUAL_GLA_VALID |
    (walk ? 0 : EPT_QUAL_GLA_FINAL);
  cpu.intercept?.intercept(InterceptKind.EPT_VIOLATION, qual, gpa);
  throw VMEXIT;
}

function eptMisconfig(cpu: Cpu, gpa: number): never {
  cpu.intercept?.intercept(InterceptKind.EPT_MISCONFIG, 0, gpa);
  throw VMEXIT;
}

function physPage(cr3: number): number {
  // CR3 bits 51:12 (kept as a number; PCID bits 11:0 ignored).
  return cr3 - (cr3 % 4096);
}

function checkPerm(
  cpu: Cpu,
  lin: number,
  errBase: number,
  write: boolean,
  user: boolean,
  allowW: boolean,
  allowU: boolean,
  allowX: boolean,
): void {
  if (user && !allowU) pageFault(cpu, lin, errBase | PFE_P);
  if (write && !allowW && (user || cpu.cr0 & CR0_WP)) pageFault(cpu, lin, errBase | PFE_P);
  if (!allowX) pageFault(cpu, lin, errBase | PFE_P);
}

/** Translate and enter the page into the TLB bank for `acc`; returns the physical address. */
export function translateFill(cpu: Cpu, lin: number, acc: number): number {
  const lpn = Math.floor(lin / 4096);
  const bankBase =
    ((acc & ACC_USER ? BANK_USER : 0) + (acc & ACC_EXEC ? BANK_EXEC : acc & ACC_WRITE ? BANK_WRITE : 0)) *
    TLB_SIZE;
  // The bank's second way first: a page the first way evicted comes back without a walk.
  const cached = tlbSecondWay(cpu, bankBase, lpn);
  if (cached >= 0) return cached + (lin & 0xfff);
  const pa = translate(cpu, lin, acc);
  const page = pa - (pa % 4096);
  if (page + 4096 <= cpu.ramBytes) {
    const share = cpu.code.share;
    // Code in another thread's cache too: its stores must reach physWrite (code-share.ts).
    const isCode = cpu.codePages[page / 4096] !== 0 || (share !== null && share.code[page / 4096] !== 0);
    if (!(acc & ACC_WRITE && isCode) && !(cpu.dataBreakpoints && dataBreakpointOnPage(cpu, lpn))) {
      tlbEnter(
        cpu,
        bankBase + tlbIndex(lpn),
        lpn,
        page,
        (lastPageGlobal && cpu.cr4 & CR4_PGE ? 1 : 0) | (lastPageLarge ? 2 : 0),
      );
      if (lastPageLarge) cpu.tlbHasLarge = true;
    }
  }
  return pa;
}

// ---------------------------------------------------------------- physical access

export function physRead(cpu: Cpu, pa: number, size: number): number {
  if (pa + size <= cpu.ramBytes) {
    switch (size) {
      case 1:
        return cpu.ram8[pa];
      case 2:
        return cpu.ram.getUint16(pa, true);
      default:
        return cpu.ram.getInt32(pa, true);
    }
  }
  const v = cpu.mmio.mmioRead(pa, size);
  return size === 4 ? v | 0 : v;
}

export function physWrite(cpu: Cpu, pa: number, size: number, v: number): void {
  if (pa + size <= cpu.ramBytes) {
    const ppn = Math.floor(pa / 4096);
    const code = cpu.codePages[ppn];
    if (code !== 0) {
      const off = pa & 0xfff;
      const written = chunkMask(off, Math.min(off + size, 4096) - 1);
      if (code & written) invalidateCodeChunks(cpu, ppn, written);
    }
    switch (size) {
      case 1:
        cpu.ram8[pa] = v;
        break;
      case 2:
        cpu.ram.setUint16(pa, v, true);
        break;
      default:
        cpu.ram.setInt32(pa, v, true);
        break;
    }
    // After the store: a thread that sees the new generation then reads the new bytes.
    const share = cpu.code.share;
    if (share !== null && share.code[ppn] !== 0) {
      const off = pa & 0xfff;
      share.written(ppn, chunkMask(off, Math.min(off + size, 4096) - 1));
    }
    return;
  }
  cpu.mmio.mmioWrite(pa, size, size === 4 ? v >>> 0 : v);
}

// ---------------------------------------------------------------- linear access
// `acc` for the slow path: ACC_USER is set by the caller's privilege (cpu.tlbRead !== 0).

function userAcc(cpu: Cpu): number {
  return cpu.tlbRead !== 0 ? ACC_USER : 0;
}

function readSlow(cpu: Cpu, lin: number, size: number, acc: number): number {
  if (cpu.dataBreakpoints && !(acc & ACC_EXEC)) checkDataBreakpoints(cpu, lin, size, false);
  const off = lin & 0xfff;
  if (off + size > 4096) {
    // Crosses a page: both pages are translated before anything is read (either may fault).
    let v = 0;
    const pa0 = translateFill(cpu, lin, acc);
    const pa1 = translateFill(cpu, lin + (4096 - off), acc);
    for (let i = size - 1; i >= 0; i--) {
      const pa = i < 4096 - off ? pa0 + i : pa1 + (i - (4096 - off));
      v = (v << 8) | physRead(cpu, pa, 1);
    }
    return size === 4 ? v | 0 : v >>> 0;
  }
  return physRead(cpu, translateFill(cpu, lin, acc), size);
}

function writeSlow(cpu: Cpu, lin: number, size: number, v: number, acc: number): void {
  if (cpu.dataBreakpoints) checkDataBreakpoints(cpu, lin, size, true);
  const off = lin & 0xfff;
  if (off + size > 4096) {
    const pa0 = translateFill(cpu, lin, acc | ACC_WRITE);
    const pa1 = translateFill(cpu, lin + (4096 - off), acc | ACC_WRITE);
    for (let i = 0; i < size; i++) {
      const pa = i < 4096 - off ? pa0 + i : pa1 + (i - (4096 - off));
      physWrite(cpu, pa, 1, (v >>> (i * 8)) & 0xff);
    }
    return;
  }
  physWrite(cpu, translateFill(cpu, lin, acc | ACC_WRITE), size, v);
}

export function readLin8(cpu: Cpu, lin: number): number {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbRead + tlbIndex(lpn);
  if (cpu.tlbTag[i] === lpn) return cpu.ram8[cpu.tlbPhys[i] + (lin & 0xfff)];
  return readSlow(cpu, lin, 1, userAcc(cpu));
}
export function readLin16(cpu: Cpu, lin: number): number {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbRead + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off <= 4094) return cpu.ram.getUint16(cpu.tlbPhys[i] + off, true);
  return readSlow(cpu, lin, 2, userAcc(cpu));
}
/** 32-bit read, returned as a signed int32. */
export function readLin32(cpu: Cpu, lin: number): number {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbRead + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off <= 4092) return cpu.ram.getInt32(cpu.tlbPhys[i] + off, true);
  return readSlow(cpu, lin, 4, userAcc(cpu));
}
/** 64-bit read: returns the low half, leaves the high half in cpu.t32[7]. */
export function readLin64(cpu: Cpu, lin: number): number {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbRead + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off <= 4088) {
    const pa = cpu.tlbPhys[i] + off;
    cpu.t32[7] = cpu.ram.getInt32(pa + 4, true);
    return cpu.ram.getInt32(pa, true);
  }
  // Translate both halves before reading either, so a fault leaves nothing half-done.
  if (off > 4088) readSlow(cpu, lin + 7, 1, userAcc(cpu));
  const lo = readSlow(cpu, lin, 4, userAcc(cpu));
  cpu.t32[7] = readSlow(cpu, lin + 4, 4, userAcc(cpu));
  return lo;
}

export function writeLin8(cpu: Cpu, lin: number, v: number): void {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbWrite + tlbIndex(lpn);
  if (cpu.tlbTag[i] === lpn) {
    cpu.ram8[cpu.tlbPhys[i] + (lin & 0xfff)] = v;
    return;
  }
  writeSlow(cpu, lin, 1, v, userAcc(cpu));
}
export function writeLin16(cpu: Cpu, lin: number, v: number): void {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbWrite + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off <= 4094) {
    cpu.ram.setUint16(cpu.tlbPhys[i] + off, v, true);
    return;
  }
  writeSlow(cpu, lin, 2, v & 0xffff, userAcc(cpu));
}
export function writeLin32(cpu: Cpu, lin: number, v: number): void {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbWrite + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off <= 4092) {
    cpu.ram.setInt32(cpu.tlbPhys[i] + off, v, true);
    return;
  }
  writeSlow(cpu, lin, 4, v, userAcc(cpu));
}
export function writeLin64(cpu: Cpu, lin: number, lo: number, hi: number): void {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbWrite + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off <= 4088) {
    const pa = cpu.tlbPhys[i] + off;
    cpu.ram.setInt32(pa, lo, true);
    cpu.ram.setInt32(pa + 4, hi, true);
    return;
  }
  // Probe both ends for write first: no partial store if the second page faults.
  probeWrite(cpu, lin, 8);
  writeSlow(cpu, lin, 4, lo, userAcc(cpu));
  writeSlow(cpu, lin + 4, 4, hi, userAcc(cpu));
}

/**
 * Where a locked read-modify-write of `size` bytes at `lin` lands in RAM: translated for a write
 * before anything is read (a locked access reads with intent to write, so a read-only page faults
 * with a write #PF even when CMPXCHG's compare then fails). Under SEV the translation leaves the
 * page in the form the access's key sees, so the bytes there are what the atomic must act on.
 * -1 when the access crosses a page or is not in RAM: the caller takes the bus lock instead.
 */
export function lockedPhys(cpu: Cpu, lin: number, size: number): number {
  const off = lin & 0xfff;
  if (off + size > 4096) return -1;
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbWrite + tlbIndex(lpn);
  if (cpu.tlbTag[i] === lpn) return cpu.tlbPhys[i] + off;
  if (cpu.dataBreakpoints) checkDataBreakpoints(cpu, lin, size, true);
  const pa = translateFill(cpu, lin, userAcc(cpu) | ACC_WRITE);
  if (pa + size > cpu.ramBytes) return -1;
  // A code page never enters a write bank: drop the decoded code this write lands on, as physWrite does.
  const ppn = Math.floor(pa / 4096);
  const code = cpu.codePages[ppn];
  if (code !== 0) {
    const written = chunkMask(off, off + size - 1);
    if (code & written) invalidateCodeChunks(cpu, ppn, written);
  }
  const share = cpu.code.share;
  if (share !== null && share.code[ppn] !== 0) share.written(ppn, chunkMask(off, off + size - 1));
  return pa;
}

/**
 * Translate [lin, lin+size) for a locked write without writing: both pages before anything is
 * read, a fault on the second reported at its first byte (as a crossing read or write does).
 */
export function lockedProbe(cpu: Cpu, lin: number, size: number): void {
  if (cpu.dataBreakpoints) checkDataBreakpoints(cpu, lin, size, true);
  const acc = userAcc(cpu) | ACC_WRITE;
  translate(cpu, lin, acc);
  const off = lin & 0xfff;
  if (off + size > 4096) translate(cpu, lin + (4096 - off), acc);
}

/** Make sure [lin, lin+size) is writable (raises the fault a write would), without writing. */
export function probeWrite(cpu: Cpu, lin: number, size: number): void {
  const acc = userAcc(cpu) | ACC_WRITE;
  translate(cpu, lin, acc);
  if ((lin & 0xfff) + size > 4096) translate(cpu, lin + size - 1, acc);
}

/** Accesses the processor makes for itself (GDT, IDT, TSS): supervisor rights at any CPL. */
export function readSys(cpu: Cpu, lin: number, size: number): number {
  // Through the supervisor read bank first: exception delivery reads the IDT every time (and an
  // SEV-ES guest takes a #VC for every port access).
  const lpn = Math.floor(lin / 4096);
  const i = BANK_READ * TLB_SIZE + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off + size <= 4096) return physRead(cpu, cpu.tlbPhys[i] + off, size);
  return readSlow(cpu, lin, size, 0);
}
export function writeSys(cpu: Cpu, lin: number, size: number, v: number): void {
  const lpn = Math.floor(lin / 4096);
  const i = BANK_WRITE * TLB_SIZE + tlbIndex(lpn);
  const off = lin & 0xfff;
  if (cpu.tlbTag[i] === lpn && off + size <= 4096) physWrite(cpu, cpu.tlbPhys[i] + off, size, v);
  else writeSlow(cpu, lin, size, v, 0);
}

/** Physical address of the instruction byte at `lin` (execute access). */
export function translateExec(cpu: Cpu, lin: number): number {
  const lpn = Math.floor(lin / 4096);
  const i = cpu.tlbRead + 2 * TLB_SIZE + tlbIndex(lpn);
  if (cpu.tlbTag[i] === lpn) return cpu.tlbPhys[i] + (lin & 0xfff);
  return translateFill(cpu, lin, userAcc(cpu) | ACC_EXEC);
}
