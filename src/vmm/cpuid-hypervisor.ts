// The hypervisor CPUID range a VM's vCPUs report (the convention KVM, VMware and Xen share:
// CPUID.1:ECX bit 31 set, leaf 40000000h giving the highest hypervisor leaf and a 12-byte
// signature), with the timing leaf 40000010h that VMware defined and KVM/QEMU also offer:
// EAX = the TSC frequency in kHz, EBX = the local APIC timer's bus frequency in kHz. Both clocks
// run on the VM's virtual time at 1 GHz (vm-clock.ts), so a guest can calibrate without timing a
// loop against the PIT or the PM timer.
export const CPUID_HV_BASE = 0x40000000;
export const CPUID_HV_TIMING = 0x40000010;
export const HV_SIGNATURE = 'hvemu\0\0\0\0\0\0\0';
/** The TSC and the APIC timer both count virtual nanoseconds. */
export const TSC_KHZ = 1_000_000;
export const APIC_BUS_KHZ = 1_000_000;

const word = (s: string, i: number) =>
  s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);

/** The leaves, for PhysicalCpu.advertiseHypervisor (KVM_SET_CPUID2). */
export function hypervisorLeaves(): Map<number, [number, number, number, number]> {
  return new Map([
    [CPUID_HV_BASE, [CPUID_HV_TIMING, word(HV_SIGNATURE, 0), word(HV_SIGNATURE, 4), word(HV_SIGNATURE, 8)]],
    [CPUID_HV_TIMING, [TSC_KHZ, APIC_BUS_KHZ, 0, 0]],
  ]);
}
