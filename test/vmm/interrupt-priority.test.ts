// The local APIC delivers its highest-priority pending vector first (SDM vol 3 11.8.3: the highest
// IRR bit above the PPR), whatever order the interrupts arrived in, under both backends. Two
// self-IPIs are sent with interrupts off, the lower vector first; after STI the higher one must run
// first, and the lower one only after the higher one's EOI and IRET.
import { describe, expect, it } from 'vitest';
import { SvmBackend } from '../../src/svm/backend.js';
import { KVM_EXIT_HLT, KVM_EXIT_IO, KVM_MP_STATE_RUNNABLE } from '../../src/vmm/kvm-abi.js';
import { Vm } from '../../src/vmm/vm.js';
import { VmxBackend } from '../../src/vmx/backend.js';

const BOOT = 0x7c00;
const MiB = 1024 * 1024;
const movEax = (v: number) => [0x66, 0xb8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEcx = (v: number) => [0x66, 0xb9, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const XOR_EDX = [0x66, 0x31, 0xd2];
const WRMSR = [0x0f, 0x30];
const wrmsr = (msr: number, v: number) => [...movEcx(msr), ...movEax(v), ...XOR_EDX, ...WRMSR];
/** Fixed, edge, physical destination 0 (itself), through the x2APIC ICR. */
const selfIpi = (vector: number) => wrmsr(0x830, vector);
/** Handler: report the vector on port E9h, EOI, IRET. */
const handler = (vector: number) => [0xb0, vector, 0xe6, 0xe9, ...wrmsr(0x80b, 0), 0xcf];

const backends = [
  { name: 'SVM', make: () => new SvmBackend(), vendor: 'AuthenticAMD' as const },
  { name: 'VMX', make: () => new VmxBackend(), vendor: 'GenuineIntel' as const },
];

for (const b of backends) {
  describe(`interrupt priority under ${b.name}`, () => {
    it('a higher vector that arrives second is still delivered first', () => {
      const vm = new Vm({ memoryBytes: 16 * MiB, vendor: b.vendor, backend: b.make() });
      vm.createVcpu();
      const main = [
        0xfa, // cli
        ...wrmsr(0x1b, 0xfee00d00), // x2APIC on
        ...wrmsr(0x80f, 0x1ff), // SVR: software enable
        ...selfIpi(0x30),
        ...selfIpi(0x40),
        0xfb, // sti
        0x90,
        0x90,
        0xf4,
      ];
      vm.memory.write(BOOT, Uint8Array.from(main));
      for (const [vec, at] of [
        [0x30, 0x7e00],
        [0x40, 0x7f00],
      ]) {
        vm.memory.write(at, Uint8Array.from(handler(vec)));
        vm.memory.write(vec * 4, Uint8Array.of(at & 0xff, at >>> 8, 0, 0));
      }
      const v = vm.vcpus[0];
      v.setSegment('cs', 0, 0, 0xffff, 0x9b);
      const regs = v.getRegs();
      regs.rip = BigInt(BOOT);
      regs.gpr[4] = 0x7000n;
      v.setRegs(regs);
      v.kvmSetMpState(KVM_MP_STATE_RUNNABLE);
      const seen: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = v.kvmRun(100_000);
        if (r === KVM_EXIT_HLT) break;
        if (r === KVM_EXIT_IO) seen.push(v.run.ioData & 0xff);
      }
      expect(seen).toEqual([0x40, 0x30]);
    });
  });
}
