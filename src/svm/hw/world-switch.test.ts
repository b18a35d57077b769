// VMRUN / #VMEXIT against the AMD APM vol 2 (15.5 VMRUN checks, 15.7 #VMEXIT, 15.10.2 IOIO
// EXITINFO1, 15.20 event injection, 15.25.6 #NPF): a real-mode guest behind nested paging.

import { describe, expect, it } from 'vitest';
import { Cpu } from '../../cpu/cpu.js';
import { standaloneProcessor } from '../../host/host-machine.js';
import {
  INTERCEPT_CPUID,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_VMRUN,
  IOPM_SIZE,
  SVM_EVTINJ_VALID,
  SVM_EXIT_CPUID,
  SVM_EXIT_ERR,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_IOIO,
  SVM_EXIT_NPF,
  SVM_NESTED_CTL_NP_ENABLE,
  setIoIntercept,
  Vmcb,
} from '../vmcb-layout.js';
import { SvmHardware } from './world-switch.js';

const NPT = 0x100000;
const VMCB_PA = 0x200000;
const IOPM_PA = 0x201000;
const MSRPM_PA = 0x204000;
const GUEST = 0x400000; // host-physical home of guest-physical 0

function setup(code: number[]) {
  const ram = new SharedArrayBuffer(16 * 1024 * 1024);
  const dv = new DataView(ram);
  const bytes = new Uint8Array(ram);
  // Nested tables: guest-physical 0-2 MiB in 4 KiB pages, page 0xB8 left out (an MMIO hole).
  dv.setUint32(NPT, NPT + 0x1007, true);
  dv.setUint32(NPT + 0x1000, NPT + 0x2007, true);
  dv.setUint32(NPT + 0x2000, NPT + 0x3007, true);
  for (let i = 0; i < 512; i++)
    if (i !== 0xb8) dv.setUint32(NPT + 0x3000 + i * 8, GUEST + i * 0x1000 + 7, true);
  bytes.set(code, GUEST + 0x7c00);
  const cpu = new Cpu({
    ram,
    io: { portRead: () => 0xff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const vmcb = new Vmcb(dv, VMCB_PA);
  for (const s of ['es', 'ss', 'ds', 'fs', 'gs'] as const)
    vmcb.setSegment(s, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
  vmcb.setSegment('cs', { selector: 0, attrib: 0x9b, limit: 0xffff, base: 0n });
  vmcb.setSegment('ldtr', { selector: 0, attrib: 0x82, limit: 0xffff, base: 0n });
  vmcb.setSegment('tr', { selector: 0, attrib: 0x8b, limit: 0xffff, base: 0n });
  vmcb.setSegment('idtr', { selector: 0, attrib: 0, limit: 0x3ff, base: 0n });
  vmcb.setSegment('gdtr', { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
  vmcb.set64('efer', 1n << 12n); // SVME
  vmcb.set64('cr0', 0x10n);
  vmcb.set64('rflags', 2n);
  vmcb.set64('rip', 0x7c00n);
  vmcb.set64('rsp', 0x7000n);
  vmcb.set('asid', 1);
  for (const bit of [INTERCEPT_VMRUN, INTERCEPT_CPUID, INTERCEPT_HLT, INTERCEPT_IOIO_PROT, INTERCEPT_INTR])
    vmcb.setIntercept(bit, true);
  vmcb.set64('iopm_base_pa', BigInt(IOPM_PA));
  vmcb.set64('msrpm_base_pa', BigInt(MSRPM_PA));
  setIoIntercept(new Uint8Array(ram, IOPM_PA, IOPM_SIZE), 0x80, true);
  vmcb.set64('nested_ctl', BigInt(SVM_NESTED_CTL_NP_ENABLE));
  vmcb.set64('nested_cr3', BigInt(NPT));
  return { hw: new SvmHardware(standaloneProcessor(cpu)), vmcb, dv, cpu };
}

describe('VMRUN and #VMEXIT', () => {
  it('exits on intercepted CPUID, OUT and HLT with the manual exit information, and on a nested hole with #NPF', () => {
    // cpuid; out 0x80, al; mov ax, 0xB800; mov ds, ax; mov al, [0]; hlt
    const { hw, vmcb } = setup([
      0x0f, 0xa2, 0xe6, 0x80, 0xb8, 0x00, 0xb8, 0x8e, 0xd8, 0xa0, 0x00, 0x00, 0xf4,
    ]);
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_CPUID);
    expect(vmcb.get64('exit_code')).toBe(0x72n);
    expect(vmcb.get64('rip')).toBe(0x7c00n); // the intercepted instruction did not execute
    expect(vmcb.get64('next_rip')).toBe(0x7c02n);

    vmcb.set64('rip', vmcb.get64('next_rip')); // the hypervisor emulated it
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_IOIO);
    // EXITINFO1: port 0x80 in 31:16, SZ8 (bit 4), A16 (bit 7), OUT (TYPE = 0); EXITINFO2 = next RIP.
    expect(vmcb.get64('exit_info_1')).toBe(0x0080_0090n);
    expect(vmcb.get64('exit_info_2')).toBe(0x7c04n);

    vmcb.set64('rip', vmcb.get64('exit_info_2'));
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_NPF);
    // #NPF: not present, user (every nested access), final translation (bit 32); EXITINFO2 = GPA.
    expect(vmcb.get64('exit_info_1')).toBe((1n << 32n) | 4n);
    expect(vmcb.get64('exit_info_2')).toBe(0xb8000n);
    expect(vmcb.get64('rip')).toBe(0x7c09n);

    vmcb.set64('rip', 0x7c0cn); // skip the MMIO read
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_HLT);
    expect(vmcb.getSegment('ds').selector).toBe(0xb800);
  });

  it('refuses illegal guest state with VMEXIT_INVALID and says why', () => {
    const { hw, vmcb } = setup([0xf4]);
    vmcb.set64('efer', 0n);
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_ERR);
    expect(vmcb.get64('exit_code')).toBe(0xffff_ffff_ffff_ffffn);
    expect(hw.invalidReason).toMatch(/SVME/);
    vmcb.set64('efer', 1n << 12n);
    vmcb.set64('cr0', (1n << 29n) | 0x10n); // NW without CD
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_ERR);
    expect(hw.invalidReason).toMatch(/CR0.CD/);
    vmcb.set64('cr0', 0x10n);
    vmcb.setIntercept(INTERCEPT_VMRUN, false);
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_ERR);
    vmcb.setIntercept(INTERCEPT_VMRUN, true);
    vmcb.set('asid', 0);
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_ERR);
  });

  it('injects an interrupt through EVENTINJ into the guest IVT before its first instruction', () => {
    const { hw, vmcb, dv } = setup([0xf4]);
    dv.setUint16(GUEST + 0x40 * 4, 0x7e00, true); // IVT[0x40] = 0000:7E00
    dv.setUint16(GUEST + 0x40 * 4 + 2, 0, true);
    dv.setUint8(GUEST + 0x7e00, 0xf4); // the handler halts
    vmcb.set('event_inj', (SVM_EVTINJ_VALID | 0x40) >>> 0); // type 0: external interrupt
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_HLT);
    expect(vmcb.get64('rip')).toBe(0x7e00n);
    // The real-mode frame on the guest stack: IP 7C00, CS 0, FLAGS.
    expect(dv.getUint16(GUEST + 0x7000 - 6, true)).toBe(0x7c00);
    expect(dv.getUint16(GUEST + 0x7000 - 4, true)).toBe(0);
  });

  it('ends a quantum with #VMEXIT INTR (the host timer), the guest resumable where it was', () => {
    const { hw, vmcb } = setup([0x40, 0xeb, 0xfd]); // inc ax; jmp back
    expect(hw.vmrun(VMCB_PA, 999)).toBe(SVM_EXIT_INTR);
    const rax = vmcb.get64('rax');
    expect(rax).toBeGreaterThan(400n);
    expect(hw.vmrun(VMCB_PA, 1000)).toBe(SVM_EXIT_INTR);
    expect(vmcb.get64('rax')).toBeGreaterThan(rax);
  });
});
