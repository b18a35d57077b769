// kvm_vcpu_deliver_sipi_vector (arch/x86/kvm/x86.c): how a STARTUP IPI starts an AP whose registers
// the hypervisor may write. The AP waited in INIT state (real mode); it now runs at vector << 12:
// CS selector vector << 8, base vector << 12, IP 0 (Intel SDM vol 3 8.4.4, AMD APM vol 2 16.5).
// Backends call this and add only what differs (VMX: the activity state; SEV-ES does not call it).
import type { UnprotectedBackendVcpu } from './backend-api.js';

export function kvmVcpuDeliverSipiVector(vcpu: UnprotectedBackendVcpu, vector: number): void {
  vcpu.setSegment('cs', vector << 8, vector << 12, 0xffff, 0x9b);
  vcpu.setRip(0n);
}
