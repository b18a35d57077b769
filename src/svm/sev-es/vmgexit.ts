// The hypervisor's answer to VMGEXIT (KVM sev_handle_vmgexit): the GHCB MSR protocol when the MSR's
// low 12 bits are non-zero, else the GHCB page at the MSR's address. The page is the guest's and may
// change under us, so it is copied once, validated (src/ghcb/validate.ts), handled, and the answer
// (sw_exit_info_1/2 and the returned registers, with their valid bits) written back in one store.
// All guest memory goes through the memory controller's hypervisor view: a private page reads as
// ciphertext, so a GHCB the guest forgot to map shared is garbage here, as on hardware.
import { ApicGpError } from '../../apic/x2apic.js';
import { MMIO_ASSIST_BASE } from '../../cpu/mmu.js';
import {
  exceptionEvent,
  exitCodeName,
  GHCB_ERR_NAMES,
  GHCB_HV_RESP_ISSUE_EXCEPTION,
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
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_GET_AP_JUMP_TABLE,
  SVM_VMGEXIT_HV_FEATURES,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_NMI_COMPLETE,
} from '../../ghcb/exit-codes.js';
import {
  clearValidBitmap,
  fieldBit,
  GHCB_FIELDS,
  GHCB_PAGE_SIZE,
  GHCB_USAGE_OFFSET,
  GHCB_VALID_BITMAP_OFFSET,
  type GhcbFieldName,
  ghcbView,
  setBitValid,
  setField,
} from '../../ghcb/layout.js';
import {
  decodeMsrRequest,
  encodeApResetHoldResponse,
  encodeCpuidResponse,
  encodeHvFeaturesResponse,
  encodeSevInfo,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_CPUID_RESP,
  GHCB_VERSION_MAX,
  GHCB_VERSION_MIN,
} from '../../ghcb/msr-protocol.js';
import { formatGhcbMsr, formatGhcbPage } from '../../ghcb/trace.js';
import { type GhcbSnapshot, type ScratchArea, snapshot, validateVmgexit } from '../../ghcb/validate.js';
import { type HostMemory, SEV_CBIT } from '../../host/host-memory.js';
import type { RunState, VmmServices } from '../../vmm/backend-api.js';
import { RESUME, TO_USER } from '../../vmm/backend-api.js';
import {
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../../vmm/kvm-abi.js';
import type { InstructionCounter } from '../../vmm/vm-clock.js';
import type { VmmMsrs } from '../../vmm/vmm-msrs.js';
import { VMCB_CONTROL, type Vmcb } from '../vmcb-layout.js';
import { type HoldCompletion, HoldType, type SevEsApBoot } from './ap-boot.js';
import type { SevEsLaunch } from './launch.js';

/** What the VMGEXIT handler knows of its vCPU: no registers, only what the hypervisor owns. */
export interface VmgexitVcpu {
  readonly id: number;
  readonly clock: InstructionCounter;
  readonly apBoot: SevEsApBoot;
  /** The MSRs the hypervisor holds for this vCPU (vmm-msrs.ts). */
  readonly msrs: VmmMsrs;
  /** The guest said NMI Complete: its NMI handler ended. */
  nmiComplete(): void;
}

const KVM_ENOSYS = 1000n;
const SW_EXIT_INFO_OFFSETS = [GHCB_FIELDS.sw_exit_info_1.offset, GHCB_FIELDS.sw_exit_info_2.offset];
const GHCB_GPA = VMCB_CONTROL.ghcb_gpa.offset;
// Word indices in the page copy (little-endian, as the guest wrote them).
const SW_EXIT_CODE_W = GHCB_FIELDS.sw_exit_code.offset / 4;
const SW_EXIT_INFO_1_W = GHCB_FIELDS.sw_exit_info_1.offset / 4;
const SW_EXIT_INFO_2_W = GHCB_FIELDS.sw_exit_info_2.offset / 4;
const RAX_W = GHCB_FIELDS.rax.offset / 4;
const RCX_W = GHCB_FIELDS.rcx.offset / 4;
const VALID_W = GHCB_VALID_BITMAP_OFFSET / 4;
/** Where a CPUID answer goes: RAX, RBX, RCX, RDX. */
const CPUID_OUT_W = [RAX_W, GHCB_FIELDS.rbx.offset / 4, RCX_W, GHCB_FIELDS.rdx.offset / 4];
/** Valid bits as the bitmap's 32-bit words 0-3 hold them (bit n of the bitmap: word n >> 5, bit n & 31). */
function validWord(word: number, fields: readonly GhcbFieldName[]): number {
  let m = 0;
  for (const f of fields) if (fieldBit(f) >>> 5 === word) m |= 1 << (fieldBit(f) & 31);
  return m >>> 0;
}
const CPUID_REQUEST: readonly GhcbFieldName[] = [
  'sw_exit_code',
  'sw_exit_info_1',
  'sw_exit_info_2',
  'rax',
  'rcx',
];
const CPUID_ANSWER: readonly GhcbFieldName[] = [
  'sw_exit_info_1',
  'sw_exit_info_2',
  'rax',
  'rbx',
  'rcx',
  'rdx',
];
/** A request's valid-bitmap words 0-3 for `fields` (fast paths: checked or set as whole words). */
function validWords(fields: readonly GhcbFieldName[]): Int32Array {
  return Int32Array.from([0, 1, 2, 3], (i) => validWord(i, fields));
}
/** Whether the page's valid bitmap (words at VALID_W) has every bit of `need`. */
function allValid(w: Int32Array, need: Int32Array): boolean {
  for (let i = 0; i < 4; i++) if ((w[VALID_W + i] & need[i]) !== need[i]) return false;
  return true;
}
const HEAD: readonly GhcbFieldName[] = ['sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2'];
const INFO: readonly GhcbFieldName[] = ['sw_exit_info_1', 'sw_exit_info_2'];
/** What validate.ts requires of an IOIO (OUT carries its data in RAX) and of an MSR request. */
const IOIO_IN_NEEDS = validWords(HEAD);
const IOIO_OUT_NEEDS = validWords([...HEAD, 'rax']);
const RDMSR_NEEDS = validWords([...HEAD, 'rcx']);
const WRMSR_NEEDS = validWords([...HEAD, 'rcx', 'rax', 'rdx']);
/** The answers' valid bits: success or an exception alone, with RAX, with RAX and RDX. */
const ANSWER_INFO = validWords(INFO);
const ANSWER_RAX = validWords([...INFO, 'rax']);
const ANSWER_RAX_RDX = validWords([...INFO, 'rax', 'rdx']);
const RDX_W = GHCB_FIELDS.rdx.offset / 4;
/** exceptionEvent(13) as its low word (bits 63:32 are zero): #GP for a refused MSR access. */
const GP_EVENT = Number(exceptionEvent(13));

const CPUID_NEEDS_1 = validWord(1, CPUID_REQUEST);
const CPUID_NEEDS_3 = validWord(3, CPUID_REQUEST);
const CPUID_ANSWER_1 = validWord(1, CPUID_ANSWER);
const CPUID_ANSWER_3 = validWord(3, CPUID_ANSWER);

/** One port access of a string IOIO that userspace must see (KVM_EXIT_IO, one element at a time). */
interface UserIo {
  isIn: boolean;
  port: number;
  size: number;
  /** Elements left, and where in the scratch copy the next one is. */
  count: number;
  offset: number;
  /** Where the scratch area is written back (IN) once every element is in. */
  scratch: ScratchArea | null;
  data: Uint8Array;
  /** The GHCB copy being answered, and its guest-physical address. */
  page: Uint8Array;
  ghcbGpa: number;
  /** A non-string IN: the value goes to the GHCB's RAX. */
  toRax: boolean;
}

/**
 * The part of a GHCB MMIO request no VMM device claimed (KVM's mmio fragment): userspace sees it
 * one access per KVM_EXIT_MMIO, at most 4 bytes each (hvemu's kvm_run carries a 32-bit value;
 * KVM's carries 8), so a request of any length holds one copy of its scratch data and no more.
 */
interface UserMmio {
  isWrite: boolean;
  gpa: number;
  /** The scratch copy, and how far into it userspace has come. */
  data: Uint8Array;
  offset: number;
  /** The size of the access in flight. */
  size: number;
  scratch: ScratchArea;
  page: Uint8Array;
  ghcbGpa: number;
}

export class VmgexitHandler implements HoldCompletion {
  private userIo: UserIo | null = null;
  private userMmio: UserMmio | null = null;
  private dr7 = 0x400n;
  private readonly out = new Int32Array(4);
  private readonly memory: HostMemory;
  /** The copy of the GHCB page, reused by every request (a request that waits for userspace copies it). */
  private readonly page = new Uint8Array(GHCB_PAGE_SIZE);
  private readonly pageView = ghcbView(this.page);
  private readonly pageWords = new Int32Array(this.page.buffer);
  /** The GHCB whose copy `page` holds for the request being handled (-1: none; read it). */
  private copied = -1;

  constructor(
    private readonly vcpu: VmgexitVcpu,
    private readonly svc: VmmServices,
    private readonly vmcb: Vmcb,
    private readonly launch: SevEsLaunch,
  ) {
    this.memory = svc.memory;
  }

  private trace(line: string): void {
    if (this.svc.traceOn.exits)
      this.svc.trace(
        'exits',
        // What a legacy exit line shows of the guest instruction is encrypted here: say so.
        `vcpu ${this.vcpu.id}: ${line}${line.startsWith('#VMEXIT') ? '; guest (instruction not shown: SEV-ES keeps RIP and code encrypted)' : ''}`,
      );
  }

  handle(run: RunState): number {
    // The common requests, untraced, straight from 32-bit words: no BigInt, no page copy (issue 12).
    if (!this.svc.tracing) {
      const lo = this.vmcb.word(GHCB_GPA);
      const hi = this.vmcb.word(GHCB_GPA + 4);
      if ((lo & 0xfff) === GHCB_MSR_CPUID_REQ) return this.msrCpuid(lo, hi);
      if ((lo & 0xfff) === 0 && this.pageFast(hi * 2 ** 32 + lo)) return RESUME;
    }
    try {
      return this.handleSlow(run);
    } finally {
      this.copied = -1;
    }
  }

  private handleSlow(run: RunState): number {
    const msr = this.vmcb.get64('ghcb_gpa');
    if (msr & 0xfffn) {
      if (!this.svc.traceOn.ghcb) return this.msrProtocol(run, msr);
      this.traceGhcb(`GHCB MSR request ${formatGhcbMsr(msr)}`);
      const stop = this.msrProtocol(run, msr);
      const answer = this.vmcb.get64('ghcb_gpa');
      this.traceGhcb(
        answer === msr ? 'GHCB MSR left unchanged (no answer)' : `GHCB MSR answer ${formatGhcbMsr(answer)}`,
      );
      return stop;
    }
    return this.pageProtocol(run, msr);
  }

  /** The MSR protocol's CPUID request (GHCB spec 2.3.1): GHCBData[63:32] the function, [31:30] the register. */
  private msrCpuid(lo: number, hi: number): number {
    const reg = (lo >>> 30) & 3;
    const out = this.out;
    this.svc.cpuid(this.vcpu.id, hi >>> 0, 0, out);
    this.vmcb.setWord(GHCB_GPA, ((reg << 30) | GHCB_MSR_CPUID_RESP) >>> 0);
    this.vmcb.setWord(GHCB_GPA + 4, out[reg]);
    return RESUME;
  }

  /**
   * The common requests in the GHCB page at `gpa` (CPUID; IOIO to an in-kernel port, not string;
   * MSR), checked and answered from 32-bit words of one copy of the page (the guest may change the
   * page meanwhile: nothing is read twice). Returns false, having written and done nothing, for
   * anything else (leaf 0xD, which needs XCR0, included): the full path validates and answers those
   * from the same copy. The answers are the full path's: registers zero-extended, success or the
   * exception in sw_exit_info_1/2, and only those fields valid.
   */
  private pageFast(gpa: number): boolean {
    if (gpa === 0 || gpa + GHCB_PAGE_SIZE > this.svc.guestRamBytes) return false;
    this.memory.readInto(gpa, this.page);
    this.copied = gpa;
    const w = this.pageWords;
    if (w[GHCB_USAGE_OFFSET / 4] !== 0 || w[SW_EXIT_CODE_W + 1] !== 0) return false;
    let answer: Int32Array;
    switch (w[SW_EXIT_CODE_W]) {
      case SVM_EXIT_CPUID:
        if (!this.pageCpuid(w)) return false;
        this.memory.write(gpa, this.page);
        return true;
      case SVM_EXIT_IOIO: {
        const info1 = w[SW_EXIT_INFO_1_W];
        const isIn = (info1 & SVM_IOIO_TYPE_MASK) !== 0;
        const size = (info1 & SVM_IOIO_SIZE_MASK) >>> SVM_IOIO_SIZE_SHIFT;
        const port = info1 >>> 16;
        if (info1 & SVM_IOIO_STR_MASK || !allValid(w, isIn ? IOIO_IN_NEEDS : IOIO_OUT_NEEDS)) return false;
        if ((size !== 1 && size !== 2 && size !== 4) || !this.svc.portInKernel(port)) return false;
        const mask = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
        if (isIn) {
          w[RAX_W] = this.svc.ports.portRead(port, size) & mask;
          w[RAX_W + 1] = 0;
          answer = ANSWER_RAX;
        } else {
          this.svc.ports.portWrite(port, size, (w[RAX_W] & mask) >>> 0);
          answer = ANSWER_INFO;
        }
        w[SW_EXIT_INFO_1_W] = w[SW_EXIT_INFO_1_W + 1] = 0;
        w[SW_EXIT_INFO_2_W] = w[SW_EXIT_INFO_2_W + 1] = 0;
        break;
      }
      case SVM_EXIT_MSR: {
        // sw_exit_info_1: 0 = RDMSR, anything else = WRMSR (as KVM reads it).
        const write = (w[SW_EXIT_INFO_1_W] | w[SW_EXIT_INFO_1_W + 1]) !== 0;
        if (!allValid(w, write ? WRMSR_NEEDS : RDMSR_NEEDS)) return false;
        answer = this.pageMsr(w, write) ? (write ? ANSWER_INFO : ANSWER_RAX_RDX) : ANSWER_INFO;
        break;
      }
      default:
        return false;
    }
    w[VALID_W] = answer[0];
    w[VALID_W + 1] = answer[1];
    w[VALID_W + 2] = answer[2];
    w[VALID_W + 3] = answer[3];
    this.memory.write(gpa, this.page);
    return true;
  }

  /** CPUID from the page's words (pageFast has checked the page's usage and exit code). */
  private pageCpuid(w: Int32Array): boolean {
    const valid1 = w[VALID_W + 1];
    const valid3 = w[VALID_W + 3];
    if ((valid1 & CPUID_NEEDS_1) >>> 0 !== CPUID_NEEDS_1 || (valid3 & CPUID_NEEDS_3) >>> 0 !== CPUID_NEEDS_3)
      return false;
    const leaf = w[RAX_W] >>> 0;
    if (leaf === 0xd) return false;
    const out = this.out;
    this.svc.cpuid(this.vcpu.id, leaf, w[RCX_W] >>> 0, out);
    for (let i = 0; i < 4; i++) {
      w[CPUID_OUT_W[i]] = out[i];
      w[CPUID_OUT_W[i] + 1] = 0;
    }
    w[SW_EXIT_INFO_1_W] = w[SW_EXIT_INFO_1_W + 1] = 0;
    w[SW_EXIT_INFO_2_W] = w[SW_EXIT_INFO_2_W + 1] = 0;
    w[VALID_W] = 0;
    w[VALID_W + 1] = CPUID_ANSWER_1;
    w[VALID_W + 2] = 0;
    w[VALID_W + 3] = CPUID_ANSWER_3;
    return true;
  }

  /**
   * RDMSR or WRMSR from the page's words, as msr() below: the result in RAX and RDX, or #GP(0) for
   * the guest's #VC handler to raise. Sets sw_exit_info_1/2; false when the access is refused.
   */
  private pageMsr(w: Int32Array, write: boolean): boolean {
    const msr = w[RCX_W] >>> 0;
    const apic = this.svc.apic(this.vcpu.id);
    const out = this.out;
    let ok = true;
    if (!apic.owns(msr))
      ok = write ? this.vcpu.msrs.writeWords(msr, w[RAX_W], w[RDX_W]) : this.vcpu.msrs.readWords(msr, out);
    else
      try {
        if (write) apic.msrWriteWords(msr, w[RAX_W], w[RDX_W]);
        else apic.msrReadWords(msr, out);
      } catch (e) {
        if (!(e instanceof ApicGpError)) throw e;
        ok = false;
      }
    w[SW_EXIT_INFO_1_W + 1] = w[SW_EXIT_INFO_2_W + 1] = 0;
    if (!ok) {
      w[SW_EXIT_INFO_1_W] = GHCB_HV_RESP_ISSUE_EXCEPTION;
      w[SW_EXIT_INFO_2_W] = GP_EVENT;
      return false;
    }
    w[SW_EXIT_INFO_1_W] = w[SW_EXIT_INFO_2_W] = 0;
    if (!write) {
      w[RAX_W] = out[0];
      w[RAX_W + 1] = 0;
      w[RDX_W] = out[1];
      w[RDX_W + 1] = 0;
    }
    return true;
  }

  /** A `--trace ghcb` line (the caller has checked that the topic is on). */
  private traceGhcb(line: string): void {
    this.svc.trace('ghcb', `vcpu ${this.vcpu.id}: ${line}`);
  }

  // ---------------------------------------------------------------- MSR protocol (GHCB spec 2.3.1)

  private msrProtocol(run: RunState, msr: bigint): number {
    const req = decodeMsrRequest(msr);
    const c = this.vmcb;
    if (this.svc.traceOn.exits) this.trace(`#VMEXIT VMGEXIT (MSR protocol) ${req.kind}`);
    switch (req.kind) {
      case 'sev-info':
        c.set64(
          'ghcb_gpa',
          encodeSevInfo({ maxVersion: GHCB_VERSION_MAX, minVersion: GHCB_VERSION_MIN, cbitPos: SEV_CBIT }),
        );
        return RESUME;
      case 'cpuid': {
        const out = this.out;
        this.svc.cpuid(this.vcpu.id, req.fn, 0, out);
        c.set64('ghcb_gpa', encodeCpuidResponse(out[req.reg], req.reg));
        return RESUME;
      }
      case 'ap-reset-hold':
        this.vcpu.apBoot.enterHold(HoldType.MSR_PROTO);
        c.set64('ghcb_gpa', encodeApResetHoldResponse(0n)); // preset: "not released" until a SIPI
        return this.svc.halt(this.vcpu.id, KVM_MP_STATE_AP_RESET_HOLD, run);
      case 'hv-features':
        c.set64('ghcb_gpa', encodeHvFeaturesResponse(0n)); // no SNP features
        return RESUME;
      case 'terminate':
        return this.terminate(
          run,
          msr,
          `guest requested termination (MSR protocol), reason set ${req.reasonSet} code ${req.reasonCode}`,
        );
      case 'preferred-gpa':
      case 'register-gpa':
      case 'psc':
        return this.terminate(
          run,
          msr,
          `MSR protocol request ${req.kind} is SEV-SNP only; this is an SEV-ES guest`,
        );
      case 'unknown':
        this.trace(`unknown GHCB MSR request 0x${req.info.toString(16)}: left unanswered`);
        return RESUME;
      case 'ghcb-gpa':
        return RESUME;
    }
  }

  private terminate(run: RunState, msr: bigint, why: string): number {
    run.exitReason = KVM_EXIT_SYSTEM_EVENT;
    run.systemEventType = KVM_SYSTEM_EVENT_SEV_TERM;
    run.internalData = [Number(msr & 0xffffffffn)];
    run.explanation = `vcpu ${this.vcpu.id}: ${why}`;
    return TO_USER;
  }

  // ---------------------------------------------------------------- page protocol (GHCB spec 2.3.2, 4.1)

  private pageProtocol(run: RunState, gpaBig: bigint): number {
    const gpa = Number(gpaBig);
    if (gpa === 0) {
      this.trace('VMGEXIT with GHCB MSR 0: nothing to do (KVM resumes)');
      return RESUME;
    }
    if (gpa + GHCB_PAGE_SIZE > this.svc.guestRamBytes)
      return this.terminate(run, gpaBig, `the GHCB at 0x${gpa.toString(16)} is not in guest RAM`);
    // One copy of the guest's page: it may change under us, so nothing is read twice (as KVM's
    // sev_es_sync_from_ghcb). A GHCB the guest left private reads as ciphertext and fails validation.
    // (The fast path may have made the copy already: the page is not read again.)
    const page = this.copied === gpa ? this.page : this.memory.readInto(gpa, this.page);
    if (this.svc.traceOn.ghcb) this.traceGhcb(formatGhcbPage(page, gpa, 'request'));
    const s = snapshot(page);
    const view = this.pageView;
    clearValidBitmap(view);
    const verdict = validateVmgexit(s, {
      ghcbGpa: gpaBig,
      versions: { min: GHCB_VERSION_MIN, max: GHCB_VERSION_MAX },
      isGuestMemory: (a, len) => a + len <= BigInt(this.svc.guestRamBytes),
    });
    if (verdict.kind === 'error') {
      this.trace(
        `VMGEXIT malformed: ${GHCB_ERR_NAMES[verdict.error]}: ${verdict.reason} (a GHCB page the guest left private reads as ciphertext)`,
      );
      return this.answer(page, gpa, verdict.swExitInfo1, verdict.swExitInfo2);
    }
    if (verdict.kind === 'terminate') return this.terminate(run, gpaBig, verdict.reason);
    const code = verdict.exitCode;
    const info1 = s.sw_exit_info_1 as bigint;
    const info2 = s.sw_exit_info_2 as bigint;
    if (this.svc.traceOn.exits)
      this.trace(
        `#VMEXIT VMGEXIT ${exitCodeName(code)} info1=0x${info1.toString(16)} info2=0x${info2.toString(16)}`,
      );
    // KVM presets "success": sw_exit_info_1 = 0, sw_exit_info_2 = 0.
    switch (code) {
      case SVM_EXIT_CPUID: {
        const out = this.out;
        this.svc.cpuid(
          this.vcpu.id,
          Number((s.rax as bigint) & 0xffffffffn),
          Number((s.rcx as bigint) & 0xffffffffn),
          out,
        );
        this.setReg(view, 'rax', out[0]);
        this.setReg(view, 'rbx', out[1]);
        this.setReg(view, 'rcx', out[2]);
        this.setReg(view, 'rdx', out[3]);
        return this.answer(page, gpa, 0n, 0n);
      }
      case SVM_EXIT_IOIO:
        return this.ioio(run, s, page.slice(), gpa, verdict.scratch ?? null);
      case SVM_EXIT_MSR:
        return this.msr(s, page, gpa);
      case SVM_EXIT_VMMCALL:
        this.setRegs(view, { rax: Number(BigInt.asIntN(32, -KVM_ENOSYS)) });
        return this.answer(page, gpa, 0n, 0n);
      case SVM_EXIT_RDTSC:
      case SVM_EXIT_RDTSCP: {
        const clock = this.vcpu.clock;
        const tsc = BigInt(clock.icount + (clock.tscOffset ?? 0));
        this.setRegs(view, { rax: Number(tsc & 0xffffffffn), rdx: Number(tsc >> 32n) });
        if (code === SVM_EXIT_RDTSCP) this.setRegs(view, { rcx: this.vcpu.id });
        return this.answer(page, gpa, 0n, 0n);
      }
      case SVM_EXIT_READ_DR7:
        setField(view, 'rax', this.dr7);
        setBitValid(view, fieldBit('rax'));
        return this.answer(page, gpa, 0n, 0n);
      case SVM_EXIT_WRITE_DR7:
        this.dr7 = s.rax as bigint;
        return this.answer(page, gpa, 0n, 0n);
      case SVM_EXIT_RDPMC:
        this.setRegs(view, { rax: 0, rdx: 0 });
        return this.answer(page, gpa, 0n, 0n);
      case SVM_EXIT_WBINVD:
      case SVM_EXIT_INVD:
      case SVM_EXIT_MONITOR:
      case SVM_EXIT_MWAIT:
        return this.answer(page, gpa, 0n, 0n);
      case SVM_VMGEXIT_NMI_COMPLETE: // the guest's NMI handler ended (GHCB spec: NMI Complete)
        this.vcpu.nmiComplete();
        return this.answer(page, gpa, 0n, 0n);
      case SVM_VMGEXIT_MMIO_READ:
      case SVM_VMGEXIT_MMIO_WRITE:
        return this.mmio(
          run,
          code === SVM_VMGEXIT_MMIO_WRITE,
          info1,
          Number(info2),
          page.slice(),
          gpa,
          verdict.scratch as ScratchArea,
        );
      case SVM_VMGEXIT_AP_HLT_LOOP:
        this.vcpu.apBoot.enterHold(HoldType.NAE_EVENT, gpa);
        this.answer(page, gpa, 0n, 0n); // preset: not released, until INIT-SIPI-SIPI completes it
        return this.svc.halt(this.vcpu.id, KVM_MP_STATE_AP_RESET_HOLD, run);
      case SVM_VMGEXIT_AP_JUMP_TABLE:
        if (info1 === BigInt(SVM_VMGEXIT_GET_AP_JUMP_TABLE))
          return this.answer(page, gpa, 0n, this.launch.apJumpTable);
        this.launch.apJumpTable = info2;
        this.svc.trace('mp', `vcpu ${this.vcpu.id}: AP jump table set to 0x${info2.toString(16)}`);
        return this.answer(page, gpa, 0n, 0n);
      case SVM_VMGEXIT_HV_FEATURES:
        return this.answer(page, gpa, 0n, 0n);
    }
    return this.terminate(run, gpaBig, `VMGEXIT ${exitCodeName(code)} passed validation but has no handler`);
  }

  /** Write sw_exit_info_1/2 (valid) and store the page back in the guest's GHCB. */
  private answer(page: Uint8Array, gpa: number, info1: bigint, info2: bigint): number {
    const view = page === this.page ? this.pageView : ghcbView(page);
    if (info1 === 0n && info2 === 0n) {
      // Success, the common answer: both fields zero, written as halves (no BigInt per exit).
      for (const off of SW_EXIT_INFO_OFFSETS) {
        view.setUint32(off, 0, true);
        view.setUint32(off + 4, 0, true);
      }
    } else {
      setField(view, 'sw_exit_info_1', info1);
      setField(view, 'sw_exit_info_2', info2);
    }
    setBitValid(view, fieldBit('sw_exit_info_1'));
    setBitValid(view, fieldBit('sw_exit_info_2'));
    if (this.svc.traceOn.ghcb) this.traceGhcb(formatGhcbPage(page, gpa, 'answer'));
    this.memory.write(gpa, page);
    return RESUME;
  }

  /** A 32-bit result into a GHCB register field (zero-extended), marked valid. */
  private setReg(view: DataView, name: 'rax' | 'rbx' | 'rcx' | 'rdx', v: number): void {
    const off = GHCB_FIELDS[name].offset;
    view.setUint32(off, v >>> 0, true);
    view.setUint32(off + 4, 0, true);
    setBitValid(view, fieldBit(name));
  }

  private setRegs(view: DataView, regs: Partial<Record<'rax' | 'rbx' | 'rcx' | 'rdx', number>>): void {
    for (const [name, v] of Object.entries(regs) as [GhcbFieldName, number][]) {
      setField(view, name, BigInt(v >>> 0));
      setBitValid(view, fieldBit(name));
    }
  }

  private msr(s: GhcbSnapshot, page: Uint8Array, gpa: number): number {
    const view = page === this.page ? this.pageView : ghcbView(page);
    const msr = Number((s.rcx as bigint) & 0xffffffffn);
    const write = s.sw_exit_info_1 !== 0n;
    const apic = this.svc.apic(this.vcpu.id);
    if (!apic.owns(msr)) {
      // RAX and RDX are inputs of a WRMSR only (a RDMSR's GHCB need not have them valid).
      const v = write ? null : this.vcpu.msrs.read(msr);
      if (write ? !this.vcpu.msrs.write(msr, wrmsrValue(s)) : v === null)
        return this.answer(page, gpa, BigInt(GHCB_HV_RESP_ISSUE_EXCEPTION), exceptionEvent(13));
      if (v !== null) this.setRegs(view, { rax: Number(v & 0xffffffffn), rdx: Number(v >> 32n) });
      return this.answer(page, gpa, 0n, 0n);
    }
    try {
      if (write) apic.msrWrite(msr, wrmsrValue(s));
      else {
        const v = apic.msrRead(msr);
        this.setRegs(view, { rax: Number(v & 0xffffffffn), rdx: Number(v >> 32n) });
      }
    } catch (e) {
      if (!(e instanceof ApicGpError)) throw e;
      return this.answer(page, gpa, BigInt(GHCB_HV_RESP_ISSUE_EXCEPTION), exceptionEvent(13));
    }
    return this.answer(page, gpa, 0n, 0n);
  }

  /** IOIO: in-kernel ports are the VM's devices; others go to userspace as KVM_EXIT_IO. */
  private ioio(
    run: RunState,
    s: GhcbSnapshot,
    page: Uint8Array,
    gpa: number,
    scratch: ScratchArea | null,
  ): number {
    const info1 = Number((s.sw_exit_info_1 as bigint) & 0xffffffffn);
    const port = info1 >>> 16;
    const isIn = (info1 & SVM_IOIO_TYPE_MASK) !== 0;
    const size = (info1 & SVM_IOIO_SIZE_MASK) >>> SVM_IOIO_SIZE_SHIFT;
    const isString = (info1 & SVM_IOIO_STR_MASK) !== 0;
    const count = isString ? Number(s.sw_exit_info_2 as bigint) : 1;
    const data = isString && scratch !== null ? this.readScratch(page, scratch) : new Uint8Array(4);
    if (!isString) new DataView(data.buffer).setUint32(0, Number((s.rax ?? 0n) & 0xffffffffn), true);
    const io: UserIo = {
      isIn,
      port,
      size,
      count,
      offset: 0,
      scratch,
      data,
      page,
      ghcbGpa: gpa,
      toRax: !isString && isIn,
    };
    // A repeat count of 0 moves nothing (REP INS/OUTS with RCX = 0): done, with nothing for userspace.
    if (count === 0) return this.finishIo(io);
    if (this.svc.portInKernel(port)) {
      const bus = this.svc.ports;
      const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < count; i++) {
        if (isIn) writeElement(dv, i * size, size, bus.portRead(port, size));
        else bus.portWrite(port, size, readElement(dv, i * size, size));
      }
      return this.finishIo(io);
    }
    this.userIo = io;
    return this.nextUserIo(run);
  }

  private nextUserIo(run: RunState): number {
    const io = this.userIo as UserIo;
    const dv = new DataView(io.data.buffer, io.data.byteOffset, io.data.byteLength);
    run.exitIo(io.isIn, io.port, io.size, io.isIn ? 0 : readElement(dv, io.offset, io.size));
    return TO_USER;
  }

  /** Before entering the guest: more elements of a string IOIO or of an MMIO request for userspace, or -1. */
  pendingUserIo(run: RunState): number {
    const m = this.userMmio;
    if (m !== null) {
      if (m.offset < m.data.length) return this.nextUserMmio(run, m);
      this.userMmio = null;
      if (!m.isWrite) this.writeScratch(m.page, m.scratch, m.data);
      return this.answer(m.page, m.ghcbGpa, 0n, 0n);
    }
    const io = this.userIo;
    if (io === null || io.count > 0) return io === null ? -1 : this.nextUserIo(run);
    this.userIo = null;
    return this.finishIo(io);
  }

  /** Userspace handled one element (complete_userspace_io): take an IN's value, move on. */
  completeUserIo(run: RunState): void {
    const m = this.userMmio;
    if (m !== null) {
      if (run.exitReason !== KVM_EXIT_MMIO) return;
      if (!m.isWrite) writeElement(dataView(m.data), m.offset, m.size, run.mmioData);
      m.offset += m.size;
      return;
    }
    const io = this.userIo;
    if (io === null || run.exitReason !== KVM_EXIT_IO) return;
    const dv = new DataView(io.data.buffer, io.data.byteOffset, io.data.byteLength);
    if (run.ioDirection === KVM_EXIT_IO_IN) writeElement(dv, io.offset, io.size, run.ioData);
    else if (run.ioDirection !== KVM_EXIT_IO_OUT) return;
    io.offset += io.size;
    io.count--;
  }

  private finishIo(io: UserIo): number {
    const view = ghcbView(io.page);
    if (io.toRax) {
      const v = new DataView(io.data.buffer).getUint32(0, true);
      const mask = io.size === 1 ? 0xff : io.size === 2 ? 0xffff : 0xffffffff;
      setField(view, 'rax', BigInt((v & mask) >>> 0));
      setBitValid(view, fieldBit('rax'));
    } else if (io.isIn && io.scratch !== null) this.writeScratch(io.page, io.scratch, io.data);
    return this.answer(io.page, io.ghcbGpa, 0n, 0n);
  }

  private readScratch(page: Uint8Array, sc: ScratchArea): Uint8Array {
    if (sc.inGhcb) return page.slice(sc.offset, sc.offset + sc.length);
    return this.memory.read(Number(sc.gpa), sc.length);
  }

  private writeScratch(page: Uint8Array, sc: ScratchArea, data: Uint8Array): void {
    if (sc.inGhcb) page.set(data.subarray(0, sc.length), sc.offset);
    else this.memory.write(Number(sc.gpa), data.subarray(0, sc.length));
  }

  /**
   * MMIO through the GHCB (KVM's kvm_sev_es_mmio): sw_exit_info_1 = the GPA, sw_exit_info_2 = the
   * length, data in the scratch area. The VMM's devices take what they claim from the start, then
   * the rest goes to userspace as KVM_EXIT_MMIO, one access per exit; the answer waits until it is done.
   */
  private mmio(
    run: RunState,
    write: boolean,
    gpaBig: bigint,
    len: number,
    page: Uint8Array,
    gpa: number,
    sc: ScratchArea,
  ): number {
    const mmio = this.svc.mmio(this.vcpu.id);
    const data = this.readScratch(page, sc).subarray(0, len);
    const dv = dataView(data);
    const at = Number(gpaBig);
    let off = 0;
    while (off < len && this.svc.mmioInKernel(this.vcpu.id, at + off)) {
      const n = accessSize(len - off);
      if (write) mmio.mmioWrite(MMIO_ASSIST_BASE + at + off, n, readElement(dv, off, n));
      else writeElement(dv, off, n, mmio.mmioRead(MMIO_ASSIST_BASE + at + off, n));
      off += n;
    }
    if (off < len) {
      const m: UserMmio = {
        isWrite: write,
        gpa: at,
        data,
        offset: off,
        size: 0,
        scratch: sc,
        page,
        ghcbGpa: gpa,
      };
      this.userMmio = m;
      return this.nextUserMmio(run, m);
    }
    if (!write) this.writeScratch(page, sc, data);
    return this.answer(page, gpa, 0n, 0n);
  }

  private nextUserMmio(run: RunState, m: UserMmio): number {
    m.size = accessSize(m.data.length - m.offset);
    const value = m.isWrite ? readElement(dataView(m.data), m.offset, m.size) : 0;
    return run.exitMmio(m.gpa + m.offset, m.size, m.isWrite, value);
  }

  /** HoldCompletion, NAE form: the hold's GHCB answers sw_exit_info_2 = 1 ("released"). */
  releaseGhcb(gpa: number): void {
    this.answer(this.memory.read(gpa, GHCB_PAGE_SIZE), gpa, 0n, 1n);
  }

  /** HoldCompletion, MSR form: the response with a non-zero result (GHCB spec 2.3.1). */
  releaseMsr(): void {
    this.vmcb.set64('ghcb_gpa', encodeApResetHoldResponse(1n));
    if (this.svc.traceOn.ghcb)
      this.traceGhcb(`GHCB MSR answer ${formatGhcbMsr(encodeApResetHoldResponse(1n))} (the hold released)`);
  }
}

/** EDX:EAX of a WRMSR request (validation has checked that both are valid). */
function wrmsrValue(s: GhcbSnapshot): bigint {
  return (((s.rdx as bigint) & 0xffffffffn) << 32n) | ((s.rax as bigint) & 0xffffffffn);
}

/** The largest bus access (4, 2 or 1 bytes) that fits in what is left. */
function accessSize(left: number): number {
  return left >= 4 ? 4 : left >= 2 ? 2 : 1;
}

function dataView(a: Uint8Array): DataView {
  return new DataView(a.buffer, a.byteOffset, a.byteLength);
}

function readElement(dv: DataView, off: number, size: number): number {
  return size === 1 ? dv.getUint8(off) : size === 2 ? dv.getUint16(off, true) : dv.getUint32(off, true);
}

function writeElement(dv: DataView, off: number, size: number, v: number): void {
  if (size === 1) dv.setUint8(off, v & 0xff);
  else if (size === 2) dv.setUint16(off, v & 0xffff, true);
  else dv.setUint32(off, v >>> 0, true);
}
