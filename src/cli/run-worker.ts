// The thread that runs the guest. The run loop is synchronous, so a signal could never reach it on
// the main thread: the main thread keeps its event loop free for SIGINT/SIGTERM and the progress
// line, and asks this thread to stop through shared memory, which the run loop checks between
// turns (BootSectorRunOptions.checkpoint). Console bytes go straight to stdout from here.
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { tier2Report, tier2Stats } from '../cpu/jit/stats.js';
import { disassemble, hexBytes } from '../disasm.js';
import { runFirmwareVm } from '../firmware-boot.js';
import { runSevEsVm, type SevEsRunResult } from '../sev-boot.js';
import { runSevLinuxVm } from '../sev-linux.js';
import { type HostInput, runImageVm } from '../vm-boot.js';
import { runImageVmThreaded } from '../vm-threaded.js';
import { type BootSectorRunResult, ImageError, runBootSector } from '../vmm/bare-metal.js';
import { DiskImage } from '../vmm/devices/disk-image.js';
import { GdbStub } from '../vmm/gdb/gdb-stub.js';
import { isTraceTopic, type TraceTopic } from '../vmm/trace.js';
import { workerGdbTransport } from './gdb-transport.js';
import { PerfettoWriter } from './perfetto.js';
import { INSTRUCTIONS_SLOT, LAST_OUTPUT_SLOT, type RunJob, STOP_SLOT, type WorkerReply } from './run-job.js';
import { ringInput } from './stdin-relay.js';
import { TraceOutput } from './trace-output.js';

class StdoutGone extends Error {}

function write(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') throw new StdoutGone();
      if (code !== 'EAGAIN') throw e; // EAGAIN: a non-blocking pipe that is full; try again
    }
  }
}

function run(job: RunJob): WorkerReply | Promise<WorkerReply> {
  const flags = new Int32Array(job.shared, 0, 2);
  const progress = new Float64Array(job.shared);
  const out = new Uint8Array(4096);
  let pending = 0;
  const flush = () => {
    if (pending > 0) write(1, out.subarray(0, pending));
    pending = 0;
  };
  const toStdout = (b: number) => {
    out[pending++] = b;
    progress[LAST_OUTPUT_SLOT] = Date.now();
    if (b === 10 || pending === out.length) flush();
  };
  // Both consoles go to stdout, but a guest that writes everything to both (as the shared bench
  // guest does, for emulators that have only one) should not print each byte twice: with
  // --console auto, the first console the guest writes to owns stdout.
  let owner: string | null = job.console === 'auto' || job.console === 'both' ? null : job.console;
  const console = (which: 'e9' | 'com1', b: number) => {
    if (job.console === 'auto' && owner === null) owner = which;
    if (job.console !== 'both' && owner !== which) return;
    toStdout(b);
  };
  let traceOut: TraceOutput;
  try {
    traceOut = new TraceOutput(job.traceFile, job.traceCpus === null ? null : new Set(job.traceCpus), write);
  } catch (e) {
    return {
      kind: 'bad-input',
      message: `cannot write the trace to ${job.traceFile}: ${(e as Error).message}`,
    };
  }
  const topics = new Set(job.trace.filter(isTraceTopic));
  let timeline: PerfettoWriter | undefined;
  if (job.perfetto !== null)
    try {
      timeline = new PerfettoWriter(
        job.perfetto,
        job.cpus,
        `hvemu: ${job.kind === 'sev-es' ? 'SEV-ES guest' : `${job.arch} VM`}, ${job.cpus} vCPU${job.cpus > 1 ? 's' : ''}`,
      );
    } catch (e) {
      return {
        kind: 'bad-input',
        message: `cannot write the timeline to ${job.perfetto}: ${(e as Error).message}`,
      };
    }
  const enc = new TextEncoder();
  const toStderr = (line: string) => write(2, enc.encode(`${line}\n`));
  let checks = 0;
  const disks: (DiskImage | null)[] = [];
  for (const p of job.disks) {
    if (p === undefined) {
      disks.push(null);
      continue;
    }
    try {
      disks.push(DiskImage.open(p, job.diskWrite));
    } catch (e) {
      return { kind: 'bad-input', message: `cannot open disk ${p}: ${(e as Error).message}` };
    }
  }
  // A prompt without a newline shows before the guest looks for input; a stop request ends a wait.
  const input: HostInput | undefined =
    job.input !== 'none' && job.stdin !== undefined
      ? ringInput(job.stdin, flush, () => Atomics.load(flags, STOP_SLOT) !== 0)
      : undefined;
  // --debugcon FILE: OVMF's DEBUG text (port 0x402), written as it comes.
  let debugconFd = -1;
  if (job.debugcon !== undefined) {
    try {
      debugconFd = openSync(job.debugcon, 'w');
    } catch (e) {
      return {
        kind: 'bad-input',
        message: `cannot open --debugcon ${job.debugcon}: ${(e as Error).message}`,
      };
    }
  }
  const debugconBuf = new Uint8Array(4096);
  let debugconLen = 0;
  const flushDebugcon = () => {
    if (debugconFd >= 0 && debugconLen > 0) write(debugconFd, debugconBuf.subarray(0, debugconLen));
    debugconLen = 0;
  };
  // --pflash-write: the variable store's programmed and erased ranges go back to its file at once.
  let varsFd = -1;
  if (job.vars?.writeBack) {
    try {
      varsFd = openSync(job.vars.path, 'r+');
    } catch (e) {
      return {
        kind: 'bad-input',
        message: `cannot open ${job.vars.path} for writing: ${(e as Error).message}`,
      };
    }
  }
  // --gdb: gdb's kill ends the run as a stop request does.
  const debug = job.gdb
    ? new GdbStub(workerGdbTransport(job.gdb.port, job.gdb.shared), {
        waitForAttach: job.gdb.wait,
        kill: () => Atomics.store(flags, STOP_SLOT, 9),
        stopping: () => Atomics.load(flags, STOP_SLOT) !== 0,
        log: toStderr,
      })
    : undefined;
  const opts = {
    debug,
    onDebugcon:
      debugconFd >= 0
        ? (b: number) => {
            debugconBuf[debugconLen++] = b;
            if (b === 10 || debugconLen === debugconBuf.length) flushDebugcon();
          }
        : undefined,
    arch: job.arch,
    cpus: job.cpus,
    cmdline: job.cmdline,
    append: job.append,
    modules: job.modules,
    initrd: job.initrd,
    trace: topics.size ? (topic: TraceTopic, line: string) => traceOut.line(topic, line) : null,
    traceTopics: topics,
    timeline,
    maxInstructions: job.maxInstructions,
    memoryBytes: job.memoryBytes,
    vendor: job.vendor,
    rtcEpochMs: job.rtc === 'host' ? ('host' as const) : undefined,
    disks,
    serialInput: job.input === 'com1' ? input : undefined,
    keyboardInput: job.input === 'keyboard' ? input : undefined,
    onVgaLine: job.vgaConsole
      ? (line: string) => {
          for (const c of Buffer.from(`${line}\n`, 'latin1')) toStdout(c);
        }
      : undefined,
    onVgaScreen:
      job.vga !== undefined
        ? (text: string) => {
            try {
              writeFileSync(job.vga as string, text, 'latin1');
            } catch (e) {
              toStderr(`hvemu: cannot write ${job.vga}: ${(e as Error).message}`);
            }
          }
        : undefined,
    onDebugByte: (b: number) => console('e9', b),
    onSerialByte: (b: number) => console('com1', b),
    onUndefined: job.debugUd
      ? (rip: number, bytes: Uint8Array, codeSize: number) =>
          toStderr(
            `hvemu: #UD at ${rip.toString(16)}: ${hexBytes(bytes)} (${disassemble(bytes, codeSize)}): not implemented or invalid here`,
          )
      : undefined,
    checkpoint: (instructions: number) => {
      if ((++checks & 15) === 0) progress[INSTRUCTIONS_SLOT] = instructions;
      return Atomics.load(flags, STOP_SLOT) !== 0;
    },
  };
  const done = (result: BootSectorRunResult): WorkerReply => {
    flush();
    flushDebugcon();
    if (debugconFd >= 0) closeSync(debugconFd);
    traceOut.close();
    return { kind: 'done', result };
  };
  if (job.threads && job.kind === 'vm') {
    const stop = () => Atomics.load(flags, STOP_SLOT) !== 0;
    const running = (async () =>
      runImageVmThreaded(job.image, { ...opts, checkpoint: undefined }, { shouldStop: stop }))();
    return running.then(done, (e): WorkerReply => {
      if (e instanceof ImageError) return { kind: 'image-error', message: e.message };
      throw e;
    });
  }
  try {
    const vars = job.vars ? { name: job.vars.path, bytes: job.vars.bytes } : null;
    const result: BootSectorRunResult =
      job.kind === 'sev-es'
        ? runSevEsVm(job.image, { ...opts, vars: vars ?? undefined })
        : job.kind === 'sev-es-linux'
          ? runSevLinuxVm(job.image, opts)
          : job.kind === 'firmware'
            ? runFirmwareVm(
                {
                  code: { name: job.imagePath, bytes: job.image },
                  vars,
                  onVarsChange:
                    varsFd >= 0 ? (bytes, off, len) => writeSync(varsFd, bytes, off, len, off) : undefined,
                },
                opts,
              )
            : job.kind === 'vm'
              ? runImageVm(job.image, opts)
              : runBootSector(job.image, opts);
    flush();
    flushDebugcon();
    if (debugconFd >= 0) closeSync(debugconFd);
    if (varsFd >= 0) closeSync(varsFd);
    traceOut.close();
    timeline?.close();
    if (tier2Stats.enabled) writeSync(2, `${tier2Report()}\n`);
    if (job.kind === 'sev-es' || job.kind === 'sev-es-linux') {
      const r = result as SevEsRunResult;
      return { kind: 'done', result, measurement: r.measurement, measurementVerified: r.measurementVerified };
    }
    return { kind: 'done', result };
  } catch (e) {
    if (e instanceof StdoutGone) return { kind: 'epipe' };
    try {
      traceOut.close();
      timeline?.close();
      flush();
    } catch {
      // stdout is gone too: the error below is what matters
    }
    if (e instanceof ImageError) return { kind: 'image-error', message: e.message };
    throw e;
  }
}

void Promise.resolve(run(workerData as RunJob)).then((reply) => parentPort?.postMessage(reply));
