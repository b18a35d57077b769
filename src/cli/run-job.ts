// What the command line hands the thread that runs the guest (run-worker.ts), and the shared words
// between them: everything here crosses postMessage, so plain data only.
import type { MessagePort } from 'node:worker_threads';
import type { BootSectorRunResult } from '../vmm/bare-metal.js';

export type ConsoleChoice = 'auto' | 'both' | 'e9' | 'com1';

export interface RunJob {
  image: Uint8Array;
  /**
   * bare: the boot sector on the bare processor; vm: boot sector or kernel as a VM; firmware: system
   * firmware (the image is the code, --bios or pflash unit 0) as a VM; sev-es: firmware as an SEV-ES
   * guest; sev-es-linux: a Linux kernel entered directly (64-bit boot protocol) as an SEV-ES guest.
   */
  kind: 'bare' | 'vm' | 'firmware' | 'sev-es' | 'sev-es-linux';
  /** The firmware's file name (errors, the flash device's name). */
  imagePath: string;
  /** pflash unit 1, the variable store (firmware and sev-es). */
  vars?: { path: string; bytes: Uint8Array; writeBack: boolean };
  /** --debugcon FILE: port 0x402's bytes go there. */
  debugcon?: string;
  arch: 'svm' | 'vmx' | undefined;
  cpus: number;
  cmdline: string;
  /** QEMU's -append ('' without it): see VmBootOptions.cmdline. */
  append: string;
  /** A Multiboot kernel's modules (QEMU's -initrd "file args,..."). */
  modules: { name: string; data: Uint8Array }[];
  initrd: Uint8Array | undefined;
  /** --trace topics (vmm/trace.ts), --trace-file (null: stderr), --trace-cpus (null: all). */
  trace: string[];
  traceFile: string | null;
  traceCpus: number[] | null;
  /** --perfetto FILE: the timeline as Chrome trace-event JSON (null: none). */
  perfetto: string | null;
  maxInstructions: number;
  memoryBytes: number;
  vendor: 'AuthenticAMD' | 'GenuineIntel';
  /** The CMOS clock's start: a fixed date, or the host's time (--rtc). */
  rtc: 'fixed' | 'host';
  console: ConsoleChoice;
  debugUd: boolean;
  /** --threads: a host thread per vCPU (vm-threaded.ts) instead of the deterministic scheduler. */
  threads?: boolean;
  /** Disk files on the primary ATA channel (master, slave; undefined: an empty slot). */
  disks: (string | undefined)[];
  diskWrite: boolean;
  /** Where standard input goes. */
  input: 'com1' | 'keyboard' | 'none';
  /** Standard input's ring (stdin-relay.ts), made by the main thread when input is not 'none'. */
  stdin?: SharedArrayBuffer;
  /** --vga FILE: the text screen at the end. */
  vga: string | undefined;
  vgaConsole: boolean;
  /**
   * Shared with the main thread: Int32 [0] = the signal that asks the run to stop (0: none);
   * Float64 [1] = instructions so far, [2] = Date.now() of the last console byte.
   */
  shared: SharedArrayBuffer;
  /** --gdb: the relay's channel and shared word (gdb-relay.ts); wait: QEMU's -S. */
  gdb?: { port: MessagePort; shared: SharedArrayBuffer; wait: boolean };
}

export const SHARED_BYTES = 24;
export const STOP_SLOT = 0; // Int32Array index
export const INSTRUCTIONS_SLOT = 1; // Float64Array index
export const LAST_OUTPUT_SLOT = 2; // Float64Array index

export type WorkerReply =
  | {
      kind: 'done';
      result: BootSectorRunResult;
      measurement?: string;
      measurementVerified?: boolean;
    }
  | { kind: 'image-error'; message: string }
  /** A disk that cannot be opened, and the like: exit status 8. */
  | { kind: 'bad-input'; message: string }
  /** stdout went away (`hvemu run ... | head`): end quietly. */
  | { kind: 'epipe' };
