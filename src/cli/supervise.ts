// The main thread's side of a run: starts the run thread (run-worker.ts), turns SIGINT and SIGTERM
// into a stop request the run loop honours between turns, prints a progress line while a run is
// quiet on a terminal, and reports the ending (message, stats, exit status) when the thread answers.
import { Worker } from 'node:worker_threads';
import { EXIT_HVEMU_BUG, EXIT_SIGINT, EXIT_SIGTERM } from './exit-status.js';
import {
  INSTRUCTIONS_SLOT,
  LAST_OUTPUT_SLOT,
  type RunJob,
  SHARED_BYTES,
  STOP_SLOT,
  type WorkerReply,
} from './run-job.js';
import { pourStdin, STDIN_RING_BYTES } from './stdin-relay.js';

const SIGNALS = { SIGINT: { n: 2, status: EXIT_SIGINT }, SIGTERM: { n: 15, status: EXIT_SIGTERM } } as const;
/** How long a run may print nothing before a terminal hears it is still running (HVEMU_QUIET_SECONDS). */
const QUIET_MS = 1000 * Number(process.env.HVEMU_QUIET_SECONDS ?? 5);
/** A run thread that does not answer a stop request within this is left behind. */
const STOP_GRACE_MS = 5000;

export interface Supervised {
  reply: WorkerReply;
  /** The signal that stopped the run, if one did. */
  signal: keyof typeof SIGNALS | null;
  seconds: number;
}

const say = (line: string) => process.stderr.write(`hvemu: ${line}\n`);

/** Run `job` (without its shared buffer: made here) on its own thread; resolves when it ends. */
export function supervise(job: Omit<RunJob, 'shared' | 'stdin'>): Promise<Supervised> {
  const shared = new SharedArrayBuffer(SHARED_BYTES);
  const stdin = job.input !== 'none' ? new SharedArrayBuffer(STDIN_RING_BYTES) : undefined;
  const stopStdin = stdin ? pourStdin(stdin) : () => {};
  const stop = new Int32Array(shared, 0, 2);
  const progress = new Float64Array(shared);
  const t0 = Date.now();
  progress[LAST_OUTPUT_SLOT] = t0;
  const worker = new Worker(new URL('./run-worker.js', import.meta.url), {
    workerData: { ...job, shared, stdin },
    transferList: job.gdb ? [job.gdb.port] : [],
  });
  let signal: keyof typeof SIGNALS | null = null;

  const onSignal = (name: keyof typeof SIGNALS) => {
    if (signal !== null) {
      // A second signal: the user means it. Whatever the run thread has not written is lost.
      say(`${name} again: stopping at once`);
      process.exit(SIGNALS[name].status);
    }
    signal = name;
    Atomics.store(stop, STOP_SLOT, SIGNALS[name].n);
    setTimeout(() => {
      say(`the run did not stop within ${STOP_GRACE_MS / 1000} s of ${name}: leaving it`);
      process.exit(SIGNALS[name].status);
    }, STOP_GRACE_MS).unref();
  };
  process.removeAllListeners('SIGINT'); // the CLI's "before the guest ran" handlers
  process.removeAllListeners('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  // Still running: only for a person at a terminal, and only while the guest says nothing.
  let lastReport = t0;
  let lastCount = 0;
  const ticker = process.stderr.isTTY
    ? setInterval(() => {
        const now = Date.now();
        const count = progress[INSTRUCTIONS_SLOT];
        if (now - progress[LAST_OUTPUT_SLOT] >= QUIET_MS && now - lastReport >= QUIET_MS) {
          const mips = (count - lastCount) / ((now - lastReport) * 1000);
          say(
            `still running after ${((now - t0) / 1000).toFixed(0)} s: ${count.toExponential(2)} instructions, ${mips.toFixed(1)} MIPS (Ctrl-C stops it and says where)`,
          );
          lastReport = now;
          lastCount = count;
        } else if (now - lastReport >= QUIET_MS) {
          lastReport = now;
          lastCount = count;
        }
      }, 250)
    : null;

  return new Promise((resolve) => {
    const done = (reply: WorkerReply) => {
      if (ticker) clearInterval(ticker);
      stopStdin();
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve({ reply, signal, seconds: (Date.now() - t0) / 1000 });
    };
    worker.once('message', (reply: WorkerReply) => done(reply));
    worker.once('error', (e) => {
      if (ticker) clearInterval(ticker);
      if ((e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        say(`the run thread ran out of host memory (${e.message}); hvemu stops here`);
        process.exit(EXIT_HVEMU_BUG);
      }
      say(`internal error (a bug in hvemu; please report it with the command line):\n${e.stack ?? e}`);
      process.exit(EXIT_HVEMU_BUG);
    });
  });
}
