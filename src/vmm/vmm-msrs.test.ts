// The MTRRs as the hypervisor holds them for an SEV-ES vCPU (KVM's kvm_mtrr_get_msr/set_msr): the
// memory types of SDM vol 3 11.11.1 (0 UC, 1 WC, 4 WT, 5 WP, 6 WB; 2, 3 and 7+ reserved), the
// reserved bits of MTRRdefType (11.11.2.1) and the variable-range pair (11.11.2.3) give #GP.
import { describe, expect, it } from 'vitest';
import {
  MSR_MTRR_DEF_TYPE,
  MSR_MTRRCAP,
  MTRR_DEF_TYPE_E,
  MTRR_MSRS,
  MTRR_TYPE_WB,
  VmmMsrs,
} from './vmm-msrs.js';

describe('VmmMsrs: MTRRs', () => {
  it('reports MTRRcap as KVM does and keeps what is written', () => {
    const m = new VmmMsrs();
    expect(m.read(MSR_MTRRCAP)).toBe(0x508n); // 8 variable ranges, fixed ranges, WC
    expect(m.write(MSR_MTRRCAP, 0n)).toBe(false); // read-only
    for (const msr of MTRR_MSRS) if (msr !== MSR_MTRRCAP) expect(m.read(msr)).toBe(0n); // RESET
    expect(m.write(MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WB)).toBe(true);
    expect(m.read(MSR_MTRR_DEF_TYPE)).toBe(0x806n);
    expect(m.write(0x200, 0xc0000000n)).toBe(true); // PHYSBASE0: UC at 3 GiB
    expect(m.write(0x201, 0xffffc0000800n)).toBe(true); // PHYSMASK0: 1 GiB, valid
    expect(m.write(0x250, 0x0606060606060606n)).toBe(true); // FIX64K_00000: all WB
    expect(m.read(0x201)).toBe(0xffffc0000800n);
  });

  it('refuses reserved types and bits (#GP)', () => {
    const m = new VmmMsrs();
    expect(m.write(MSR_MTRR_DEF_TYPE, 0x802n)).toBe(false); // type 2 is reserved
    expect(m.write(MSR_MTRR_DEF_TYPE, 0x1806n)).toBe(false); // bit 12 is reserved
    expect(m.write(0x200, 0x107n)).toBe(false); // type 7, and bit 8
    expect(m.write(0x201, 0x400n)).toBe(false); // PHYSMASK bits 10:0 are reserved
    expect(m.write(0x258, 0x0300000000000000n)).toBe(false); // a fixed-range byte of type 3
    expect(m.read(MSR_MTRR_DEF_TYPE)).toBe(0n);
  });
});
