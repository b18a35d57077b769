// One test per malformed case of KVM's sev_es_validate_vmgexit / setup_vmgexit_scratch (the GHCB
// spec's answers, AMD 56421 4.1 "Invoking VMGEXIT": sw_exit_info_1 = 2, sw_exit_info_2 = GHCB_ERR_*),
// the well-formed events, the snapshot's copy semantics, and a property over random pages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as X from './exit-codes.js';
import {
  GHCB_FIELD_NAMES,
  GHCB_PAGE_SIZE,
  type GhcbFieldName,
  ghcbView,
  setField,
  setProtocolVersion,
  setUsage,
} from './layout.js';
import { snapshot, type VmgexitContext, type VmgexitVerdict, validateVmgexit } from './validate.js';

const GHCB_GPA = 0x10_0000n;
const ctx: VmgexitContext = {
  ghcbGpa: GHCB_GPA,
  versions: { min: 1, max: 2 },
  isGuestMemory: (gpa, len) => gpa >= 0x20_0000n && gpa + len <= 0x40_0000n,
};

type Fields = Partial<Record<GhcbFieldName, bigint>>;

/** A well-formed request: usage 0, version 2, the three exit fields, plus `extra` (all marked valid). */
function request(
  code: number | bigint,
  info1: bigint,
  info2: bigint,
  extra: Fields = {},
  page = new Uint8Array(GHCB_PAGE_SIZE),
) {
  const v = ghcbView(page);
  setProtocolVersion(v, 2);
  setField(v, 'sw_exit_code', BigInt(code));
  setField(v, 'sw_exit_info_1', info1);
  setField(v, 'sw_exit_info_2', info2);
  for (const [k, val] of Object.entries(extra)) setField(v, k as GhcbFieldName, val as bigint);
  return page;
}

function check(page: Uint8Array, c: VmgexitContext = ctx): VmgexitVerdict {
  return validateVmgexit(snapshot(page), c);
}

function expectError(r: VmgexitVerdict, error: X.GhcbErr, field: string) {
  expect(r.kind).toBe('error');
  if (r.kind !== 'error') return;
  expect(r.swExitInfo1).toBe(2n);
  expect(r.swExitInfo2).toBe(BigInt(error));
  expect(r.error).toBe(error);
  expect(r.field).toBe(field);
  expect(r.reason).toContain(field);
}

const IOIO_OUT_8 = (0x3f8n << 16n) | 0x10n; // OUT DX, AL to port 0x3F8
const IOIO_IN_8 = IOIO_OUT_8 | 1n;
const IOIO_OUTSB = IOIO_OUT_8 | 4n;
const IOIO_INSW = (0x60n << 16n) | 0x20n | 4n | 1n;

describe('snapshot', () => {
  it('copies only the fields whose valid bits are set, plus usage and version', () => {
    const page = request(X.SVM_EXIT_CPUID, 0n, 0n, { rax: 1n });
    ghcbView(page).setBigUint64(0x308, 0x55n, true); // RCX written but not marked valid
    const s = snapshot(page);
    expect(s.rax).toBe(1n);
    expect(s.rcx).toBeUndefined();
    expect(s.sw_exit_code).toBe(0x72n);
    expect(s.protocolVersion).toBe(2);
    expect(s.usage).toBe(0);
    expect(s.validBitmap).toBe((1n << 63n) | (7n << 114n));
    const present = GHCB_FIELD_NAMES.filter((n) => s[n] !== undefined);
    expect(present).toEqual(['rax', 'sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2']);
  });

  it('is frozen and does not follow later writes by the guest (no TOCTOU)', () => {
    const page = request(X.SVM_EXIT_CPUID, 0n, 0n, { rax: 1n, rcx: 0n });
    const s = snapshot(page);
    expect(Object.isFrozen(s)).toBe(true);
    setUsage(ghcbView(page), 7);
    setField(ghcbView(page), 'rax', 0xdn);
    expect(s.usage).toBe(0);
    expect(s.rax).toBe(1n);
    expect(validateVmgexit(s, ctx).kind).toBe('ok');
  });
});

describe('malformed requests (one each)', () => {
  it('non-zero ghcb_usage: GHCB_ERR_INVALID_USAGE', () => {
    const page = request(X.SVM_EXIT_RDTSC, 0n, 0n);
    setUsage(ghcbView(page), 1); // Hyper-V's GHCB_USAGE_HYPERV_CALL is not ours
    expectError(check(page), X.GHCB_ERR_INVALID_USAGE, 'ghcb_usage');
  });

  it('protocol_version is not checked, as in KVM (OVMF leaves it 0)', () => {
    for (const v of [0, 3, 0xffff]) {
      const page = request(X.SVM_EXIT_RDTSC, 0n, 0n);
      setProtocolVersion(ghcbView(page), v);
      expect(check(page).kind).toBe('ok');
    }
  });

  for (const f of ['sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2'] as const) {
    it(`missing ${f}: GHCB_ERR_MISSING_INPUT`, () => {
      const page = request(X.SVM_EXIT_RDTSC, 0n, 0n);
      const bit = { sw_exit_code: 114, sw_exit_info_1: 115, sw_exit_info_2: 116 }[f];
      page[0x3f0 + (bit >> 3)] &= ~(1 << (bit & 7));
      expectError(check(page), X.GHCB_ERR_MISSING_INPUT, f);
    });
  }

  it('unknown exit code: GHCB_ERR_INVALID_EVENT', () => {
    expectError(check(request(0x8000_0006, 0n, 0n)), X.GHCB_ERR_INVALID_EVENT, 'sw_exit_code');
  });

  it('an automatic exit code (HLT) as sw_exit_code: GHCB_ERR_INVALID_EVENT', () => {
    expectError(check(request(0x78, 0n, 0n)), X.GHCB_ERR_INVALID_EVENT, 'sw_exit_code');
  });

  it('a known code with upper bits set: GHCB_ERR_INVALID_EVENT', () => {
    expectError(
      check(request(0x1_0000_0072n, 0n, 0n, { rax: 0n, rcx: 0n })),
      X.GHCB_ERR_INVALID_EVENT,
      'sw_exit_code',
    );
  });

  it('an SEV-SNP event from an SEV-ES guest: GHCB_ERR_MISSING_INPUT (as KVM answers it)', () => {
    for (const code of [
      X.SVM_VMGEXIT_PSC,
      X.SVM_VMGEXIT_GUEST_REQUEST,
      X.SVM_VMGEXIT_EXT_GUEST_REQUEST,
      X.SVM_VMGEXIT_AP_CREATION,
    ])
      expectError(
        check(request(code, 0n, 0n, { sw_scratch: 0x10_0800n, rax: 0n })),
        X.GHCB_ERR_MISSING_INPUT,
        'sw_exit_code',
      );
  });

  it('a GHCB other than the registered one: GHCB_ERR_NOT_REGISTERED', () => {
    expectError(
      check(request(X.SVM_EXIT_RDTSC, 0n, 0n), { ...ctx, registeredGhcbGpa: 0x20_0000n }),
      1,
      'ghcb_gpa',
    );
  });

  it('CPUID without RAX', () => {
    expectError(check(request(X.SVM_EXIT_CPUID, 0n, 0n, { rcx: 0n })), X.GHCB_ERR_MISSING_INPUT, 'rax');
  });

  it('CPUID without RCX', () => {
    expectError(check(request(X.SVM_EXIT_CPUID, 0n, 0n, { rax: 1n })), X.GHCB_ERR_MISSING_INPUT, 'rcx');
  });

  it('CPUID leaf 0xD without XCR0', () => {
    expectError(
      check(request(X.SVM_EXIT_CPUID, 0n, 0n, { rax: 0xdn, rcx: 1n })),
      X.GHCB_ERR_MISSING_INPUT,
      'xcr0',
    );
  });

  it('IOIO OUT without RAX', () => {
    expectError(check(request(X.SVM_EXIT_IOIO, IOIO_OUT_8, 0n)), X.GHCB_ERR_MISSING_INPUT, 'rax');
  });

  it('IOIO string without SW_SCRATCH', () => {
    expectError(
      check(request(X.SVM_EXIT_IOIO, IOIO_OUTSB, 1n, { rax: 0n })),
      X.GHCB_ERR_MISSING_INPUT,
      'sw_scratch',
    );
  });

  it('IOIO with an operand size that is not 1, 2 or 4', () => {
    const info1 = (IOIO_IN_8 & ~0x70n) | 0x30n;
    expectError(check(request(X.SVM_EXIT_IOIO, info1, 0n)), X.GHCB_ERR_INVALID_INPUT, 'sw_exit_info_1');
  });

  it('MSR without RCX', () => {
    expectError(check(request(X.SVM_EXIT_MSR, 0n, 0n)), X.GHCB_ERR_MISSING_INPUT, 'rcx');
  });

  it('WRMSR without RAX', () => {
    expectError(
      check(request(X.SVM_EXIT_MSR, 1n, 0n, { rcx: 0x830n, rdx: 0n })),
      X.GHCB_ERR_MISSING_INPUT,
      'rax',
    );
  });

  it('WRMSR without RDX', () => {
    expectError(
      check(request(X.SVM_EXIT_MSR, 1n, 0n, { rcx: 0x830n, rax: 0n })),
      X.GHCB_ERR_MISSING_INPUT,
      'rdx',
    );
  });

  it('VMMCALL without CPL', () => {
    expectError(check(request(X.SVM_EXIT_VMMCALL, 0n, 0n, { rax: 0n })), X.GHCB_ERR_MISSING_INPUT, 'cpl');
  });

  it('VMMCALL without RAX', () => {
    expectError(check(request(X.SVM_EXIT_VMMCALL, 0n, 0n, { cpl: 0n })), X.GHCB_ERR_MISSING_INPUT, 'rax');
  });

  it('DR7 write without RAX', () => {
    expectError(check(request(X.SVM_EXIT_WRITE_DR7, 0n, 0n)), X.GHCB_ERR_MISSING_INPUT, 'rax');
  });

  it('RDPMC without RCX', () => {
    expectError(check(request(X.SVM_EXIT_RDPMC, 0n, 0n)), X.GHCB_ERR_MISSING_INPUT, 'rcx');
  });

  it('MONITOR without RDX', () => {
    expectError(
      check(request(X.SVM_EXIT_MONITOR, 0n, 0n, { rax: 0n, rcx: 0n })),
      X.GHCB_ERR_MISSING_INPUT,
      'rdx',
    );
  });

  it('MWAIT without RCX', () => {
    expectError(check(request(X.SVM_EXIT_MWAIT, 0n, 0n, { rax: 0n })), X.GHCB_ERR_MISSING_INPUT, 'rcx');
  });

  it('MMIO read without SW_SCRATCH', () => {
    expectError(
      check(request(X.SVM_VMGEXIT_MMIO_READ, 0xfee0_0030n, 4n)),
      X.GHCB_ERR_MISSING_INPUT,
      'sw_scratch',
    );
  });

  it('MMIO write without SW_SCRATCH', () => {
    expectError(
      check(request(X.SVM_VMGEXIT_MMIO_WRITE, 0xfee0_0030n, 4n)),
      X.GHCB_ERR_MISSING_INPUT,
      'sw_scratch',
    );
  });

  it('scratch GPA of 0', () => {
    const page = request(X.SVM_VMGEXIT_MMIO_READ, 0xfee0_0030n, 4n, { sw_scratch: 0n });
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('scratch in the GHCB page but before the shared buffer (over the save area)', () => {
    const page = request(X.SVM_VMGEXIT_MMIO_READ, 0xfee0_0030n, 4n, { sw_scratch: GHCB_GPA + 0x3f0n });
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('scratch starting in the shared buffer but running past 0xFF0', () => {
    const page = request(X.SVM_VMGEXIT_MMIO_WRITE, 0xfee0_0030n, 8n, { sw_scratch: GHCB_GPA + 0xfecn });
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('string I/O whose count makes the scratch overflow the shared buffer', () => {
    const page = request(X.SVM_EXIT_IOIO, IOIO_INSW, 1017n, { sw_scratch: GHCB_GPA + 0x800n }); // 2034 bytes
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('scratch outside the GHCB that is not guest memory', () => {
    const page = request(X.SVM_VMGEXIT_MMIO_READ, 0xfee0_0030n, 4n, { sw_scratch: 0x50_0000n });
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('scratch outside the GHCB larger than 16 pages', () => {
    const page = request(X.SVM_VMGEXIT_MMIO_READ, 0n, 16n * 4096n + 1n, { sw_scratch: 0x20_0000n });
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('scratch range that wraps past 2^64', () => {
    const page = request(X.SVM_VMGEXIT_MMIO_READ, 0n, 0x10n, { sw_scratch: 0xffff_ffff_ffff_fff8n });
    expectError(check(page), X.GHCB_ERR_INVALID_SCRATCH_AREA, 'sw_scratch');
  });

  it('AP jump table request other than set (0) or get (1): GHCB_ERR_INVALID_INPUT', () => {
    expectError(
      check(request(X.SVM_VMGEXIT_AP_JUMP_TABLE, 2n, 0n)),
      X.GHCB_ERR_INVALID_INPUT,
      'sw_exit_info_1',
    );
  });
});

describe('terminations', () => {
  it('termination request NAE: terminate with the reason set and code', () => {
    const r = check(request(X.SVM_VMGEXIT_TERM_REQUEST, X.termRequestInfo1(1, 4), 0n));
    expect(r).toMatchObject({ kind: 'terminate', reasonSet: 1, reasonCode: 4 });
  });

  it('unsupported event: terminate', () => {
    const r = check(request(X.SVM_VMGEXIT_UNSUPPORTED_EVENT, 0x72n, 0n));
    expect(r.kind).toBe('terminate');
    expect(r.kind === 'terminate' && r.reason).toContain('unsupported event');
  });
});

describe('well-formed requests', () => {
  const ok = (page: Uint8Array) => {
    const r = check(page);
    expect(r.kind).toBe('ok');
    return r;
  };

  it('events that need nothing beyond the exit fields', () => {
    for (const code of [
      X.SVM_EXIT_READ_DR7,
      X.SVM_EXIT_RDTSC,
      X.SVM_EXIT_RDTSCP,
      X.SVM_EXIT_INVD,
      X.SVM_EXIT_WBINVD,
      X.SVM_VMGEXIT_NMI_COMPLETE,
      X.SVM_VMGEXIT_AP_HLT_LOOP,
      X.SVM_VMGEXIT_HV_FEATURES,
    ])
      expect(ok(request(code, 0n, 0n))).toEqual({ kind: 'ok', exitCode: code });
  });

  it('CPUID, leaf 0xD with XCR0, RDMSR, WRMSR, VMMCALL, IN, OUT', () => {
    ok(request(X.SVM_EXIT_CPUID, 0n, 0n, { rax: 1n, rcx: 0n }));
    ok(request(X.SVM_EXIT_CPUID, 0n, 0n, { rax: 0xdn, rcx: 0n, xcr0: 7n }));
    ok(request(X.SVM_EXIT_MSR, 0n, 0n, { rcx: 0xc0010131n }));
    ok(request(X.SVM_EXIT_MSR, 1n, 0n, { rcx: 0x830n, rax: 0x4500n, rdx: 1n }));
    ok(request(X.SVM_EXIT_VMMCALL, 0n, 0n, { rax: 0n, cpl: 0n }));
    ok(request(X.SVM_EXIT_IOIO, IOIO_IN_8, 0n));
    ok(request(X.SVM_EXIT_IOIO, IOIO_OUT_8, 0n, { rax: 0x41n }));
  });

  it('AP jump table set and get', () => {
    ok(request(X.SVM_VMGEXIT_AP_JUMP_TABLE, 0n, 0x9000n));
    ok(request(X.SVM_VMGEXIT_AP_JUMP_TABLE, 1n, 0n));
  });

  it('MMIO with its scratch area in the shared buffer, up to its last byte', () => {
    const r = ok(request(X.SVM_VMGEXIT_MMIO_READ, 0xfee0_0030n, 8n, { sw_scratch: GHCB_GPA + 0xfe8n }));
    expect(r).toEqual({
      kind: 'ok',
      exitCode: X.SVM_VMGEXIT_MMIO_READ,
      scratch: { inGhcb: true, offset: 0xfe8, length: 8 },
    });
  });

  it('string I/O with its scratch area in guest memory, length = count x size', () => {
    const r = ok(request(X.SVM_EXIT_IOIO, IOIO_INSW, 100n, { sw_scratch: 0x20_1000n }));
    expect(r).toEqual({
      kind: 'ok',
      exitCode: X.SVM_EXIT_IOIO,
      scratch: { inGhcb: false, gpa: 0x20_1000n, length: 200 },
    });
  });

  it('the registered GHCB passes the registration check', () => {
    expect(check(request(X.SVM_EXIT_RDTSC, 0n, 0n), { ...ctx, registeredGhcbGpa: GHCB_GPA }).kind).toBe('ok');
  });
});

describe('random pages (property)', () => {
  const KNOWN = [
    0x27, 0x37, 0x6e, 0x6f, 0x72, 0x76, 0x7b, 0x7c, 0x81, 0x87, 0x89, 0x8a, 0x8b, 0x78, 0x400, 0x8000_0001,
    0x8000_0002, 0x8000_0003, 0x8000_0004, 0x8000_0005, 0x8000_0010, 0x8000_0011, 0x8000_0012, 0x8000_0013,
    0x8000_fffd, 0x8000_fffe, 0x8000_ffff,
  ];

  function assertDefined(r: VmgexitVerdict) {
    expect(['ok', 'error', 'terminate']).toContain(r.kind);
    if (r.kind === 'error') {
      expect(r.swExitInfo1).toBe(2n);
      expect(r.error).toBeGreaterThanOrEqual(1);
      expect(r.error).toBeLessThanOrEqual(6);
      expect(r.swExitInfo2).toBe(BigInt(r.error));
      expect(r.field.length).toBeGreaterThan(0);
      expect(r.reason.length).toBeGreaterThan(0);
    } else if (r.kind === 'ok') {
      expect(KNOWN).toContain(r.exitCode);
      if (r.scratch?.inGhcb) {
        expect(r.scratch.offset).toBeGreaterThanOrEqual(0x800);
        expect(r.scratch.offset + r.scratch.length).toBeLessThanOrEqual(0xff0);
      }
    }
  }

  it('never throws on fully random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: GHCB_PAGE_SIZE, maxLength: GHCB_PAGE_SIZE }), (page) => {
        assertDefined(check(page));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on random valid bits and field bytes around known exit codes', () => {
    const page = fc.uint8Array({ minLength: GHCB_PAGE_SIZE, maxLength: GHCB_PAGE_SIZE });
    const bitmap = fc.uint8Array({ minLength: 16, maxLength: 16 });
    const code = fc.oneof(
      fc.constantFrom(...KNOWN).map(BigInt),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    const scratch = fc.oneof(
      fc.bigInt({ min: GHCB_GPA, max: GHCB_GPA + 0xfffn }),
      fc.bigInt({ min: 0x1f_f000n, max: 0x40_1000n }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    const small = fc.oneof(
      fc.bigInt({ min: 0n, max: 0x1_0010n }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    fc.assert(
      fc.property(
        page,
        bitmap,
        code,
        small,
        small,
        scratch,
        fc.integer({ min: 0, max: 3 }),
        (p, bm, c, i1, i2, sc, ver) => {
          const v = ghcbView(p);
          p.set(bm, 0x3f0);
          v.setBigUint64(0x390, c, true);
          v.setBigUint64(0x398, i1, true);
          v.setBigUint64(0x3a0, i2, true);
          v.setBigUint64(0x3a8, sc, true);
          setProtocolVersion(v, ver);
          setUsage(v, 0);
          assertDefined(check(p));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
