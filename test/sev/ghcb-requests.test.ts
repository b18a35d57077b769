// The hypervisor's answers to VMGEXIT, request by request: a GHCB is planted in the guest's shared
// memory, the GHCB MSR image in the VMCB points at it (as after a guest's VMGEXIT), and the SEV-ES
// backend's handler runs. Malformed requests get the GHCB specification's answer (sw_exit_info_1 = 2,
// sw_exit_info_2 = the reason; AMD 56421 4.1) and a trace line naming the field; none throws.

import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { dramOf, memoryControllerOf } from '../../src/host/core-access.js';
import { HOST_KEY } from '../../src/host/memory-controller.js';
import { createSevEsVm, type SevEsVm } from '../../src/sev-boot.js';
import type { SevEsVcpu } from '../../src/svm/sev-es/vcpu.js';
import { RESUME, RunState, TO_USER } from '../../src/vmm/backend-api.js';
import {
  KVM_EXIT_IO,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../../src/vmm/kvm-abi.js';

const SMOKE = readFileSync(new URL('../../guests/sev-smoke/sev-smoke.img', import.meta.url));
const GHCB = 0x20000;

type Fields = Partial<
  Record<
    'rax' | 'rcx' | 'rdx' | 'sw_exit_code' | 'sw_exit_info_1' | 'sw_exit_info_2' | 'sw_scratch' | 'xcr0',
    bigint
  >
>;
const OFFSET = {
  rax: 0x1f8,
  rcx: 0x308,
  rdx: 0x310,
  sw_exit_code: 0x390,
  sw_exit_info_1: 0x398,
  sw_exit_info_2: 0x3a0,
  sw_scratch: 0x3a8,
  xcr0: 0x3e8,
};

let s: SevEsVm;
let v: SevEsVcpu;
let lines: string[];

function plant(
  fields: Fields,
  opts: { usage?: number; version?: number; invalid?: (keyof Fields)[] } = {},
): void {
  const page = new Uint8Array(4096);
  const dv = new DataView(page.buffer);
  for (const [k, val] of Object.entries(fields) as [keyof Fields, bigint][]) {
    dv.setBigUint64(OFFSET[k], val, true);
    if (opts.invalid?.includes(k)) continue;
    const bit = OFFSET[k] / 8;
    page[0x3f0 + (bit >> 3)] |= 1 << (bit & 7);
  }
  dv.setUint16(0xffa, opts.version ?? 2, true);
  dv.setUint32(0xffc, opts.usage ?? 0, true);
  s.vm.memory.write(GHCB, page);
  v.vmcb.set64('ghcb_gpa', BigInt(GHCB));
}

function answer(): { info1: bigint; info2: bigint; rax: bigint; page: DataView } {
  const page = new DataView(s.vm.memory.read(GHCB, 4096).buffer);
  return {
    info1: page.getBigUint64(0x398, true),
    info2: page.getBigUint64(0x3a0, true),
    rax: page.getBigUint64(0x1f8, true),
    page,
  };
}

function vmgexit(run = new RunState()): number {
  return v.vmgexits.handle(run);
}

beforeEach(() => {
  lines = [];
  s = createSevEsVm(SMOKE, { trace: (_c, l) => lines.push(l) });
  v = s.vm.vcpus[0].backend as SevEsVcpu;
  // The guest maps its GHCB shared: the page holds DRAM's raw bytes.
  memoryControllerOf(s.vm.host).ensureForm(GHCB, HOST_KEY);
});

describe('malformed GHCB requests get the specification answer', () => {
  it('ghcb_usage other than 0: reason 2 (invalid usage)', () => {
    plant({ sw_exit_code: 0x72n, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rax: 0n, rcx: 0n }, { usage: 1 });
    expect(vmgexit()).toBe(RESUME);
    expect(answer()).toMatchObject({ info1: 2n, info2: 2n });
    expect(lines.join('\n')).toMatch(/ghcb_usage/);
  });

  it('sw_exit_code not marked valid: reason 4 (missing input)', () => {
    plant({ sw_exit_code: 0x72n, sw_exit_info_1: 0n, sw_exit_info_2: 0n }, { invalid: ['sw_exit_code'] });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 4n });
    expect(lines.join('\n')).toMatch(/sw_exit_code: valid bit 114 is clear/);
  });

  it('CPUID without RCX: reason 4, naming rcx', () => {
    plant({ sw_exit_code: 0x72n, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rax: 1n });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 4n });
    expect(lines.join('\n')).toMatch(/rcx: valid bit 97/);
  });

  it('an OUT without RAX: reason 4', () => {
    plant({ sw_exit_code: 0x7bn, sw_exit_info_1: (0xe9n << 16n) | 0x10n, sw_exit_info_2: 0n });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 4n });
  });

  it('an exit code no one handles: reason 6 (invalid event)', () => {
    plant({ sw_exit_code: 0x12345n, sw_exit_info_1: 0n, sw_exit_info_2: 0n });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 6n });
  });

  it('a string OUT whose scratch area leaves the shared buffer: reason 3 (invalid scratch area)', () => {
    plant({
      sw_exit_code: 0x7bn,
      sw_exit_info_1: (0xe9n << 16n) | 0x10n | 4n,
      sw_exit_info_2: 0x10n,
      sw_scratch: BigInt(GHCB + 0xfe8),
    });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 3n });
    expect(lines.join('\n')).toMatch(/sw_scratch: .*outside the shared buffer/);
  });

  it('AP jump table request neither SET nor GET: reason 5 (invalid input)', () => {
    plant({ sw_exit_code: 0x8000_0005n, sw_exit_info_1: 7n, sw_exit_info_2: 0n });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 5n });
  });

  it('an SEV-SNP-only event from an SEV-ES guest: reason 4', () => {
    plant({
      sw_exit_code: 0x8000_0010n,
      sw_exit_info_1: 0n,
      sw_exit_info_2: 0n,
      sw_scratch: BigInt(GHCB + 0x800),
    });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 2n, info2: 4n });
  });

  it('termination request: the VM stops with KVM_SYSTEM_EVENT_SEV_TERM and the reason', () => {
    plant({ sw_exit_code: 0x8000_fffen, sw_exit_info_1: 0x13n, sw_exit_info_2: 0n });
    const run = new RunState();
    expect(vmgexit(run)).toBe(TO_USER);
    expect(run.exitReason).toBe(KVM_EXIT_SYSTEM_EVENT);
    expect(run.systemEventType).toBe(KVM_SYSTEM_EVENT_SEV_TERM);
    expect(run.explanation).toMatch(/reason set 3 code 1/);
  });

  it('a GHCB the guest left private: the hypervisor reads ciphertext, and its answer is garbage to the guest', () => {
    plant({ sw_exit_code: 0x72n, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rax: 0n, rcx: 0n });
    // The guest wrote that request through a mapping with the C-bit set: DRAM holds its ciphertext.
    const request = s.vm.memory.read(GHCB, 4096);
    memoryControllerOf(s.vm.host).ensureForm(GHCB, s.launch.asid);
    dramOf(s.vm.host).set(request, GHCB);
    const run = new RunState();
    expect(vmgexit(run)).toBe(RESUME);
    expect(lines.some((l) => /VMGEXIT malformed: .*left private reads as ciphertext/.test(l))).toBe(true);
    // What the guest reads back (decrypted) is not a specification answer: the request is garbled.
    const guestView = new DataView(dramOf(s.vm.host).slice(GHCB, GHCB + 4096).buffer);
    expect(guestView.getBigUint64(0x390, true)).not.toBe(0x72n);
  });
});

describe('well-formed GHCB requests', () => {
  it('CPUID returns the VM table in RAX..RDX with their valid bits', () => {
    plant({ sw_exit_code: 0x72n, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rax: 0x8000_001fn, rcx: 0n });
    vmgexit();
    const a = answer();
    expect(a.info1).toBe(0n);
    expect(Number(a.rax) & 0xa).toBe(0xa); // SEV and SEV-ES
    expect(Number(a.page.getBigUint64(0x318, true)) & 0x3f).toBe(47); // RBX: C-bit position
    expect(a.page.getUint8(0x3f0 + ((0x1f8 / 8) >> 3)) & (1 << ((0x1f8 / 8) & 7))).not.toBe(0);
  });

  it('an OUT to the debug port goes to userspace as KVM_EXIT_IO, then completes', () => {
    plant({ sw_exit_code: 0x7bn, sw_exit_info_1: (0xe9n << 16n) | 0x10n, sw_exit_info_2: 0n, rax: 0x41n });
    const run = new RunState();
    expect(vmgexit(run)).toBe(TO_USER);
    expect(run).toMatchObject({ exitReason: KVM_EXIT_IO, ioPort: 0xe9, ioData: 0x41 });
    v.completeUserspace(run);
    expect(v.runOnce(0, run)).toBe(RESUME); // the answer is written before the guest runs again
    expect(answer().info1).toBe(0n);
  });

  it('AP jump table SET then GET', () => {
    plant({ sw_exit_code: 0x8000_0005n, sw_exit_info_1: 0n, sw_exit_info_2: 0x9000n });
    vmgexit();
    expect(s.launch.apJumpTable).toBe(0x9000n);
    plant({ sw_exit_code: 0x8000_0005n, sw_exit_info_1: 1n, sw_exit_info_2: 0n });
    vmgexit();
    expect(answer()).toMatchObject({ info1: 0n, info2: 0x9000n });
  });

  it('AP Reset Hold parks the vCPU; a later SIPI completes it with sw_exit_info_2 = 1', () => {
    plant({ sw_exit_code: 0x8000_0004n, sw_exit_info_1: 0n, sw_exit_info_2: 0n });
    expect(vmgexit()).toBe(RESUME);
    expect(s.vm.vcpus[0].mpState).toBe(KVM_MP_STATE_AP_RESET_HOLD);
    expect(answer()).toMatchObject({ info1: 0n, info2: 0n });
    v.deliverSipiVector(0x10); // the first SIPI only starts the launch VMSA
    expect(answer().info2).toBe(0n);
    v.deliverSipiVector(0x10);
    expect(answer()).toMatchObject({ info1: 0n, info2: 1n });
  });

  it('MSR protocol: SEV info, CPUID, AP Reset Hold and its release', () => {
    v.vmcb.set64('ghcb_gpa', 0x002n);
    vmgexit();
    expect(v.vmcb.get64('ghcb_gpa')).toBe((2n << 48n) | (1n << 32n) | (47n << 24n) | 1n);
    v.vmcb.set64('ghcb_gpa', (0x8000_001fn << 32n) | (1n << 30n) | 0x004n); // CPUID 8000001F EBX
    vmgexit();
    const r = v.vmcb.get64('ghcb_gpa');
    expect(r & 0xfffn).toBe(0x005n);
    expect(Number(r >> 32n) & 0x3f).toBe(47);
    v.vmcb.set64('ghcb_gpa', 0x006n);
    expect(vmgexit()).toBe(RESUME);
    expect(s.vm.vcpus[0].mpState).toBe(KVM_MP_STATE_AP_RESET_HOLD);
    expect(v.vmcb.get64('ghcb_gpa')).toBe(0x007n);
    v.deliverSipiVector(0);
    v.deliverSipiVector(0);
    expect(v.vmcb.get64('ghcb_gpa')).toBe(0x1007n);
  });

  it('an unknown MSR-protocol request is left unchanged (as KVM does)', () => {
    v.vmcb.set64('ghcb_gpa', 0xabcn);
    expect(vmgexit()).toBe(RESUME);
    expect(v.vmcb.get64('ghcb_gpa')).toBe(0xabcn);
  });
});
