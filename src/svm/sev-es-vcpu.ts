// An SEV-ES vCPU on the hypervisor side (KVM sev.c): it owns a VMCB whose guest state lives in an
// encrypted VMSA it can neither read nor write. It launches that VMSA through the secure processor,
// refuses every register access, boots APs as the Linux patch in shared/seed describes (first SIPI:
// run the launch VMSA; later SIPIs: complete an outstanding AP Reset Hold) and answers VMGEXITs.
import type { Cpu } from '../cpu/cpu.js';
import { encodeSevInfo, GHCB_VERSION_MAX, GHCB_VERSION_MIN } from '../ghcb/msr-protocol.js';
import type { Regs, RunState, SegmentName, VmmServices } from '../vmm/backend-api.js';
import { GuestStateProtectedError } from '../vmm/errors.js';
import { SvmVcpu } from './backend.js';
import type { MemoryController } from './sev/memory-controller.js';
import { SEV_CBIT } from './sev/memory-controller.js';
import type { SecureProcessor } from './sev/secure-processor.js';
import { writeInitialVmsa } from './sev/vmsa-layout.js';
import {
  SVM_EXIT_NPF,
  SVM_GUEST_INTERRUPT_MASK,
  SVM_NESTED_CTL_NP_ENABLE,
  SVM_NESTED_CTL_SEV_ENABLE,
  SVM_NESTED_CTL_SEV_ES_ENABLE,
} from './vmcb-layout.js';
import { HoldType, VmgexitHandler } from './vmgexit.js';

/** What the VMM's launch gives every SEV-ES vCPU of a VM. */
export interface SevEsLaunch {
  readonly psp: SecureProcessor;
  readonly memory: MemoryController;
  /** The guest context (LAUNCH_START's handle) and its ASID. */
  readonly handle: number;
  readonly asid: number;
  /** The APs' first-boot entry (the image's SEV-ES reset block): CS base and IP; CS selector F000. */
  readonly apReset: { readonly base: number; readonly ip: number } | null;
  /** VM-wide: the AP jump table the guest published (AP_JUMP_TABLE SET), 0 until then. */
  apJumpTable: bigint;
}

export class SevEsVcpu extends SvmVcpu {
  readonly guestStateProtected = true;
  readonly vmsaPa: number;
  private receivedFirstSipi = false;
  /** The outstanding hold, reset at every guest entry (sev_es_unmap_ghcb), and where its GHCB is. */
  holdType = HoldType.NONE;
  holdGhcbGpa = 0n;
  /** The hypervisor's VMGEXIT handling (the GHCB MSR and page protocols). */
  readonly vmgexits: VmgexitHandler;

  constructor(
    id: number,
    cpu: Cpu,
    svc: VmmServices,
    nptRoot: number,
    iopmPa: number,
    msrpmPa: number,
    readonly launch: SevEsLaunch,
  ) {
    super(id, cpu, svc, nptRoot, iopmPa, msrpmPa);
    cpu.features.sevEs = true;
    cpu.features.cBit = SEV_CBIT;
    this.hw.attachSev(launch.memory, launch.psp);
    const c = this.vmcb;
    c.set64(
      'nested_ctl',
      BigInt(SVM_NESTED_CTL_NP_ENABLE | SVM_NESTED_CTL_SEV_ENABLE | SVM_NESTED_CTL_SEV_ES_ENABLE),
    );
    c.set('asid', launch.asid);
    // The GHCB MSR at RESET holds the SEV information (KVM sev_es_init_vmcb).
    c.set64(
      'ghcb_gpa',
      encodeSevInfo({ maxVersion: GHCB_VERSION_MAX, minVersion: GHCB_VERSION_MIN, cbitPos: SEV_CBIT }),
    );
    // The plaintext VMSA, measured and encrypted in place by LAUNCH_UPDATE_VMSA (sev_launch_update_vmsa).
    this.vmsaPa = svc.allocHostPages(1);
    const ap = launch.apReset;
    const cs =
      id === 0 || ap === null
        ? { selector: 0xf000, base: 0xffff0000, ip: 0xfff0 }
        : { selector: 0xf000, base: ap.base, ip: ap.ip };
    writeInitialVmsa(svc.hostView, this.vmsaPa, cs, 0x00a00f11);
    launch.psp.launchUpdateVmsa(launch.handle, this.vmsaPa);
    c.set64('vmsa_pa', BigInt(this.vmsaPa));
    this.vmgexits = new VmgexitHandler(this, svc, c, launch);
  }

  // ---- the trust boundary: no register access once the state is the guest's ----
  override getRegs(): Regs {
    throw new GuestStateProtectedError(`KVM_GET_REGS on vcpu ${this.id}`);
  }
  override setRegs(_regs: Regs): void {
    throw new GuestStateProtectedError(`KVM_SET_REGS on vcpu ${this.id}`);
  }
  override setSegment(seg: SegmentName): void {
    throw new GuestStateProtectedError(`KVM_SET_SREGS (${seg}) on vcpu ${this.id}`);
  }

  /** INIT: KVM resets only its own copies and the VMCB control area; the VMSA is untouched. */
  override vcpuReset(initEvent: boolean): void {
    if (this.vmsaPa === undefined) return; // the base constructor's RESET: the VMSA is built above
    if (!initEvent) throw new GuestStateProtectedError(`RESET of vcpu ${this.id}`);
    this.vmcb.set('event_inj', 0);
    this.dropOfferedInterrupt();
  }

  /** sev_vcpu_deliver_sipi_vector: the vector is ignored; the guest decides where the AP goes. */
  override deliverSipiVector(vector: number): void {
    if (!this.receivedFirstSipi) {
      this.receivedFirstSipi = true;
      this.svc.trace(
        'mp',
        `vcpu ${this.id}: first SIPI (vector 0x${vector.toString(16)} ignored): runs its launch VMSA`,
      );
      return;
    }
    const released = this.vmgexits.releaseHold();
    this.svc.trace(
      'mp',
      `vcpu ${this.id}: SIPI (vector 0x${vector.toString(16)} ignored): ${released ?? 'no AP Reset Hold outstanding, nothing to complete'}`,
    );
  }

  /** Only the GUEST_INTERRUPT_MASK bit tells the hypervisor whether RFLAGS.IF is set. */
  override interruptAllowed(): boolean {
    const st = this.vmcb.get('int_state');
    return (st & SVM_GUEST_INTERRUPT_MASK) !== 0 && !(st & 1);
  }

  /** IRET cannot be intercepted in an SEV-ES guest: it says NMI Complete through the GHCB instead. */
  protected override watchNmiHandlerEnd(): void {}

  override runOnce(budget: number, run: RunState): number {
    const pending = this.vmgexits.pendingUserIo(run);
    if (pending >= 0) return pending;
    this.holdType = HoldType.NONE; // a guest entry: a later SIPI completes no earlier hold
    return super.runOnce(budget, run);
  }

  override completeUserspace(run: RunState): void {
    this.vmgexits.completeUserIo(run);
  }

  protected override vmgexit(run: RunState): number {
    return this.vmgexits.handle(run);
  }

  /** An automatic #NPF: guest memory the VM does not map. Nothing can emulate it without registers. */
  protected override npf(run: RunState): number {
    const c = this.vmcb;
    const gpa = Number(c.get64('exit_info_2'));
    return this.internalError(
      run,
      SVM_EXIT_NPF,
      `#NPF at guest-physical 0x${gpa.toString(16)} (error 0x${c.get64('exit_info_1').toString(16)}): an SEV-ES guest reaches MMIO only through #VC and the GHCB`,
    );
  }

  /** For the VMGEXIT handler: this vCPU's memory controller view. */
  get memory(): MemoryController {
    return this.launch.memory;
  }
}
