// The threaded scheduler (docs/scheduling.md): one piscina worker per vCPU, as KVM runs a thread
// per vCPU. The main thread is userspace plus the VM's devices: it loads the VM (the same loaders
// as the deterministic scheduler), keeps the PC platform (PIT, RTC, COM1, I/O APIC, PCI, fw_cfg),
// answers the port and MMIO accesses the workers post in their run pages, delivers the devices'
// interrupts through the IPI mailbox, and ends the run: guest exit, a triple fault or an exception
// on any vCPU, the instruction budget, a worker that makes no progress, or an abort (Ctrl-C).
// Virtual time is host time since the VM started, on every thread.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { IpiMailbox } from '../apic/ipi-mailbox.js';
import type { BootSectorRunResult } from '../vmm/bare-metal.js';
import { standIn } from './apic-bridge.js';
import { answerAccess, type RunEnd, type ThreadedPc, type UserHooks } from './main-devices.js';
import { RunPages, VCPU_DONE, VCPU_PARKED, VCPU_RUNNING } from './run-page.js';
import type { VcpuReport, VcpuTask } from './task.js';

export interface ThreadedOptions extends UserHooks {
  /** Stop after this many guest instructions, summed over the vCPUs (default 500 million). */
  maxInstructions?: number;
  /** A running vCPU whose worker has not come back from KVM_RUN for this long is hung (default 10 s). */
  hangMs?: number;
  /** Instructions per KVM_RUN: how late a running vCPU may notice an IPI (default 16K). */
  quantum?: number;
  /** Aborted (Ctrl-C): every worker stops and the report says where each vCPU was. */
  signal?: AbortSignal;
  /** Asked at each look: true stops the run as an abort does (the command line's stop word). */
  shouldStop?: () => boolean;
  /** Device deadlines in a row that wake nobody before an idle VM ends 'halted' (default 64). */
  idleDeadlines?: number;
  /** Tests of the clean ends: a worker that throws or hangs. */
  fault?: { vcpu: number; kind: 'throw' | 'hang'; afterRuns: number };
  /** Each vCPU's state changes, for tests and the bench (the main thread sees them at its look). */
  onLook?: (states: Int32Array) => void;
}

export interface ThreadedRunResult extends BootSectorRunResult {
  /** Each vCPU's end as its worker reported it (missing for a worker that had to be terminated). */
  vcpus: VcpuReport[];
  /** vCPUs whose workers were terminated because they made no progress. */
  hung: number[];
  /** Host ms from the start barrier (every worker built) to the end, and to build the workers. */
  runMs: number;
  buildMs: number;
}

/** The worker module, built (dist/src/threads); vitest runs the sources, so map them there. */
export function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts')
    ? here.replace(/\/src\/threads\/threaded-vm\.ts$/, '/dist/src/threads/threaded-vm.js')
    : here;
  return js.replace(/threaded-vm\.js$/, 'vcpu-worker.js');
}

const QUANTUM = 1 << 14;
/** The main thread looks at least this often (budget, hang check, abort, device timers). */
const LOOK_MS = 20;
/** How long every vCPU must stay parked with nothing retired before the run may end 'halted'. */
const IDLE_MS = 200;
/** Device deadlines in a row that woke nobody before an idle VM with a timer ticking ends 'halted'. */
const MAX_IDLE_DEADLINES = 64;
/** How long stopped workers have to leave their run loops before they count as hung. */
const STOP_GRACE_MS = 2000;

/** Run a loaded VM with a worker per vCPU. */
export async function runThreaded(
  pc: ThreadedPc,
  arch: 'svm' | 'vmx',
  opts: ThreadedOptions = {},
): Promise<ThreadedRunResult> {
  const vm = pc.vm;
  const n = vm.vcpus.length;
  for (const v of vm.vcpus)
    if (v.backend.guestStateProtected)
      throw new Error('the threaded scheduler does not run SEV-ES guests yet: use the deterministic one');
  vm.commitLoadedRam();
  const bsp = vm.vcpus[0];
  const sregs = bsp.getSregs();
  const pages = new RunPages(n);
  const mailbox = new IpiMailbox(n);
  // The main thread's APICs are stand-ins too: the I/O APIC's messages go to the mailboxes.
  for (const v of vm.vcpus) standIn(v.apic, v.id, mailbox, pages.routing(v.id));
  const clock = pc.platform.clock;
  const originMs = performance.timeOrigin + performance.now();
  const nowNs = () => (performance.timeOrigin + performance.now() - originMs) * 1e6;
  const max = opts.maxInstructions ?? 500_000_000;
  const hangMs = opts.hangMs ?? 10_000;
  const pool = new Piscina({ filename: workerFile(), minThreads: n, maxThreads: n, idleTimeout: 100 });
  const reports: VcpuReport[] = [];
  const startAt = performance.now();
  let goAt = startAt;
  let endAt = startAt;
  const hung: number[] = [];
  const tasks = vm.vcpus.map((v) => {
    const task: VcpuTask = {
      dram: vm.host.share(),
      dramBytes: vm.host.bytes,
      control: pages.shared,
      mailbox: mailbox.shared,
      id: v.id,
      cpus: n,
      memoryBytes: vm.guestRamBytes,
      arch,
      vendor: vm.host.vendor,
      bsp:
        v.id === 0
          ? { regs: bsp.getRegs(), csSelector: sregs.selectors[1], csBase: Number(sregs.bases[1]) }
          : null,
      originMs,
      quantum: opts.quantum ?? QUANTUM,
      fault:
        opts.fault?.vcpu === v.id ? { kind: opts.fault.kind, afterRuns: opts.fault.afterRuns } : undefined,
    };
    return pool.run(task).then(
      (r: VcpuReport) => {
        reports.push(r);
        pages.ring();
      },
      (e: unknown) => {
        const hungHere = hung.includes(v.id);
        reports.push({
          id: v.id,
          end: hungHere ? 'hung' : 'exception',
          message: hungHere
            ? `vcpu ${v.id}: its worker was terminated (no progress)`
            : `vcpu ${v.id}: its worker died: ${e instanceof Error ? e.message : String(e)}`,
          instructions: 0,
          where: `vcpu ${v.id}: unknown`,
        });
        pages.ring();
      },
    );
  });
  const out = pc.output;
  const total = () => {
    let t = 0;
    for (let i = 0; i < n; i++) t += pages.instructions(i);
    return t;
  };
  let end: RunEnd | null = null;
  const beats = new Float64Array(n).fill(-1);
  const beatAt = new Float64Array(n);
  const states = new Int32Array(n);
  // Every vCPU parked and no instruction retired for IDLE_MS (a post in flight, a parked vCPU about
  // to wake, cannot last that long), and either no device timer armed or 64 device
  // deadlines passed that woke nobody (the deterministic scheduler's rule for skipping time: the
  // PIT ticks from power-on, so a deadline is nearly always due).
  let idleSince = -1;
  let idleCount = -1;
  let passes = 0;
  let lastDeadline: number | undefined;
  /** The machine is idle: wait for host input a device can take now (as the deterministic scheduler does). */
  const inputWakes = (): boolean => {
    const legacy = pc.platform.legacy;
    const serial = legacy.serialInput;
    const keys = legacy.keyboardInput;
    if (serial === null && keys === null) return false;
    if (legacy.feedInput()) return true;
    const more = (serial?.wait() ?? false) || (keys?.wait() ?? false);
    if (!more || !legacy.feedInput()) return false;
    idleSince = -1;
    passes = 0;
    return true;
  };
  /** Whether the VM is idle by the rule above. */
  const isIdle = (s: Int32Array): boolean => {
    const count = total();
    const next = pc.platform.nextDeadline();
    const now = performance.now();
    if (s.every((x) => x === VCPU_PARKED) && count === idleCount) {
      if (idleSince < 0) idleSince = now;
      if (next !== undefined && next !== lastDeadline) passes++;
    } else {
      idleSince = -1;
      passes = 0;
    }
    idleCount = count;
    lastDeadline = next;
    return (
      idleSince >= 0 &&
      now - idleSince >= IDLE_MS &&
      (next === undefined || passes >= (opts.idleDeadlines ?? MAX_IDLE_DEADLINES))
    );
  };
  try {
    // The start barrier: every worker has written its vCPUs' control pages before any vCPU runs.
    while (pages.readyCount() < n && reports.length === 0)
      await pages.waitDoorbell(pages.doorbell(), LOOK_MS);
    pages.go();
    goAt = performance.now();
    while (end === null) {
      const seen = pages.doorbell();
      clock.skipTo(nowNs());
      pc.platform.legacy.feedInput(); // host input reaches COM1 or the 8042 when they have room
      pc.platform.poll();
      const now = performance.now();
      for (let id = 0; id < n && end === null; id++) {
        const a = pages.posted(id);
        if (a !== null) {
          const r = answerAccess(pc, opts, a);
          if (r.end !== undefined) {
            end = r.end;
            pages.answer(id, 0, true);
          } else pages.answer(id, r.data);
        }
        const st = pages.state(id);
        states[id] = st;
        const beat = pages.beat(id);
        if (beat !== beats[id] || st !== VCPU_RUNNING) {
          beats[id] = beat;
          beatAt[id] = now;
        } else if (now - beatAt[id] > hangMs) {
          hung.push(id);
          end = {
            stop: 'error',
            message: `vcpu ${id}: its worker made no progress for ${hangMs} ms (hung); every worker was stopped`,
            exitStatus: null,
          };
        }
      }
      opts.onLook?.(states);
      if (end !== null) break;
      if (pc.resetRequested)
        end = {
          stop: 'reset',
          message: 'the guest reset the machine (hvemu ends the run there)',
          exitStatus: null,
        };
      else if (pc.powerOffRequested)
        end = { stop: 'exit', message: 'the guest powered the machine off (ACPI S5)', exitStatus: 0 };
      else if (reports.length !== 0) end = fromReport(reports[0]);
      else if (total() >= max)
        end = {
          stop: 'max-instructions',
          message: `stopped after ${total()} instructions (--max-instructions)`,
          exitStatus: null,
        };
      else if (opts.signal?.aborted || opts.shouldStop?.())
        end = { stop: 'interrupted', message: `interrupted after ${total()} instructions`, exitStatus: null };
      else if (isIdle(states) && !inputWakes())
        end = {
          stop: 'halted',
          message: 'every vCPU is halted or waiting for SIPI, with nothing to wake it',
          exitStatus: null,
        };
      if (end !== null) break;
      const next = pc.platform.nextDeadline();
      const wait = next === undefined ? LOOK_MS : Math.max(0, Math.min(LOOK_MS, (next - nowNs()) / 1e6));
      await pages.waitDoorbell(seen, wait);
    }
  } finally {
    endAt = performance.now();
    // Stop every worker: the stop word, a ring on each mailbox (a parked vCPU wakes), an answer to
    // any access still posted; a worker that does not come back in time is terminated.
    pages.requestStop();
    for (let id = 0; id < n; id++) {
      mailbox.postEvents(id, 0);
      if (pages.posted(id) !== null) pages.answer(id, 0, true);
    }
    // The others have STOP_GRACE_MS to come back (a hung worker never will: it is not waited for).
    const deadline = performance.now() + STOP_GRACE_MS;
    const pending = () => {
      let any = false;
      for (let id = 0; id < n; id++) {
        if (pages.posted(id) !== null) pages.answer(id, 0, true); // posted before it saw the stop word
        if (pages.state(id) !== VCPU_DONE && !hung.includes(id)) any = true;
      }
      return any;
    };
    while (pending() && performance.now() < deadline) await pages.waitDoorbell(pages.doorbell(), LOOK_MS);
    // The reports of the workers that are done arrive as messages: let them in.
    const settled = Promise.all(tasks);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      settled,
      new Promise((r) => (timer = setTimeout(r, hung.length ? 200 : STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    for (let id = 0; id < n; id++) if (pages.state(id) !== VCPU_DONE && !hung.includes(id)) hung.push(id);
    await pool.destroy();
  }
  reports.sort((a, b) => a.id - b.id);
  const result: ThreadedRunResult = {
    output: Buffer.from(out).toString('latin1'),
    exitStatus: end.exitStatus,
    stop: end.stop,
    message: end.message,
    instructions: total(),
    vcpus: reports,
    hung,
    runMs: endAt - goAt,
    buildMs: goAt - startAt,
  };
  if (end.stop === 'interrupted' || end.stop === 'error') result.where = reports.map((r) => r.where);
  return result;
}

/** The first vCPU that ended on its own ends the VM. */
function fromReport(r: VcpuReport): RunEnd {
  switch (r.end) {
    case 'triple-fault':
      return { stop: 'triple-fault', message: r.message, exitStatus: null };
    case 'terminated':
      return { stop: 'terminated', message: r.message, exitStatus: null };
    case 'exception':
      return { stop: 'error', message: `${r.message} (${r.where})`, exitStatus: null };
    default:
      return { stop: 'error', message: r.message, exitStatus: null };
  }
}
