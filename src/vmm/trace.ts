// The trace topics (--trace) and their sink. Every line starts with who it is about ("vcpu N:" or
// "APIC 0xN:"), so a reader can filter by vCPU; docs/tracing.md gives each topic's line format.
// Tracing costs nothing when off: callers test a boolean (VmmServices.tracing, `topics.has`)
// before they build a line.

/** The topics, each one line per event. */
export const TRACE_TOPICS = {
  exits: 'one line per VM exit, with the guest instruction where the hypervisor may see it',
  apic: 'one line per IPI (delivery mode, vector, destination, shorthand, targets) and APIC error',
  mp: 'one line per MP-state change, SIPI and AP Reset Hold',
  ghcb: 'each GHCB request and answer field by field (valid bitmap decoded), MSR-protocol values named',
  insn: 'each guest instruction, disassembled (unprotected vCPUs only; slows the run)',
  io: 'each port access with the device that claimed it',
  mmio: 'each MMIO access with the device that claimed it',
  irq: 'interrupt requests (I/O APIC, PIC), acceptance into the IRR, injection, EOI',
} as const;

export type TraceTopic = keyof typeof TRACE_TOPICS;

export const TRACE_TOPIC_NAMES = Object.keys(TRACE_TOPICS) as TraceTopic[];

export function isTraceTopic(name: string): name is TraceTopic {
  return Object.hasOwn(TRACE_TOPICS, name);
}

/** Receives one finished line (no newline) of a topic that is on. */
export type TraceSink = (topic: TraceTopic, line: string) => void;

/** Every topic off (services built without a trace). */
export const TRACE_OFF: Readonly<Record<TraceTopic, boolean>> = Object.freeze(
  Object.fromEntries(TRACE_TOPIC_NAMES.map((t) => [t, false])) as Record<TraceTopic, boolean>,
);
