// What a hostile hypervisor brings to test/sev/hostile-hypervisor.test.ts: a second processor and
// vCPU of its own on the SEV guest's machine, a 64-bit save state for a VMCB it controls, and
// machine code (assembled with NASM from the listings beside each array) that it plants in guest
// RAM. Only the hypervisor's own interfaces are used: HostMachine, HostMemory, VMCBs, nested tables.

import { LocalApic } from '../../src/apic/local-apic.js';
import type { MmioBus } from '../../src/cpu/ports.js';
import type { PhysicalCpu } from '../../src/host/physical-cpu.js';
import { mapNestedPages, SvmBackend, type SvmVcpu } from '../../src/svm/backend.js';
import { SVM_NESTED_CTL_NP_ENABLE, type Vmcb } from '../../src/svm/vmcb-layout.js';
import { RESUME, type VmmServices } from '../../src/vmm/backend-api.js';
import { PortBus } from '../../src/vmm/io-bus.js';
import { TRACE_OFF } from '../../src/vmm/trace.js';
import { UserspaceMmio } from '../../src/vmm/userspace-mmio.js';
import type { Vm } from '../../src/vmm/vm.js';

export const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/**
 * DUMP_AND_COPY (bits 64, org 0x70000): store what the processor handed over, then copy a page.
 *   mov [0x61000 + 8*i], <GPR i>      i = 0..15 (RAX..R15, encoding order)
 *   movdqu [0x61080 + 16*i], xmm<i>    i = 0..15
 *   stmxcsr [0x61180] / fnstcw [0x61184] / fnstsw [0x61188]
 *   mov rax, cr8 / mov [0x61190], rax
 *   rdtscp / mov [0x61198], rcx        (TSC_AUX)
 *   mov esi, 0x50000 / mov edi, 0x60000 / mov ecx, 0x200 / cld / rep movsq / hlt
 */
export const DUMP_AND_COPY = hex(
  '488904250010060048890c2508100600488914251010060048891c2518100600488924252010060048892c2528100600' +
    '488934253010060048893c25381006004c890425401006004c890c25481006004c891425501006004c891c2558100600' +
    '4c892425601006004c892c25681006004c893425701006004c893c2578100600f30f7f042580100600f30f7f0c259010' +
    '0600f30f7f1425a0100600f30f7f1c25b0100600f30f7f2425c0100600f30f7f2c25d0100600f30f7f3425e0100600f3' +
    '0f7f3c25f0100600f3440f7f042500110600f3440f7f0c2510110600f3440f7f142520110600f3440f7f1c2530110600' +
    'f3440f7f242540110600f3440f7f2c2550110600f3440f7f342560110600f3440f7f3c25701106000fae1c2580110600' +
    'd93c2584110600dd3c2588110600440f20c048890425901106000f01f948890c2598110600be00000500bf00000600b9' +
    '00020000fcf348a5f4',
);
/** Where DUMP_AND_COPY puts the register dump and the page copy, and how long the dump is. */
export const DUMP_AT = 0x61000;
export const DUMP_BYTES = 0x1a0;
export const COPY_AT = 0x60000;

/**
 * COPY_TWO (bits 64, org 0x70000): cld / copy the page at guest-physical 0x8000 to 0x62000 and the
 * page at 0x8000000 to 0x63000 (mov esi/edi/ecx, rep movsq, twice) / hlt.
 */
export const COPY_TWO = hex('fcbe00800000bf00200600b900020000f348a5be00000008bf00300600b900020000f348a5f4');

export const CODE_AT = 0x70000;
const PML4 = 0x71000;
const PDPT = 0x72000;
const PD = 0x73000;

/**
 * Plant `code` at CODE_AT and identity page tables for the first GiB (2 MiB pages, no C-bit: the
 * hypervisor's guest has no key), and point the VMCB's save area at it: 64-bit mode, flat
 * segments, CR4.OSFXSR so SSE runs, RIP = CODE_AT. Everything through HostMemory.
 */
export function plantLongModeGuest(vm: Vm, vmcb: Vmcb, code: Uint8Array): void {
  const mem = vm.memory;
  mem.write(CODE_AT, code);
  mem.write(DUMP_AT, new Uint8Array(4096)); // zeros for the bytes the code leaves unwritten
  const pd = new Uint8Array(4096);
  const pdv = new DataView(pd.buffer);
  for (let i = 0; i < 512; i++) pdv.setBigUint64(i * 8, BigInt(i) * 0x200000n + 0x83n, true);
  mem.write(PD, pd);
  const one = (at: number, value: number) => {
    const p = new Uint8Array(4096);
    new DataView(p.buffer).setUint32(0, value, true);
    mem.write(at, p);
  };
  one(PDPT, PD + 3);
  one(PML4, PDPT + 3);
  const flat = { selector: 0x10, attrib: 0xc93, limit: 0xffffffff, base: 0n };
  for (const s of ['ds', 'es', 'ss', 'fs', 'gs'] as const) vmcb.setSegment(s, flat);
  vmcb.setSegment('cs', { selector: 0x08, attrib: 0xa9b, limit: 0xffffffff, base: 0n });
  vmcb.setSegment('tr', { selector: 0, attrib: 0x8b, limit: 0xffff, base: 0n });
  vmcb.setSegment('ldtr', { selector: 0, attrib: 0x82, limit: 0xffff, base: 0n });
  vmcb.set64('cr0', 0x80000011n);
  vmcb.set64('cr3', BigInt(PML4));
  vmcb.set64('cr4', 0x220n); // PAE, OSFXSR
  vmcb.set64('efer', 0x1500n); // SVME, LMA, LME
  vmcb.set64('rflags', 2n);
  vmcb.set64('rip', BigInt(CODE_AT));
  vmcb.set64('rsp', 0x7f000n);
  vmcb.set64('rax', 0n);
  vmcb.set64('dr7', 0x400n);
  vmcb.set64('dr6', 0xffff0ff0n);
  vmcb.set('event_inj', 0);
}

/** The nested_ctl of an ordinary guest: nested paging on, SEV and SEV-ES off. */
export const NESTED_CTL_PLAIN = BigInt(SVM_NESTED_CTL_NP_ENABLE);

/**
 * Services for a vCPU of the hypervisor's own on `vm`'s machine, and the processor it runs on:
 * they share the VM's host memory and control-page allocator (so SvmBackend's nested tables map
 * guest RAM identity: its gpa X is the SEV guest's hpa X) and nothing else.
 */
export function hypervisorServices(
  vm: Vm,
  overrides: Partial<VmmServices> = {},
): { services: VmmServices; cpu: PhysicalCpu } {
  const apic = new LocalApic({ apicId: 200, bsp: false, clock: { now: () => 0 }, kick: () => {} });
  const ports = new PortBus();
  const user = new UserspaceMmio();
  const mmio: MmioBus = { mmioRead: () => -1, mmioWrite: () => {} };
  const cpu = vm.host.createProcessor({ codeDomain: vm.host.newCodeDomain(), io: ports, mmio, apicId: 200 });
  const services: VmmServices = {
    ports,
    mmio: () => mmio,
    portInKernel: () => false,
    mmioInKernel: () => false,
    userMmio: () => user,
    memory: vm.memory,
    guestRamBytes: vm.guestRamBytes,
    allocHostPages: (n) => vm.allocHostPages(n),
    apic: () => apic,
    cpuid: (_id, leaf, sub, out) => cpu.cpuid(leaf, sub, out),
    halt: () => RESUME,
    trace: () => {},
    tracing: false,
    traceOn: TRACE_OFF,
    guestInstruction: () => '',
    ...overrides,
  };
  return { services, cpu };
}

/** A non-SEV vCPU of the hypervisor's (SvmBackend) on `vm`'s machine, and its nested-table root. */
export function attackerVcpu(vm: Vm): { vcpu: SvmVcpu; services: VmmServices; nestedRoot: number } {
  const { services, cpu } = hypervisorServices(vm);
  const vcpu = new SvmBackend().createVcpu(0, cpu, services) as SvmVcpu;
  return { vcpu, services, nestedRoot: Number(vcpu.vmcb.get64('nested_cr3')) };
}

/** Map host pages into the attacker's nested tables at a guest-physical address of its choosing. */
export function mapInto(services: VmmServices, nestedRoot: number, gpa: number, hpa: number): void {
  mapNestedPages(services, nestedRoot, gpa, hpa, 4096);
}
