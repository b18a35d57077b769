// Checking a VMGEXIT request before anything acts on it. The guest owns the GHCB page and may change it
// at any time, so the hypervisor first copies what it will use (KVM 4e15a0ddc3ff "snapshot the GHCB
// before accessing it"), then validates the copy the way KVM's sev_es_validate_vmgexit and
// setup_vmgexit_scratch do. A malformed request is answered, never thrown: sw_exit_info_1 = 2
// (malformed input) and sw_exit_info_2 = the reason (GHCB spec AMD 56421, 4.1 "Invoking VMGEXIT").

import {
  exitCodeName,
  GHCB_ERR_INVALID_EVENT,
  GHCB_ERR_INVALID_INPUT,
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_ERR_INVALID_USAGE,
  GHCB_ERR_MISSING_INPUT,
  GHCB_ERR_NOT_REGISTERED,
  GHCB_HV_RESP_MALFORMED_INPUT,
  type GhcbErr,
  SVM_EXIT_CPUID,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_IOIO_SIZE_MASK,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_VMGEXIT_AP_CREATION,
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_EXT_GUEST_REQUEST,
  SVM_VMGEXIT_GET_AP_JUMP_TABLE,
  SVM_VMGEXIT_GUEST_REQUEST,
  SVM_VMGEXIT_HV_FEATURES,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_NMI_COMPLETE,
  SVM_VMGEXIT_PSC,
  SVM_VMGEXIT_SET_AP_JUMP_TABLE,
  SVM_VMGEXIT_TERM_REQUEST,
  SVM_VMGEXIT_UNSUPPORTED_EVENT,
} from './exit-codes.js';
import {
  fieldBit,
  GHCB_FIELD_NAMES,
  GHCB_SHARED_BUFFER_END,
  GHCB_SHARED_BUFFER_OFFSET,
  type GhcbFieldName,
  getField,
  getProtocolVersion,
  getUsage,
  ghcbView,
  isFieldValid,
  readValidBitmap,
} from './layout.js';

/** A copy of the request: only fields whose valid bit was set are present. */
export type GhcbSnapshot = { readonly [K in GhcbFieldName]?: bigint } & {
  readonly validBitmap: bigint; // 128 bits, bit n = valid bit n
  readonly protocolVersion: number;
  readonly usage: number;
};

export function snapshot(page: Uint8Array): GhcbSnapshot {
  const view = ghcbView(page);
  const out: Record<string, bigint | number> = {
    validBitmap: readValidBitmap(view),
    protocolVersion: getProtocolVersion(view),
    usage: getUsage(view),
  };
  for (const name of GHCB_FIELD_NAMES) if (isFieldValid(view, name)) out[name] = getField(view, name);
  return Object.freeze(out) as GhcbSnapshot;
}

export interface VmgexitContext {
  /** GPA of the GHCB page (the GHCB MSR in page mode, low 12 bits zero). */
  readonly ghcbGpa: bigint;
  /** Versions the hypervisor offered in SEV_INFO (the page's protocol_version is not enforced, as in KVM). */
  readonly versions: { readonly min: number; readonly max: number };
  /** Whether [gpa, gpa + length) is shared guest memory the hypervisor may use as a scratch area. */
  readonly isGuestMemory: (gpa: bigint, length: bigint) => boolean;
  /** SNP: the GPA registered through MSR request 0x012; a GHCB elsewhere is refused. */
  readonly registeredGhcbGpa?: bigint;
}

/** Where a validated scratch area lives: inside the GHCB shared buffer, or elsewhere in guest memory. */
export type ScratchArea =
  | { readonly inGhcb: true; readonly offset: number; readonly length: number }
  | { readonly inGhcb: false; readonly gpa: bigint; readonly length: number };

export type VmgexitVerdict =
  | { readonly kind: 'ok'; readonly exitCode: number; readonly scratch?: ScratchArea }
  | {
      readonly kind: 'error';
      readonly swExitInfo1: bigint; // GHCB_HV_RESP_MALFORMED_INPUT
      readonly swExitInfo2: bigint; // the GHCB_ERR_* reason
      readonly error: GhcbErr;
      readonly field: string; // the GHCB field that was wrong, Linux spelling
      readonly reason: string;
    }
  | {
      readonly kind: 'terminate';
      readonly exitCode: number;
      readonly reasonSet?: number;
      readonly reasonCode?: number;
      readonly reason: string;
    };

/** KVM GHCB_SCRATCH_AREA_LIMIT: a scratch area outside the GHCB is copied, so its size is capped. */
export const GHCB_SCRATCH_AREA_LIMIT = 16 * 4096;

/** The trace line names the field first: "<field>: <what was wrong>". */
function fail(error: GhcbErr, field: string, why: string): VmgexitVerdict {
  const reason = `${field}: ${why}`;
  return Object.freeze({
    kind: 'error',
    swExitInfo1: BigInt(GHCB_HV_RESP_MALFORMED_INPUT),
    swExitInfo2: BigInt(error),
    error,
    field,
    reason,
  });
}

/** The first of `fields` the guest did not mark valid. */
function missing(s: GhcbSnapshot, fields: readonly GhcbFieldName[]): GhcbFieldName | undefined {
  for (const f of fields) if (s[f] === undefined) return f;
  return undefined;
}

function needs(s: GhcbSnapshot, what: string, fields: readonly GhcbFieldName[]): VmgexitVerdict | undefined {
  const f = missing(s, fields);
  if (f === undefined) return undefined;
  return fail(GHCB_ERR_MISSING_INPUT, f, `valid bit ${fieldBit(f)} is clear, but ${what} needs it`);
}

/** Fields each event requires (KVM sev_es_validate_vmgexit), beyond the three exit fields. */
function required(
  s: GhcbSnapshot,
  code: number,
  info1: bigint,
): readonly GhcbFieldName[] | 'snp' | 'unknown' {
  switch (code) {
    case SVM_EXIT_READ_DR7:
    case SVM_EXIT_RDTSC:
    case SVM_EXIT_INVD:
    case SVM_EXIT_RDTSCP:
    case SVM_EXIT_WBINVD:
    case SVM_VMGEXIT_NMI_COMPLETE:
    case SVM_VMGEXIT_AP_HLT_LOOP:
    case SVM_VMGEXIT_AP_JUMP_TABLE:
    case SVM_VMGEXIT_UNSUPPORTED_EVENT:
    case SVM_VMGEXIT_HV_FEATURES:
    case SVM_VMGEXIT_TERM_REQUEST:
      return [];
    case SVM_EXIT_WRITE_DR7:
      return ['rax'];
    case SVM_EXIT_RDPMC:
      return ['rcx'];
    case SVM_EXIT_CPUID: // leaf 0xD's answer depends on the guest's XCR0
      return s.rax === 0xdn ? ['rax', 'rcx', 'xcr0'] : ['rax', 'rcx'];
    case SVM_EXIT_IOIO:
      if (info1 & BigInt(SVM_IOIO_STR_MASK)) return ['sw_scratch'];
      return info1 & BigInt(SVM_IOIO_TYPE_MASK) ? [] : ['rax']; // OUT carries its data in RAX
    case SVM_EXIT_MSR: // sw_exit_info_1: 0 = RDMSR, anything else = WRMSR (as KVM reads it)
      return info1 !== 0n ? ['rcx', 'rax', 'rdx'] : ['rcx'];
    case SVM_EXIT_VMMCALL:
      return ['rax', 'cpl'];
    case SVM_EXIT_MONITOR:
      return ['rax', 'rcx', 'rdx'];
    case SVM_EXIT_MWAIT:
      return ['rax', 'rcx'];
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE:
      return ['sw_scratch'];
    case SVM_VMGEXIT_PSC:
    case SVM_VMGEXIT_GUEST_REQUEST:
    case SVM_VMGEXIT_EXT_GUEST_REQUEST:
    case SVM_VMGEXIT_AP_CREATION:
      return 'snp';
    default:
      return 'unknown';
  }
}

/**
 * KVM setup_vmgexit_scratch: a non-zero GPA whose range does not wrap; if it starts in the GHCB page it
 * must lie wholly in the shared buffer [0x800, 0xFF0), else it is capped at 16 pages and must be guest
 * memory (KVM fails the run when it cannot read it; hvemu answers invalid scratch area instead).
 */
function checkScratch(s: GhcbSnapshot, len: bigint, ctx: VmgexitContext): ScratchArea | VmgexitVerdict {
  const gpa = s.sw_scratch ?? 0n;
  const bad = (why: string) => fail(GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch', why);
  if (gpa === 0n) return bad('is 0, no scratch area given');
  if (gpa + len > 0xffff_ffff_ffff_ffffn)
    return bad(`0x${gpa.toString(16)} + 0x${len.toString(16)} bytes wraps around`);
  if ((gpa & ~0xfffn) === ctx.ghcbGpa) {
    const offset = Number(gpa - ctx.ghcbGpa);
    if (offset < GHCB_SHARED_BUFFER_OFFSET || BigInt(offset) + len > BigInt(GHCB_SHARED_BUFFER_END))
      return bad(
        `GHCB+0x${offset.toString(16)}, 0x${len.toString(16)} bytes, is outside the shared buffer [0x800, 0xff0)`,
      );
    return Object.freeze({ inGhcb: true, offset, length: Number(len) });
  }
  if (len > BigInt(GHCB_SCRATCH_AREA_LIMIT))
    return bad(
      `0x${len.toString(16)} bytes outside the GHCB exceed the 0x${GHCB_SCRATCH_AREA_LIMIT.toString(16)}-byte limit`,
    );
  if (!ctx.isGuestMemory(gpa, len))
    return bad(`0x${gpa.toString(16)} (0x${len.toString(16)} bytes) is not shared guest memory`);
  return Object.freeze({ inGhcb: false, gpa, length: Number(len) });
}

export function validateVmgexit(s: GhcbSnapshot, ctx: VmgexitContext): VmgexitVerdict {
  if (ctx.registeredGhcbGpa !== undefined && ctx.registeredGhcbGpa !== ctx.ghcbGpa)
    return fail(
      GHCB_ERR_NOT_REGISTERED,
      'ghcb_gpa',
      `0x${ctx.ghcbGpa.toString(16)} is not the registered GHCB GPA`,
    );
  if (s.usage !== 0)
    return fail(
      GHCB_ERR_INVALID_USAGE,
      'ghcb_usage',
      `is ${s.usage}, only 0 (the standard layout) is supported`,
    );
  // protocol_version is not checked, as in KVM: the version is negotiated through the MSR protocol,
  // the specification names no error for this field, and Debian's OVMF leaves it 0 in its requests.
  const head = needs(s, 'every VMGEXIT', ['sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2']);
  if (head) return head;
  const raw = s.sw_exit_code as bigint;
  const info1 = s.sw_exit_info_1 as bigint;
  const info2 = s.sw_exit_info_2 as bigint;
  const code = raw <= 0xffff_ffffn ? Number(raw) : -1;
  const name = exitCodeName(raw);

  const req = required(s, code, info1);
  if (req === 'unknown')
    return fail(GHCB_ERR_INVALID_EVENT, 'sw_exit_code', `${name} is not an event this hypervisor handles`);
  if (req === 'snp')
    return fail(
      GHCB_ERR_MISSING_INPUT,
      'sw_exit_code',
      `${name} is an SEV-SNP event; this is an SEV-ES guest`,
    );
  const miss = needs(s, name, req);
  if (miss) return miss;

  switch (code) {
    case SVM_EXIT_IOIO: {
      // hvemu's check: the operand size must be one of the one-hot values 1, 2, 4 (APM IOIO EXITINFO1).
      const size = (Number(info1 & 0xffn) & SVM_IOIO_SIZE_MASK) >>> SVM_IOIO_SIZE_SHIFT;
      if (size !== 1 && size !== 2 && size !== 4)
        return fail(
          GHCB_ERR_INVALID_INPUT,
          'sw_exit_info_1',
          `IOIO operand size field is ${size}, not 1, 2 or 4`,
        );
      if (!(info1 & BigInt(SVM_IOIO_STR_MASK))) break;
      const scratch = checkScratch(s, info2 * BigInt(size), ctx); // sw_exit_info_2 = repeat count
      return 'kind' in scratch ? scratch : Object.freeze({ kind: 'ok', exitCode: code, scratch });
    }
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE: {
      const scratch = checkScratch(s, info2, ctx); // sw_exit_info_2 = access length in bytes
      return 'kind' in scratch ? scratch : Object.freeze({ kind: 'ok', exitCode: code, scratch });
    }
    case SVM_VMGEXIT_AP_JUMP_TABLE:
      if (info1 !== BigInt(SVM_VMGEXIT_SET_AP_JUMP_TABLE) && info1 !== BigInt(SVM_VMGEXIT_GET_AP_JUMP_TABLE))
        return fail(
          GHCB_ERR_INVALID_INPUT,
          'sw_exit_info_1',
          `AP jump table request ${info1} is neither 0 (set) nor 1 (get)`,
        );
      break;
    case SVM_VMGEXIT_TERM_REQUEST: {
      const reasonSet = Number(info1 & 0xfn);
      const reasonCode = Number((info1 >> 4n) & 0xffn);
      const reason = `guest requested termination, reason set ${reasonSet} code ${reasonCode}`;
      return Object.freeze({ kind: 'terminate', exitCode: code, reasonSet, reasonCode, reason });
    }
    case SVM_VMGEXIT_UNSUPPORTED_EVENT: // KVM fails the run (-EINVAL): the guest gave up on an event
      return Object.freeze({
        kind: 'terminate',
        exitCode: code,
        reason: `guest reported an unsupported event (sw_exit_info_1 0x${info1.toString(16)}, sw_exit_info_2 0x${info2.toString(16)})`,
      });
  }
  return Object.freeze({ kind: 'ok', exitCode: code });
}
