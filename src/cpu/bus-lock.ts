// The bus lock of a machine's DRAM (Intel SDM vol 3 9.1.2, AMD APM vol 2 7.1): what a locked
// access that JavaScript's Atomics cannot do in one step (misaligned, crossing a page, 16 bytes,
// or not in DRAM) holds while it reads and writes. Every locked access respects it:
//   - an aligned locked access (one Atomics operation on the DRAM buffer) announces itself in its
//     processor's own slot, then checks that nobody holds the lock (both sequentially consistent,
//     so of two processors doing this at once at least one sees the other: Dekker's pattern);
//   - a bus-locked access takes the lock word, then waits until every slot is clear, so no
//     aligned atomic of another processor is half-way through the bytes it is about to change.
// The words live in a SharedArrayBuffer, so processors on other threads built over the same
// buffer (BusLock.fromBuffer) share the lock.

/** Int32 words per slot: one 64-byte cache line each, so announcing does not bounce a neighbour's line. */
const SLOT_WORDS = 16;
/** Word 0: 0 free, else 1 + the slot of the holder. Slots start at word SLOT_WORDS. */
const LOCK = 0;
/** Word 1: slots handed out so far (by any thread): the holder looks at those only. */
const USED = 1;
/** Spins before a waiter sleeps briefly (the holder is another thread doing a few accesses). */
const SPINS = 256;

export class BusLock {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  private readonly w: Int32Array;

  /** A lock for up to `slots` processors (default 1024 + 64 for the hypervisor's own). */
  static create(slots = 1088): BusLock {
    return new BusLock(new SharedArrayBuffer((slots + 1) * SLOT_WORDS * 4));
  }

  /** The same lock seen from another thread (the buffer came through postMessage or workerData). */
  static fromBuffer(buffer: SharedArrayBuffer): BusLock {
    return new BusLock(buffer);
  }

  private constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 2 * SLOT_WORDS * 4)
      throw new TypeError('a bus lock needs a SharedArrayBuffer of at least two 64-byte lines');
    this.buffer = buffer;
    this.slots = buffer.byteLength / (SLOT_WORDS * 4) - 1;
    this.w = new Int32Array(buffer);
  }

  /**
   * A slot, unique among all threads sharing the buffer. Processors that never run at the same
   * time (those of one thread) may share one; each thread that runs processors needs its own.
   */
  allocSlot(): number {
    const s = Atomics.add(this.w, USED, 1);
    if (s >= this.slots) {
      Atomics.sub(this.w, USED, 1);
      throw new RangeError(`the bus lock has room for ${this.slots} processors`);
    }
    return s;
  }

  /** Before an aligned atomic: announce it, and wait while another processor holds the lock. */
  enterAtomic(slot: number): void {
    const w = this.w;
    const at = (slot + 1) * SLOT_WORDS;
    Atomics.store(w, at, 1);
    if (Atomics.load(w, LOCK) === 0) return;
    do {
      Atomics.store(w, at, 0);
      this.waitFree();
      Atomics.store(w, at, 1);
    } while (Atomics.load(w, LOCK) !== 0);
  }

  /** After the aligned atomic. */
  leaveAtomic(slot: number): void {
    Atomics.store(this.w, (slot + 1) * SLOT_WORDS, 0);
  }

  /** Take the bus: no other processor's locked access runs until release(). */
  acquire(slot: number): void {
    const w = this.w;
    while (Atomics.compareExchange(w, LOCK, 0, slot + 1) !== 0) this.waitFree();
    const used = Math.min(Atomics.load(w, USED), this.slots);
    for (let s = 0; s < used; s++) {
      if (s === slot) continue;
      const at = (s + 1) * SLOT_WORDS;
      for (let n = 0; Atomics.load(w, at) !== 0; n++) if (n > SPINS) Atomics.wait(w, at, 1, 0.05);
    }
  }

  release(slot: number): void {
    if (Atomics.compareExchange(this.w, LOCK, slot + 1, 0) !== slot + 1)
      throw new Error(`bus lock released by slot ${slot}, which does not hold it`);
  }

  /** The holder's slot, or -1 (tests and reports). */
  holder(): number {
    return Atomics.load(this.w, LOCK) - 1;
  }

  private waitFree(): void {
    const w = this.w;
    for (let n = 0; ; n++) {
      const v = Atomics.load(w, LOCK);
      if (v === 0) return;
      if (n > SPINS) Atomics.wait(w, LOCK, v, 0.05);
    }
  }
}
