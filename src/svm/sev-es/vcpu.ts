// An SEV-ES vCPU on the hypervisor side (KVM sev.c): it owns a VMCB whose guest state lives in an
// encrypted VMSA it can neither read nor write. It launches that VMSA through the secure processor,
// has no register accessor at all (ProtectedBackendVcpu), boots APs as the seed patch describes
// (ap-boot.ts) and answers VMGEXITs (vmgexit.ts).
import { encodeSevInfo, GHCB_VERSION_MAX, GHCB_VERSION_MIN } from '../../ghcb/msr-protocol.js';
import { SEV_CBIT } from '../../host/host-memory.js';
import type { PhysicalCpu } from '../../host/physical-cpu.js';
import type { ProtectedBackendVcpu, ProtectedVmsa, RunState, VmmServices } from '../../vmm/backend-api.js';
import { GuestStateProtectedError } from '../../vmm/errors.js';
import { SvmVcpuBase } from '../backend.js';
import { writeInitialVmsa, writeLongModeVmsa } from '../hw/vmsa-layout.js';
import {
  SVM_EXIT_NPF,
  SVM_GUEST_INTERRUPT_MASK,
  SVM_NESTED_CTL_NP_ENABLE,
  SVM_NESTED_CTL_SEV_ENABLE,
  SVM_NESTED_CTL_SEV_ES_ENABLE,
  svmExitName,
} from '../vmcb-layout.js';
import { SevEsApBoot } from './ap-boot.js';
import type { SevEsLaunch } from './launch.js';
import { VmgexitHandler } from './vmgexit.js';

export class SevEsVcpu extends SvmVcpuBase implements ProtectedBackendVcpu {
  readonly guestStateProtected = true;
  readonly vmsa: ProtectedVmsa;
  /** First SIPI seen, the outstanding AP Reset Hold. */
  readonly apBoot = new SevEsApBoot();
  /** The hypervisor's VMGEXIT handling (the GHCB MSR and page protocols). */
  readonly vmgexits: VmgexitHandler;

  constructor(
    id: number,
    cpu: PhysicalCpu,
    svc: VmmServices,
    nptRoot: number,
    iopmPa: number,
    msrpmPa: number,
    readonly launch: SevEsLaunch,
  ) {
    super(id, cpu, svc, nptRoot, iopmPa, msrpmPa);
    cpu.advertiseSevEs();
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
    // From then on this page reads as ciphertext: the handle says where it is, nothing more.
    const vmsaPa = svc.allocHostPages(1);
    const ap = launch.apReset;
    const cs =
      id === 0 || ap === null
        ? { selector: 0xf000, base: 0xffff0000, ip: 0xfff0 }
        : { selector: 0xf000, base: ap.base, ip: ap.ip };
    if (id === 0 && launch.bspEntry !== undefined)
      writeLongModeVmsa(svc.memory, vmsaPa, launch.bspEntry, 0x00a00f11);
    else writeInitialVmsa(svc.memory, vmsaPa, cs, 0x00a00f11);
    launch.psp.launchUpdateVmsa(launch.handle, vmsaPa);
    c.set64('vmsa_pa', BigInt(vmsaPa));
    this.vmsa = { hpa: vmsaPa, asid: launch.asid };
    this.vmgexits = new VmgexitHandler(this, svc, c, launch);
  }

  /** INIT: KVM resets only its own copies and the VMCB control area; the VMSA is untouched. */
  vcpuReset(initEvent: boolean): void {
    if (!initEvent) throw new GuestStateProtectedError(`RESET of vcpu ${this.id}`);
    this.vmcb.set('event_inj', 0);
    this.dropOfferedInterrupt();
    this.resetNmiState();
  }

  /** IRET cannot be intercepted in an SEV-ES guest: it says NMI Complete through the GHCB instead. */
  protected override watchNmiHandlerEnd(): void {}

  /** sev_vcpu_deliver_sipi_vector: the vector is ignored; the guest decides where the AP goes. */
  deliverSipiVector(vector: number): void {
    const did = this.apBoot.deliverSipi(this.vmgexits);
    this.svc.trace('mp', `vcpu ${this.id}: SIPI (vector 0x${vector.toString(16)} ignored): ${did}`);
  }

  /** Only the GUEST_INTERRUPT_MASK bit tells the hypervisor whether RFLAGS.IF is set. */
  interruptAllowed(): boolean {
    const st = this.vmcb.get('int_state');
    return (st & SVM_GUEST_INTERRUPT_MASK) !== 0 && !(st & 1);
  }

  override runOnce(budget: number, run: RunState): number {
    const pending = this.vmgexits.pendingUserIo(run);
    if (pending >= 0) return pending;
    this.apBoot.guestEntered();
    return super.runOnce(budget, run);
  }

  completeUserspace(run: RunState): void {
    this.vmgexits.completeUserIo(run);
  }

  /** The processor completed the intercepted instruction itself (VMGEXIT, HLT, PAUSE): RIP is the guest's. */
  protected advance(): void {}

  protected shutdownReport(): string {
    return 'the guest state is protected (SEV-ES): its exceptions and RIP are not the hypervisor’s to see';
  }

  protected vmgexit(run: RunState): number {
    return this.vmgexits.handle(run);
  }

  /** An automatic #NPF: guest memory the VM does not map. Nothing can emulate it without registers. */
  protected npf(run: RunState): number {
    const c = this.vmcb;
    const gpa = Number(c.get64('exit_info_2'));
    return this.internalError(
      run,
      SVM_EXIT_NPF,
      `#NPF at guest-physical 0x${gpa.toString(16)} (error 0x${c.get64('exit_info_1').toString(16)}): an SEV-ES guest reaches MMIO only through #VC and the GHCB`,
    );
  }

  /** Non-automatic exits become #VC inside an SEV-ES guest: one here is a hardware bug. */
  protected registerExit(code: number, run: RunState): number {
    return this.internalError(
      run,
      code,
      `#VMEXIT ${svmExitName(code)} from an SEV-ES guest (it should have been #VC)`,
    );
  }
}
