// A triple fault while the backend emulates an instruction (the MMIO path after #NPF / an EPT
// violation) ends the VM with KVM_EXIT_SHUTDOWN, as one in the guest's own run does. Before, SVM
// dropped the emulator's exit code: a guest fetching code from a guest-physical address nothing
// maps (no RAM, or the local APIC page) faulted to shutdown inside the emulation, and the next
// VMRUN ran the same fetch again, forever, at a few thousand instructions per second.
// The guests have no IDT, so the fetch's #GP becomes #DF and then a triple fault.
import { describe, expect, it } from 'vitest';
import { runMultibootVm } from '../../src/vm-boot.js';
import { aoutKernel } from './platform-kernels.js';

/** mov eax, target / jmp eax */
const jumpTo = (target: number) =>
  aoutKernel([0xb8, target & 0xff, (target >>> 8) & 0xff, (target >>> 16) & 0xff, target >>> 24, 0xff, 0xe0]);

describe('a triple fault during MMIO emulation ends the run', () => {
  for (const arch of ['svm', 'vmx'] as const)
    for (const [what, target] of [
      ['unbacked memory (0xD0000000)', 0xd0000000],
      ['the local APIC page (0xFEE00000)', 0xfee00000],
    ] as const)
      it(`${arch}: a jump into ${what} stops with a triple fault within a few hundred instructions`, () => {
        const r = runMultibootVm(jumpTo(target), { arch, maxInstructions: 100_000 });
        expect(r.stop).toBe('triple-fault');
        expect(r.message).toMatch(/#DF/);
        expect(r.instructions).toBeLessThan(1000);
      });
});
