// Run one bench guest on one kind of machine: the bare processor, a VM under SVM or VMX, or an SEV-ES
// VM (launched through the secure processor). The bench observes it through a Probe: marker bytes
// (1-8 on the debug port 0xE9, host-timestamped by the caller), the VMM's trace lines (exits, mp and
// apic; tracing stays off when the probe takes none, so it costs nothing), and the VM clock. A guest
// that does not end with exit value 0 (status 1) is a BenchFailure with its output's tail.
import { createSevEsVm } from '../../src/sev-boot.js';
import { createPcVm, loadBootSector, type PcVm, type VmBootOptions } from '../../src/vm-boot.js';
import { type BootSectorRunResult, runBootSector } from '../../src/vmm/bare-metal.js';
import { BenchFailure } from './failure.js';
import { DETERMINISTIC, type Scheduler } from './scheduler.js';

export type Kind = 'bare' | 'svm' | 'vmx' | 'sev-es';

export interface Probe {
  /** The VM exists and is about to run: `vmNow` reads its clock (ns); null on the bare processor. */
  attach?(vmNow: (() => number) | null, pc: PcVm | null): void;
  trace?(category: string, line: string): void;
  marker?(byte: number): void;
  /** A vCPU's turn begins (the scheduler's onTurn). */
  turn?(vcpu: number): void;
}

export interface GuestRunOptions {
  kind: Kind;
  image: Uint8Array;
  cpus?: number;
  memoryMiB?: number;
  scheduler?: Scheduler;
  maxInstructions?: number;
  /** What the run is, for failure messages. */
  what: string;
}

export interface GuestRun {
  result: BootSectorRunResult;
  /** The debug-port text without the marker bytes. */
  text: string;
  /** The VM (kept alive for memory measurements and reading shared memory); null on bare. */
  pc: PcVm | null;
  /** Guest-physical memory as the hypervisor reads it: plaintext for RAM and for SEV-ES shared pages. */
  read(gpa: number, length: number): Uint8Array;
  /** Host ms to create (and, SEV-ES, launch and measure) the VM, and to run it. */
  createMs: number;
  runMs: number;
}

const isMarker = (b: number) => b >= 1 && b <= 8;

export async function runGuest(o: GuestRunOptions, probe: Probe = {}): Promise<GuestRun> {
  const text: number[] = [];
  const onDebugByte = (b: number) => {
    if (isMarker(b)) probe.marker?.(b);
    else text.push(b);
  };
  const trace = probe.trace ? (c: string, l: string) => probe.trace?.(c, l) : null;
  const opts: VmBootOptions = {
    cpus: o.cpus ?? 1,
    memoryBytes: (o.memoryMiB ?? 16) * 2 ** 20,
    maxInstructions: o.maxInstructions ?? 2_000_000_000,
    onDebugByte,
    trace,
    onTurn: probe.turn ? (v) => probe.turn?.(v) : undefined,
  };
  const t0 = performance.now();
  let pc: PcVm | null = null;
  let read: GuestRun['read'];
  let result: BootSectorRunResult;
  let createMs = 0;
  if (o.kind === 'bare') {
    probe.attach?.(null, null);
    result = runBootSector(o.image, opts);
    read = () => {
      throw new Error('the bare machine keeps its RAM to itself here');
    };
  } else {
    if (o.kind === 'sev-es') {
      const s = createSevEsVm(o.image, opts);
      if (!s.measurementVerified)
        throw new BenchFailure(`${o.what}: the SEV-ES launch measurement did not verify`);
      pc = s.pc;
      read = (gpa, len) => s.vm.memory.read(gpa, len);
    } else {
      pc = createPcVm({ ...opts, arch: o.kind });
      loadBootSector(pc, o.image);
      const memory = pc.vm.memory;
      read = (gpa, len) => memory.read(gpa, len);
    }
    // IPI lines ('apic'): from the VMM if it forwards them, else straight from the APIC bus.
    if (trace && pc.vm.apicBus.trace === null) pc.vm.apicBus.trace = (line) => trace('apic', line);
    const clock = pc.platform.clock;
    probe.attach?.(() => clock.now(), pc);
    createMs = performance.now() - t0;
    result = await (o.scheduler ?? DETERMINISTIC).run(pc, opts);
  }
  const runMs = performance.now() - t0 - createMs;
  const out = Buffer.from(text).toString('latin1');
  if (result.exitStatus !== 1) {
    throw new BenchFailure(
      `${o.what}: the guest did not finish (${result.stop}: ${result.message}); its output ends:\n${out.slice(-400)}`,
    );
  }
  return { result, text: out, pc, read, createMs, runMs };
}
