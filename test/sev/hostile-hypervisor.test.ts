// The hostile-hypervisor suite and the confidentiality scan (issue 9): each test is an attack made
// with what a hypervisor has (the Vm, its vCPUs, backends, VmmServices, HostMachine's public API,
// the VMCBs and nested tables it owns) and asserts the outcome the AMD APM and KVM give. dramOf()
// (what DRAM holds in hvemu's plaintext form) is used only to show that the secret really is there,
// so that each test could fail. docs/hostile-hypervisor.md has the table of attacks and outcomes.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DM_INIT, DM_STARTUP } from '../../src/apic/registers.js';
import { dramOf } from '../../src/host/core-access.js';
import type { PhysicalCpu } from '../../src/host/physical-cpu.js';
import { createSevEsVm, runSevEsVm } from '../../src/sev-boot.js';
import { HVEMU_SEV_ES_POLICY } from '../../src/sev-measure.js';
import { SvmBackend, type SvmVcpu } from '../../src/svm/backend.js';
import { SevEsBackend } from '../../src/svm/sev-es/backend.js';
import type { SevEsLaunch } from '../../src/svm/sev-es/launch.js';
import type { SevEsVcpu } from '../../src/svm/sev-es/vcpu.js';
import { VmgexitHandler } from '../../src/svm/sev-es/vmgexit.js';
import { SVM_EXIT_ERR, SVM_EXIT_HLT } from '../../src/svm/vmcb-layout.js';
import { runPcVm } from '../../src/vm-boot.js';
import { type ProtectedBackendVcpu, RESUME, RunState, TO_USER } from '../../src/vmm/backend-api.js';
import { GuestStateProtectedError, InvalidArgumentError } from '../../src/vmm/errors.js';
import {
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_IO,
  KVM_EXIT_SHUTDOWN,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_CHECK_STOP,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_LOAD,
  KVM_MP_STATE_OPERATING,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_STOPPED,
  KVM_MP_STATE_SUSPENDED,
  KVM_MP_STATE_UNINITIALIZED,
} from '../../src/vmm/kvm-abi.js';
import { Vm } from '../../src/vmm/vm.js';
import { CLI, ensureCli } from '../support/cli.js';
import {
  attackerVcpu,
  COPY_AT,
  COPY_TWO,
  DUMP_AND_COPY,
  DUMP_AT,
  DUMP_BYTES,
  hypervisorServices,
  mapInto,
  NESTED_CTL_PLAIN,
  plantLongModeGuest,
} from './hostile-code.js';

const ROOT = join(import.meta.dirname, '..', '..');
const image = (name: string) => readFileSync(join(ROOT, 'guests', name, `${name}.img`));
const SMOKE = image('sev-smoke');
const SMP = image('smp-sev-es');
const SECRETS = image('sev-secrets');
const SMP_EXPECTED = readFileSync(join(ROOT, 'guests', 'smp-sev-es', 'expected.txt'), 'latin1');

/** sev-smoke's secret in R8 and its private page at 0x40000. */
const SMOKE_SECRET = 0x5ec2e7a15ec2e7a1n;

/** guests/sev-secrets/secrets.inc: SECRET(n) = 5EC2E7B0_nnnnC0DE. */
const SECRET = (tag: number) => 0x5ec2e7b000000000n | (BigInt(tag) << 16n) | 0xc0den;
/** The BSP's RCX..R15 but RSP (tags = register numbers), its XMM registers, its four private pages. */
const BSP_TAGS = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const XMM_TAGS = Array.from({ length: 32 }, (_, i) => 0x20 + i);
const PAGE_TAGS = [0x40, 0x41, 0x42, 0x43];
/** Each AP's R8-R11 while it is parked. */
const apTags = (cpus: number) =>
  Array.from({ length: cpus - 1 }, (_, i) => [0, 1, 2, 3].map((k) => 0x1000 | ((i + 1) << 4) | k)).flat();

function le(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(needle) >= 0;
}
const text = (bytes: number[]) => Buffer.from(bytes).toString('latin1');

/** A protected vCPU's VMSA address, from the handle the hypervisor holds. */
const vmsaOf = (vm: Vm, id: number) => (vm.vcpus[id].backend as ProtectedBackendVcpu).vmsa.hpa;

// ------------------------------------------------------------------------------------------------

describe('hostile hypervisor: memory and VMSA confidentiality', () => {
  it('SEV and SEV-ES cleared in the VMCB: VMRUN runs without the key, copies ciphertext, and inherits no register of the guest', () => {
    const s = createSevEsVm(SECRETS);
    const r = runPcVm(s.pc);
    expect(r.stop, r.message).toBe('exit');
    const vm = s.vm;
    const dram = dramOf(vm.host);
    const vmsa = vmsaOf(vm, 0);
    // The secrets are there in the hardware's plaintext form: the test can fail.
    expect(contains(dram.subarray(0x50000, 0x51000), le(SECRET(0x40)))).toBe(true);
    for (const tag of [0x0f, 0x2a, 0x3a])
      expect(contains(dram.subarray(vmsa, vmsa + 4096), le(SECRET(tag)))).toBe(true);
    const cipher = vm.memory.read(0x50000, 4096);

    // The hypervisor turns its own VMCB into an ordinary guest's and runs its code on the processor.
    const b = vm.vcpus[0].backend as SevEsVcpu;
    b.completeUserspace(vm.vcpus[0].run); // the guest's exit OUT: answered, as KVM_RUN would first
    expect(b.runOnce(0, new RunState())).toBe(RESUME);
    b.vmcb.set64('nested_ctl', NESTED_CTL_PLAIN);
    plantLongModeGuest(vm, b.vmcb, DUMP_AND_COPY);
    const run1 = new RunState();
    expect(
      b.runOnce(100_000, run1),
      `${run1.exitReason} ${run1.explanation} ${b.vmcb.get64('exit_code').toString(16)}`,
    ).toBe(RESUME);
    expect(Number(b.vmcb.get64('exit_code'))).toBe(SVM_EXIT_HLT);
    // The copy is what a host read gives: ciphertext (APM vol 2 15.34.1: no key, no plaintext).
    const copy = vm.memory.read(COPY_AT, 4096);
    expect(Buffer.from(copy).equals(Buffer.from(cipher))).toBe(true);
    expect(contains(copy, le(SECRET(0x40)))).toBe(false);

    // The registers it found are the ones a clean processor hands an ordinary guest: the same code
    // on a fresh VM whose GPRs the hypervisor zeroed (KVM_SET_REGS) dumps the same bytes.
    const dump = vm.memory.read(DUMP_AT, DUMP_BYTES);
    const ref = new Vm({ memoryBytes: 8 << 20, maxVcpus: 1, backend: new SvmBackend() });
    const rv = ref.createVcpu();
    rv.setRegs({ gpr: new Array(16).fill(0n), rip: 0n, rflags: 2n });
    const rb = rv.backend as SvmVcpu;
    plantLongModeGuest(ref, rb.vmcb, DUMP_AND_COPY);
    expect(rb.runOnce(100_000, new RunState())).toBe(RESUME);
    expect(Number(rb.vmcb.get64('exit_code'))).toBe(SVM_EXIT_HLT);
    const refDump = ref.memory.read(DUMP_AT, DUMP_BYTES);
    const words = (d: Uint8Array) => Array.from(new BigUint64Array(d.slice().buffer));
    expect(words(dump)).toEqual(words(refDump));
    for (const tag of [...BSP_TAGS, ...XMM_TAGS]) expect(contains(dump, le(SECRET(tag)))).toBe(false);
    // The VMSA itself still reads as ciphertext.
    expect(contains(vm.memory.read(vmsa, 4096), le(SECRET(0x0f)))).toBe(false);
  });

  it('a private page and a parked AP\u2019s VMSA mapped into another guest\u2019s nested tables: it copies ciphertext, and the SEV guest runs on unharmed', () => {
    const out: number[] = [];
    const seen: {
      body: Uint8Array;
      vmsa: Uint8Array;
      copyBody: Uint8Array;
      copyVmsa: Uint8Array;
      inDram: boolean;
    }[] = [];
    const s = createSevEsVm(SECRETS, { cpus: 4 });
    const vm = s.vm;
    const atk = attackerVcpu(vm);
    const apVmsa = vmsaOf(vm, 1);
    mapInto(atk.services, atk.nestedRoot, 0x8000000, apVmsa); // a free gpa of its guest -> the AP's VMSA
    const attack = () => {
      // AP 1 is parked in AP Reset Hold with its R8-R11 secrets in its VMSA.
      expect(vm.vcpus[1].mpState).toBe(KVM_MP_STATE_AP_RESET_HOLD);
      const inDram = contains(dramOf(vm.host).subarray(apVmsa, apVmsa + 4096), le(SECRET(0x1010)));
      const body = vm.memory.read(0x8000, 4096); // the guest's code page (private)
      const vmsa = vm.memory.read(apVmsa, 4096);
      plantLongModeGuest(vm, atk.vcpu.vmcb, COPY_TWO);
      expect(atk.vcpu.runOnce(100_000, new RunState())).toBe(RESUME);
      expect(Number(atk.vcpu.vmcb.get64('exit_code'))).toBe(SVM_EXIT_HLT);
      seen.push({
        body,
        vmsa,
        copyBody: vm.memory.read(0x62000, 4096),
        copyVmsa: vm.memory.read(0x63000, 4096),
        inDram,
      });
    };
    const r = runPcVm(s.pc, {
      onDebugByte: (b) => {
        out.push(b);
        if (seen.length === 0 && text(out).endsWith('parked in AP Reset Hold (GHCB event)\n')) attack();
      },
    });
    expect(seen).toHaveLength(1);
    const [a] = seen;
    expect(a.inDram).toBe(true);
    expect(Buffer.from(a.copyBody).equals(Buffer.from(a.body))).toBe(true);
    expect(Buffer.from(a.copyVmsa).equals(Buffer.from(a.vmsa))).toBe(true);
    for (const tag of apTags(4)) expect(contains(a.copyVmsa, le(SECRET(tag)))).toBe(false);
    expect(contains(a.copyBody, Buffer.from('AP '))).toBe(false);
    // The guest's pages come back decrypted with its key: the AP wakes from that VMSA, runs that code.
    expect(r.stop, r.message).toBe('exit');
    expect(r.output).toBe(SMP_EXPECTED);
  });

  it('the VMCB pointed at an ASID without a key: VMRUN fails its checks (VMEXIT_INVALID -> KVM_EXIT_FAIL_ENTRY)', () => {
    const s = createSevEsVm(SMOKE);
    const v = s.vm.vcpus[0];
    const b = v.backend as SevEsVcpu;
    b.vmcb.set('asid', 5);
    expect(v.kvmRun(10_000)).toBe(KVM_EXIT_FAIL_ENTRY);
    expect(b.vmcb.get64('exit_code')).toBe(BigInt.asUintN(64, BigInt(SVM_EXIT_ERR)));
    expect(v.run.explanation).toMatch(/ASID 5 has no SEV key/);
    // Nothing ran: with its own ASID back, the guest runs from its reset vector as launched.
    b.vmcb.set('asid', s.launch.asid);
    const r = runPcVm(s.pc);
    expect(r.output).toBe('SEV-ES smoke: hello through the GHCB\n');
  });

  it('guest 2 (ASID 2) pointed at guest 1\u2019s VMSA: the VMSA decrypts to garbage under the wrong key, entry fails or the vCPU shuts down', () => {
    const s = createSevEsVm(SMOKE);
    expect(runPcVm(s.pc).stop).toBe('exit');
    const vm = s.vm;
    const vmsa1 = vmsaOf(vm, 0);
    expect(contains(dramOf(vm.host).subarray(vmsa1, vmsa1 + 4096), le(SMOKE_SECRET))).toBe(true);
    // A second SEV-ES launch on the same machine: its own context, ASID 2, one vCPU.
    const psp = vm.host.psp;
    const handle = psp.launchStart(HVEMU_SEV_ES_POLICY, randomBytes(16));
    psp.activate(handle, 2);
    const launch: SevEsLaunch = { psp, handle, asid: 2, apReset: null, apJumpTable: 0n };
    const backend = new SevEsBackend();
    backend.beginLaunch(launch);
    const { services, cpu } = hypervisorServices(vm);
    const g2 = backend.createVcpu(0, cpu, services) as SevEsVcpu;
    psp.launchMeasure(handle);
    psp.launchFinish(handle);
    g2.vmcb.set64('vmsa_pa', BigInt(vmsa1));
    const run = new RunState();
    let reason = RESUME;
    for (let i = 0; i < 100 && reason !== TO_USER; i++) reason = g2.runOnce(100_000, run);
    expect(reason).toBe(TO_USER);
    expect([KVM_EXIT_FAIL_ENTRY, KVM_EXIT_SHUTDOWN]).toContain(run.exitReason);
    // Guest 2's processor was left with nothing of guest 1's (scrubbed at #VMEXIT, or never loaded).
    const regs = cpu.saveRegisters();
    expect(contains(new Uint8Array(regs.gpr.buffer), le(SMOKE_SECRET))).toBe(false);
    expect(contains(vm.memory.read(vmsa1, 4096), le(SMOKE_SECRET))).toBe(false);
    // Nothing was written with the wrong key: guest 1 goes on from its VMSA (into its HLT loop).
    expect(vm.vcpus[0].kvmRun(10_000)).toBe(KVM_EXIT_HLT);
  });

  it('hypervisor writes into a VMSA and a private page: the guest sees garbage in exactly the 16-byte blocks written; a garbled RIP kills the vCPU at its next VMRUN', () => {
    const s = createSevEsVm(SMOKE);
    expect(runPcVm(s.pc).stop).toBe('exit');
    const vm = s.vm;
    const v = vm.vcpus[0];
    const dram = dramOf(vm.host);
    const changedBlocks = (before: Buffer, after: Buffer) => {
      const out: number[] = [];
      for (let at = 0; at < 4096; at += 16)
        if (!before.subarray(at, at + 16).equals(after.subarray(at, at + 16))) out.push(at);
      return out;
    };
    // The private page: one byte at 0x108, eight bytes straddling two blocks (0x7fc..0x803).
    const page0 = Buffer.from(dram.slice(0x40000, 0x41000));
    vm.memory.write(0x40108, Uint8Array.of(0));
    vm.memory.write(0x407fc, new Uint8Array(8));
    const page1 = Buffer.from(dram.slice(0x40000, 0x41000));
    expect(changedBlocks(page0, page1)).toEqual([0x100, 0x7f0, 0x800]);
    expect(page1[0x108]).not.toBe(0); // not what the hypervisor wrote: the cipher's output for the block
    expect(page1.readBigUInt64LE(0x7fc)).not.toBe(0n);
    // The VMSA: "R8 = 0" (0x340) and "RAX = 0" (0x1f8).
    const vmsa = vmsaOf(vm, 0);
    const v0 = Buffer.from(dram.slice(vmsa, vmsa + 4096));
    expect(v0.readBigUInt64LE(0x340)).toBe(SMOKE_SECRET);
    vm.memory.write(vmsa + 0x340, new Uint8Array(8));
    vm.memory.write(vmsa + 0x1f8, new Uint8Array(8));
    const v1 = Buffer.from(dram.slice(vmsa, vmsa + 4096));
    expect(changedBlocks(v0, v1)).toEqual([0x1f0, 0x340]);
    expect(v1.readBigUInt64LE(0x340)).not.toBe(0n);
    expect(v1.readBigUInt64LE(0x340)).not.toBe(SMOKE_SECRET);
    // VMRUN does not check general registers: the guest goes on (into its HLT loop) with garbage in them.
    expect(v.kvmRun(10_000)).toBe(KVM_EXIT_HLT);
    // "RIP = 0" garbles the RFLAGS:RIP block: the next VMRUN loads a garbage RIP and RFLAGS.
    const v2 = Buffer.from(dram.slice(vmsa, vmsa + 4096));
    vm.memory.write(vmsa + 0x178, new Uint8Array(8));
    const v3 = Buffer.from(dram.slice(vmsa, vmsa + 4096));
    expect(changedBlocks(v2, v3)).toEqual([0x170]);
    expect(v3.readBigUInt64LE(0x178)).not.toBe(0n);
    v.kvmSetMpState(KVM_MP_STATE_RUNNABLE);
    expect([KVM_EXIT_FAIL_ENTRY, KVM_EXIT_SHUTDOWN]).toContain(v.kvmRun(10_000));
  });
});

describe('hostile hypervisor: the register and MP-state interface', () => {
  it('KVM_GET_REGS, KVM_SET_REGS and KVM_SET_SREGS on a protected vCPU: GuestStateProtectedError; its backend has no processor or register accessor', () => {
    const s = createSevEsVm(SMOKE);
    const v = s.vm.vcpus[0];
    expect(() => v.getRegs()).toThrow(GuestStateProtectedError);
    expect(() => v.setRegs({ gpr: new Array(16).fill(0n), rip: 0n, rflags: 2n })).toThrow(
      GuestStateProtectedError,
    );
    for (const seg of ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const)
      expect(() => v.setSegment(seg, 0, 0, 0xffff, 0x93)).toThrow(GuestStateProtectedError);
    for (const name of ['cpu', 'getRegs', 'setRegs', 'setSegment', 'setRip'])
      expect(name in v.backend, `backend.${name}`).toBe(false);
    // RESET (not INIT) of a protected vCPU would be a register write: refused too.
    expect(() => v.backend.vcpuReset(false)).toThrow(GuestStateProtectedError);
    // The guest is unaffected: it runs as launched.
    expect(runPcVm(s.pc).output).toBe('SEV-ES smoke: hello through the GHCB\n');
  });

  it('each KVM_SET_MP_STATE value on a protected vCPU follows KVM\u2019s rules and leaves the VMSA as it was', () => {
    const s = createSevEsVm(SMOKE);
    expect(runPcVm(s.pc).stop).toBe('exit');
    const vm = s.vm;
    const v = vm.vcpus[0];
    const vmsa = vmsaOf(vm, 0);
    const dram = dramOf(vm.host);
    const plain0 = Buffer.from(dram.slice(vmsa, vmsa + 4096));
    const cipher0 = Buffer.from(vm.memory.read(vmsa, 4096));
    expect(contains(plain0, le(SMOKE_SECRET))).toBe(true);
    const accepted: [number, number][] = [
      [KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_RUNNABLE],
      [KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_UNINITIALIZED],
      [KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_INIT_RECEIVED],
      [KVM_MP_STATE_HALTED, KVM_MP_STATE_HALTED],
      [KVM_MP_STATE_AP_RESET_HOLD, KVM_MP_STATE_AP_RESET_HOLD],
      [KVM_MP_STATE_SIPI_RECEIVED, KVM_MP_STATE_INIT_RECEIVED], // stored as INIT_RECEIVED + a latched SIPI
    ];
    for (const [req, stored] of accepted) {
      v.apic.takeEvents();
      v.kvmSetMpState(req);
      expect(v.mpState, `KVM_SET_MP_STATE ${req}`).toBe(stored);
      expect((v.apic.pendingEvents & 2) !== 0).toBe(req === KVM_MP_STATE_SIPI_RECEIVED);
      expect(Buffer.from(dram.slice(vmsa, vmsa + 4096)).equals(plain0)).toBe(true);
      expect(Buffer.from(vm.memory.read(vmsa, 4096)).equals(cipher0)).toBe(true);
    }
    for (const bad of [
      KVM_MP_STATE_STOPPED,
      KVM_MP_STATE_CHECK_STOP,
      KVM_MP_STATE_OPERATING,
      KVM_MP_STATE_LOAD,
      KVM_MP_STATE_SUSPENDED,
      99,
      -1,
    ]) {
      const before = v.mpState;
      expect(() => v.kvmSetMpState(bad), `KVM_SET_MP_STATE ${bad}`).toThrow(InvalidArgumentError);
      expect(v.mpState).toBe(before);
    }
    // The latched SIPI, delivered: SEV-ES ignores its vector and writes no register.
    v.kvmSetMpState(KVM_MP_STATE_SIPI_RECEIVED);
    v.acceptEvents();
    expect(v.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    expect(Buffer.from(dram.slice(vmsa, vmsa + 4096)).equals(plain0)).toBe(true);
    // Running it again: sev-smoke continues after its exit into its HLT loop, from its own VMSA.
    expect(v.kvmRun(10_000)).toBe(KVM_EXIT_HLT);
    expect(v.mpState).toBe(KVM_MP_STATE_HALTED);
  });
});

describe('hostile hypervisor: the GHCB is read once', () => {
  const GHCB = 0x20000;
  function plant(vm: Vm, fields: Record<number, bigint>): void {
    const page = new Uint8Array(4096);
    const dv = new DataView(page.buffer);
    for (const [off, val] of Object.entries(fields)) {
      dv.setBigUint64(Number(off), val, true);
      const bit = Number(off) / 8;
      page[0x3f0 + (bit >> 3)] |= 1 << (bit & 7);
    }
    dv.setUint16(0xffa, 2, true);
    vm.memory.write(GHCB, page);
  }
  const RAX = 0x1f8;
  const RBX = 0x318;
  const RCX = 0x308;
  const EXIT_CODE = 0x390;
  const INFO1 = 0x398;
  const INFO2 = 0x3a0;

  it('a CPUID request rewritten while the hypervisor handles it: one read of the page, the answer follows that snapshot', () => {
    const s = createSevEsVm(SMOKE);
    const vm = s.vm;
    const v = vm.vcpus[0].backend as SevEsVcpu;
    plant(vm, { [RAX]: 0x8000_001fn, [RCX]: 0n, [EXIT_CODE]: 0x72n, [INFO1]: 0n, [INFO2]: 0n });
    v.vmcb.set64('ghcb_gpa', BigInt(GHCB));
    let ghcbReads = 0;
    const memory = new Proxy(vm.memory, {
      get(target, prop) {
        if (prop === 'read')
          return (hpa: number, len: number) => {
            if (hpa <= GHCB && GHCB < hpa + len) ghcbReads++;
            return target.read(hpa, len);
          };
        if (prop === 'readInto')
          return (hpa: number, out: Uint8Array) => {
            if (hpa <= GHCB && GHCB < hpa + out.length) ghcbReads++;
            return target.readInto(hpa, out);
          };
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { services } = hypervisorServices(vm, {
      memory,
      // Mid-way through the request, another vCPU of the guest rewrites the GHCB: leaf 0, and an IOIO.
      cpuid: (_id, leaf, sub, out) => {
        vm.memory.write(GHCB + RAX, le(0n));
        vm.memory.write(GHCB + EXIT_CODE, le(0x7bn));
        vm.cpuid(leaf, sub, out);
      },
    });
    const handler = new VmgexitHandler(v, services, v.vmcb, s.launch);
    expect(handler.handle(new RunState())).toBe(RESUME);
    expect(ghcbReads).toBe(1);
    const page = Buffer.from(vm.memory.read(GHCB, 4096));
    expect(page.readBigUInt64LE(EXIT_CODE)).toBe(0x72n); // the snapshot, written back with the answer
    expect(page.readBigUInt64LE(INFO1)).toBe(0n);
    expect(Number(page.readBigUInt64LE(RAX)) & 0xa).toBe(0xa); // CPUID 8000001F: SEV, SEV-ES
    expect(Number(page.readBigUInt64LE(RBX)) & 0x3f).toBe(47); // the C-bit, not leaf 0's "Auth"
  });

  it('an OUT request rewritten while userspace handles it: the data userspace saw and the answer follow the snapshot', () => {
    const s = createSevEsVm(SMOKE);
    const vm = s.vm;
    const v = vm.vcpus[0].backend as SevEsVcpu;
    plant(vm, { [RAX]: 0x41n, [EXIT_CODE]: 0x7bn, [INFO1]: (0xe9n << 16n) | 0x10n, [INFO2]: 0n });
    v.vmcb.set64('ghcb_gpa', BigInt(GHCB));
    const run = new RunState();
    expect(v.vmgexits.handle(run)).toBe(TO_USER);
    expect(run).toMatchObject({ exitReason: KVM_EXIT_IO, ioPort: 0xe9, ioData: 0x41 });
    plant(vm, { [RAX]: 0x42n, [RCX]: 0x8000_001fn, [EXIT_CODE]: 0x72n, [INFO1]: 0n, [INFO2]: 0n });
    v.completeUserspace(run);
    expect(v.runOnce(0, run)).toBe(RESUME); // the answer is written before the guest would run
    const page = Buffer.from(vm.memory.read(GHCB, 4096));
    expect(page.readBigUInt64LE(EXIT_CODE)).toBe(0x7bn);
    expect(page.readBigUInt64LE(RAX)).toBe(0x41n);
    expect(page.readBigUInt64LE(INFO1)).toBe(0n);
  });
});

describe('hostile hypervisor: INIT and SIPI at the wrong moments (smp-sev-es, 4 vCPUs)', () => {
  const INIT = (vm: Vm, id: number) => vm.vcpus[id].apic.accept(DM_INIT, 0, false, true);
  const SIPI = (vm: Vm, id: number, vector = 0x10) =>
    vm.vcpus[id].apic.accept(DM_STARTUP, vector, false, true);

  /** Run smp-sev-es, calling `at` with the console text after each byte; trace lines of category mp. */
  function attackRun(
    at: (vm: Vm, console: string) => void,
    before: (vm: Vm) => void = () => {},
    maxInstructions = 60_000_000,
  ) {
    const mp: string[] = [];
    const s = createSevEsVm(SMP, { cpus: 4, trace: (c, l) => c === 'mp' && mp.push(l) });
    before(s.vm);
    const out: number[] = [];
    const r = runPcVm(s.pc, {
      maxInstructions,
      onDebugByte: (b) => {
        out.push(b);
        if (b === 10) at(s.vm, text(out));
      },
    });
    return { r, mp, vm: s.vm };
  }

  it('SIPI without INIT (to an AP never started, and to the running BSP): dropped, the guest runs as usual', () => {
    const { r, mp } = attackRun(
      () => {},
      (vm) => {
        SIPI(vm, 2);
        SIPI(vm, 0);
      },
    );
    expect(mp).toContain('vcpu 2: SIPI dropped (mp_state UNINITIALIZED)');
    expect(mp).toContain('vcpu 0: SIPI dropped (mp_state RUNNABLE)');
    expect(r.stop, r.message).toBe('exit');
    expect(r.output).toBe(SMP_EXPECTED);
  });

  it('SIPI to a running AP not in AP Reset Hold: dropped (KVM acts on a SIPI only in INIT_RECEIVED)', () => {
    let sent = false;
    const { r, mp } = attackRun((vm, con) => {
      if (!sent && con.endsWith('AP 02 online\n')) {
        sent = true;
        SIPI(vm, 2, 0x99);
      }
    });
    expect(sent).toBe(true);
    expect(mp).toContain('vcpu 2: SIPI dropped (mp_state RUNNABLE)');
    expect(r.stop, r.message).toBe('exit');
    expect(r.output).toBe(SMP_EXPECTED);
  });

  it('INIT-SIPI to an AP that has not parked (a wake with no hold outstanding): the VMSA is untouched and the AP carries on', () => {
    let sent = false;
    let vmsaBefore: Buffer | null = null;
    let vmsaAfterInit: Buffer | null = null;
    const { r, mp } = attackRun((vm, con) => {
      if (!sent && con.endsWith('AP 01 online\n')) {
        sent = true;
        const hpa = vmsaOf(vm, 1);
        vmsaBefore = Buffer.from(vm.memory.read(hpa, 4096));
        INIT(vm, 1);
        vm.vcpus[1].acceptEvents(); // INIT: the SEV-ES vCPU's VMSA is not reset (KVM: no register write)
        expect(vm.vcpus[1].mpState).toBe(KVM_MP_STATE_INIT_RECEIVED);
        vmsaAfterInit = Buffer.from(vm.memory.read(hpa, 4096));
        SIPI(vm, 1, 0x42);
      }
    });
    expect(sent).toBe(true);
    expect(vmsaAfterInit).toEqual(vmsaBefore);
    expect(mp).toContain(
      'vcpu 1: SIPI (vector 0x42 ignored): no AP Reset Hold outstanding, nothing to complete',
    );
    expect(r.stop, r.message).toBe('exit');
    expect(r.output).toBe(SMP_EXPECTED);
  });

  it("INIT alone to a running AP: it waits for a SIPI with its registers intact, and the guest's own second SIPI resumes it where it was", () => {
    let sent = false;
    const { r, mp } = attackRun((vm, con) => {
      if (!sent && con.endsWith('AP 03 online\n')) {
        sent = true;
        INIT(vm, 3);
      }
    });
    expect(sent).toBe(true);
    const init = mp.indexOf('vcpu 3: mp_state RUNNABLE -> INIT_RECEIVED');
    expect(init).toBeGreaterThanOrEqual(0);
    // A woken AP runs at once (docs/scheduling.md), so it prints between the BSP's two SIPIs, as
    // on parallel hardware; the second SIPI then finds it in INIT_RECEIVED with no hold to
    // complete, and (its VMSA not reset) it carries on: it counts itself and parks, and the guest's
    // bookkeeping finds nothing wrong.
    const sipi = mp.findIndex(
      (l, i) =>
        i > init &&
        l.startsWith('vcpu 3: SIPI') &&
        l.endsWith('no AP Reset Hold outstanding, nothing to complete'),
    );
    expect(sipi).toBeGreaterThan(init);
    expect(r.stop, r.message).toBe('exit');
    expect(r.output).toBe(SMP_EXPECTED);
  });

  it('INIT-SIPI to an AP before the guest published its AP jump table: the AP runs its launch VMSA and the guest terminates itself', () => {
    const { r, mp } = attackRun(
      () => {},
      (vm) => {
        INIT(vm, 3);
        SIPI(vm, 3);
      },
    );
    expect(mp).toContain('vcpu 3: SIPI (vector 0x10 ignored): first SIPI: runs its launch VMSA');
    // Its reset code finds no jump table and asks for termination (GHCB MSR protocol, reason 0/0).
    expect(r.stop).toBe('terminated');
    expect(r.message).toBe('vcpu 3: guest requested termination (MSR protocol), reason set 0 code 0');
  });

  it('an INIT/SIPI flood at random moments once the APs run: the guest finishes or stops with a typed outcome, in bounded time', () => {
    let seed = 0x9e3779b9; // mulberry32: the same flood on every run
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    let armed = false;
    let sent = 0;
    const { r, mp } = attackRun(
      (_vm, con) => {
        armed ||= con.endsWith("first boot at the reset block's address FFFFF000\n");
      },
      (vm) => {
        for (const v of vm.vcpus) {
          const kvmRun = v.kvmRun.bind(v);
          v.kvmRun = (budget: number) => {
            for (let n = armed ? Math.floor(rand() * 6) : 0; n > 0 && sent < 600; n--) {
              const target = Math.floor(rand() * 4);
              if (rand() < 0.5) INIT(vm, target);
              else SIPI(vm, target, Math.floor(rand() * 256));
              sent++;
            }
            return kvmRun(budget);
          };
        }
      },
      40_000_000,
    );
    expect(sent).toBeGreaterThanOrEqual(200);
    expect(mp.some((l) => /SIPI dropped/.test(l))).toBe(true);
    // Woken out of turn, APs re-enter their trampoline too often; the guest counts and says so
    // (FAIL, exit value 1). With this seed that is the outcome; any seed must end in a typed stop.
    expect(r.stop, r.message).toBe('exit');
    expect(r.exitStatus).toBe(3);
    expect(r.output).toMatch(/FAIL: AP 0\d entered the trampoline \d+ times, expected \d+\n$/);
    expect(r.instructions).toBeLessThan(40_000_000);
  });
});

describe('confidentiality scan (guests/sev-secrets: secrets in every register class and private pages, APs parked and woken)', () => {
  beforeAll(ensureCli);

  const TAGS = [...BSP_TAGS, ...XMM_TAGS, ...PAGE_TAGS, ...apTags(4)];
  /** Every form a secret could leak in: its bytes either way round, its hex text in either case. */
  const FORMS = TAGS.flatMap((tag) => {
    const v = SECRET(tag);
    const hexText = v.toString(16).padStart(16, '0');
    return [
      { tag, form: 'LE', bytes: le(v) },
      { tag, form: 'BE', bytes: Buffer.from(le(v)).reverse() },
      { tag, form: 'hex', bytes: Buffer.from(hexText, 'latin1') },
      { tag, form: 'HEX', bytes: Buffer.from(hexText.toUpperCase(), 'latin1') },
    ];
  });
  /** Every secret shares 5EC2E7B0 (and C0DE): find that part, then compare the whole form there. */
  const ANCHORS = [
    { bytes: Buffer.from('b0e7c25e', 'hex'), at: 4, forms: ['LE'] },
    { bytes: Buffer.from('5ec2e7b0', 'hex'), at: 0, forms: ['BE'] },
    { bytes: Buffer.from('5ec2e7b0', 'latin1'), at: 0, forms: ['hex'] },
    { bytes: Buffer.from('5EC2E7B0', 'latin1'), at: 0, forms: ['HEX'] },
  ];
  function findSecrets(blob: Uint8Array, forms = ['LE', 'BE', 'hex', 'HEX']): string[] {
    const hay = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    const found = new Set<string>();
    for (const a of ANCHORS) {
      if (!a.forms.some((f) => forms.includes(f))) continue;
      const candidates = FORMS.filter((f) => a.forms.includes(f.form));
      for (let i = hay.indexOf(a.bytes); i >= 0; i = hay.indexOf(a.bytes, i + 1)) {
        for (const c of candidates) {
          const start = i - a.at;
          if (start >= 0 && hay.subarray(start, start + c.bytes.length).equals(c.bytes))
            found.add(`${c.form} 0x${c.tag.toString(16)}`);
        }
      }
    }
    return [...found].sort();
  }

  it("no secret appears in host memory, traces, exit records, processors, error messages or the CLI's output; DRAM holds them all", () => {
    const lines: string[] = [];
    const undefinedOps: string[] = [];
    let vm: Vm | null = null;
    const r = runSevEsVm(SECRETS, {
      cpus: 4,
      trace: (c, l) => lines.push(`${c}: ${l}`),
      onUndefined: (rip, bytes) =>
        undefinedOps.push(`#UD at ${rip.toString(16)}: ${Buffer.from(bytes).toString('hex')}`),
      onVm: (v) => {
        vm = v;
      },
    });
    expect(r.stop, r.message).toBe('exit');
    expect(r.output).toBe(SMP_EXPECTED);
    const theVm = vm as unknown as Vm;

    // The hardware holds every secret in plaintext form (so this scan could fail), and the scanner finds them.
    const inDram = findSecrets(dramOf(theVm.host), ['LE']);
    expect(inDram).toEqual(TAGS.map((t) => `LE 0x${t.toString(16)}`).sort());

    // Everything the hypervisor side can read or produce.
    const messages: string[] = [];
    const attempt = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        messages.push(`${(e as Error).name}: ${(e as Error).message}`);
      }
    };
    for (const v of theVm.vcpus) {
      attempt(() => v.getRegs());
      attempt(() => v.setRegs({ gpr: new Array(16).fill(0n), rip: 0n, rflags: 2n }));
      attempt(() => v.setSegment('cs', 0, 0, 0xffff, 0x9b));
      attempt(() => v.kvmSetMpState(99));
      attempt(() => v.backend.vcpuReset(false));
    }
    expect(messages).toHaveLength(5 * theVm.vcpus.length);
    // The processor handles the VMM holds (the vCPUs' clocks): registers and exception history.
    const handles = theVm.vcpus.map((v) => v.backend.clock as unknown as PhysicalCpu);
    const processors = handles.map((p) => p.saveRegisters());
    const exceptions = handles.flatMap((p) => p.recentExceptions(16));
    expect(exceptions).toEqual([]); // the guest took #VC exceptions: their RIPs and codes are its own
    const cli = spawnSync(
      process.execPath,
      [
        CLI,
        'run',
        '--sev-es',
        join(ROOT, 'guests', 'sev-secrets', 'sev-secrets.img'),
        '--cpus',
        '4',
        '--trace',
        'exits,apic,mp',
        '--stats',
        '--debug-ud',
      ],
      { encoding: 'latin1', timeout: 60_000 },
    );
    expect(cli.status).toBe(0); // the guest wrote 0 to port 0xF4: success
    expect(cli.stdout).toBe(SMP_EXPECTED);
    expect(cli.stderr).toMatch(/#VMEXIT VMGEXIT/);
    const blobs: [string, Uint8Array][] = [
      ['host memory (every page, through HostMemory)', theVm.memory.read(0, theVm.memory.byteLength)],
      ['trace lines', Buffer.from(lines.join('\n'), 'latin1')],
      ['--debug-ud reports', Buffer.from(undefinedOps.join('\n'), 'latin1')],
      ['run result', Buffer.from(JSON.stringify({ ...r, instructions: r.instructions }), 'latin1')],
      [
        'exit records (kvm_run)',
        Buffer.from(JSON.stringify(theVm.vcpus.map((v) => ({ ...v.run, mp: v.mpState }))), 'latin1'),
      ],
      [
        'processors after #VMEXIT (GPRs, XMM)',
        Buffer.concat(processors.flatMap((p) => [Buffer.from(p.gpr.buffer), Buffer.from(p.xmm)])),
      ],
      ['error messages', Buffer.from(messages.join('\n'), 'latin1')],
      ['exception history', Buffer.from(exceptions.join('\n'), 'latin1')],
      ['memory statistics', Buffer.from(JSON.stringify(theVm.host.memoryStats()), 'latin1')],
      ['CLI stdout', Buffer.from(cli.stdout, 'latin1')],
      ['CLI stderr', Buffer.from(cli.stderr, 'latin1')],
    ];
    for (const [what, blob] of blobs) expect(findSecrets(blob), what).toEqual([]);
    expect(lines.length).toBeGreaterThan(1000);
  });
});
