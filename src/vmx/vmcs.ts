// A VMCS region in host memory (SDM vol 3C 24.2, Table 24-1 "Format of the VMCS Region"): bytes 0-3
// hold the VMCS revision identifier (bits 30:0) and the shadow-VMCS indicator (bit 31), bytes 4-7 the
// VMX-abort indicator, and the rest is VMCS data in an implementation-specific format. Ours: a
// launch-state word at byte 8, then one 8-byte little-endian slot per supported field, in the order of
// VMCS_SUPPORTED_FIELDS. Every bit of state lives in the region, not in this object, so two Vmcs views
// of one region agree, and VMCLEAR/VMPTRLD can move a VMCS between logical processors.
// VMREAD/VMWRITE follow their SDM vol 2 operation sections: an encoding that names no field we support
// is VMfailValid(12), a VMWRITE to a read-only (VM-exit information) field VMfailValid(13), and the
// error number also lands in this VMCS's VM-instruction error field (it is the current VMCS).
import type { ControlBlockMemory } from '../host/host-memory.js';
import {
  VMCS_ENCODING_RESERVED_MASK,
  VMCS_FIELD,
  VMCS_TYPE_CONTROL,
  VMCS_TYPE_GUEST,
  VMCS_TYPE_READ_ONLY,
  VMCS_WIDTH_16,
  VMCS_WIDTH_32,
  VMCS_WIDTH_64,
  VMXERR_UNSUPPORTED_VMCS_COMPONENT,
  VMXERR_VMLAUNCH_NONCLEAR_VMCS,
  VMXERR_VMRESUME_NONLAUNCHED_VMCS,
  VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT,
  vmcsFieldIsHigh,
  vmcsFieldName,
  vmcsFieldType,
  vmcsFieldWidth,
} from './vmcs-fields.js';

export const VMCS_REGION_SIZE = 0x1000;
/** Ours; IA32_VMX_BASIC bits 30:0 report it and VMPTRLD compares against it (error 11). */
export const VMCS_REVISION_ID = 1;
export const VMCS_SHADOW_INDICATOR = 0x8000_0000;

const REVISION_OFFSET = 0;
const ABORT_OFFSET = 4;
const LAUNCH_STATE_OFFSET = 8; // our layout from here on
/**
 * Which groups of fields VMWRITE has changed since the processor last entered with this VMCS: a
 * processor keeps the current VMCS's state inside it (SDM 24.11.1: the region's format is its own),
 * and a VM entry on the VMCS it last exited from loads and checks again only what was written.
 */
const DIRTY_OFFSET = 12;
const DATA_OFFSET = 16;
const SLOT_BYTES = 8;
const LAUNCHED = 1;

const F = VMCS_FIELD;

/**
 * The fields this processor implements. A field is listed when the feature that uses it is emulated;
 * the rest of appendix B (posted interrupts, PML, VM functions, EOI-exit bitmaps, TPR shadow, APIC
 * virtualization, the preemption timer, PERF_GLOBAL_CTRL, BNDCFGS, SMM dual-monitor, ...) answer
 * VMREAD/VMWRITE with error 12, as on a processor without those features.
 */
export const VMCS_SUPPORTED_FIELDS: readonly number[] = Object.freeze([
  F.VIRTUAL_PROCESSOR_ID,
  F.GUEST_ES_SELECTOR,
  F.GUEST_CS_SELECTOR,
  F.GUEST_SS_SELECTOR,
  F.GUEST_DS_SELECTOR,
  F.GUEST_FS_SELECTOR,
  F.GUEST_GS_SELECTOR,
  F.GUEST_LDTR_SELECTOR,
  F.GUEST_TR_SELECTOR,
  F.HOST_ES_SELECTOR,
  F.HOST_CS_SELECTOR,
  F.HOST_SS_SELECTOR,
  F.HOST_DS_SELECTOR,
  F.HOST_FS_SELECTOR,
  F.HOST_GS_SELECTOR,
  F.HOST_TR_SELECTOR,
  F.IO_BITMAP_A,
  F.IO_BITMAP_B,
  F.MSR_BITMAP,
  F.VM_EXIT_MSR_STORE_ADDR,
  F.VM_EXIT_MSR_LOAD_ADDR,
  F.VM_ENTRY_MSR_LOAD_ADDR,
  F.TSC_OFFSET,
  F.EPT_POINTER,
  F.GUEST_PHYSICAL_ADDRESS,
  F.VMCS_LINK_POINTER,
  F.GUEST_IA32_DEBUGCTL,
  F.GUEST_IA32_PAT,
  F.GUEST_IA32_EFER,
  F.GUEST_PDPTR0,
  F.GUEST_PDPTR1,
  F.GUEST_PDPTR2,
  F.GUEST_PDPTR3,
  F.HOST_IA32_PAT,
  F.HOST_IA32_EFER,
  F.PIN_BASED_VM_EXEC_CONTROL,
  F.CPU_BASED_VM_EXEC_CONTROL,
  F.EXCEPTION_BITMAP,
  F.PAGE_FAULT_ERROR_CODE_MASK,
  F.PAGE_FAULT_ERROR_CODE_MATCH,
  F.CR3_TARGET_COUNT,
  F.VM_EXIT_CONTROLS,
  F.VM_EXIT_MSR_STORE_COUNT,
  F.VM_EXIT_MSR_LOAD_COUNT,
  F.VM_ENTRY_CONTROLS,
  F.VM_ENTRY_MSR_LOAD_COUNT,
  F.VM_ENTRY_INTR_INFO_FIELD,
  F.VM_ENTRY_EXCEPTION_ERROR_CODE,
  F.VM_ENTRY_INSTRUCTION_LEN,
  F.SECONDARY_VM_EXEC_CONTROL,
  F.PLE_GAP,
  F.PLE_WINDOW,
  F.VM_INSTRUCTION_ERROR,
  F.VM_EXIT_REASON,
  F.VM_EXIT_INTR_INFO,
  F.VM_EXIT_INTR_ERROR_CODE,
  F.IDT_VECTORING_INFO_FIELD,
  F.IDT_VECTORING_ERROR_CODE,
  F.VM_EXIT_INSTRUCTION_LEN,
  F.VMX_INSTRUCTION_INFO,
  F.GUEST_ES_LIMIT,
  F.GUEST_CS_LIMIT,
  F.GUEST_SS_LIMIT,
  F.GUEST_DS_LIMIT,
  F.GUEST_FS_LIMIT,
  F.GUEST_GS_LIMIT,
  F.GUEST_LDTR_LIMIT,
  F.GUEST_TR_LIMIT,
  F.GUEST_GDTR_LIMIT,
  F.GUEST_IDTR_LIMIT,
  F.GUEST_ES_AR_BYTES,
  F.GUEST_CS_AR_BYTES,
  F.GUEST_SS_AR_BYTES,
  F.GUEST_DS_AR_BYTES,
  F.GUEST_FS_AR_BYTES,
  F.GUEST_GS_AR_BYTES,
  F.GUEST_LDTR_AR_BYTES,
  F.GUEST_TR_AR_BYTES,
  F.GUEST_INTERRUPTIBILITY_INFO,
  F.GUEST_ACTIVITY_STATE,
  F.GUEST_SMBASE,
  F.GUEST_SYSENTER_CS,
  F.HOST_IA32_SYSENTER_CS,
  F.CR0_GUEST_HOST_MASK,
  F.CR4_GUEST_HOST_MASK,
  F.CR0_READ_SHADOW,
  F.CR4_READ_SHADOW,
  F.CR3_TARGET_VALUE0,
  F.CR3_TARGET_VALUE1,
  F.CR3_TARGET_VALUE2,
  F.CR3_TARGET_VALUE3,
  F.EXIT_QUALIFICATION,
  F.IO_RCX,
  F.IO_RSI,
  F.IO_RDI,
  F.IO_RIP,
  F.GUEST_LINEAR_ADDRESS,
  F.GUEST_CR0,
  F.GUEST_CR3,
  F.GUEST_CR4,
  F.GUEST_ES_BASE,
  F.GUEST_CS_BASE,
  F.GUEST_SS_BASE,
  F.GUEST_DS_BASE,
  F.GUEST_FS_BASE,
  F.GUEST_GS_BASE,
  F.GUEST_LDTR_BASE,
  F.GUEST_TR_BASE,
  F.GUEST_GDTR_BASE,
  F.GUEST_IDTR_BASE,
  F.GUEST_DR7,
  F.GUEST_RSP,
  F.GUEST_RIP,
  F.GUEST_RFLAGS,
  F.GUEST_PENDING_DBG_EXCEPTIONS,
  F.GUEST_SYSENTER_ESP,
  F.GUEST_SYSENTER_EIP,
  F.HOST_CR0,
  F.HOST_CR3,
  F.HOST_CR4,
  F.HOST_FS_BASE,
  F.HOST_GS_BASE,
  F.HOST_TR_BASE,
  F.HOST_GDTR_BASE,
  F.HOST_IDTR_BASE,
  F.HOST_IA32_SYSENTER_ESP,
  F.HOST_IA32_SYSENTER_EIP,
  F.HOST_RSP,
  F.HOST_RIP,
]);

/**
 * Encoding (full) -> byte offset of its slot in the region, or -1. A dense table: every guest-state
 * field is looked up on each VM entry and exit. Encodings with bits 31:15 clear index it.
 */
const SLOT_OFFSETS = new Int16Array(0x8000).fill(-1);
VMCS_SUPPORTED_FIELDS.forEach((enc, i) => {
  SLOT_OFFSETS[enc] = DATA_OFFSET + i * SLOT_BYTES;
});

/** End of our data area; must fit in the 4 KiB region. */
export const VMCS_DATA_END = DATA_OFFSET + VMCS_SUPPORTED_FIELDS.length * SLOT_BYTES;

/**
 * Byte offset in the region of the slot holding `encoding`, or -1 if the encoding names no supported
 * field: reserved bits set, a high access to a field that is not 64-bit, or a field we lack.
 */
export function vmcsSlotOffset(encoding: number): number {
  if (!Number.isInteger(encoding) || encoding < 0 || encoding > 0xffff_ffff) return -1;
  if ((encoding & VMCS_ENCODING_RESERVED_MASK) !== 0) return -1;
  if (vmcsFieldIsHigh(encoding) && vmcsFieldWidth(encoding) !== VMCS_WIDTH_64) return -1;
  return SLOT_OFFSETS[encoding & 0x7ffe];
}

export function isVmcsFieldSupported(encoding: number): boolean {
  return vmcsSlotOffset(encoding) >= 0;
}

// Groups of VMWRITE-able fields (the processor's own: SDM leaves the caching to the implementation).
/** Execution, exit and entry controls, the bitmaps, EPTP, VPID, TSC offset, CR masks and shadows. */
export const VMCS_DIRTY_CONTROLS = 1;
/** Guest segment registers, GDTR and IDTR. */
export const VMCS_DIRTY_SEGMENTS = 2;
/** Guest CR0, CR3, CR4, DR7, the guest MSR fields, PDPTEs, SMBASE. */
export const VMCS_DIRTY_REGISTERS = 4;
export const VMCS_DIRTY_ALL = 7;

/**
 * The group of each field (by encoding with the access-type bit clear). Not in any group, so loaded
 * and checked at every entry: RIP, RSP, RFLAGS, the interruptibility and activity states, pending
 * debug exceptions, the VMCS link pointer, and the event to inject.
 */
const DIRTY_GROUP = (() => {
  const t = new Uint8Array(0x8000);
  const always = new Set<number>([
    F.GUEST_RIP,
    F.GUEST_RSP,
    F.GUEST_RFLAGS,
    F.GUEST_INTERRUPTIBILITY_INFO,
    F.GUEST_ACTIVITY_STATE,
    F.GUEST_PENDING_DBG_EXCEPTIONS,
    F.VMCS_LINK_POINTER,
    F.VM_ENTRY_INTR_INFO_FIELD,
    F.VM_ENTRY_EXCEPTION_ERROR_CODE,
    F.VM_ENTRY_INSTRUCTION_LEN,
  ]);
  const segments = new Set<number>([
    F.GUEST_GDTR_BASE,
    F.GUEST_GDTR_LIMIT,
    F.GUEST_IDTR_BASE,
    F.GUEST_IDTR_LIMIT,
  ]);
  for (const n of ['ES', 'CS', 'SS', 'DS', 'FS', 'GS', 'LDTR', 'TR'])
    for (const k of ['SELECTOR', 'BASE', 'LIMIT', 'AR_BYTES'])
      segments.add((F as Record<string, number>)[`GUEST_${n}_${k}`]);
  for (const enc of VMCS_SUPPORTED_FIELDS) {
    if (always.has(enc)) continue;
    const type = vmcsFieldType(enc);
    const g =
      type === VMCS_TYPE_CONTROL
        ? VMCS_DIRTY_CONTROLS
        : type === VMCS_TYPE_GUEST
          ? segments.has(enc)
            ? VMCS_DIRTY_SEGMENTS
            : VMCS_DIRTY_REGISTERS
          : 0;
    t[enc & 0x7ffe] = g;
    t[(enc & 0x7ffe) | 1] = g;
  }
  return t;
})();

export type LaunchState = 'clear' | 'launched';
export type VmreadResult =
  | { readonly ok: true; readonly value: bigint }
  | { readonly ok: false; readonly error: number };

/** Truncates to what the field holds (natural width is 64 bits: we model a 64-bit processor). */
function truncateToField(encoding: number, value: bigint): bigint {
  const w = vmcsFieldWidth(encoding);
  return w === VMCS_WIDTH_16
    ? BigInt.asUintN(16, value)
    : w === VMCS_WIDTH_32
      ? BigInt.asUintN(32, value)
      : BigInt.asUintN(64, value);
}

export class Vmcs {
  /**
   * `words`: the processor's side may pass the region as 32-bit words (a typed array over the same
   * bytes, little-endian as the host): then a field half is one array load, not a DataView call
   * (VM entries and exits touch about 200 fields, issue 12). The hypervisor's side passes none.
   */
  constructor(
    readonly view: ControlBlockMemory,
    readonly offset: number,
    private readonly words: Uint32Array | null = null,
  ) {
    if (words !== null && words.length * 4 < VMCS_REGION_SIZE)
      throw new RangeError('the VMCS words view is smaller than the region');
    if (offset < 0 || offset + VMCS_REGION_SIZE > view.byteLength) {
      throw new RangeError(
        `VMCS region at 0x${offset.toString(16)} does not fit in ${view.byteLength} bytes`,
      );
    }
  }

  get revisionId(): number {
    return this.view.getUint32(this.offset + REVISION_OFFSET, true) & 0x7fff_ffff;
  }

  /** Software writes it before VMPTRLD; the processor never does. Keeps the shadow indicator. */
  set revisionId(id: number) {
    const at = this.offset + REVISION_OFFSET;
    const shadow = this.view.getUint32(at, true) & VMCS_SHADOW_INDICATOR;
    this.view.setUint32(at, (shadow | (id & 0x7fff_ffff)) >>> 0, true);
  }

  get shadowIndicator(): boolean {
    return (this.view.getUint32(this.offset + REVISION_OFFSET, true) & VMCS_SHADOW_INDICATOR) !== 0;
  }

  set shadowIndicator(on: boolean) {
    const at = this.offset + REVISION_OFFSET;
    const id = this.view.getUint32(at, true) & 0x7fff_ffff;
    this.view.setUint32(at, (id | (on ? VMCS_SHADOW_INDICATOR : 0)) >>> 0, true);
  }

  /** Non-zero after a VMX abort (SDM 27.7); software may write it too. */
  get abortIndicator(): number {
    return this.view.getUint32(this.offset + ABORT_OFFSET, true);
  }

  set abortIndicator(value: number) {
    this.view.setUint32(this.offset + ABORT_OFFSET, value >>> 0, true);
  }

  get launchState(): LaunchState {
    return this.view.getUint32(this.offset + LAUNCH_STATE_OFFSET, true) === LAUNCHED ? 'launched' : 'clear';
  }

  /** VMCLEAR: the launch state becomes clear; field contents are kept (SDM vol 2 VMCLEAR). */
  vmclear(): void {
    this.view.setUint32(this.offset + LAUNCH_STATE_OFFSET, 0, true);
    this.view.setUint32(this.offset + DIRTY_OFFSET, VMCS_DIRTY_ALL, true);
  }

  /**
   * The VM entry (processor side): the groups written since the last entry, now taken in (the
   * word is cleared). Its caller ignores them, loading everything, unless it holds this VMCS.
   */
  takeDirty(): number {
    const at = this.offset + DIRTY_OFFSET;
    const d = this.view.getUint32(at, true);
    if (d !== 0) this.view.setUint32(at, 0, true);
    return d;
  }

  /** A VMWRITE (the hypervisor's side): the field's group must be loaded again at the next entry. */
  private dirty(encoding: number): void {
    if (this.words !== null) return; // the processor's own stores (the VM exit) change nothing it holds
    const g = DIRTY_GROUP[encoding & 0x7fff];
    if (g === 0) return;
    const at = this.offset + DIRTY_OFFSET;
    const d = this.view.getUint32(at, true);
    if ((d & g) !== g) this.view.setUint32(at, d | g, true);
  }

  /**
   * The launch-state check of a VM entry (SDM 26.1 step 5b/5c): VMLAUNCH needs a clear VMCS (error 4),
   * VMRESUME a launched one (error 5). Returns 0 or the error, which it records (VMfailValid).
   */
  checkLaunchState(resume: boolean): number {
    const state = this.launchState;
    if (!resume && state !== 'clear') return this.fail(VMXERR_VMLAUNCH_NONCLEAR_VMCS);
    if (resume && state !== 'launched') return this.fail(VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    return 0;
  }

  /** A VMLAUNCH that got past the guest-state checks makes the VMCS launched (SDM vol 2 VMLAUNCH). */
  markLaunched(): void {
    this.view.setUint32(this.offset + LAUNCH_STATE_OFFSET, LAUNCHED, true);
  }

  /** VMfailValid(error): the number goes to the VM-instruction error field; the caller sets ZF. */
  fail(error: number): number {
    this.write(VMCS_FIELD.VM_INSTRUCTION_ERROR, BigInt(error));
    return error;
  }

  /** VMREAD: zero-extended value, or bits 63:32 for a high access; error 12 for an unknown encoding. */
  vmread(encoding: number): VmreadResult {
    const at = vmcsSlotOffset(encoding);
    if (at < 0) return { ok: false, error: this.fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT) };
    const v = this.view.getBigUint64(this.offset + at, true);
    return { ok: true, value: vmcsFieldIsHigh(encoding) ? v >> 32n : v };
  }

  /**
   * VMWRITE: error 12 for an unknown encoding, 13 for a read-only field (we do not offer "VMWRITE to any
   * field", IA32_VMX_MISC bit 29). A high access writes bits 63:32 from the source's low 32 bits.
   * Returns 0 on success.
   */
  vmwrite(encoding: number, value: bigint): number {
    if (vmcsSlotOffset(encoding) < 0) return this.fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    if (vmcsFieldType(encoding) === VMCS_TYPE_READ_ONLY)
      return this.fail(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT);
    this.write(encoding, value);
    return 0;
  }

  /** Hardware-side read (VM entry, VM exit): no error path; an unsupported encoding is a host bug. */
  read(encoding: number): bigint {
    const v = this.view.getBigUint64(this.offset + this.slot(encoding), true);
    return vmcsFieldIsHigh(encoding) ? v >> 32n : v;
  }

  /** Hardware-side write: may fill read-only fields (the VM-exit information). Truncates to the field. */
  write(encoding: number, value: bigint): void {
    const at = this.offset + this.slot(encoding);
    this.dirty(encoding);
    if (vmcsFieldIsHigh(encoding)) {
      const low = this.view.getBigUint64(at, true) & 0xffff_ffffn;
      this.view.setBigUint64(at, (BigInt.asUintN(32, value) << 32n) | low, true);
    } else {
      this.view.setBigUint64(at, truncateToField(encoding, value), true);
    }
  }

  /** Number-valued access to a 16- or 32-bit field. */
  read32(encoding: number): number {
    const at = narrowSlot(encoding);
    const w = this.words;
    return w !== null ? w[at >>> 2] : this.view.getUint32(this.offset + at, true);
  }

  write32(encoding: number, value: number): void {
    const at = narrowSlot(encoding);
    this.dirty(encoding);
    const v = (value & NARROW_MASK[encoding]) >>> 0;
    const w = this.words;
    if (w !== null) {
      w[at >>> 2] = v;
      w[(at >>> 2) + 1] = 0;
    } else {
      this.view.setUint32(this.offset + at, v, true);
      this.view.setUint32(this.offset + at + 4, 0, true);
    }
  }

  // 64-bit and natural-width fields as 32-bit halves: the VM entry, the VM exit and the exit
  // handlers read and write them without BigInt (issue 12).

  /** Bits 31:0 of a 64-bit or natural-width field (full encoding). */
  lo(encoding: number): number {
    const at = wideSlot(encoding);
    const w = this.words;
    return w !== null ? w[at >>> 2] : this.view.getUint32(this.offset + at, true);
  }

  /** Bits 63:32 of a 64-bit or natural-width field (full encoding). */
  hi(encoding: number): number {
    const at = wideSlot(encoding) + 4;
    const w = this.words;
    return w !== null ? w[at >>> 2] : this.view.getUint32(this.offset + at, true);
  }

  /** A 64-bit or natural-width field as a signed number: exact for canonical addresses and below 2^53. */
  readNum(encoding: number): number {
    return (this.hi(encoding) | 0) * TWO32 + this.lo(encoding);
  }

  /** Stores the 64-bit two's complement of the integer `n` in a 64-bit or natural-width field. */
  writeNum(encoding: number, n: number): void {
    this.writeHalves(encoding, n >>> 0, Math.floor(n / TWO32) >>> 0);
  }

  /** Stores a 64-bit or natural-width field from its halves. */
  writeHalves(encoding: number, lo: number, hi: number): void {
    const at = wideSlot(encoding);
    this.dirty(encoding);
    const w = this.words;
    if (w !== null) {
      w[at >>> 2] = lo;
      w[(at >>> 2) + 1] = hi;
    } else {
      this.view.setUint32(this.offset + at, lo >>> 0, true);
      this.view.setUint32(this.offset + at + 4, hi >>> 0, true);
    }
  }

  private slot(encoding: number): number {
    const at = vmcsSlotOffset(encoding);
    if (at < 0) throw new RangeError(`VMCS field ${vmcsFieldName(encoding)} is not supported`);
    return at;
  }
}

const TWO32 = 2 ** 32;
// Slot offsets by encoding for the number accessors, made once: a field lookup on the exit path is
// one typed-array load. -1: not a supported field of that kind (a host bug, reported by name).
const NARROW_SLOT = new Int32Array(0x8000).fill(-1);
const WIDE_SLOT = new Int32Array(0x8000).fill(-1);
/** What a 16- or 32-bit field keeps of a write. */
const NARROW_MASK = new Int32Array(0x8000);
for (let e = 0; e < 0x8000; e++) {
  const at = vmcsSlotOffset(e);
  if (at < 0 || vmcsFieldIsHigh(e)) continue;
  const w = vmcsFieldWidth(e);
  if (w === VMCS_WIDTH_16 || w === VMCS_WIDTH_32) {
    NARROW_SLOT[e] = at;
    NARROW_MASK[e] = w === VMCS_WIDTH_16 ? 0xffff : -1;
  } else WIDE_SLOT[e] = at;
}

function narrowSlot(encoding: number): number {
  const at = encoding >= 0 && encoding < 0x8000 ? NARROW_SLOT[encoding] : -1;
  if (at < 0)
    throw new RangeError(`VMCS field ${vmcsFieldName(encoding)} is not a supported 16- or 32-bit field`);
  return at;
}

function wideSlot(encoding: number): number {
  const at = encoding >= 0 && encoding < 0x8000 ? WIDE_SLOT[encoding] : -1;
  if (at < 0)
    throw new RangeError(
      `VMCS field ${vmcsFieldName(encoding)} is not a supported 64-bit or natural-width field`,
    );
  return at;
}
