// Host memory as V8 and Node account for it, after a full garbage collection: the JS heap in use plus
// `external` (ArrayBuffer stores such as a vCPU's TLB arrays, and native allocations). Node does not
// count SharedArrayBuffer stores in `external` (only in `arrayBuffers`, with the ArrayBuffers), so a
// VM's host memory (guest RAM and control pages, one SharedArrayBuffer) is added by the caller, who
// knows its size. gc() is reached without --expose-gc through V8's flag API and a fresh context.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runBootSector } from '../../src/vmm/bare-metal.js';

let gcFn: (() => void) | null = null;

function gc(): void {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

/** Bytes in use now: heap used + external (not SharedArrayBuffers). */
export function bytesInUse(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * Let go of the last VM before a baseline: src/cpu/decode.ts keeps the last processor that decoded
 * an instruction in a module variable, and through it that VM's RAM, devices and vCPUs. A 1 MiB bare
 * machine that decodes one HLT takes its place (and is itself freed by the next VM that runs).
 */
export function releaseLastVm(): void {
  runBootSector(new Uint8Array([0xf4]), { memoryBytes: 1 << 20 });
}
