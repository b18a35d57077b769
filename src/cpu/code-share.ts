// Decoded code across host threads (the threaded scheduler): each worker has code caches of its
// own over the shared DRAM, so a store by one thread to code another thread has decoded must reach
// that thread's caches. Per 4 KiB page of DRAM this keeps, in one SharedArrayBuffer, the 128-byte
// chunks any thread has decoded code in and a write generation; a store to such a chunk bumps the
// generation, and each cache compares the generations of its code pages at a serializing point
// (syncSharedCode, at every run() entry: each VM entry).

/** epochs[EPOCH_WRITES]: bumped after every generation bump, so a cache with nothing new skips its scan. */
export const EPOCH_WRITES = 0;
/** epochs[EPOCH_CODE]: bumped when a page gains code chunks, so other threads drop writable TLB entries of it. */
export const EPOCH_CODE = 1;
const EPOCH_WORDS = 2;

export class CodeShare {
  readonly buffer: SharedArrayBuffer;
  readonly epochs: Int32Array;
  /** Per page: the chunks (block.ts chunkMask) some thread has decoded code in; never cleared. */
  readonly code: Int32Array;
  /** Per page: the write generation of its code chunks. */
  readonly gen: Int32Array;

  /** Bytes of the shared state for `ramBytes` of DRAM (the host machine allocates them). */
  static bytes(ramBytes: number): number {
    return (EPOCH_WORDS + 2 * Math.ceil(ramBytes / 4096)) * 4;
  }

  /** The share over `buffer` (zeroed, or another thread's CodeShare.buffer) for `ramBytes` of DRAM. */
  constructor(ramBytes: number, buffer: SharedArrayBuffer) {
    const pages = Math.ceil(ramBytes / 4096);
    if (buffer.byteLength !== CodeShare.bytes(ramBytes))
      throw new RangeError(
        `the shared code state is ${buffer.byteLength} bytes, not ${CodeShare.bytes(ramBytes)}`,
      );
    this.buffer = buffer;
    this.epochs = new Int32Array(this.buffer, 0, EPOCH_WORDS);
    this.code = new Int32Array(this.buffer, EPOCH_WORDS * 4, pages);
    this.gen = new Int32Array(this.buffer, (EPOCH_WORDS + pages) * 4, pages);
  }

  /** A store hit chunks `written` of page `ppn`: if any thread has code there, bump its generation. */
  written(ppn: number, written: number): void {
    if ((this.code[ppn] & written) === 0) return;
    Atomics.add(this.gen, ppn, 1);
    Atomics.add(this.epochs, EPOCH_WRITES, 1);
  }

  /** This thread decoded code into `chunks` of page `ppn`. */
  addCode(ppn: number, chunks: number): void {
    if ((this.code[ppn] & chunks) === chunks) return;
    Atomics.or(this.code, ppn, chunks);
    Atomics.add(this.epochs, EPOCH_CODE, 1);
  }
}
