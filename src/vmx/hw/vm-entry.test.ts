// VM entry and VM exit against the Intel SDM vol 3C (2016 numbering): 26.1-26.3 entry checks, 26.5
// event injection, 27.2 exit information (Table 27-3 CR access, 27-5 I/O, 27-7 EPT violation), 25.1-25.3
// non-root behaviour. A real-mode guest ("unrestricted guest") behind EPT.
import { describe, expect, it } from 'vitest';
import { Cpu } from '../../cpu/cpu.js';
import { standaloneProcessor } from '../../host/host-machine.js';
import { VMCS_REVISION_ID, Vmcs } from '../vmcs.js';
import {
  EXIT_REASON_CPUID,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_HLT,
  EXIT_REASON_INIT_SIGNAL,
  EXIT_REASON_INVALID_STATE,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE,
  EXIT_REASON_NMI_WINDOW,
  EXIT_REASON_PAUSE_INSTRUCTION,
  EXIT_REASON_PENDING_INTERRUPT,
  EXIT_REASON_SIPI_SIGNAL,
  VMCS_FIELD as F,
  GUEST_ACTIVITY_HLT,
  GUEST_ACTIVITY_WAIT_SIPI,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_NMI,
  VMX_EXIT_REASONS_FAILED_VMENTRY,
  VMXERR_ENTRY_INVALID_CONTROL_FIELD,
  VMXERR_VMLAUNCH_NONCLEAR_VMCS,
  VMXERR_VMRESUME_NONLAUNCHED_VMCS,
} from '../vmcs-fields.js';
import { VMX_FAIL_INVALID, VMX_FAIL_VALID, VmxHardware } from './vm-entry.js';
import {
  adjustControls,
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_PAUSE_EXITING,
  CPU_BASED_TPR_SHADOW,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_VIRTUAL_NMIS,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_PAUSE_LOOP_EXITING,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  VMX_CAPS,
} from './vmx-controls.js';

const EPT = 0x100000;
const VMCS_PA = 0x200000;
const IO_A = 0x201000;
const IO_B = 0x202000;
const MSR_BITMAP = 0x203000;
const GUEST = 0x400000; // host-physical home of guest-physical 0
const INVALID_STATE = (VMX_EXIT_REASONS_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE) >>> 0;

function setup(code: number[], proc = CPU_BASED_HLT_EXITING | CPU_BASED_USE_IO_BITMAPS) {
  const ram = new SharedArrayBuffer(16 * 1024 * 1024);
  const dv = new DataView(ram);
  const bytes = new Uint8Array(ram);
  // EPT: guest-physical 0-2 MiB in 4 KiB pages (RWX, write-back), page 0xB8 left out (an MMIO hole).
  dv.setUint32(EPT, EPT + 0x1007, true);
  dv.setUint32(EPT + 0x1000, EPT + 0x2007, true);
  dv.setUint32(EPT + 0x2000, EPT + 0x3007, true);
  for (let i = 0; i < 512; i++)
    if (i !== 0xb8) dv.setUint32(EPT + 0x3000 + i * 8, GUEST + i * 0x1000 + (6 << 3) + 7, true);
  bytes.set(code, GUEST + 0x7c00);
  const cpu = new Cpu({
    vendor: 'GenuineIntel',
    ram,
    io: { portRead: () => 0xff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  const vmcs = new Vmcs(dv, VMCS_PA);
  vmcs.revisionId = VMCS_REVISION_ID;
  vmcs.vmclear();
  const w = (enc: number, v: number | bigint) => expect(vmcs.vmwrite(enc, BigInt(v))).toBe(0);
  w(F.PIN_BASED_VM_EXEC_CONTROL, adjustControls(PIN_BASED_EXT_INTR_MASK, VMX_CAPS.pin));
  w(F.CPU_BASED_VM_EXEC_CONTROL, adjustControls(proc | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS, VMX_CAPS.proc));
  w(
    F.SECONDARY_VM_EXEC_CONTROL,
    adjustControls(SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST, VMX_CAPS.proc2),
  );
  w(F.VM_EXIT_CONTROLS, adjustControls(0, VMX_CAPS.exit));
  w(F.VM_ENTRY_CONTROLS, adjustControls(0, VMX_CAPS.entry));
  w(F.EPT_POINTER, EPT | (3 << 3) | 6); // 4-level walk, write-back
  w(F.IO_BITMAP_A, IO_A);
  w(F.IO_BITMAP_B, IO_B);
  w(F.MSR_BITMAP, MSR_BITMAP);
  bytes[IO_A + (0x80 >> 3)] |= 1 << (0x80 & 7); // port 80h exits
  w(F.VMCS_LINK_POINTER, 0xffff_ffff_ffff_ffffn);
  for (const s of ['ES', 'SS', 'DS', 'FS', 'GS'] as const) {
    w(F[`GUEST_${s}_LIMIT`], 0xffff);
    w(F[`GUEST_${s}_AR_BYTES`], 0x93);
  }
  w(F.GUEST_CS_LIMIT, 0xffff);
  w(F.GUEST_CS_AR_BYTES, 0x9b);
  w(F.GUEST_LDTR_AR_BYTES, 0x10000); // unusable
  w(F.GUEST_TR_LIMIT, 0xffff);
  w(F.GUEST_TR_AR_BYTES, 0x8b);
  w(F.GUEST_GDTR_LIMIT, 0xffff);
  w(F.GUEST_IDTR_LIMIT, 0x3ff);
  w(F.GUEST_CR0, 0x30); // ET, NE (the only CR0 bit fixed to 1 for an unrestricted guest)
  w(F.GUEST_CR4, 0x2000); // VMXE
  w(F.GUEST_RFLAGS, 2);
  w(F.GUEST_RIP, 0x7c00);
  w(F.GUEST_RSP, 0x7000);
  return { hw: new VmxHardware(standaloneProcessor(cpu)), vmcs, dv, bytes, cpu, w };
}

const r = (vmcs: Vmcs, enc: number) => vmcs.read(enc);
const r32 = (vmcs: Vmcs, enc: number) => vmcs.read32(enc);

describe('VM entry and VM exit', () => {
  it('exits on CPUID, on OUT through the I/O bitmap, on an EPT hole and on HLT with the SDM exit information', () => {
    // cpuid; out 0x80, al; mov ax, 0xB800; mov ds, ax; mov al, [0]; hlt
    const { hw, vmcs } = setup([
      0x0f, 0xa2, 0xe6, 0x80, 0xb8, 0x00, 0xb8, 0x8e, 0xd8, 0xa0, 0x00, 0x00, 0xf4,
    ]);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_CPUID);
    expect(r32(vmcs, F.VM_EXIT_REASON)).toBe(10);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c00n); // the instruction did not execute
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    expect(vmcs.launchState).toBe('launched');

    const skip = () => vmcs.vmwrite(F.GUEST_RIP, r(vmcs, F.GUEST_RIP) + r(vmcs, F.VM_EXIT_INSTRUCTION_LEN));
    skip();
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_IO_INSTRUCTION);
    // Table 27-5: size 1 (0), OUT (bit 3 clear), not string, not REP, immediate operand (bit 6), port 80h.
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0x0080_0040n);
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(2);

    skip();
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_EPT_VIOLATION);
    // Table 27-7: data read (bit 0), not readable/writable/executable, guest-linear valid (7), final (8).
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0x181n);
    expect(r(vmcs, F.GUEST_PHYSICAL_ADDRESS)).toBe(0xb8000n);
    expect(r(vmcs, F.GUEST_LINEAR_ADDRESS)).toBe(0xb8000n);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c09n);
    expect(r32(vmcs, F.IDT_VECTORING_INFO_FIELD)).toBe(0);

    vmcs.vmwrite(F.GUEST_RIP, 0x7c0cn); // skip the MMIO read
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_HLT);
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    expect(r32(vmcs, F.GUEST_DS_SELECTOR)).toBe(0xb800);
    expect(r(vmcs, F.GUEST_DS_BASE)).toBe(0xb8000n);
    expect(r32(vmcs, F.GUEST_CS_AR_BYTES)).toBe(0x9b);
    expect(r32(vmcs, F.GUEST_LDTR_AR_BYTES) & 0x10000).toBe(0x10000);
    expect(r(vmcs, F.GUEST_CR4)).toBe(0x2000n);
  });

  it('reports IN from DX and REP OUTSW with direction, string, REP and the DX operand encoding', () => {
    // mov dx, 0x3f8; in al, dx; rep outsw
    const { hw, vmcs, w, cpu } = setup([0xba, 0xf8, 0x03, 0xec, 0xf3, 0x6f], CPU_BASED_UNCOND_IO_EXITING);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_IO_INSTRUCTION);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c03n);
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0x03f8_0008n); // IN (bit 3), DX encoding
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    w(F.GUEST_RIP, 0x7c04);
    vmcs.vmwrite(F.GUEST_DS_BASE, 0x1000n);
    cpu.r16[1 << 2] = 3; // CX: general registers stay in the processor across exits
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_IO_INSTRUCTION);
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0x03f8_0031n); // size 2, string, REP
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    expect(r(vmcs, F.GUEST_LINEAR_ADDRESS)).toBe(0x1000n); // DS:SI
  });

  it('refuses illegal guest state with a VM-entry failure (reason 33, bit 31) and leaves the VMCS clear', () => {
    const { hw, vmcs, w } = setup([0xf4]);
    w(F.GUEST_CR0, 0x8000_0030); // PG without PE
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    expect(r32(vmcs, F.VM_EXIT_REASON)).toBe(0x8000_0021);
    expect(hw.failReason).toMatch(/PG/);
    expect(vmcs.launchState).toBe('clear');
    w(F.GUEST_CR0, 0x10); // NE clear
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    w(F.GUEST_CR0, 0x30);
    w(F.GUEST_CR4, 0);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    expect(hw.failReason).toMatch(/VMXE/);
    w(F.GUEST_CR4, 0x2000);
    w(F.GUEST_RFLAGS, 0);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    w(F.GUEST_RFLAGS, 2);
    w(F.GUEST_TR_AR_BYTES, 0x1008b); // TR unusable
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    w(F.GUEST_TR_AR_BYTES, 0x8b);
    w(F.GUEST_ACTIVITY_STATE, 4);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    w(F.GUEST_ACTIVITY_STATE, 0);
    w(F.VM_ENTRY_CONTROLS, adjustControls(1 << 9, VMX_CAPS.entry)); // IA-32e mode guest without paging
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    w(F.VM_ENTRY_CONTROLS, adjustControls(0, VMX_CAPS.entry));
    w(F.VMCS_LINK_POINTER, 0);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(INVALID_STATE);
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(4n);
    w(F.VMCS_LINK_POINTER, 0xffff_ffff_ffff_ffffn);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_HLT);
  });

  it('fails VMLAUNCH on a launched VMCS (error 4), VMRESUME on a clear one (5), bad controls (7)', () => {
    const { hw, vmcs, w } = setup([0xf4]);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(r32(vmcs, F.VM_INSTRUCTION_ERROR)).toBe(VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_HLT);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(r32(vmcs, F.VM_INSTRUCTION_ERROR)).toBe(VMXERR_VMLAUNCH_NONCLEAR_VMCS);
    vmcs.vmclear();
    const proc = r32(vmcs, F.CPU_BASED_VM_EXEC_CONTROL);
    w(F.CPU_BASED_VM_EXEC_CONTROL, proc | CPU_BASED_TPR_SHADOW); // not offered
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(r32(vmcs, F.VM_INSTRUCTION_ERROR)).toBe(VMXERR_ENTRY_INVALID_CONTROL_FIELD);
    w(F.CPU_BASED_VM_EXEC_CONTROL, proc & ~0x2); // a default1 bit cleared
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    w(F.CPU_BASED_VM_EXEC_CONTROL, proc);
    w(F.EPT_POINTER, EPT | (3 << 3) | 1); // memory type 1 (WC) is not allowed
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(hw.failReason).toMatch(/EPTP/);
    w(F.EPT_POINTER, EPT | (3 << 3) | 6);
    w(F.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0000 | (3 << 8) | 40); // hardware exception 40
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(vmcs.launchState).toBe('clear');
    vmcs.revisionId = 7;
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_INVALID);
  });

  it('injects an external interrupt and a software interrupt through the guest IVT (SDM 26.5)', () => {
    const { hw, vmcs, dv, w } = setup([0xf4]);
    dv.setUint16(GUEST + 0x40 * 4, 0x7e00, true); // IVT[40h] = 0000:7E00
    dv.setUint8(GUEST + 0x7e00, 0xf4);
    w(F.GUEST_RFLAGS, 0x202);
    w(F.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0040); // external interrupt, vector 40h
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_HLT);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7e00n);
    expect(dv.getUint16(GUEST + 0x7000 - 6, true)).toBe(0x7c00); // IP, CS, FLAGS on the guest stack
    expect(dv.getUint16(GUEST + 0x7000 - 2, true)).toBe(0x202);
    expect(r32(vmcs, F.VM_ENTRY_INTR_INFO_FIELD)).toBe(0x40); // the valid bit is cleared by the exit
    // INT 40h (type 4) with instruction length 2: the return address is after the instruction.
    w(F.GUEST_RIP, 0x7c00);
    w(F.GUEST_RSP, 0x7000);
    w(F.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0440);
    w(F.VM_ENTRY_INSTRUCTION_LEN, 2);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_HLT);
    expect(dv.getUint16(GUEST + 0x7000 - 6, true)).toBe(0x7c02);
  });

  it('reports an EPT violation while delivering an injected event in the IDT-vectoring information', () => {
    const { hw, vmcs, w } = setup([0xf4]);
    w(F.GUEST_SS_SELECTOR, 0xb000);
    w(F.GUEST_SS_BASE, 0xb0000);
    w(F.GUEST_RSP, 0x8010); // the frame lands in the hole at B8000h
    w(F.GUEST_RFLAGS, 0x202);
    w(F.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0040);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_EPT_VIOLATION);
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0x182n); // write, linear valid, final
    expect(r(vmcs, F.GUEST_PHYSICAL_ADDRESS)).toBe(0xb800en);
    expect(r32(vmcs, F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0040);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c00n);
  });

  it('exits on an exception in the exception bitmap with the interruption information', () => {
    const { hw, vmcs, w } = setup([0x0f, 0x0b]); // ud2
    w(F.EXCEPTION_BITMAP, 1 << 6);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_EXCEPTION_NMI);
    expect(r32(vmcs, F.VM_EXIT_INTR_INFO)).toBe(0x8000_0306); // valid, hardware exception, #UD
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c00n);
  });

  it('exits on RDMSR/WRMSR per the MSR bitmap, and always without one', () => {
    // rdmsr; wrmsr; hlt
    const { hw, vmcs, bytes, w, cpu } = setup([0x0f, 0x32, 0x0f, 0x30, 0xf4], CPU_BASED_HLT_EXITING);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_MSR_READ);
    const proc = r32(vmcs, F.CPU_BASED_VM_EXEC_CONTROL);
    w(F.CPU_BASED_VM_EXEC_CONTROL, proc | CPU_BASED_USE_MSR_BITMAPS);
    w(F.GUEST_RIP, 0x7c00);
    bytes[MSR_BITMAP + 2048 + (0x10 >> 3)] |= 1 << (0x10 & 7); // writes of IA32_TSC (10h) exit
    vmcs.vmwrite(F.GUEST_RIP, 0x7c00n);
    cpu.r32[2] = 0x10; // ECX is not in the VMCS: it stays in the processor
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_MSR_WRITE);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c02n); // the read did not exit
  });

  it('keeps host-owned CR0 bits: reads see the read shadow, writes differing from it exit (SDM 25.1.3, 25.3)', () => {
    // mov eax, cr0; mov [0x600], eax; mov cr0, eax; or al, 0x20; mov cr0, eax
    const code = [0x0f, 0x20, 0xc0, 0x66, 0xa3, 0x00, 0x06, 0x0f, 0x22, 0xc0, 0x0c, 0x20, 0x0f, 0x22, 0xc0];
    const { hw, vmcs, dv, w } = setup(code);
    w(F.CR0_GUEST_HOST_MASK, 0x20); // the host owns NE
    w(F.CR0_READ_SHADOW, 0); // the guest believes NE is clear
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_CR_ACCESS);
    expect(dv.getUint32(GUEST + 0x600, true)).toBe(0x10); // ET only: NE read from the shadow
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c0cn); // the first MOV to CR0 matched the shadow and ran
    expect(r(vmcs, F.GUEST_CR0)).toBe(0x30n); // NE kept
    // Table 27-3: CR0, MOV to CR (0), GPR 0 (EAX).
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0n);
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(3);
  });

  it('ends the quantum with an external-interrupt exit, the guest resumable where it was', () => {
    const { hw, vmcs, cpu } = setup([0x40, 0xeb, 0xfd]); // inc ax; jmp back
    expect(hw.vmlaunch(VMCS_PA, 999)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
    expect(r32(vmcs, F.VM_EXIT_INTR_INFO)).toBe(0); // the host's interrupt: no guest vector
    const ax = cpu.r16[0];
    expect(ax).toBeGreaterThan(400);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
    expect(cpu.r16[0]).toBeGreaterThan(ax);
  });

  it('exits at an open interrupt window (reason 7) after STI and its shadow', () => {
    // sti; nop; hlt
    const { hw, vmcs } = setup([0xfb, 0x90, 0xf4], CPU_BASED_HLT_EXITING | CPU_BASED_INTR_WINDOW_EXITING);
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_PENDING_INTERRUPT);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c02n);
  });

  it('NMI-window exiting (reason 8) needs virtual NMIs, waits out virtual-NMI and MOV SS blocking (SDM 25.2, 26.2.1.1)', () => {
    // mov ss, ax ; nop ; hlt
    const { hw, vmcs, w } = setup(
      [0x8e, 0xd0, 0x90, 0xf4],
      CPU_BASED_HLT_EXITING | CPU_BASED_NMI_WINDOW_EXITING,
    );
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(hw.failReason).toMatch(/NMI-window exiting without virtual NMIs/);
    w(F.PIN_BASED_VM_EXEC_CONTROL, adjustControls(PIN_BASED_VIRTUAL_NMIS, VMX_CAPS.pin));
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(VMX_FAIL_VALID);
    expect(hw.failReason).toMatch(/virtual NMIs without NMI exiting/);
    w(
      F.PIN_BASED_VM_EXEC_CONTROL,
      adjustControls(PIN_BASED_NMI_EXITING | PIN_BASED_VIRTUAL_NMIS, VMX_CAPS.pin),
    );
    w(F.GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI); // inside an NMI handler
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_HLT); // the window never opened
    w(F.GUEST_INTERRUPTIBILITY_INFO, 0);
    w(F.GUEST_RIP, 0x7c00);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_NMI_WINDOW); // open at once
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c00n);
    // After MOV SS the window opens only past the next instruction.
    w(F.GUEST_RIP, 0x7c00);
    w(F.CPU_BASED_VM_EXEC_CONTROL, r32(vmcs, F.CPU_BASED_VM_EXEC_CONTROL) & ~CPU_BASED_NMI_WINDOW_EXITING);
    expect(hw.vmresume(VMCS_PA, 1)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT); // one instruction: MOV SS
    expect(r32(vmcs, F.GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_STATE_MOV_SS).toBe(GUEST_INTR_STATE_MOV_SS);
    w(F.CPU_BASED_VM_EXEC_CONTROL, r32(vmcs, F.CPU_BASED_VM_EXEC_CONTROL) | CPU_BASED_NMI_WINDOW_EXITING);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_NMI_WINDOW);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c03n);
  });

  it('keeps a halted guest halted (activity state HLT) and answers INIT and SIPI in wait-for-SIPI', () => {
    const { hw, vmcs, w } = setup([0xf4], 0); // HLT does not exit
    expect(hw.vmlaunch(VMCS_PA, 1000)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
    expect(r32(vmcs, F.GUEST_ACTIVITY_STATE)).toBe(GUEST_ACTIVITY_HLT);
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c01n);
    hw.signalInit();
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_INIT_SIGNAL);
    w(F.GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_WAIT_SIPI);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT); // not running
    expect(r32(vmcs, F.GUEST_ACTIVITY_STATE)).toBe(GUEST_ACTIVITY_WAIT_SIPI);
    hw.signalSipi(0x9a);
    expect(hw.vmresume(VMCS_PA, 1000)).toBe(EXIT_REASON_SIPI_SIGNAL);
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0x9an);
  });
});

describe('PAUSE exiting and PAUSE-loop exiting (SDM 25.1.3; PLE_Gap and PLE_Window, 24.6.13)', () => {
  const PAUSE_LOOP = [0xf3, 0x90, 0xeb, 0xfc]; // pause; jmp back: a PAUSE every 2 TSC ticks
  function withPle(code: number[], gap: number, window: number, proc = CPU_BASED_HLT_EXITING) {
    const g = setup(code, proc);
    const proc2 =
      SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST | SECONDARY_EXEC_PAUSE_LOOP_EXITING;
    g.w(F.SECONDARY_VM_EXEC_CONTROL, adjustControls(proc2, VMX_CAPS.proc2));
    g.w(F.PLE_GAP, gap);
    g.w(F.PLE_WINDOW, window);
    return g;
  }

  it('exits at the first PAUSE more than PLE_Window ticks after the one that began the loop', () => {
    const { hw, vmcs, cpu } = withPle(PAUSE_LOOP, 128, 1000);
    expect(hw.vmlaunch(VMCS_PA, 100_000)).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
    expect(cpu.icount).toBe(1002); // the loop began at TSC 0; 1002 - 0 > 1000
    expect(r(vmcs, F.GUEST_RIP)).toBe(0x7c00n); // on the PAUSE, which did not execute
    expect(r32(vmcs, F.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    expect(r(vmcs, F.EXIT_QUALIFICATION)).toBe(0n);
  });

  it('the first PAUSE after a VM entry begins a new loop', () => {
    const { hw, cpu } = withPle(PAUSE_LOOP, 128, 1000);
    expect(hw.vmlaunch(VMCS_PA, 100_000)).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
    expect(hw.vmresume(VMCS_PA, 100_000)).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
    expect(cpu.icount).toBe(2004);
  });

  it('PAUSEs further apart than PLE_Gap each begin a loop and never exit', () => {
    // pause; mov cx, 100; loop $; jmp back: 103 ticks from one PAUSE to the next
    const code = [0xf3, 0x90, 0xb9, 0x64, 0x00, 0xe2, 0xfe, 0xeb, 0xf7];
    const far = withPle(code, 50, 1000);
    expect(far.hw.vmlaunch(VMCS_PA, 20_000)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
    const near = withPle(code, 200, 1000);
    expect(near.hw.vmlaunch(VMCS_PA, 20_000)).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
    expect(near.cpu.icount).toBe(1030); // PAUSEs at 0, 103, ..., 1030: the first past 1000
  });

  it('PLE_Window 0: the second PAUSE of a loop exits', () => {
    const { hw, cpu } = withPle(PAUSE_LOOP, 128, 0);
    expect(hw.vmlaunch(VMCS_PA, 100_000)).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
    expect(cpu.icount).toBe(2);
  });

  it('"PAUSE exiting" exits on every PAUSE and overrides PAUSE-loop exiting', () => {
    const { hw, cpu } = withPle(PAUSE_LOOP, 128, 1000, CPU_BASED_HLT_EXITING | CPU_BASED_PAUSE_EXITING);
    expect(hw.vmlaunch(VMCS_PA, 100_000)).toBe(EXIT_REASON_PAUSE_INSTRUCTION);
    expect(cpu.icount).toBe(0);
  });

  it('without either control PAUSE runs until the quantum ends', () => {
    const { hw } = setup(PAUSE_LOOP);
    expect(hw.vmlaunch(VMCS_PA, 10_000)).toBe(EXIT_REASON_EXTERNAL_INTERRUPT);
  });
});
