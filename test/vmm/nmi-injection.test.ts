// NMIs from the local APIC (an ICR with delivery mode NMI, an LVT entry in NMI mode) reach the
// guest through its IDT under both backends, as KVM injects them: NMI blocking until the handler's
// IRET (SDM vol 3 6.7.1, APM vol 2 8.2.3) with the held NMI taken right after it (VMX: virtual NMIs
// and NMI-window exiting, SDM 24.6.1 and 25.2; SVM: the IRET intercept, APM 15.9), and no NMI
// inside a MOV SS shadow (SDM 6.8.3).
import { describe, expect, it } from 'vitest';
import { APIC_LVT_LINT1, DM_NMI } from '../../src/apic/registers.js';
import { SvmBackend } from '../../src/svm/backend.js';
import { KVM_EXIT_HLT, KVM_EXIT_IO, KVM_MP_STATE_RUNNABLE } from '../../src/vmm/kvm-abi.js';
import type { Vcpu } from '../../src/vmm/vcpu.js';
import { Vm } from '../../src/vmm/vm.js';
import { VmxBackend } from '../../src/vmx/backend.js';

const BOOT = 0x7c00;
const NMI_HANDLER = 0x7e00;
const MiB = 1024 * 1024;

const movEax = (v: number) => [0x66, 0xb8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEcx = (v: number) => [0x66, 0xb9, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const XOR_EDX = [0x66, 0x31, 0xd2];
const WRMSR = [0x0f, 0x30];
const putc = (c: string) => [0xb0, c.charCodeAt(0), 0xe6, 0xe9];
const X2APIC_ON = [...movEcx(0x1b), ...movEax(0xfee00d00), ...XOR_EDX, ...WRMSR];
/** x2APIC ICR (830h): delivery mode NMI, level assert, physical destination APIC ID 0 (itself). */
const SEND_NMI = [...movEcx(0x830), ...movEax(0x4400), ...XOR_EDX, ...WRMSR];

const backends = [
  { name: 'SVM', make: () => new SvmBackend(), vendor: 'AuthenticAMD' as const },
  { name: 'VMX', make: () => new VmxBackend(), vendor: 'GenuineIntel' as const },
];

function guest(b: (typeof backends)[number], main: number[], handler: number[]): Vcpu {
  const vm = new Vm({ memoryBytes: 16 * MiB, vendor: b.vendor, backend: b.make() });
  vm.createVcpu();
  vm.memory.write(BOOT, Uint8Array.from(main));
  vm.memory.write(NMI_HANDLER, Uint8Array.from(handler));
  vm.memory.write(2 * 4, Uint8Array.of(NMI_HANDLER & 0xff, NMI_HANDLER >>> 8, 0, 0)); // IVT entry 2
  const v = vm.vcpus[0];
  v.setSegment('cs', 0, 0, 0xffff, 0x9b);
  const regs = v.getRegs();
  regs.rip = BigInt(BOOT);
  regs.gpr[4] = 0x7000n;
  v.setRegs(regs);
  v.kvmSetMpState(KVM_MP_STATE_RUNNABLE);
  return v;
}

/** Run to HLT, collecting what the guest writes to port E9h; `between` runs at each exit. */
function output(v: Vcpu, budget = 100_000, between?: () => void): string {
  let s = '';
  for (let i = 0; i < 100; i++) {
    const r = v.kvmRun(budget);
    if (r === KVM_EXIT_HLT) return s;
    if (r === KVM_EXIT_IO && v.run.ioPort === 0xe9) s += String.fromCharCode(v.run.ioData & 0xff);
    between?.();
  }
  return `${s}(no HLT)`;
}

for (const b of backends) {
  describe(`NMIs through the local APIC under ${b.name}`, () => {
    it('an NMI IPI to itself is taken through IDT vector 2 right after the WRMSR that sent it', () => {
      const v = guest(b, [...X2APIC_ON, ...SEND_NMI, ...putc('M'), 0xf4], [...putc('N'), 0xcf]);
      expect(output(v)).toBe('NM');
    });

    it('a second NMI inside the handler waits for its IRET, then comes before the main code', () => {
      const handler = [
        ...putc('N'),
        0x80,
        0x3e,
        0x00,
        0x06,
        0x00, // cmp byte [0x600], 0
        0x75,
        7 + SEND_NMI.length + 4, // jne iret
        0xc6,
        0x06,
        0x00,
        0x06,
        0x01, // mov byte [0x600], 1
        ...SEND_NMI,
        ...putc('A'),
        0x90,
        0x90, // nops: still inside the first handler
        0xcf, // iret
      ];
      // The jump skips mov byte (5) + SEND_NMI + putc (4) + 2 nops: fix the displacement to land on IRET.
      handler[handler.indexOf(0x75) + 1] = 5 + SEND_NMI.length + 4 + 2;
      const v = guest(b, [...X2APIC_ON, ...SEND_NMI, ...putc('M'), 0xf4], handler);
      expect(output(v)).toBe('NANM');
    });

    it('an LVT LINT1 entry in NMI mode delivers an NMI too', () => {
      const main = [...X2APIC_ON, 0xeb, 0xfe]; // then spin
      const v = guest(b, main, [...putc('N'), 0xf4]);
      expect(v.kvmRun(200)).not.toBe(KVM_EXIT_IO);
      v.apic.msrWrite(0x80f, 0x1ffn); // SVR: software-enabled (else LVT entries stay masked)
      v.apic.msrWrite(0x836, BigInt(DM_NMI << 8)); // LVT LINT1 (360h): NMI, not masked
      expect(v.apic.localInterrupt(APIC_LVT_LINT1)).toBe(true);
      expect(output(v)).toBe('N');
    });

    it('an NMI that arrives in a MOV SS shadow waits one instruction', () => {
      // mov ax, 0 ; mov ss, ax ; mov sp, 0x7010 (in the shadow) ; putc 'M' ; hlt
      const main = [...X2APIC_ON, 0xb8, 0, 0, 0x8e, 0xd0, 0xbc, 0x10, 0x70, ...putc('M'), 0xf4];
      // The handler reports SP: it must be the value loaded after MOV SS, minus the 6-byte frame.
      const handler = [0x89, 0xe0, 0xe6, 0xe9, 0xcf]; // mov ax, sp ; out 0xE9, al ; iret
      const v = guest(b, main, handler);
      // Stop right after MOV SS, one instruction at a time.
      const afterMovSs = BigInt(BOOT + X2APIC_ON.length + 5);
      for (let i = 0; i < 10 && v.getRegs().rip !== afterMovSs; i++) v.kvmRun(1);
      expect(v.getRegs().rip).toBe(afterMovSs);
      const regs = v.getRegs();
      regs.gpr[4] = 0x6000n; // a different SP, so a too-early NMI would show
      v.setRegs(regs);
      v.apic.accept(DM_NMI, 0, false, true);
      const s = output(v);
      expect(s.charCodeAt(0)).toBe((0x7010 - 6) & 0xff); // not (0x6000 - 6) & 0xff
      expect(s.slice(1)).toBe('M');
    });
  });
}
