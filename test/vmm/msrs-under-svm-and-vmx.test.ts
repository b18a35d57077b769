// The MSRs a KVM-like VMM answers for real guests, under both backends: IA32_MISC_ENABLE (1A0h,
// Linux's verify_cpu reads it on Intel), the performance counters of a vCPU without a virtual PMU
// (AMD C001_0000h-7h, Intel C1h/C2h/186h/187h: read 0, writes dropped, as KVM does), and #GP(0) in
// the guest for an MSR nobody implements, whether or not the MSR bitmap/permission map covers it
// (SDM vol 3 25.1.3 and APM vol 2 15.11: MSRs outside their ranges always exit). Also CPUID.1:
// ECX.TSC_DEADLINE (bit 24) with a working TSC-deadline timer, and CPUID.1:EDX.APIC following
// IA32_APIC_BASE.EN (SDM vol 3 11.4.3).
import { describe, expect, it } from 'vitest';
import { SvmBackend } from '../../src/svm/backend.js';
import { KVM_EXIT_HLT, KVM_EXIT_IO, KVM_MP_STATE_RUNNABLE } from '../../src/vmm/kvm-abi.js';
import type { Vcpu } from '../../src/vmm/vcpu.js';
import { Vm } from '../../src/vmm/vm.js';
import { VmxBackend } from '../../src/vmx/backend.js';

const BOOT = 0x7c00;
const GP_HANDLER = 0x7d00;
const MiB = 1024 * 1024;

const movEax = (v: number) => [0x66, 0xb8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEcx = (v: number) => [0x66, 0xb9, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEdx = (v: number) => [0x66, 0xba, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const CPUID = [0x0f, 0xa2];
const HLT = [0xf4];

const backends = [
  { name: 'SVM', make: () => new SvmBackend(), vendor: 'AuthenticAMD' as const },
  { name: 'VMX', make: () => new VmxBackend(), vendor: 'GenuineIntel' as const },
];

function guest(b: (typeof backends)[number], code: number[]): { vm: Vm; v: Vcpu } {
  const vm = new Vm({ memoryBytes: 16 * MiB, vendor: b.vendor, backend: b.make() });
  vm.createVcpu();
  vm.memory.write(BOOT, Uint8Array.from(code));
  // #GP handler: out 0xE9, al with AL = 0x0D, then hlt. Real mode: IVT entry 13 at 0:34h.
  vm.memory.write(GP_HANDLER, Uint8Array.of(0xb0, 0x0d, 0xe6, 0xe9, 0xf4));
  vm.memory.write(13 * 4, Uint8Array.of(GP_HANDLER & 0xff, GP_HANDLER >>> 8, 0, 0));
  const v = vm.vcpus[0];
  v.setSegment('cs', 0, 0, 0xffff, 0x9b);
  const regs = v.getRegs();
  regs.rip = BigInt(BOOT);
  regs.gpr[4] = 0x7000n;
  v.setRegs(regs);
  v.kvmSetMpState(KVM_MP_STATE_RUNNABLE);
  return { vm, v };
}
const gpr = (v: Vcpu, i: number): bigint => v.getRegs().gpr[i];

/** Run to the HLT; a #GP on the way ends in the handler's OUT instead (reported as 'gp'). */
function runGuest(v: Vcpu): 'hlt' | 'gp' {
  const r = v.kvmRun(100_000);
  if (r === KVM_EXIT_IO && v.run.ioPort === 0xe9 && v.run.ioData === 0x0d) return 'gp';
  expect(r).toBe(KVM_EXIT_HLT);
  return 'hlt';
}

for (const b of backends) {
  describe(`MSRs under ${b.name}`, () => {
    it("IA32_MISC_ENABLE reads KVM's reset value (BTS and PEBS unavailable) and keeps what is written", () => {
      const { v } = guest(b, [
        ...movEcx(0x1a0),
        ...RDMSR,
        0x66,
        0x89,
        0xc3,
        ...movEax(0x1801),
        ...movEdx(0),
        ...WRMSR,
        ...RDMSR,
        ...HLT,
      ]);
      expect(runGuest(v)).toBe('hlt');
      expect(gpr(v, 3)).toBe(0x1800n); // first read, in EBX
      expect(gpr(v, 0)).toBe(0x1801n);
      expect(gpr(v, 2)).toBe(0n);
    });

    it("IA32_BIOS_SIGN_ID (8Bh) takes Linux's write of 0 and reads microcode revision 1 in bits 63:32", () => {
      const { v } = guest(b, [...movEcx(0x8b), ...movEax(0), ...movEdx(0), ...WRMSR, ...RDMSR, ...HLT]);
      expect(runGuest(v)).toBe('hlt');
      expect(gpr(v, 0)).toBe(0n);
      expect(gpr(v, 2)).toBe(1n);
    });

    it("IA32_PLATFORM_ID (17h) reads 0, as KVM's vCPUs (OVMF's MP set-up reads it on Intel)", () => {
      const { v } = guest(b, [...movEax(0x1234), ...movEdx(0x5678), ...movEcx(0x17), ...RDMSR, ...HLT]);
      expect(runGuest(v)).toBe('hlt');
      expect(gpr(v, 0)).toBe(0n);
      expect(gpr(v, 2)).toBe(0n);
    });

    it('AMD SYSCFG and NB_CFG read 0; NB_CFG takes a write (what Linux does on AMD)', () => {
      const { v } = guest(b, [
        ...movEcx(0xc0010010),
        ...RDMSR,
        0x66,
        0x89,
        0xc3,
        ...movEcx(0xc001001f),
        ...movEax(0),
        ...movEdx(0x4000),
        ...WRMSR,
        ...RDMSR,
        ...HLT,
      ]);
      expect(runGuest(v)).toBe('hlt');
      expect(gpr(v, 3)).toBe(0n);
      expect(gpr(v, 0)).toBe(0n);
      expect(gpr(v, 2)).toBe(0n);
    });

    it('the AMD and Intel performance counters of a vCPU without a PMU read 0 and take writes', () => {
      for (const msr of [0xc0010000, 0xc0010004, 0xc0010007, 0xc1, 0x186]) {
        const { v } = guest(b, [
          ...movEcx(msr),
          ...movEax(0x430076),
          ...movEdx(0),
          ...WRMSR,
          ...movEax(0x1234),
          ...RDMSR,
          ...HLT,
        ]);
        expect(runGuest(v)).toBe('hlt');
        expect(gpr(v, 0)).toBe(0n);
      }
    });

    it('an MSR nobody implements is #GP(0) in the guest, inside or outside the bitmap ranges', () => {
      for (const msr of [0x40000123, 0x1234, 0xc0011fff, 0xc0002000, 0x8000_0000]) {
        for (const op of [RDMSR, WRMSR]) {
          const { v } = guest(b, [...movEcx(msr), ...op, ...HLT]);
          expect(runGuest(v), `msr 0x${msr.toString(16)}`).toBe('gp');
        }
      }
    });

    it('CPUID.1 reports TSC-deadline and APIC; the APIC bit goes with IA32_APIC_BASE.EN', () => {
      const code = [
        ...movEax(1),
        ...CPUID,
        0x66,
        0x89,
        0xd6, // mov esi, edx
        0x66,
        0x89,
        0xcf, // mov edi, ecx
        ...movEcx(0x1b),
        ...movEax(0xfee00100), // BSP, EN clear: the APIC is off
        ...movEdx(0),
        ...WRMSR,
        ...movEax(1),
        ...CPUID,
        ...HLT,
      ];
      const { v } = guest(b, code);
      expect(runGuest(v)).toBe('hlt');
      expect(Number(gpr(v, 7)) & (1 << 24)).toBe(1 << 24); // ECX.TSC_DEADLINE
      expect(Number(gpr(v, 6)) & (1 << 9)).toBe(1 << 9); // EDX.APIC while enabled
      expect(Number(gpr(v, 2)) & (1 << 9)).toBe(0); // and gone once disabled
    });

    it('the TSC-deadline timer interrupts when the TSC reaches IA32_TSC_DEADLINE', () => {
      // x2APIC on; LVT timer (MSR 832h) = TSC-deadline mode | vector 40h; deadline = TSC + 2000;
      // sti; spin. The handler at 0:7E00 writes 40h to port E9h.
      const code = [
        ...movEcx(0x1b),
        ...movEax(0xfee00d00),
        ...movEdx(0),
        ...WRMSR,
        ...movEcx(0x80f),
        ...movEax(0x1ff), // SVR: software enable
        ...WRMSR,
        ...movEcx(0x832),
        ...movEax(0x40040),
        ...WRMSR,
        0x0f,
        0x31, // rdtsc
        0x66,
        0x05,
        0xd0,
        0x07,
        0x00,
        0x00, // add eax, 2000
        0x66,
        0x83,
        0xd2,
        0x00, // adc edx, 0
        ...movEcx(0x6e0),
        ...WRMSR,
        0xfb, // sti
        0xeb,
        0xfe, // jmp $: the interrupt must come from the timer, not from a wake-up
      ];
      const { vm, v } = guest(b, code);
      vm.memory.write(0x7e00, Uint8Array.of(0xb0, 0x40, 0xe6, 0xe9, 0xf4));
      vm.memory.write(0x40 * 4, Uint8Array.of(0x00, 0x7e, 0, 0));
      // The scheduler's part: run in slices and let the timer catch up with the clock in between.
      let r = v.kvmRun(500);
      let fired = -1;
      for (let i = 0; i < 20 && r !== KVM_EXIT_IO; i++) {
        if (v.apic.pollTimer()) fired = v.now();
        r = v.kvmRun(500);
      }
      expect(r).toBe(KVM_EXIT_IO);
      expect(v.run.ioData).toBe(0x40);
      expect(fired).toBeGreaterThanOrEqual(2000); // not before the deadline
      expect(v.apic.msrRead(0x6e0)).toBe(0n); // disarmed and cleared on expiry (SDM 11.5.4.1)
    });
  });
}
