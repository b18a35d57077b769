// Every guest in guests/ as a VM on each backend (SVM: VMRUN/#VMEXIT with nested paging; VMX: VM
// entry/VM exit with EPT; intercepted I/O going to userspace as KVM_EXIT_IO) must print exactly what
// it prints on the bare processor and under QEMU, and stop the same way.
import { describe, expect, it } from 'vitest';
import { loadGuests } from '../../guests/guest-list.js';
import { runBootSectorVm } from '../../src/vm-boot.js';

describe.each(['svm', 'vmx'] as const)('guests under %s', (arch) => {
  const guests = loadGuests();
  it('finds the guests', () => {
    expect(guests.length).toBeGreaterThanOrEqual(5);
  });
  for (const g of guests) {
    it(`${g.name}: same output and ending as on bare metal`, () => {
      const r = runBootSectorVm(g.image, { arch, maxInstructions: 20_000_000 });
      expect(r.output).toBe(g.output);
      expect(r.stop).toBe(g.stop);
      expect(r.exitStatus).toBe(g.exitStatus);
    });
  }

  it('reports a triple fault as KVM_EXIT_SHUTDOWN with the exception chain', () => {
    const g = guests.find((x) => x.name === 'faults')!;
    const r = runBootSectorVm(g.image, { arch });
    expect(r.message).toMatch(/triple fault.*#DF/);
  });
});
