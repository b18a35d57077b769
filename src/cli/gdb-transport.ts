// The run thread's end of --gdb (gdb-relay.ts has the main thread's): messages are taken
// synchronously with receiveMessageOnPort, since the run loop never returns to the event loop.
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { GdbTransport } from '../vmm/gdb/gdb-stub.js';
import type { GdbToVm } from './gdb-relay.js';

export function workerGdbTransport(port: MessagePort, shared: SharedArrayBuffer): GdbTransport {
  const word = new Int32Array(shared);
  let seen = Atomics.load(word, 0);
  let connected = false;
  return {
    pending: () => Atomics.load(word, 0) !== seen,
    take(wait) {
      const bytes: Uint8Array[] = [];
      const before = connected;
      for (;;) {
        seen = Atomics.load(word, 0);
        let m = receiveMessageOnPort(port);
        while (m !== undefined) {
          const msg = m.message as GdbToVm;
          if (msg.kind === 'bytes') bytes.push(msg.bytes);
          else connected = msg.on;
          m = receiveMessageOnPort(port);
        }
        // A change of connection ends a wait as bytes do.
        if (bytes.length > 0 || !wait || before !== connected) return { bytes, connected };
        // Until the main thread bumps the word, or a while: the stub also watches for a stop request.
        if (Atomics.wait(word, 0, seen, 100) === 'timed-out') return { bytes, connected };
      }
    },
    send: (text) => port.postMessage(text),
    ready: () => port.postMessage({ ready: true }),
  };
}
