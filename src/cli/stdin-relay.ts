// Standard input for a guest that runs on the CLI's run thread. The main thread reads stdin (event
// driven, so it stays free for SIGINT) into a ring in shared memory; the run thread takes bytes
// from the ring as the devices have room (HostInput). A thread blocked in read(2) could not be
// stopped, or even let the process exit, so the run thread never reads stdin itself: it waits on
// the ring, and wakes for bytes, the end of input or a stop request.
//
// Timing follows src/stdin-input.ts: bytes are taken when they are there, and the run blocks only
// when every vCPU waits for input; from a socket (what Node's child_process gives a child) a device
// with room waits for the next bytes, so what the guest sees does not depend on the sender's timing.
import { fstatSync } from 'node:fs';
import type { HostInput } from '../vm-boot.js';

const W = 0; // bytes written so far (mod 2^32)
const R = 1; // bytes taken so far
const EOF = 2; // 1: the input ended
const KIND = 3; // what stdin is: KIND_*
const KIND_OTHER = 0; // a pipe or a file: bytes are taken when they are there
const KIND_TTY = 1; // a terminal: the same, and a word on stderr when the guest waits for a line
const KIND_SOCKET = 2; // a socket (Node's child_process): a device with room waits for the next bytes
const HEADER = 16;
const DATA = 1 << 16;

export const STDIN_RING_BYTES = HEADER + DATA;

/** Main thread: pour process.stdin into `ring` until it ends; returns a function that stops it. */
export function pourStdin(ring: SharedArrayBuffer): () => void {
  const h = new Int32Array(ring, 0, 4);
  const data = new Uint8Array(ring, HEADER, DATA);
  let socket = false;
  try {
    socket = fstatSync(0).isSocket();
  } catch {
    // no standard input at all: it reads as ended
  }
  Atomics.store(h, KIND, process.stdin.isTTY ? KIND_TTY : socket ? KIND_SOCKET : KIND_OTHER);
  const queue: Buffer[] = [];
  const drain = () => {
    while (queue.length > 0) {
      const chunk = queue[0];
      const room = DATA - ((Atomics.load(h, W) - Atomics.load(h, R)) | 0);
      if (room === 0) return false;
      const n = Math.min(room, chunk.length);
      const w = Atomics.load(h, W);
      for (let i = 0; i < n; i++) data[(w + i) & (DATA - 1)] = chunk[i];
      Atomics.store(h, W, (w + n) | 0);
      Atomics.notify(h, W);
      if (n === chunk.length) queue.shift();
      else queue[0] = chunk.subarray(n);
    }
    return true;
  };
  // A full ring is drained by the run thread; look again shortly (input is people and pipes).
  const retry = setInterval(() => {
    if (queue.length > 0 && drain()) process.stdin.resume();
  }, 20);
  retry.unref();
  const end = () => {
    const finish = setInterval(() => {
      if (!drain()) return;
      clearInterval(finish);
      Atomics.store(h, EOF, 1);
      Atomics.notify(h, W);
    }, 10);
    finish.unref();
    if (drain()) {
      clearInterval(finish);
      Atomics.store(h, EOF, 1);
      Atomics.notify(h, W);
    }
  };
  process.stdin.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    if (!drain()) process.stdin.pause();
  });
  process.stdin.on('end', end);
  process.stdin.on('error', end); // a read error is the end of input, not the end of the run
  return () => {
    clearInterval(retry);
    process.stdin.destroy();
  };
}

/**
 * Run thread: the guest's HostInput from `ring`. `beforeRead` runs before each look (the CLI
 * flushes a prompt without a newline); `stopRequested` ends a wait early (SIGINT, SIGTERM).
 */
export function ringInput(
  ring: SharedArrayBuffer,
  beforeRead: () => void,
  stopRequested: () => boolean,
): HostInput {
  const h = new Int32Array(ring, 0, 4);
  const data = new Uint8Array(ring, HEADER, DATA);
  const kind = Atomics.load(h, KIND);
  let told = false;
  const available = () => (Atomics.load(h, W) - Atomics.load(h, R)) | 0;
  const ended = () => Atomics.load(h, EOF) === 1 && available() === 0;
  /** Block until bytes, the end of input or a stop request. */
  const block = () => {
    while (available() === 0 && Atomics.load(h, EOF) === 0 && !stopRequested())
      Atomics.wait(h, W, Atomics.load(h, W), 100);
  };
  const take = (max: number): number[] => {
    const n = Math.min(max, available());
    const r = Atomics.load(h, R);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = data[(r + i) & (DATA - 1)];
    Atomics.store(h, R, (r + n) | 0);
    return out;
  };
  return {
    read(max) {
      beforeRead();
      if (kind === KIND_SOCKET && available() === 0 && !ended()) block();
      return take(max);
    },
    wait() {
      beforeRead();
      if (available() > 0) return true;
      if (ended()) return false;
      if (kind === KIND_TTY && !told) {
        told = true;
        process.stderr.write('hvemu: every vCPU waits for input: type a line (Ctrl-D ends the input)\n');
      }
      block();
      return available() > 0;
    },
  };
}
