// --gdb: the main thread's half of the GDB stub. The stub itself (src/vmm/gdb) runs on the run
// thread beside the VM, which is busy running the guest; the main thread keeps the socket and
// relays bytes both ways through a MessagePort. Each arrival also bumps a shared word, so the run
// loop notices it with one load per turn and a stopped VM can sleep in Atomics.wait until gdb speaks.
import { createServer, type Server, type Socket } from 'node:net';
import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** Int32 [0]: bumped at every message to the run thread. */
export const GDB_SHARED_BYTES = 4;

/** What the main thread sends the run thread. */
export type GdbToVm = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'connected'; on: boolean };

export interface GdbRelay {
  /** The port the server listens on (the one asked for, or the system's choice for 0). */
  port: number;
  /** The run thread's end of the channel and the shared word: part of the RunJob (transferred). */
  vmPort: MessagePort;
  shared: SharedArrayBuffer;
  close(): void;
}

/**
 * Listen on 127.0.0.1:`port` for one gdb at a time. `onReady` runs when the stub on the run thread
 * first looks (the VM is built): gdb gives up on a stub that takes 2 s to answer, so the user hears
 * where to connect only then.
 */
export function startGdbRelay(port: number, onReady: (port: number) => void): Promise<GdbRelay> {
  const { port1, port2 } = new MessageChannel();
  const shared = new SharedArrayBuffer(GDB_SHARED_BYTES);
  const word = new Int32Array(shared);
  const toVm = (m: GdbToVm) => {
    port1.postMessage(m);
    Atomics.add(word, 0, 1);
    Atomics.notify(word, 0);
  };
  let client: Socket | null = null;
  let bound = port;
  port1.on('message', (m: string | { ready: true }) => {
    if (typeof m === 'string') client?.write(Buffer.from(m, 'latin1'));
    else onReady(bound);
  });
  const server: Server = createServer((s) => {
    if (client !== null) {
      s.end(); // one debugger at a time, as QEMU's gdbstub
      return;
    }
    client = s;
    s.setNoDelay(true);
    toVm({ kind: 'connected', on: true });
    s.on('data', (b: Buffer) => toVm({ kind: 'bytes', bytes: new Uint8Array(b) }));
    const gone = () => {
      if (client !== s) return;
      client = null;
      toVm({ kind: 'connected', on: false });
    };
    s.on('close', gone);
    s.on('error', gone);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.unref();
      const addr = server.address();
      bound = typeof addr === 'object' && addr !== null ? addr.port : port;
      resolve({
        port: bound,
        vmPort: port2,
        shared,
        close: () => {
          client?.destroy();
          server.close();
          port1.close();
        },
      });
    });
  });
}
