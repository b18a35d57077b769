// The VMCS region: format per SDM vol 3C 24.2 Table 24-1 "Format of the VMCS Region"; VMREAD/VMWRITE
// per their SDM vol 2 operation sections; error numbers per 30.4 Table 30-1; launch-state rules per
// 24.1 (Figure 24-1 "States of VMCS X") and the VM-entry basic checks of 26.1.
import { describe, expect, it } from 'vitest';
import {
  isVmcsFieldSupported,
  VMCS_DATA_END,
  VMCS_REGION_SIZE,
  VMCS_REVISION_ID,
  VMCS_SUPPORTED_FIELDS,
  Vmcs,
  vmcsSlotOffset,
} from './vmcs.js';
import {
  VMCS_FIELD,
  VMXERR_UNSUPPORTED_VMCS_COMPONENT,
  VMXERR_VMLAUNCH_NONCLEAR_VMCS,
  VMXERR_VMRESUME_NONLAUNCHED_VMCS,
  VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT,
  vmcsFieldType,
} from './vmcs-fields.js';

const F = VMCS_FIELD;

function freshVmcs(at = 0x1000): { mem: DataView; vmcs: Vmcs } {
  const mem = new DataView(new ArrayBuffer(0x3000));
  const vmcs = new Vmcs(mem, at);
  vmcs.revisionId = VMCS_REVISION_ID;
  vmcs.vmclear();
  return { mem, vmcs };
}

describe('VMCS region format (SDM Table 24-1)', () => {
  it('keeps the revision identifier in bits 30:0 and the shadow indicator in bit 31 of byte 0', () => {
    const { mem, vmcs } = freshVmcs();
    expect(mem.getUint32(0x1000, true)).toBe(VMCS_REVISION_ID);
    vmcs.shadowIndicator = true;
    expect(mem.getUint32(0x1000, true)).toBe((0x8000_0000 | VMCS_REVISION_ID) >>> 0);
    expect(vmcs.revisionId).toBe(VMCS_REVISION_ID);
    vmcs.revisionId = 0x7fff_ffff;
    expect(vmcs.shadowIndicator).toBe(true);
    expect(mem.getUint32(0x1000, true)).toBe(0xffff_ffff);
    vmcs.shadowIndicator = false;
    expect(mem.getUint32(0x1000, true)).toBe(0x7fff_ffff);
  });

  it('keeps the VMX-abort indicator in bytes 4-7', () => {
    const { mem, vmcs } = freshVmcs();
    vmcs.abortIndicator = 2; // VMX_ABORT_LOAD_HOST_PDPTE_FAIL
    expect(mem.getUint32(0x1004, true)).toBe(2);
    expect(vmcs.abortIndicator).toBe(2);
  });

  it('fits our data area in the 4 KiB region, one slot per supported field, after byte 8', () => {
    expect(VMCS_REGION_SIZE).toBe(0x1000);
    expect(VMCS_DATA_END).toBeLessThanOrEqual(VMCS_REGION_SIZE);
    const offsets = VMCS_SUPPORTED_FIELDS.map(vmcsSlotOffset);
    expect(new Set(offsets).size).toBe(VMCS_SUPPORTED_FIELDS.length);
    for (const o of offsets) expect(o).toBeGreaterThanOrEqual(8);
    expect(new Set(VMCS_SUPPORTED_FIELDS).size).toBe(VMCS_SUPPORTED_FIELDS.length);
    for (const e of VMCS_SUPPORTED_FIELDS) expect(Object.values(F)).toContain(e);
  });

  it('supports the fields a VMM needs to run a guest under EPT', () => {
    for (const e of [
      F.GUEST_RIP,
      F.GUEST_ACTIVITY_STATE,
      F.GUEST_INTERRUPTIBILITY_INFO,
      F.VMCS_LINK_POINTER,
      F.GUEST_IA32_EFER,
      F.GUEST_IA32_PAT,
      F.PIN_BASED_VM_EXEC_CONTROL,
      F.CPU_BASED_VM_EXEC_CONTROL,
      F.SECONDARY_VM_EXEC_CONTROL,
      F.EXCEPTION_BITMAP,
      F.IO_BITMAP_A,
      F.IO_BITMAP_B,
      F.MSR_BITMAP,
      F.VM_EXIT_CONTROLS,
      F.VM_ENTRY_CONTROLS,
      F.VM_ENTRY_INTR_INFO_FIELD,
      F.VM_ENTRY_EXCEPTION_ERROR_CODE,
      F.VM_ENTRY_INSTRUCTION_LEN,
      F.EPT_POINTER,
      F.VIRTUAL_PROCESSOR_ID,
      F.VM_INSTRUCTION_ERROR,
      F.VM_EXIT_REASON,
      F.EXIT_QUALIFICATION,
      F.GUEST_LINEAR_ADDRESS,
      F.GUEST_PHYSICAL_ADDRESS,
      F.HOST_RIP,
    ]) {
      expect(isVmcsFieldSupported(e)).toBe(true);
    }
  });
});

describe('VMREAD / VMWRITE', () => {
  it('round-trips each width, truncating to the field', () => {
    const { vmcs } = freshVmcs();
    expect(vmcs.vmwrite(F.GUEST_CS_SELECTOR, 0x1_0008n)).toBe(0);
    expect(vmcs.vmread(F.GUEST_CS_SELECTOR)).toEqual({ ok: true, value: 0x0008n });
    expect(vmcs.vmwrite(F.GUEST_CS_LIMIT, 0xf_ffff_ffffn)).toBe(0);
    expect(vmcs.vmread(F.GUEST_CS_LIMIT)).toEqual({ ok: true, value: 0xffff_ffffn });
    expect(vmcs.vmwrite(F.GUEST_IA32_EFER, 0x0d01n)).toBe(0);
    expect(vmcs.vmread(F.GUEST_IA32_EFER)).toEqual({ ok: true, value: 0x0d01n });
    expect(vmcs.vmwrite(F.GUEST_RIP, 0xffff_ffff_8100_0000n)).toBe(0);
    expect(vmcs.vmread(F.GUEST_RIP)).toEqual({ ok: true, value: 0xffff_ffff_8100_0000n });
    expect(vmcs.vmwrite(F.VMCS_LINK_POINTER, -1n)).toBe(0); // all ones, as VM entry requires
    expect(vmcs.vmread(F.VMCS_LINK_POINTER)).toEqual({ ok: true, value: 0xffff_ffff_ffff_ffffn });
  });

  it('accesses the high 32 bits of a 64-bit field through the odd encoding', () => {
    const { vmcs } = freshVmcs();
    vmcs.vmwrite(F.EPT_POINTER, 0x1234_5678_9abc_d05en);
    expect(vmcs.vmread(F.EPT_POINTER + 1)).toEqual({ ok: true, value: 0x1234_5678n });
    expect(vmcs.vmwrite(F.EPT_POINTER + 1, 0xffff_ffff_0000_00aan)).toBe(0); // only the low 32 bits count
    expect(vmcs.vmread(F.EPT_POINTER)).toEqual({ ok: true, value: 0x0000_00aa_9abc_d05en });
  });

  it('fails an encoding that names no supported field with error 12, recorded in the VMCS', () => {
    const { vmcs } = freshVmcs();
    const unsupported = [
      0x6c18, // past HOST_RIP
      F.POSTED_INTR_NV, // a real field for a feature we do not offer
      F.TPR_THRESHOLD,
      F.VMX_PREEMPTION_TIMER_VALUE,
      0x4003, // high access to a 32-bit field
      0x6801, // high access to a natural-width field
      0x0801, // high access to a 16-bit field
      F.GUEST_RIP | 0x1000, // bit 12 reserved
      F.GUEST_RIP | 0x8000, // bits 31:15 reserved
      0x1_0000_681e, // beyond 32 bits
      -2,
    ];
    for (const e of unsupported) {
      expect(vmcs.vmread(e)).toEqual({ ok: false, error: VMXERR_UNSUPPORTED_VMCS_COMPONENT });
      expect(vmcs.vmwrite(e, 1n)).toBe(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    }
    expect(vmcs.read32(F.VM_INSTRUCTION_ERROR)).toBe(12);
    expect(vmcs.vmread(F.VM_INSTRUCTION_ERROR)).toEqual({ ok: true, value: 12n });
  });

  it('fails VMWRITE to every read-only field with error 13 and leaves it unchanged', () => {
    const { vmcs } = freshVmcs();
    const readOnly = VMCS_SUPPORTED_FIELDS.filter((e) => vmcsFieldType(e) === 1);
    expect(readOnly).toEqual([
      F.GUEST_PHYSICAL_ADDRESS,
      F.VM_INSTRUCTION_ERROR,
      F.VM_EXIT_REASON,
      F.VM_EXIT_INTR_INFO,
      F.VM_EXIT_INTR_ERROR_CODE,
      F.IDT_VECTORING_INFO_FIELD,
      F.IDT_VECTORING_ERROR_CODE,
      F.VM_EXIT_INSTRUCTION_LEN,
      F.VMX_INSTRUCTION_INFO,
      F.EXIT_QUALIFICATION,
      F.IO_RCX,
      F.IO_RSI,
      F.IO_RDI,
      F.IO_RIP,
      F.GUEST_LINEAR_ADDRESS,
    ]);
    vmcs.write(F.EXIT_QUALIFICATION, 0x55n); // the hardware side may write it (VM exit)
    for (const e of readOnly) {
      if (e === F.VM_INSTRUCTION_ERROR) continue;
      expect(vmcs.vmwrite(e, 0xdeadn)).toBe(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT);
      expect(vmcs.read32(F.VM_INSTRUCTION_ERROR)).toBe(13);
    }
    expect(vmcs.vmwrite(F.GUEST_PHYSICAL_ADDRESS + 1, 1n)).toBe(13); // the high half too
    expect(vmcs.vmread(F.EXIT_QUALIFICATION)).toEqual({ ok: true, value: 0x55n });
    expect(vmcs.vmread(F.GUEST_PHYSICAL_ADDRESS)).toEqual({ ok: true, value: 0n });
  });

  it('keeps state in the region: a second view of the same memory sees the same VMCS', () => {
    const { mem, vmcs } = freshVmcs();
    vmcs.vmwrite(F.GUEST_RSP, 0x7000n);
    vmcs.markLaunched();
    const again = new Vmcs(mem, 0x1000);
    expect(again.vmread(F.GUEST_RSP)).toEqual({ ok: true, value: 0x7000n });
    expect(again.launchState).toBe('launched');
    expect(new Vmcs(mem, 0x2000).vmread(F.GUEST_RSP)).toEqual({ ok: true, value: 0n }); // another region
  });

  it('offers number access to narrow fields and refuses it for wide ones', () => {
    const { vmcs } = freshVmcs();
    vmcs.write32(F.VM_EXIT_REASON, 0x8000_0021);
    expect(vmcs.read32(F.VM_EXIT_REASON)).toBe(0x8000_0021);
    vmcs.write32(F.GUEST_TR_SELECTOR, 0x12_3456);
    expect(vmcs.read(F.GUEST_TR_SELECTOR)).toBe(0x3456n);
    expect(() => vmcs.read32(F.GUEST_RIP)).toThrow(RangeError);
    expect(() => vmcs.read(F.POSTED_INTR_NV)).toThrow(/POSTED_INTR_NV is not supported/);
  });

  it('refuses a region that does not fit in the view', () => {
    expect(() => new Vmcs(new DataView(new ArrayBuffer(0x1800)), 0x1000)).toThrow(RangeError);
  });
});

describe('launch state (SDM 24.1 Figure 24-1, 26.1)', () => {
  it('starts clear after VMCLEAR: VMRESUME fails with 5, VMLAUNCH passes', () => {
    const { vmcs } = freshVmcs();
    expect(vmcs.launchState).toBe('clear');
    expect(vmcs.checkLaunchState(true)).toBe(VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    expect(vmcs.read32(F.VM_INSTRUCTION_ERROR)).toBe(5);
    expect(vmcs.checkLaunchState(false)).toBe(0);
  });

  it('is launched after a VMLAUNCH: VMLAUNCH fails with 4, VMRESUME passes', () => {
    const { vmcs } = freshVmcs();
    vmcs.markLaunched();
    expect(vmcs.launchState).toBe('launched');
    expect(vmcs.checkLaunchState(false)).toBe(VMXERR_VMLAUNCH_NONCLEAR_VMCS);
    expect(vmcs.read32(F.VM_INSTRUCTION_ERROR)).toBe(4);
    expect(vmcs.checkLaunchState(true)).toBe(0);
  });

  it('returns to clear on VMCLEAR, keeping the field contents', () => {
    const { vmcs } = freshVmcs();
    vmcs.vmwrite(F.GUEST_CR3, 0x1000n);
    vmcs.markLaunched();
    vmcs.vmclear();
    expect(vmcs.launchState).toBe('clear');
    expect(vmcs.checkLaunchState(false)).toBe(0);
    expect(vmcs.vmread(F.GUEST_CR3)).toEqual({ ok: true, value: 0x1000n });
    expect(vmcs.revisionId).toBe(VMCS_REVISION_ID);
  });
});
