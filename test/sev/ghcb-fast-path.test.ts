// The untraced VMGEXIT path answers CPUID, IOIO to in-kernel ports and MSR requests from 32-bit
// words of the GHCB page (issue 12); with a trace topic on, every request takes the full path
// (snapshot, validation). Both must leave the same bytes in the guest's GHCB, the same outcome and
// the same device state: each request here runs once in a traced VM and once in an untraced one.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryControllerOf } from '../../src/host/core-access.js';
import { HOST_KEY } from '../../src/host/memory-controller.js';
import { createSevEsVm, type SevEsVm } from '../../src/sev-boot.js';
import type { SevEsVcpu } from '../../src/svm/sev-es/vcpu.js';
import { RunState } from '../../src/vmm/backend-api.js';

const SMOKE = readFileSync(new URL('../../guests/sev-smoke/sev-smoke.img', import.meta.url));
const GHCB = 0x20000;
const OFFSET = {
  rax: 0x1f8,
  rcx: 0x308,
  rdx: 0x310,
  sw_exit_code: 0x390,
  sw_exit_info_1: 0x398,
  sw_exit_info_2: 0x3a0,
};
type Fields = Partial<Record<keyof typeof OFFSET, bigint>>;

function page(fields: Fields, invalid: (keyof Fields)[] = []): Uint8Array {
  const p = new Uint8Array(4096);
  const dv = new DataView(p.buffer);
  for (const [k, val] of Object.entries(fields) as [keyof Fields, bigint][]) {
    dv.setBigUint64(OFFSET[k], val, true);
    if (invalid.includes(k)) continue;
    const bit = OFFSET[k] / 8;
    p[0x3f0 + (bit >> 3)] |= 1 << (bit & 7);
  }
  // Bytes the hypervisor must leave alone, as a guest's stale data would be.
  for (let i = 0x800; i < 0x810; i++) p[i] = i & 0xff;
  dv.setUint16(0xffa, 2, true);
  return p;
}

/** Run `requests` in order in a fresh VM; the GHCB page and the outcome after each. */
function run(traced: boolean, requests: Uint8Array[]): { outcome: number; ghcb: Uint8Array; rax: number }[] {
  const s: SevEsVm = createSevEsVm(SMOKE, traced ? { trace: () => {} } : {});
  const v = s.vm.vcpus[0].backend as SevEsVcpu;
  memoryControllerOf(s.vm.host).ensureForm(GHCB, HOST_KEY);
  return requests.map((req) => {
    s.vm.memory.write(GHCB, req);
    v.vmcb.set64('ghcb_gpa', BigInt(GHCB));
    const r = new RunState();
    const outcome = v.vmgexits.handle(r);
    return { outcome, ghcb: s.vm.memory.read(GHCB, 4096), rax: r.ioData };
  });
}

const IOIO = 0x7bn;
const MSR = 0x7cn;
const ioio = (port: number, isIn: boolean, size: number) =>
  BigInt((port << 16) | (size << 4) | (isIn ? 1 : 0));

const CASES: [string, Uint8Array[]][] = [
  [
    'OUT then IN of the PIC mask register (port 21h), 8 bits, RAX upper bytes set',
    [
      page({
        sw_exit_code: IOIO,
        sw_exit_info_1: ioio(0x21, false, 1),
        sw_exit_info_2: 0n,
        rax: 0x1234_5678_9abc_de5an,
      }),
      page({
        sw_exit_code: IOIO,
        sw_exit_info_1: ioio(0x21, true, 1),
        sw_exit_info_2: 0n,
        rax: 0xffff_ffff_ffff_ffffn,
      }),
      page({ sw_exit_code: IOIO, sw_exit_info_1: ioio(0x21, true, 2), sw_exit_info_2: 0n }),
      page({ sw_exit_code: IOIO, sw_exit_info_1: ioio(0x21, true, 4), sw_exit_info_2: 0n }),
    ],
  ],
  [
    'an OUT without RAX, an IOIO with size 3, an IN to a userspace port',
    [
      page({ sw_exit_code: IOIO, sw_exit_info_1: ioio(0x21, false, 1), sw_exit_info_2: 0n, rax: 1n }, [
        'rax',
      ]),
      page({ sw_exit_code: IOIO, sw_exit_info_1: ioio(0x21, true, 3), sw_exit_info_2: 0n }),
      page({ sw_exit_code: IOIO, sw_exit_info_1: ioio(0xe9, true, 1), sw_exit_info_2: 0n }),
    ],
  ],
  [
    'RDMSR of APIC_BASE, MISC_ENABLE, PATCH_LEVEL; WRMSR of MISC_ENABLE read back',
    [
      page({
        sw_exit_code: MSR,
        sw_exit_info_1: 0n,
        sw_exit_info_2: 0n,
        rcx: 0x1bn,
        rax: 0xdeadn,
        rdx: 0xbeefn,
      }),
      page({ sw_exit_code: MSR, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rcx: 0x1a0n }),
      page({ sw_exit_code: MSR, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rcx: 0x8bn }),
      page({ sw_exit_code: MSR, sw_exit_info_1: 1n, sw_exit_info_2: 0n, rcx: 0x1a0n, rax: 0x1801n, rdx: 0n }),
      page({ sw_exit_code: MSR, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rcx: 0x1a0n }),
    ],
  ],
  [
    '#GP: an unknown MSR, an x2APIC MSR in xAPIC mode; a WRMSR without RDX (malformed)',
    [
      page({ sw_exit_code: MSR, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rcx: 0x1234_5678n }),
      page({
        sw_exit_code: MSR,
        sw_exit_info_1: 1n,
        sw_exit_info_2: 0n,
        rcx: 0x1234_5678n,
        rax: 0n,
        rdx: 0n,
      }),
      page({ sw_exit_code: MSR, sw_exit_info_1: 0n, sw_exit_info_2: 0n, rcx: 0x808n }),
      page({ sw_exit_code: MSR, sw_exit_info_1: 1n, sw_exit_info_2: 0n, rcx: 0x1a0n, rax: 1n, rdx: 0n }, [
        'rdx',
      ]),
    ],
  ],
];

describe('the untraced GHCB fast path answers as the full path does', () => {
  for (const [name, requests] of CASES)
    it(name, () => {
      const full = run(true, requests);
      const fast = run(false, requests);
      for (let i = 0; i < requests.length; i++) {
        expect(fast[i].outcome, `request ${i}: outcome`).toBe(full[i].outcome);
        expect(fast[i].rax, `request ${i}: userspace data`).toBe(full[i].rax);
        expect(Buffer.from(fast[i].ghcb).equals(Buffer.from(full[i].ghcb)), `request ${i}: GHCB page`).toBe(
          true,
        );
      }
      // The requests were answered (not left as planted).
      expect(Buffer.from(full[0].ghcb).equals(Buffer.from(requests[0]))).toBe(false);
    });
});
