// The threaded scheduler's clean ends: whatever ends the run (guest exit, a triple fault on any
// vCPU, an exception in a worker, a worker that stops making progress, the instruction budget, an
// abort as Ctrl-C sends it), every worker is stopped, a report comes back, and the next VM in the
// same process runs normally.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR } from '../../guests/guest-list.js';
import { runImageVmThreaded } from '../../src/vm-threaded.js';

const LEGACY = new Uint8Array(readFileSync(join(GUESTS_DIR, 'smp-legacy', 'smp-legacy.img')));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/**
 * A boot sector whose BSP starts AP 1 through the x2APIC ICR (no memory-mapped APIC page in real
 * mode) and spins; the AP, at 0800:0000, loads an empty IDT and executes INT3: #GP, #DF, shutdown.
 *   cli; mov ecx,1Bh; rdmsr; or eax,0C00h; wrmsr        ; IA32_APIC_BASE: EN | EXTD
 *   mov ecx,830h; mov edx,1; mov eax,4500h; wrmsr        ; ICR: INIT to APIC ID 1
 *   mov eax,4608h; wrmsr                                 ; ICR: STARTUP, vector 08h
 *   spin: pause; jmp spin
 *   (at 0x8000) lidt [cs:7]; int3; dw 0; dd 0
 */
function apTripleFault(): Uint8Array {
  const img = new Uint8Array(0x40d);
  img.set(
    hex('fa66b91b0000000f32660d000c00000f3066b93008000066ba0100000066b8004500000f3066b8084600000f30f390ebfc'),
  );
  img.set(hex('2e0f011e0700cc000000000000'), 0x400);
  return img;
}

/** A boot sector that spins forever: cli; pause; jmp $-2. */
const SPIN = hex('faf390ebfc');

/** A boot sector that halts with interrupts off: cli; hlt; jmp $-1. */
const HALT = hex('faf4ebfd');

/** The next VM runs as if nothing had happened. */
async function nextVmRuns(): Promise<void> {
  const r = await runImageVmThreaded(LEGACY, { cpus: 2, maxInstructions: 50_000_000 });
  expect([r.stop, r.exitStatus, r.output.endsWith('SMP: done\n')]).toEqual(['exit', 1, true]);
}

describe('the threaded scheduler ends cleanly', () => {
  it('a triple fault on an AP ends the VM, with the spinning BSP stopped', { timeout: 60_000 }, async () => {
    for (const arch of ['svm', 'vmx'] as const) {
      const r = await runImageVmThreaded(apTripleFault(), { arch, cpus: 2, maxInstructions: 50_000_000 });
      expect(r.stop).toBe('triple-fault');
      expect(r.message).toMatch(/^vcpu 1: /);
      expect(r.vcpus.map((v) => v.end)).toEqual(['stopped', 'triple-fault']);
      expect(r.hung).toEqual([]);
    }
    await nextVmRuns();
  });

  it('an exception in a worker is reported with the vCPU and its RIP', { timeout: 60_000 }, async () => {
    const r = await runImageVmThreaded(
      LEGACY,
      { cpus: 2, maxInstructions: 50_000_000 },
      { fault: { vcpu: 1, kind: 'throw', afterRuns: 2 } },
    );
    expect(r.stop).toBe('error');
    expect(r.message).toMatch(
      /^vcpu 1: Error in its worker: fault injected by the test \(vcpu 1: RIP 0x[0-9a-f]+\)$/,
    );
    expect(r.vcpus.map((v) => v.end)).toEqual(['stopped', 'exception']);
    await nextVmRuns();
  });

  it('a worker that makes no progress is terminated and named', { timeout: 60_000 }, async () => {
    const r = await runImageVmThreaded(
      SPIN,
      { cpus: 2, maxInstructions: 1e12 },
      { fault: { vcpu: 0, kind: 'hang', afterRuns: 3 }, hangMs: 300 },
    );
    expect(r.stop).toBe('error');
    expect(r.message).toMatch(/^vcpu 0: its worker made no progress for 300 ms/);
    expect(r.hung).toEqual([0]);
    // The parked AP's worker came back when asked; the hung one had to be terminated.
    expect(r.vcpus.map((v) => v.end)).toEqual(['hung', 'stopped']);
    await nextVmRuns();
  });

  it('a VM whose vCPUs all wait with nothing to wake them ends halted', { timeout: 60_000 }, async () => {
    // The PIT ticks from power-on; its deadlines pass and wake nobody (IF = 0, no SIPI).
    const r = await runImageVmThreaded(HALT, { cpus: 2, maxInstructions: 1e12 });
    expect([r.stop, r.message]).toEqual([
      'halted',
      'every vCPU is halted or waiting for SIPI, with nothing to wake it',
    ]);
    expect(r.vcpus.map((v) => v.end)).toEqual(['stopped', 'stopped']);
  });

  it('the instruction budget stops a spinning VM', { timeout: 60_000 }, async () => {
    const r = await runImageVmThreaded(SPIN, { cpus: 2, maxInstructions: 2_000_000 });
    expect(r.stop).toBe('max-instructions');
    expect(r.instructions).toBeGreaterThanOrEqual(2_000_000);
    expect(r.vcpus.map((v) => v.end)).toEqual(['stopped', 'stopped']);
  });

  it('an abort (Ctrl-C) stops every worker and says where each vCPU was', { timeout: 60_000 }, async () => {
    const abort = new AbortController();
    const running = runImageVmThreaded(SPIN, { cpus: 3, maxInstructions: 1e12 }, { signal: abort.signal });
    setTimeout(() => abort.abort(), 500);
    const r = await running;
    expect(r.stop).toBe('interrupted');
    expect(r.where).toHaveLength(3);
    expect(r.where?.[0]).toMatch(/^vcpu 0: RIP 0x7c0[0-4]$/); // at CLI or in the PAUSE loop
    expect(r.where?.[1]).toBe('vcpu 1: RIP 0xfff0'); // waiting for SIPI, at its reset vector
    await nextVmRuns();
  });
});
