// The host's standard input as guest input (HostInput), read without stopping the guest: bytes are
// taken when they are there (a non-blocking descriptor of its own), and only when every vCPU waits
// with nothing else to wake it does hvemu block until the next bytes or the end of input. A
// terminal stays in its normal line mode: what is typed reaches the guest when Enter is pressed,
// Ctrl-D ends the input and Ctrl-C ends hvemu.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import type { HostInput } from './vm-boot.js';

export function stdinInput(): HostInput {
  const pending: number[] = [];
  let ended = false;
  let fd = -1;
  try {
    // A descriptor of our own, so O_NONBLOCK does not change the shell's standard input.
    fd = openSync('/proc/self/fd/0', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    ended = true; // no standard input to read (closed, or not reopenable): no input
  }
  const buf = Buffer.alloc(4096);
  const take = (blocking: boolean): void => {
    if (ended) return;
    try {
      const n = readSync(blocking ? 0 : fd, buf, 0, buf.length, null);
      if (n === 0) {
        ended = true;
        closeSync(fd);
      } else for (let i = 0; i < n; i++) pending.push(buf[i]);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return;
      ended = true; // a read error is the end of input, not the end of the run
    }
  };
  return {
    read(max) {
      if (pending.length < max) take(false);
      return pending.splice(0, max);
    },
    wait() {
      if (pending.length > 0) return true;
      take(true);
      return pending.length > 0;
    },
  };
}
