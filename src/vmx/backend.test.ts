// The VMX backend's exit handlers (KVM's kvm_vmx_exit_handlers) through the VMM: a real-mode guest
// (unrestricted guest, EPT identity map) on a Vm with VmxBackend, run with KVM_RUN. Basic exit reasons
// and exit information from the Intel SDM vol 3C (2016 numbering), answers as KVM gives them.
import { describe, expect, it } from 'vitest';
import { DM_FIXED } from '../apic/registers.js';
import {
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
} from '../vmm/kvm-abi.js';
import type { Vcpu } from '../vmm/vcpu.js';
import { Vm } from '../vmm/vm.js';
import { VmxBackend } from './backend.js';
import { KVM_VMX_DEFAULT_PLE_WINDOW } from './vmcs-setup.js';

const BOOT = 0x7c00;
const MiB = 1024 * 1024;

interface Guest {
  vm: Vm;
  vcpus: Vcpu[];
  trace: string[];
}

/** A VM with `cpus` vCPUs and `code` at 0000:7C00, where vCPU 0 starts (the others wait for SIPI). */
function guest(code: number[], cpus = 1): Guest {
  const trace: string[] = [];
  const vm = new Vm({
    memoryBytes: 16 * MiB,
    vendor: 'GenuineIntel',
    backend: new VmxBackend(),
    trace: (cat, line) => trace.push(`${cat}: ${line}`),
  });
  for (let i = 0; i < cpus; i++) vm.createVcpu();
  vm.memory.write(BOOT, Uint8Array.from(code));
  startAt(vm.vcpus[0], BOOT);
  return { vm, vcpus: vm.vcpus, trace };
}

function startAt(v: Vcpu, rip: number): void {
  v.setSegment('cs', 0, 0, 0xffff, 0x9b);
  const regs = v.getRegs();
  regs.rip = BigInt(rip);
  v.setRegs(regs);
  v.kvmSetMpState(KVM_MP_STATE_RUNNABLE);
}

/** Point real-mode interrupt vector `n` at 0000:`handler` (the IVT at 0, SDM 20.1.4). */
function ivt(vm: Vm, n: number, handler: number): void {
  vm.memory.write(n * 4, Uint8Array.of(handler & 0xff, handler >>> 8, 0, 0));
}

const gpr = (v: Vcpu, i: number): bigint => v.getRegs().gpr[i];
const rip = (v: Vcpu): bigint => v.getRegs().rip;
const RAX = 0,
  RCX = 1,
  RDX = 2,
  RBX = 3;

// Real-mode instructions used below.
const XOR_EAX_EAX = [0x66, 0x31, 0xc0];
const CPUID = [0x0f, 0xa2];
const HLT = [0xf4];
const movEax = (v: number) => [0x66, 0xb8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEcx = (v: number) => [0x66, 0xb9, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const XOR_EDX_EDX = [0x66, 0x31, 0xd2];
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const movAl = (v: number) => [0xb0, v];
const outAl = (port: number) => [0xe6, port];
const inAl = (port: number) => [0xe4, port];

describe('VMX backend: CPUID (basic reason 10)', () => {
  it('answers from the VM CPUID table (GenuineIntel) and moves RIP past the instruction', () => {
    const { vcpus } = guest([...XOR_EAX_EAX, ...CPUID, ...HLT]);
    const v = vcpus[0];
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    // "GenuineIntel" in EBX, EDX, ECX.
    expect(gpr(v, RBX)).toBe(0x756e_6547n);
    expect(gpr(v, RDX)).toBe(0x4965_6e69n);
    expect(gpr(v, RCX)).toBe(0x6c65_746en);
    expect(rip(v)).toBe(BigInt(BOOT + 3 + 2 + 1)); // after the HLT
  });

  it('leaf 1 reports each vCPU its own initial APIC ID in EBX[31:24]', () => {
    const { vm, vcpus } = guest([...movEax(1), ...CPUID, ...HLT], 2);
    startAt(vcpus[1], BOOT);
    expect(vcpus[1].kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(Number(gpr(vcpus[1], RBX)) >>> 24).toBe(1);
    expect(vcpus[0].kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(Number(gpr(vcpus[0], RBX)) >>> 24).toBe(0);
    expect(vm.vcpus).toHaveLength(2);
  });
});

describe('VMX backend: I/O instructions (basic reason 30)', () => {
  it('OUT to a port no VMM device claims is KVM_EXIT_IO to userspace, RIP already past it', () => {
    const { vcpus, trace } = guest([...movAl(0x41), ...outAl(0xe9), ...HLT]);
    const v = vcpus[0];
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(v.run.ioDirection).toBe(KVM_EXIT_IO_OUT);
    expect(v.run.ioPort).toBe(0xe9);
    expect(v.run.ioSize).toBe(1);
    expect(v.run.ioCount).toBe(1);
    expect(v.run.ioData).toBe(0x41);
    expect(rip(v)).toBe(BigInt(BOOT + 4));
    // The exit line shows the bytes the hypervisor finds at CS:RIP (no disassembler here): OUT imm8, AL (E6 ib).
    expect(trace).toContainEqual(
      expect.stringMatching(
        /^exits: vcpu 0: VM exit IO_INSTRUCTION port=0xe9 out size=1; guest 0x7c02: e6e9/,
      ),
    );
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT);
  });

  it('IN completes on the next KVM_RUN: 8 bits merge into AL, 32 bits zero-extend into RAX', () => {
    // in al, 0xE9; mov dx, 0xE9; in eax, dx; hlt
    const { vcpus } = guest([...inAl(0xe9), 0xba, 0xe9, 0x00, 0x66, 0xed, ...HLT]);
    const v = vcpus[0];
    const regs = v.getRegs();
    regs.gpr[RAX] = 0xdead_beef_1234_5678n;
    v.setRegs(regs);
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(v.run.ioDirection).toBe(KVM_EXIT_IO_IN);
    expect(rip(v)).toBe(BigInt(BOOT)); // not done until userspace answers
    v.run.ioData = 0x9a;
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(gpr(v, RAX)).toBe(0xdead_beef_1234_569an);
    expect(v.run.ioSize).toBe(4);
    v.run.ioData = 0xcafe_f00d;
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(gpr(v, RAX)).toBe(0xcafe_f00dn);
  });

  it('a port a VMM device claims is emulated in the kernel: no exit to userspace', () => {
    // mov al, 0x41; out 0x80, al; in al, 0x80; out 0xE9, al
    const { vm, vcpus } = guest([...movAl(0x41), ...outAl(0x80), ...inAl(0x80), ...outAl(0xe9), ...HLT]);
    const writes: number[] = [];
    vm.ports.register(0x80, 1, { name: 'post', read: () => 0x5a, write: (_p, _s, val) => writes.push(val) });
    const v = vcpus[0];
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(v.run.ioPort).toBe(0xe9);
    expect(v.run.ioData).toBe(0x5a);
    expect(writes).toEqual([0x41]);
  });
});

describe('VMX backend: RDMSR/WRMSR (basic reasons 31, 32)', () => {
  it('IA32_APIC_BASE reads FEE00900h on the BSP (base, EN, BSP; SDM 11.4.4)', () => {
    const { vcpus } = guest([...movEcx(0x1b), ...RDMSR, ...HLT]);
    expect(vcpus[0].kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(gpr(vcpus[0], RAX)).toBe(0xfee0_0900n);
    expect(gpr(vcpus[0], RDX)).toBe(0n);
  });

  it('WRMSR enables x2APIC; the x2APIC ID MSR (802h) then reads the vCPU APIC ID', () => {
    const code = [
      ...movEcx(0x1b),
      ...movEax(0xfee0_0c00),
      ...XOR_EDX_EDX,
      ...WRMSR,
      ...movEcx(0x802),
      ...RDMSR,
      ...HLT,
    ];
    const { vcpus } = guest(code, 2);
    startAt(vcpus[1], BOOT);
    expect(vcpus[1].kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(vcpus[1].apic.x2apicMode).toBe(true);
    expect(gpr(vcpus[1], RAX)).toBe(1n);
    expect(vcpus[0].apic.x2apicMode).toBe(false);
  });

  it('an illegal APIC MSR access is #GP(0) in the guest (no error code in real mode)', () => {
    // rdmsr 802h in xAPIC mode; the #GP handler at 7D00h writes 0Dh to port E9h.
    const { vm, vcpus } = guest([...movEcx(0x802), ...RDMSR, ...HLT]);
    vm.memory.write(0x7d00, Uint8Array.from([...movAl(0x0d), ...outAl(0xe9), ...HLT]));
    ivt(vm, 13, 0x7d00);
    const v = vcpus[0];
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(v.run.ioData).toBe(0x0d);
    // The fault left RIP on the RDMSR: the IRET frame on the stack points at it.
    const sp = Number(gpr(v, 4) & 0xffffn);
    expect(vm.memory.getUint16(sp, true)).toBe(BOOT + 6);
  });

  it('WRMSR to a read-only x2APIC register is #GP(0) too, and changes nothing', () => {
    const code = [
      ...movEcx(0x1b),
      ...movEax(0xfee0_0c00),
      ...XOR_EDX_EDX,
      ...WRMSR,
      ...movEcx(0x802),
      ...WRMSR,
      ...HLT,
    ];
    const { vm, vcpus } = guest(code);
    vm.memory.write(0x7d00, Uint8Array.from([...movAl(0x0d), ...outAl(0xe9), ...HLT]));
    ivt(vm, 13, 0x7d00);
    expect(vcpus[0].kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(vcpus[0].run.ioData).toBe(0x0d);
    expect(vcpus[0].apic.msrRead(0x802)).toBe(0n);
  });
});

describe('VMX backend: HLT (basic reason 12) and interrupts', () => {
  it('HLT halts the vCPU (KVM_MP_STATE_HALTED); a fixed interrupt wakes it into its handler', () => {
    // sti; hlt; jmp $  -- vector 40h: mov al, 'I'; out 0xE9, al; hlt
    const { vm, vcpus } = guest([0xfb, ...HLT, 0xeb, 0xfe]);
    vm.memory.write(0x7d00, Uint8Array.from([...movAl(0x49), ...outAl(0xe9), ...HLT]));
    ivt(vm, 0x40, 0x7d00);
    const v = vcpus[0];
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(v.mpState).toBe(KVM_MP_STATE_HALTED);
    expect(rip(v)).toBe(BigInt(BOOT + 2));
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT); // nothing to wake it
    v.apic.mmioWrite(0xf0, 4, 0x1ff); // SVR: software-enable the APIC
    v.apic.accept(DM_FIXED, 0x40, false, true);
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_IO);
    expect(v.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    expect(v.run.ioData).toBe(0x49);
  });
});

describe('VMX backend: EPT violations (basic reason 48) are MMIO', () => {
  it('reads and writes the local APIC page through the instruction emulator', () => {
    // FS based at the APIC page: mov eax, [fs:0x30] (version); mov dword [fs:0x80], 0x20 (TPR)
    const code = [0x64, 0x66, 0xa1, 0x30, 0x00, 0x64, 0x66, 0xc7, 0x06, 0x80, 0x00, 0x20, 0, 0, 0, ...HLT];
    const { vcpus, trace } = guest(code);
    const v = vcpus[0];
    v.setSegment('fs', 0, 0xfee0_0000, 0xffff, 0x93);
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(gpr(v, RAX)).toBe(0x0006_0014n); // version 14h, Max LVT Entry 6 (SDM 11.4.8)
    expect(v.apic.taskPriority).toBe(0x20);
    expect(trace.some((l) => l.startsWith('exits: vcpu 0: VM exit EPT_VIOLATION gpa=0xfee00030'))).toBe(true);
  });

  it('an address with no RAM and no device goes to userspace as KVM_EXIT_MMIO, read then write', () => {
    const code = [0x64, 0x66, 0xa1, 0x00, 0x00, 0x64, 0x66, 0xc7, 0x06, 0x00, 0x00, 1, 2, 3, 4, ...HLT];
    const { vcpus } = guest(code);
    const v = vcpus[0];
    v.setSegment('fs', 0, 32 * MiB, 0xffff, 0x93); // above the 16 MiB of guest RAM
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_MMIO);
    expect(v.run).toMatchObject({ mmioPhysAddr: 32 * MiB, mmioLen: 4, mmioIsWrite: false });
    v.run.mmioData = 0xffff_ffff; // userspace: open bus
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_MMIO);
    expect(v.run).toMatchObject({
      mmioPhysAddr: 32 * MiB,
      mmioLen: 4,
      mmioIsWrite: true,
      mmioData: 0x04030201,
    });
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(gpr(v, RAX)).toBe(0xffff_ffffn);
  });
});

describe('VMX backend: PAUSE (basic reason 40)', () => {
  it('PAUSE-loop exiting ends a spin after PLE_Window TSC ticks and yields the quantum', () => {
    const { vcpus } = guest([0xf3, 0x90, 0xeb, 0xfc]); // pause; jmp back
    const v = vcpus[0];
    expect(v.kvmRun(1_000_000)).toBe(KVM_EXIT_INTR);
    const ticks = v.backend.clock.icount;
    expect(ticks).toBeGreaterThan(KVM_VMX_DEFAULT_PLE_WINDOW);
    expect(ticks).toBeLessThan(KVM_VMX_DEFAULT_PLE_WINDOW + 8);
    expect(rip(v)).toBe(BigInt(BOOT + 2)); // handle_pause skipped the PAUSE
  });
});

describe('VMX backend: vCPU stops', () => {
  it('a triple fault is KVM_EXIT_SHUTDOWN with the exception chain', () => {
    // lidt [7C10h] (limit 0); ud2: #UD cannot be delivered -> #GP -> #DF -> shutdown
    const { vcpus } = guest([0x0f, 0x01, 0x1e, 0x10, 0x7c, 0x0f, 0x0b]);
    const v = vcpus[0];
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_SHUTDOWN);
    // #UD's vector is past the IDT limit: #GP with error code 32h (IDT, vector 6), then #DF.
    expect(v.run.explanation).toMatch(
      /^triple fault \(shutdown\); last exceptions: #GP\(32\).* -> #DF.*triple fault$/,
    );
  });

  it('illegal guest state is KVM_EXIT_FAIL_ENTRY with reason 80000021h and the SDM check', () => {
    const { vcpus } = guest(HLT);
    const v = vcpus[0];
    const regs = v.getRegs();
    regs.rip = 1n << 32n;
    v.setRegs(regs);
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_FAIL_ENTRY);
    expect(v.run.internalData).toEqual([0x8000_0021]);
    expect(v.run.explanation).toBe(
      'VM-entry failure (INVALID_STATE): RIP bits 63:32 are not 0 outside 64-bit mode',
    );
  });

  it('RFLAGS with a reserved bit set fails the entry the same way (SDM 26.3.1.4)', () => {
    const { vcpus } = guest(HLT);
    const v = vcpus[0];
    const regs = v.getRegs();
    regs.rflags = 0x8002n; // bit 15 is reserved
    v.setRegs(regs);
    expect(v.kvmRun(100_000)).toBe(KVM_EXIT_FAIL_ENTRY);
    expect(v.run.explanation).toMatch(/RFLAGS reserved bits/);
  });

  it('VMCALL has no hypercalls to offer: RAX = -KVM_ENOSYS', () => {
    const { vcpus } = guest([0x0f, 0x01, 0xc1, ...HLT]);
    expect(vcpus[0].kvmRun(100_000)).toBe(KVM_EXIT_HLT);
    expect(gpr(vcpus[0], RAX)).toBe(BigInt.asUintN(64, -1000n));
  });
});
