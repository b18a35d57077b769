// The `--trace ghcb` lines: a GHCB request or answer field by field, with the valid bitmap decoded
// into the fields it marks (GHCB spec AMD 56421, "GHCB Layout"; a field's bit is its quadword
// number), and GHCB MSR values named as the spec's "GHCB MSR Protocol" table names them. Only what
// the hypervisor can see: the shared GHCB page and the GHCB MSR; fields the guest did not mark
// valid are not shown (they may hold stale data the guest never meant to share). Pure formatting.
import {
  exitCodeName,
  GHCB_ERR_NAMES,
  type GhcbErr,
  SVM_EXIT_IOIO,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_SIZE_MASK,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
} from './exit-codes.js';
import {
  GHCB_FIELD_NAMES,
  GHCB_FIELDS,
  type GhcbFieldName,
  getField,
  getProtocolVersion,
  getUsage,
  ghcbView,
  readValidBitmap,
} from './layout.js';
import {
  decodeCpuidRequest,
  decodeCpuidResponse,
  decodeSevInfo,
  decodeTermRequest,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_AP_RESET_HOLD_RESP,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_CPUID_RESP,
  GHCB_MSR_SEV_INFO_RESP,
  GHCB_MSR_TERM_REQ,
  ghcbData,
  ghcbInfo,
} from './msr-protocol.js';

/** GHCBInfo codes (bits 11:0 of the GHCB MSR), as the GHCB specification's MSR protocol table names them. */
const MSR_INFO_NAMES: ReadonlyMap<number, string> = new Map([
  [0x001, 'SEV Information'],
  [0x002, 'SEV Information Request'],
  [0x004, 'CPUID Request'],
  [0x005, 'CPUID Response'],
  [0x006, 'AP Reset Hold Request'],
  [0x007, 'AP Reset Hold Response'],
  [0x010, 'Preferred GHCB GPA Request'],
  [0x011, 'Preferred GHCB GPA Response'],
  [0x012, 'Register GHCB GPA Request'],
  [0x013, 'Register GHCB GPA Response'],
  [0x014, 'SNP Page State Change Request'],
  [0x015, 'SNP Page State Change Response'],
  [0x080, 'Hypervisor Feature Support Request'],
  [0x081, 'Hypervisor Feature Support Response'],
  [0x100, 'Termination Request'],
]);

const CPUID_REG = ['EAX', 'EBX', 'ECX', 'EDX'];
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** One GHCB MSR value: GHCBInfo named and GHCBData decoded, e.g. "0x...004 CPUID Request (function 0x1, EBX)". */
export function formatGhcbMsr(msr: bigint): string {
  const info = ghcbInfo(msr);
  if (info === 0) return `${hex(msr)} (GHCB page GPA: the page protocol)`;
  const name = MSR_INFO_NAMES.get(info) ?? `unknown GHCBInfo ${hex(info)}`;
  let data = '';
  switch (info) {
    case GHCB_MSR_SEV_INFO_RESP: {
      const s = decodeSevInfo(msr);
      data = `: protocol versions ${s.minVersion} to ${s.maxVersion}, C-bit position ${s.cbitPos}`;
      break;
    }
    case GHCB_MSR_CPUID_REQ: {
      const r = decodeCpuidRequest(msr);
      data = `: function ${hex(r.fn)}, register ${CPUID_REG[r.reg]}`;
      break;
    }
    case GHCB_MSR_CPUID_RESP: {
      const r = decodeCpuidResponse(msr);
      data = `: ${CPUID_REG[r.reg]} = ${hex(r.value >>> 0)}`;
      break;
    }
    case GHCB_MSR_AP_RESET_HOLD_REQ:
      break;
    case GHCB_MSR_AP_RESET_HOLD_RESP: {
      const result = ghcbData(msr);
      data = `: result ${result} (${result === 0n ? 'not released: ask again' : 'released by INIT-SIPI-SIPI'})`;
      break;
    }
    case GHCB_MSR_TERM_REQ: {
      const t = decodeTermRequest(msr);
      data = `: reason set ${t.reasonSet}, reason code ${t.reasonCode}`;
      break;
    }
    default:
      if (ghcbData(msr) !== 0n) data = `: GHCBData ${hex(ghcbData(msr))}`;
  }
  return `${hex(msr)} ${name}${data}`;
}

/** The fields a valid bitmap marks, by name; bits that name no field appear as "qword N". */
export function validFieldNames(bitmap: bigint): string[] {
  const names: string[] = [];
  const byBit = new Map<number, GhcbFieldName>(
    GHCB_FIELD_NAMES.map((n) => [GHCB_FIELDS[n].offset >>> 3, n] as const),
  );
  for (let bit = 0; bit < 128; bit++)
    if ((bitmap >> BigInt(bit)) & 1n) names.push(byBit.get(bit) ?? `qword ${bit} (offset ${hex(bit * 8)})`);
  return names;
}

const isValid = (bitmap: bigint, name: GhcbFieldName): boolean =>
  ((bitmap >> BigInt(GHCB_FIELDS[name].offset >>> 3)) & 1n) === 1n;

/** IOIO's sw_exit_info_1, laid out as EXITINFO1 of the IOIO intercept (APM vol 2 15.10.2). */
function ioioInfo(info1: bigint): string {
  const v = Number(info1 & 0xffffffffn);
  const size = (v & SVM_IOIO_SIZE_MASK) >>> SVM_IOIO_SIZE_SHIFT;
  const bits = size === 1 ? 8 : size === 2 ? 16 : size === 4 ? 32 : 0;
  return `port ${hex(v >>> 16)} ${v & SVM_IOIO_TYPE_MASK ? 'in' : 'out'} ${bits}-bit${v & SVM_IOIO_STR_MASK ? ' string' : ''}${v & SVM_IOIO_REP_MASK ? ' rep' : ''}`;
}

/** What sw_exit_info_1 says in an answer (GHCB spec: 0 no action, 1 issue exception, 2 malformed input). */
function answerMeaning(info1: bigint, info2: bigint | undefined): string {
  const code = Number(info1 & 0xffffffffn);
  if (code === 0) return 'success: no action';
  if (code === 1)
    return `issue exception (EVENTINJ ${hex(info2 ?? 0n)}, vector ${Number((info2 ?? 0n) & 0xffn)})`;
  if (code === 2) {
    const err = Number((info2 ?? 0n) & 0xffffffffn) as GhcbErr;
    return `malformed input (${GHCB_ERR_NAMES[err] ?? `error ${err}`})`;
  }
  return `${hex(info1)}`;
}

/**
 * A GHCB page as a request ("request") or an answer ("answer"): its valid bitmap decoded, each valid
 * field's value, the protocol version and usage; sw_exit_code and sw_exit_info_1 explained.
 */
export function formatGhcbPage(page: Uint8Array, gpa: number, role: 'request' | 'answer'): string {
  const view = ghcbView(page);
  const bitmap = readValidBitmap(view);
  const fields: string[] = [];
  for (const name of GHCB_FIELD_NAMES) {
    const bit = GHCB_FIELDS[name].offset >>> 3;
    if (!((bitmap >> BigInt(bit)) & 1n)) continue;
    const v = getField(view, name);
    let text = `${name}=${hex(v)}`;
    if (name === 'sw_exit_code') text += ` (${exitCodeName(v)})`;
    if (name === 'sw_exit_info_1' && role === 'request' && isValid(bitmap, 'sw_exit_code')) {
      const code = getField(view, 'sw_exit_code');
      if (code === BigInt(SVM_EXIT_IOIO)) text += ` (${ioioInfo(v)})`;
      if (code === BigInt(SVM_VMGEXIT_MMIO_READ) || code === BigInt(SVM_VMGEXIT_MMIO_WRITE))
        text += ' (guest-physical address)';
    }
    if (name === 'sw_exit_info_1' && role === 'answer') {
      const info2 = isValid(bitmap, 'sw_exit_info_2') ? getField(view, 'sw_exit_info_2') : undefined;
      text += ` (${answerMeaning(v, info2)})`;
    }
    fields.push(text);
  }
  const head =
    role === 'request'
      ? `GHCB request at ${hex(gpa)} (protocol version ${getProtocolVersion(view)}, usage ${getUsage(view)})`
      : `GHCB answer at ${hex(gpa)}`;
  return `${head}: ${fields.length ? fields.join(' ') : 'no valid fields'}; valid bitmap ${hex(bitmap)} = {${validFieldNames(bitmap).join(', ')}}`;
}
