// The host's standard input as guest input (HostInput), read without stopping the guest: bytes are
// taken when they are there (a non-blocking descriptor of its own), and only when every vCPU waits
// with nothing else to wake it does hvemu block until the next bytes or the end of input. A
// terminal stays in its normal line mode: what is typed reaches the guest when Enter is pressed,
// Ctrl-D ends the input and Ctrl-C ends hvemu. A socket as standard input (what Node's
// child_process gives a child) cannot be reopened; it is read with blocking reads when a device
// has room for its bytes, so the guest waits while its sender is silent.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { HostInput } from './vm-boot.js';

/** `beforeRead` runs before each look at the input: the CLI flushes a prompt the guest has printed
 *  without a newline, so it shows before the user types. */
export function stdinInput(beforeRead: () => void = () => {}): HostInput {
  const pending: number[] = [];
  let ended = false;
  let told = false;
  let fd = 0;
  try {
    // A descriptor of our own, so O_NONBLOCK does not change the shell's standard input.
    fd = openSync('/proc/self/fd/0', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    fd = 0; // a socket: blocking reads of fd 0
  }
  const buf = Buffer.alloc(4096);
  const take = (blocking: boolean): void => {
    if (ended) return;
    try {
      const n = readSync(blocking ? 0 : fd, buf, 0, buf.length, null);
      if (n === 0) {
        ended = true;
        if (fd !== 0) closeSync(fd);
      } else for (let i = 0; i < n; i++) pending.push(buf[i]);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return;
      ended = true; // a read error is the end of input, not the end of the run
    }
  };
  return {
    read(max) {
      beforeRead();
      if (pending.length < max) take(false);
      return pending.splice(0, max);
    },
    wait() {
      beforeRead();
      if (pending.length > 0) return true;
      if (!ended && !told && isatty(0)) {
        told = true;
        process.stderr.write('hvemu: every vCPU waits for input: type a line (Ctrl-D ends the input)\n');
      }
      take(true);
      return pending.length > 0;
    },
  };
}
