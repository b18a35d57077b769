// Timers around the emulator's own methods, for the SEV-ES breakdown that no trace point separates:
// the world switch's load and save of guest state (from the VMSA under SEV-ES, from the VMCB
// otherwise), the hypervisor's VMGEXIT handling (GHCB copy in, validation, answer, copy out), the
// release of an AP Reset Hold, and the memory controller's page conversions and hypervisor copies.
// The wrappers replace prototype methods for the duration of one run and are removed after it; they
// add a timer read on each side of every call, so an instrumented run is slower and is used only
// for these shares, never for the headline latencies. A method that no longer exists is reported
// as missing (the emulator changed), not silently skipped.

import { MemoryController } from '../../src/host/memory-controller.js';
import { SvmHardware } from '../../src/svm/hw/world-switch.js';
import { VmgexitHandler } from '../../src/svm/sev-es/vmgexit.js';

export interface Timed {
  calls: number;
  ns: number;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;
type Proto = Record<string, Method | undefined>;

interface Target {
  label: string;
  proto: Proto;
  method: string;
  /** Split the calls into sub-labels by the receiver's state at the call (e.g. SEV-ES or not). */
  split?: (self: unknown) => string;
}

const TARGETS: Target[] = [
  {
    label: 'world switch: load guest state',
    proto: SvmHardware.prototype as unknown as Proto,
    method: 'loadGuest',
    split: (self) => ((self as { vmsaPa: number }).vmsaPa >= 0 ? ' (SEV-ES: VMSA)' : ' (VMCB)'),
  },
  {
    label: 'world switch: save guest state',
    proto: SvmHardware.prototype as unknown as Proto,
    method: 'saveGuest',
    split: (self) => ((self as { vmsaPa: number }).vmsaPa >= 0 ? ' (SEV-ES: VMSA)' : ' (VMCB)'),
  },
  { label: 'VMRUN to #VMEXIT, whole', proto: SvmHardware.prototype as unknown as Proto, method: 'vmrun' },
  {
    label: 'VMGEXIT handling',
    proto: VmgexitHandler.prototype as unknown as Proto,
    method: 'handle',
    split: (self) => {
      const v = (self as { vmcb: { get64(n: string): bigint } }).vmcb.get64('ghcb_gpa');
      return v & 0xfffn ? ' (MSR protocol)' : ' (GHCB page)';
    },
  },
  {
    label: 'AP Reset Hold release (GHCB write)',
    proto: VmgexitHandler.prototype as unknown as Proto,
    method: 'releaseGhcb',
  },
  {
    label: 'memory controller: page conversion',
    proto: MemoryController.prototype as unknown as Proto,
    method: 'convert',
  },
  {
    label: 'memory controller: hypervisor read',
    proto: MemoryController.prototype as unknown as Proto,
    method: 'readRaw',
  },
  {
    label: 'memory controller: hypervisor write',
    proto: MemoryController.prototype as unknown as Proto,
    method: 'writeRaw',
  },
];

export interface Instrumentation {
  timings: Map<string, Timed>;
  missing: string[];
  remove(): void;
}

/** Wrap every target; `remove()` puts the originals back. Nested calls are timed inclusively. */
export function instrument(): Instrumentation {
  const timings = new Map<string, Timed>();
  const missing: string[] = [];
  const undo: (() => void)[] = [];
  for (const t of TARGETS) {
    const orig = t.proto[t.method];
    if (typeof orig !== 'function') {
      missing.push(`${t.method} (${t.label})`);
      continue;
    }
    const { label, split } = t;
    t.proto[t.method] = function (this: unknown, ...args: unknown[]) {
      const key = split ? label + split(this) : label;
      const t0 = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        const e = timings.get(key) ?? { calls: 0, ns: 0 };
        e.calls++;
        e.ns += (performance.now() - t0) * 1e6;
        timings.set(key, e);
      }
    };
    undo.push(() => {
      t.proto[t.method] = orig;
    });
  }
  const remove = () => {
    for (const u of undo) u();
  };
  return { timings, missing, remove };
}
