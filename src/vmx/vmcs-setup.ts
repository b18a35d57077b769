// What the VMX backend builds in host memory once per VM and once per vCPU, as KVM's vmx.c does in
// init_vmcs and vmx_vcpu_reset: the EPT paging structures, the MSR bitmap, the VMCS controls and the
// guest's RESET/INIT state (Intel SDM vol 3C 9.1.1 Table 9-1, unrestricted guest 26.3.1.1).
import type { ControlBlockMemory } from '../host/host-memory.js';
import type { VmmServices } from '../vmm/backend-api.js';
import { VMM_MSRS } from '../vmm/vmm-msrs.js';
import {
  adjustControls,
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_MSR_BITMAPS,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_VIRTUAL_NMIS,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_RDTSCP,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_PAUSE_LOOP_EXITING,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_LOAD_IA32_EFER,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_EXIT_SAVE_IA32_EFER,
  VM_EXIT_SAVE_IA32_PAT,
  VMX_CAPS,
  VMX_EPTP_MT_WB,
  VMX_EPTP_PWL_4,
  X86_CR4_VMXE,
} from './hw/vmx-controls.js';
import { VMCS_REVISION_ID, Vmcs } from './vmcs.js';
import { VMCS_FIELD as F, GUEST_ACTIVITY_ACTIVE } from './vmcs-fields.js';

const TWO_MIB = 2 ** 21;
/** EPT leaf bits: read, write, execute, memory type WB (bits 5:3), large page (bit 7). */
const EPT_RWX = 7;
const EPT_LARGE_WB = EPT_RWX | (VMX_EPTP_MT_WB << 3) | 0x80;
const EPT_4K_WB = EPT_RWX | (VMX_EPTP_MT_WB << 3);
const PAGE = 4096;

/** CR0.NE is fixed to 1 in VMX operation (A.7): the guest owns every other bit and sees NE through the shadow. */
export const CR0_NE = 0x20;
/** CR0 at RESET: CD, NW, ET (Table 9-1). */
export const CR0_RESET = 0x6000_0010;

/**
 * EPT for the VM (SDM 28.2.2): guest RAM identity-mapped (gpa X -> hpa X) in 2 MiB WB pages, a
 * tail that is not a whole 2 MiB page in 4 KiB WB pages (a part of a page stays unmapped: the
 * host pages after RAM hold control structures); the rest absent.
 */
export function buildEptTables(services: VmmServices): number {
  const v = services.memory;
  const ram = services.guestRamBytes;
  const pml4 = services.allocHostPages(1);
  const pdpt = services.allocHostPages(1);
  v.setUint32(pml4, pdpt + EPT_RWX, true);
  for (let g = 0; g < Math.ceil(ram / 2 ** 30); g++) {
    const pd = services.allocHostPages(1);
    v.setUint32(pdpt + g * 8, pd + EPT_RWX, true);
    for (let i = 0; i < 512; i++) {
      const gpa = g * 2 ** 30 + i * TWO_MIB;
      if (gpa + TWO_MIB > ram) break;
      v.setUint32(pd + i * 8, (gpa % 2 ** 32) + EPT_LARGE_WB, true);
      v.setUint32(pd + i * 8 + 4, Math.floor(gpa / 2 ** 32), true);
    }
  }
  const tail = ram - (ram % TWO_MIB);
  for (let gpa = tail; gpa + PAGE <= ram; gpa += PAGE) {
    const pd = eptTable(v, eptTable(v, pml4, gpa, 4), gpa, 3);
    const pt = eptTable(v, pd, gpa, 2, services);
    const pte = pt + (Math.floor(gpa / PAGE) % 512) * 8;
    v.setUint32(pte, (gpa % 2 ** 32) + EPT_4K_WB, true);
    v.setUint32(pte + 4, Math.floor(gpa / 2 ** 32), true);
  }
  return pml4;
}

/** Map guest-physical [gpa, gpa + bytes) to host pages at hpa in 4 KiB WB pages (a firmware image). */
export function mapEptPages(
  services: VmmServices,
  pml4: number,
  gpa: number,
  hpa: number,
  bytes: number,
): void {
  const v = services.memory;
  for (let off = 0; off < bytes; off += PAGE) {
    const g = gpa + off;
    const pd = eptTable(v, eptTable(v, pml4, g, 4, services), g, 3, services);
    const pt = eptTable(v, pd, g, 2, services);
    const pte = pt + (Math.floor(g / PAGE) % 512) * 8;
    v.setUint32(pte, ((hpa + off) % 2 ** 32) + EPT_4K_WB, true);
    v.setUint32(pte + 4, Math.floor((hpa + off) / 2 ** 32), true);
  }
}

/** The table an EPT entry of `level` points to for `gpa`, made (RWX) if `services` is given and it is absent. */
function eptTable(
  v: ControlBlockMemory,
  table: number,
  gpa: number,
  level: number,
  services?: VmmServices,
): number {
  const ent = table + (Math.floor(gpa / 2 ** (3 + 9 * level)) % 512) * 8;
  if ((v.getUint32(ent, true) & EPT_RWX) === 0) {
    if (services === undefined) throw new Error(`no EPT table for 0x${gpa.toString(16)} at level ${level}`);
    v.setUint32(ent, services.allocHostPages(1) + EPT_RWX, true);
    v.setUint32(ent + 4, 0, true);
  }
  const lo = v.getUint32(ent, true);
  return v.getUint32(ent + 4, true) * 2 ** 32 + (lo - (lo % PAGE));
}

/** EPTP (SDM 24.6.11): WB, 4-level walk. In BigInt: a root at 2 GiB or above is not a negative int32. */
export function eptPointer(root: number): bigint {
  return BigInt(root) | BigInt(VMX_EPTP_PWL_4 | VMX_EPTP_MT_WB);
}

/**
 * MSR bitmap (SDM 24.6.9): the local APIC is the VMM's, so APIC_BASE, TSC_DEADLINE and the x2APIC
 * range exit on read and write; every other MSR (EFER included: it is in the VMCS) passes through.
 */
export function buildMsrBitmap(services: VmmServices): number {
  const pa = services.allocHostPages(1);
  const map = new Uint8Array(4096);
  const intercept = (msr: number) => {
    for (const base of [0, 2048]) map[base + (msr >>> 3)] |= 1 << (msr & 7);
  };
  intercept(0x1b);
  intercept(0x6e0);
  for (const msr of VMM_MSRS) if (msr <= 0x1fff) intercept(msr); // the others always exit
  for (let msr = 0x800; msr <= 0x8ff; msr++) intercept(msr);
  services.memory.write(pa, map);
  return pa;
}

/** KVM's ple_gap and ple_window defaults (TSC ticks; here one tick per instruction). */
export const KVM_DEFAULT_PLE_GAP = 128;
export const KVM_VMX_DEFAULT_PLE_WINDOW = 4096;

/**
 * init_vmcs: a fresh VMCS region with the execution, exit and entry controls. PAUSE-loop exiting is
 * on with KVM's defaults, so a vCPU spinning on a lock gives up its quantum (handle_pause YIELDs)
 * instead of running it out; plain "PAUSE exiting" stays off, as it would exit on every PAUSE.
 */
export function initVmcs(services: VmmServices, eptRoot: number, msrBitmap: number, vpid: number): Vmcs {
  const pa = services.allocHostPages(1);
  const vmcs = new Vmcs(services.memory, pa);
  vmcs.revisionId = VMCS_REVISION_ID;
  vmcs.vmclear();
  vmcs.write32(
    F.PIN_BASED_VM_EXEC_CONTROL,
    adjustControls(PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING | PIN_BASED_VIRTUAL_NMIS, VMX_CAPS.pin),
  );
  vmcs.write32(
    F.CPU_BASED_VM_EXEC_CONTROL,
    adjustControls(
      CPU_BASED_HLT_EXITING |
        CPU_BASED_UNCOND_IO_EXITING |
        CPU_BASED_USE_MSR_BITMAPS |
        CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
      VMX_CAPS.proc,
    ),
  );
  vmcs.write32(
    F.SECONDARY_VM_EXEC_CONTROL,
    adjustControls(
      SECONDARY_EXEC_ENABLE_EPT |
        SECONDARY_EXEC_UNRESTRICTED_GUEST |
        SECONDARY_EXEC_ENABLE_RDTSCP |
        SECONDARY_EXEC_ENABLE_VPID |
        SECONDARY_EXEC_PAUSE_LOOP_EXITING,
      VMX_CAPS.proc2,
    ),
  );
  // A VPID of its own (KVM's allocate_vpid; 0 is the host's) keeps the vCPU's TLB across exits: without
  // one every VM entry and exit flushes it (SDM 28.3.3.3).
  vmcs.write32(F.VIRTUAL_PROCESSOR_ID, vpid);
  vmcs.write32(F.PLE_GAP, KVM_DEFAULT_PLE_GAP);
  vmcs.write32(F.PLE_WINDOW, KVM_VMX_DEFAULT_PLE_WINDOW);
  vmcs.write32(
    F.VM_EXIT_CONTROLS,
    adjustControls(VM_EXIT_SAVE_IA32_EFER | VM_EXIT_SAVE_IA32_PAT, VMX_CAPS.exit),
  );
  vmcs.write32(
    F.VM_ENTRY_CONTROLS,
    adjustControls(VM_ENTRY_LOAD_IA32_EFER | VM_ENTRY_LOAD_IA32_PAT, VMX_CAPS.entry),
  );
  vmcs.write(F.EPT_POINTER, eptPointer(eptRoot));
  vmcs.write(F.MSR_BITMAP, BigInt(msrBitmap));
  vmcs.write(F.VMCS_LINK_POINTER, 0xffff_ffff_ffff_ffffn);
  vmcs.write32(F.EXCEPTION_BITMAP, 0);
  // NE is the host's (fixed to 1, shadowed as the guest wrote it); VMXE likewise (KVM hides it).
  vmcs.write(F.CR0_GUEST_HOST_MASK, BigInt(CR0_NE));
  vmcs.write(F.CR4_GUEST_HOST_MASK, BigInt(X86_CR4_VMXE));
  return vmcs;
}

/** The RESET/INIT state (SDM 9.1.1 Table 9-1) in the guest-state area; real mode under unrestricted guest. */
export function resetGuestState(vmcs: Vmcs): void {
  const seg = (name: string, selector: number, base: number, ar: number) => {
    vmcs.write32(F[`GUEST_${name}_SELECTOR` as keyof typeof F], selector);
    vmcs.write(F[`GUEST_${name}_BASE` as keyof typeof F], BigInt(base));
    vmcs.write32(F[`GUEST_${name}_LIMIT` as keyof typeof F], 0xffff);
    vmcs.write32(F[`GUEST_${name}_AR_BYTES` as keyof typeof F], ar);
  };
  for (const s of ['ES', 'SS', 'DS', 'FS', 'GS']) seg(s, 0, 0, 0x93);
  seg('CS', 0xf000, 0xffff0000, 0x9b);
  seg('LDTR', 0, 0, 0x82);
  seg('TR', 0, 0, 0x8b);
  vmcs.write(F.GUEST_GDTR_BASE, 0n);
  vmcs.write32(F.GUEST_GDTR_LIMIT, 0xffff);
  vmcs.write(F.GUEST_IDTR_BASE, 0n);
  vmcs.write32(F.GUEST_IDTR_LIMIT, 0xffff);
  vmcs.write(F.GUEST_CR0, BigInt(CR0_RESET | CR0_NE));
  vmcs.write(F.CR0_READ_SHADOW, BigInt(CR0_RESET));
  vmcs.write(F.GUEST_CR3, 0n);
  vmcs.write(F.GUEST_CR4, BigInt(X86_CR4_VMXE));
  vmcs.write(F.CR4_READ_SHADOW, 0n);
  vmcs.write(F.GUEST_IA32_EFER, 0n);
  vmcs.write(F.GUEST_IA32_PAT, 0x0007040600070406n);
  vmcs.write(F.GUEST_DR7, 0x400n);
  vmcs.write(F.GUEST_RFLAGS, 2n);
  vmcs.write(F.GUEST_RIP, 0xfff0n);
  vmcs.write(F.GUEST_RSP, 0n);
  vmcs.write32(F.GUEST_SYSENTER_CS, 0);
  vmcs.write(F.GUEST_SYSENTER_ESP, 0n);
  vmcs.write(F.GUEST_SYSENTER_EIP, 0n);
  vmcs.write32(F.GUEST_INTERRUPTIBILITY_INFO, 0);
  vmcs.write32(F.GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
  vmcs.write32(F.VM_ENTRY_INTR_INFO_FIELD, 0);
  vmcs.write32(F.VM_ENTRY_CONTROLS, vmcs.read32(F.VM_ENTRY_CONTROLS) & ~VM_ENTRY_IA32E_MODE);
}
