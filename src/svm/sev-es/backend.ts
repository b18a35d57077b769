// The SVM backend for an SEV-ES VM: the same exit handling, with vCPUs whose state is an encrypted
// VMSA (vcpu.ts) and without the EFER intercept (an SEV-ES guest's EFER is its own; KVM uses
// the EFER write trap instead).

import { IOAPIC_DEFAULT_BASE } from '../../apic/io-apic.js';
import { APIC_BASE_DEFAULT } from '../../apic/registers.js';
import type { PhysicalCpu } from '../../host/physical-cpu.js';
import type { BackendVcpu, VmmServices } from '../../vmm/backend-api.js';
import { MTRR_MSRS, VMM_MSRS } from '../../vmm/vmm-msrs.js';
import { mapNestedPages, SvmBackend } from '../backend.js';
import type { SevEsLaunch } from './launch.js';
import { SevEsVcpu } from './vcpu.js';

export class SevEsBackend extends SvmBackend {
  private launch: SevEsLaunch | null = null;

  /** The launch this VM's vCPUs join (LAUNCH_START and ACTIVATE done): set before creating vCPUs. */
  beginLaunch(launch: SevEsLaunch): void {
    this.launch = launch;
  }

  /**
   * MMIO pages (the local APIC and I/O APIC) get nested entries with a reserved bit, as KVM's MMIO
   * SPTEs: the guest's access raises #VC(400h) and comes back as a GHCB MMIO request.
   */
  protected override nestedTablesBuilt(services: VmmServices, pml4: number): void {
    for (const gpa of [IOAPIC_DEFAULT_BASE, APIC_BASE_DEFAULT])
      mapNestedPages(services, pml4, gpa, 0, 4096, true);
  }

  /**
   * The MTRRs too, as KVM emulates them: the guest's processor is not the hypervisor's to set up, so
   * the MTRR state a loader gives (KVM_SET_MSRS) lives here and the guest reaches it through #VC.
   */
  protected override vmmMsrs(): readonly number[] {
    return [...VMM_MSRS, ...MTRR_MSRS];
  }

  protected override interceptEfer(): boolean {
    return false;
  }

  protected override makeVcpu(
    id: number,
    cpu: PhysicalCpu,
    services: VmmServices,
    npt: number,
    iopm: number,
    msrpm: number,
  ): BackendVcpu {
    if (this.launch === null) throw new Error('SEV-ES vCPU created before the launch began');
    return new SevEsVcpu(id, cpu, services, npt, iopm, msrpm, this.launch);
  }
}
