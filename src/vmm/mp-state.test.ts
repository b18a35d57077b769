import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import {
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_OPERATING,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_STOPPED,
  KVM_MP_STATE_UNINITIALIZED,
} from './kvm-abi.js';
import { checkSetMpState, type MpStateContext } from './mp-state.js';

const plain: MpStateContext = { lapicInKernel: true, initSipiAllowed: true };

describe('KVM_SET_MP_STATE rules', () => {
  it('uses the uapi numbers', () => {
    // include/uapi/linux/kvm.h
    expect([
      KVM_MP_STATE_RUNNABLE,
      KVM_MP_STATE_UNINITIALIZED,
      KVM_MP_STATE_INIT_RECEIVED,
      KVM_MP_STATE_HALTED,
      KVM_MP_STATE_SIPI_RECEIVED,
      KVM_MP_STATE_AP_RESET_HOLD,
    ]).toEqual([0, 1, 2, 3, 4, 9]);
  });

  it('stores SIPI_RECEIVED as INIT_RECEIVED with a latched SIPI', () => {
    expect(checkSetMpState(plain, KVM_MP_STATE_SIPI_RECEIVED)).toEqual({
      state: KVM_MP_STATE_INIT_RECEIVED,
      latchSipi: true,
    });
    expect(checkSetMpState(plain, KVM_MP_STATE_HALTED)).toEqual({
      state: KVM_MP_STATE_HALTED,
      latchSipi: false,
    });
  });

  it('accepts only RUNNABLE without the VMM local APIC', () => {
    const noApic = { ...plain, lapicInKernel: false };
    expect(checkSetMpState(noApic, KVM_MP_STATE_RUNNABLE).state).toBe(KVM_MP_STATE_RUNNABLE);
    for (const s of [KVM_MP_STATE_HALTED, KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_AP_RESET_HOLD]) {
      expect(() => checkSetMpState(noApic, s)).toThrow(InvalidArgumentError);
    }
  });

  it('refuses states that are not x86 ones', () => {
    expect(() => checkSetMpState(plain, KVM_MP_STATE_STOPPED)).toThrow(InvalidArgumentError);
    expect(() => checkSetMpState(plain, KVM_MP_STATE_OPERATING)).toThrow(InvalidArgumentError);
    expect(() => checkSetMpState(plain, 99)).toThrow(/not an x86 MP state/);
  });

  it('refuses INIT/SIPI states while INIT is blocked', () => {
    const blocked = { ...plain, initSipiAllowed: false };
    expect(() => checkSetMpState(blocked, KVM_MP_STATE_INIT_RECEIVED)).toThrow(InvalidArgumentError);
    expect(checkSetMpState(blocked, KVM_MP_STATE_HALTED).state).toBe(KVM_MP_STATE_HALTED);
  });
});
