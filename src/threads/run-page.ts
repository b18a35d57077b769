// The words the threaded scheduler's threads share besides DRAM and the IPI mailbox: VM-wide
// control words (a doorbell the main thread sleeps on, the stop request, the start barrier) and a
// run page per vCPU, where a worker posts a port or MMIO access that only the main thread's devices
// can answer (KVM's struct kvm_run for KVM_EXIT_IO and KVM_EXIT_MMIO) and sleeps until it is
// answered. Each vCPU also publishes its state, a heartbeat and its instruction count here.

/** VM-wide words. */
const DOORBELL = 0; // bumped (and notified) by a worker whenever the main thread has work
const STOP = 1; // 1: every worker leaves its run loop at its next look
const READY = 2; // workers that have built their vCPU
const GO = 3; // 1: the built workers may run
const HEADER = 16;

/** Per-vCPU run page words. */
const REQ = 0; // REQ_* below
const KIND = 1; // KIND_* below
const ADDR_LO = 2; // the port, or the MMIO address's low 32 bits
const ADDR_HI = 3;
const SIZE = 4;
const WRITE = 5; // 1: OUT or an MMIO write
const DATA = 6; // the value written, or the answer to a read
const STATE = 7; // VCPU_* below
const BEAT = 8; // bumped at each return from KVM_RUN
const END = 9; // 1 in an answer: the VM is over, leave the run loop
// The vCPU's APIC as the APIC bus routes by it (published by its worker; read by stand-ins).
const APIC_FLAGS = 10; // APIC_HW | APIC_SW | APIC_X2
const APIC_ID = 11;
const APIC_LDR = 12;
const APIC_DFR = 13;
const APIC_PPR = 14;
const PAGE_WORDS = 16;
const APIC_HW = 1;
const APIC_SW = 2;
const APIC_X2 = 4;

/** What the APIC bus reads of a destination APIC (apic-bus.ts `matches`, lowest priority). */
export interface ApicRouting {
  readonly hwEnabled: boolean;
  readonly swEnabled: boolean;
  readonly x2apicMode: boolean;
  readonly physicalId: number;
  readonly logicalId: number;
  readonly destinationFormat: number;
  readonly ppr: number;
}

export const REQ_NONE = 0;
export const REQ_POSTED = 1;
export const REQ_ANSWERED = 2;
export const KIND_IO = 1;
export const KIND_MMIO = 2;

export const VCPU_BUILDING = 0;
export const VCPU_RUNNING = 1;
export const VCPU_PARKED = 2;
export const VCPU_WAITING_USER = 3;
export const VCPU_DONE = 4;

/** One access posted by a worker. */
export interface UserAccess {
  kind: number;
  addr: number;
  size: number;
  isWrite: boolean;
  data: number;
}

/** Atomics.waitAsync (Node 16+; not in this project's TypeScript lib yet). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      t: number,
    ): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

export class RunPages {
  readonly shared: SharedArrayBuffer;
  private readonly w: Int32Array;
  /** Instructions retired per vCPU (written by its worker only; read for the budget and reports). */
  private readonly counts: Float64Array;

  constructor(
    readonly vcpus: number,
    shared?: SharedArrayBuffer,
  ) {
    const bytes = (HEADER + vcpus * PAGE_WORDS) * 4 + vcpus * 8;
    this.shared = shared ?? new SharedArrayBuffer(bytes);
    if (this.shared.byteLength !== bytes)
      throw new RangeError(`run pages for ${vcpus} vCPUs are ${bytes} bytes`);
    this.w = new Int32Array(this.shared, 0, HEADER + vcpus * PAGE_WORDS);
    this.counts = new Float64Array(this.shared, (HEADER + vcpus * PAGE_WORDS) * 4, vcpus);
  }

  // ---- VM-wide ----

  doorbell(): number {
    return Atomics.load(this.w, DOORBELL);
  }
  ring(): void {
    Atomics.add(this.w, DOORBELL, 1);
    Atomics.notify(this.w, DOORBELL);
  }
  /** The main thread sleeps until a worker rings after `seen`, or `timeoutMs`. */
  waitDoorbell(seen: number, timeoutMs: number): Promise<unknown> {
    const r = waitAsync(this.w, DOORBELL, seen, timeoutMs);
    return typeof r.value === 'string' ? Promise.resolve(r.value) : r.value;
  }
  stopRequested(): boolean {
    return Atomics.load(this.w, STOP) !== 0;
  }
  requestStop(): void {
    Atomics.store(this.w, STOP, 1);
  }
  /** A worker has built its vCPU; it then sleeps until go(). */
  ready(): void {
    Atomics.add(this.w, READY, 1);
    this.ring();
  }
  readyCount(): number {
    return Atomics.load(this.w, READY);
  }
  go(): void {
    Atomics.store(this.w, GO, 1);
    Atomics.notify(this.w, GO);
  }
  waitGo(): void {
    while (Atomics.load(this.w, GO) === 0) Atomics.wait(this.w, GO, 0, 1000);
  }

  // ---- per vCPU ----

  private base(id: number): number {
    return HEADER + id * PAGE_WORDS;
  }
  state(id: number): number {
    return Atomics.load(this.w, this.base(id) + STATE);
  }
  setState(id: number, state: number): void {
    Atomics.store(this.w, this.base(id) + STATE, state);
  }
  beat(id: number): number {
    return Atomics.load(this.w, this.base(id) + BEAT);
  }
  /** Once per KVM_RUN return: the heartbeat the main thread's hang check reads, and the count. */
  progress(id: number, instructions: number): void {
    Atomics.add(this.w, this.base(id) + BEAT, 1);
    this.counts[id] = instructions;
  }
  instructions(id: number): number {
    return this.counts[id];
  }

  /** Worker side: publish its APIC's routing state (at the start, and after each KVM_RUN). */
  publishApic(id: number, a: ApicRouting): void {
    const b = this.base(id);
    const w = this.w;
    w[b + APIC_ID] = a.physicalId;
    w[b + APIC_LDR] = a.logicalId;
    w[b + APIC_DFR] = a.destinationFormat;
    w[b + APIC_PPR] = a.ppr;
    // The flags last, with a store other threads see after the words above.
    Atomics.store(
      w,
      b + APIC_FLAGS,
      (a.hwEnabled ? APIC_HW : 0) | (a.swEnabled ? APIC_SW : 0) | (a.x2apicMode ? APIC_X2 : 0),
    );
  }

  /** vCPU `id`'s APIC as last published: what its stand-ins answer the APIC bus. */
  routing(id: number): ApicRouting {
    const b = this.base(id);
    const w = this.w;
    const flags = () => Atomics.load(w, b + APIC_FLAGS);
    return {
      get hwEnabled() {
        return (flags() & APIC_HW) !== 0;
      },
      get swEnabled() {
        return (flags() & APIC_SW) !== 0;
      },
      get x2apicMode() {
        return (flags() & APIC_X2) !== 0;
      },
      get physicalId() {
        return w[b + APIC_ID] >>> 0;
      },
      get logicalId() {
        return w[b + APIC_LDR] >>> 0;
      },
      get destinationFormat() {
        return w[b + APIC_DFR] >>> 0;
      },
      get ppr() {
        return w[b + APIC_PPR];
      },
    };
  }

  /**
   * Worker side: post an access and sleep until the main thread answers it. Returns the answer
   * (a read's value), or null when the VM is over.
   */
  call(id: number, a: UserAccess): number | null {
    if (this.stopRequested()) return null; // nobody answers any more
    const b = this.base(id);
    const w = this.w;
    w[b + KIND] = a.kind;
    w[b + ADDR_LO] = a.addr | 0;
    w[b + ADDR_HI] = Math.floor(a.addr / 2 ** 32) | 0;
    w[b + SIZE] = a.size;
    w[b + WRITE] = a.isWrite ? 1 : 0;
    w[b + DATA] = a.data | 0;
    w[b + END] = 0;
    Atomics.store(w, b + STATE, VCPU_WAITING_USER);
    Atomics.store(w, b + REQ, REQ_POSTED); // the fields above are visible once this is
    this.ring();
    while (Atomics.load(w, b + REQ) === REQ_POSTED) Atomics.wait(w, b + REQ, REQ_POSTED);
    Atomics.store(w, b + REQ, REQ_NONE);
    Atomics.store(w, b + STATE, VCPU_RUNNING);
    return w[b + END] !== 0 ? null : w[b + DATA];
  }

  /** Main side: the access vCPU `id` posted, or null. */
  posted(id: number): UserAccess | null {
    const b = this.base(id);
    const w = this.w;
    if (Atomics.load(w, b + REQ) !== REQ_POSTED) return null;
    return {
      kind: w[b + KIND],
      addr: (w[b + ADDR_LO] >>> 0) + (w[b + ADDR_HI] >>> 0) * 2 ** 32,
      size: w[b + SIZE],
      isWrite: w[b + WRITE] !== 0,
      data: w[b + DATA],
    };
  }

  /** Main side: answer the posted access (`end`: the VM is over, the worker leaves). */
  answer(id: number, data: number, end = false): void {
    const b = this.base(id);
    this.w[b + DATA] = data | 0;
    this.w[b + END] = end ? 1 : 0;
    Atomics.store(this.w, b + REQ, REQ_ANSWERED);
    Atomics.notify(this.w, b + REQ);
  }
}
