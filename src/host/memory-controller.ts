// The memory controller of an SEV machine (AMD APM vol 2 15.34): the one path to DRAM. Every access
// carries a key (an ASID's, or none for the host, a non-SEV guest and devices) and gets what DRAM
// would give through that key. It holds one key slot per ASID, programmed only by the secure
// processor.
//
// hvemu keeps each page of DRAM in one of two forms, so that no cipher runs on a guest's hot path:
//   - raw: the bytes are what DRAM holds (shared pages, hypervisor pages, ciphertext);
//   - private to ASID n: the bytes are the page decrypted with ASID n's key, what the guest sees
//     through the C-bit. DRAM would hold their ciphertext.
// A page changes form when an access with another key reaches it (a processor caches the outcome
// in its TLB, so this is decided at TLB fill, not per access). The plaintext form is an
// implementation detail of this file: the hypervisor's HostMemory computes ciphertext for private
// pages, the processors see a private page in the clear only while running its ASID, and nothing
// outside the hardware holds a view of the bytes.
import { invalidateCodePage } from '../cpu/block.js';
import type { CodeShare } from '../cpu/code-share.js';
import type { Cpu } from '../cpu/cpu.js';
import type { MemoryEncryption } from '../cpu/ports.js';
import { tlbFlushAll } from '../cpu/tlb.js';
import { type HostMemory, type KeySlots, SEV_CBIT } from './host-memory.js';
import { cryptPage, KEY_BYTES, PAGE_SIZE } from './page-cipher.js';

/** The key of an access without SEV: the host's, a non-SEV guest's, a device's. */
export const HOST_KEY = 0;

export class MemoryController {
  private readonly bytes: Uint8Array;
  private readonly dram: DataView;
  /** Per page: HOST_KEY for the raw form, else the ASID whose decrypted view the page holds. */
  private readonly pageAsid: Uint16Array;
  private readonly keys: (Buffer | null)[] = [];
  /**
   * DRAM is also reachable from another host thread (HostMachine.share()): no guest key may be
   * installed, since whoever holds the shared buffer would see the plaintext forms of its pages.
   */
  dramShared = false;
  /** One processor per decoded-code cache among the attached ones (a VM's vCPUs share one). */
  private readonly codeOwners: Cpu[] = [];
  /** Code decoded on other host threads over this DRAM (code-share.ts), once DRAM is shared. */
  codeShare: CodeShare | null = null;
  private readonly views: (MemoryEncryption | null)[] = [];
  /**
   * Bumped whenever a page changes form or content behind the processors' backs: a processor whose
   * last look is older drops its TLB before it next enters a guest (syncTlb), instead of every
   * processor flushing at every conversion (quadratic with a thousand vCPUs).
   */
  private formEpoch = 0;
  private readonly seenEpoch = new WeakMap<Cpu, number>();
  /** Pages converted between forms, and cipher operations done for the hypervisor (statistics). */
  conversions = 0;
  hostCipherOps = 0;

  /** The hypervisor's and the devices' path (no key). */
  readonly host: HostMemory;
  /** The secure processor's path. */
  readonly keySlots: KeySlots;

  constructor(dram: SharedArrayBuffer) {
    this.bytes = new Uint8Array(dram);
    this.dram = new DataView(dram);
    this.pageAsid = new Uint16Array(Math.ceil(dram.byteLength / PAGE_SIZE));
    this.host = new HostAccess(this);
    const mc = this;
    this.keySlots = {
      installKey(asid, key) {
        if (key.length !== KEY_BYTES) throw new Error(`an SEV key is ${KEY_BYTES} bytes`);
        if (mc.dramShared)
          throw new Error('no SEV guest key on DRAM that is shared with another host thread (--threads)');
        mc.keys[asid] = key;
      },
      sealInPlace(asid, hpa, bytes) {
        if (!mc.hasKey(asid)) throw new Error(`ASID ${asid} has no key`);
        for (let p = Math.floor(hpa / PAGE_SIZE); p * PAGE_SIZE < hpa + bytes; p++) {
          if (mc.pageAsid[p] !== HOST_KEY) mc.convert(p, HOST_KEY); // encrypt what DRAM holds
          mc.pageAsid[p] = asid;
          mc.codeChanged(p);
        }
        mc.formEpoch++;
      },
      readDram: (hpa, length) => this.host.read(hpa, length),
    };
  }

  // ------------------------------------------------------------------ the processors' port

  /** A processor of this machine: it accesses DRAM without a key until a world switch says otherwise. */
  attach(cpu: Cpu): void {
    if (!this.codeOwners.some((c) => c.code === cpu.code)) this.codeOwners.push(cpu);
    this.seenEpoch.set(cpu, this.formEpoch);
    cpu.memCrypt = this.forAsid(HOST_KEY);
  }

  /** At every guest entry: drop the processor's translations if pages changed form since it last ran. */
  syncTlb(cpu: Cpu): void {
    if (this.seenEpoch.get(cpu) === this.formEpoch) return;
    tlbFlushAll(cpu);
    this.seenEpoch.set(cpu, this.formEpoch);
  }

  /** Whether any guest key is installed (an SEV guest's private pages may be in DRAM in plaintext form). */
  anyKey(): boolean {
    return this.keys.some((k) => k !== null && k !== undefined);
  }

  hasKey(asid: number): boolean {
    return asid > 0 && (this.keys[asid] ?? null) !== null;
  }

  /**
   * What a processor plugs into Cpu.memCrypt while it runs with ASID `asid`'s key (HOST_KEY: a
   * non-SEV guest, whose accesses all go without a key and whose address bit 47 is an address bit).
   */
  forAsid(asid: number): MemoryEncryption {
    let v = this.views[asid] ?? null;
    if (v === null) {
      const mc = this;
      v = {
        cBitValue: asid === HOST_KEY ? Number.POSITIVE_INFINITY : 2 ** SEV_CBIT,
        access(cpu: Cpu, hpa: number, priv: boolean): void {
          const want = priv ? asid : HOST_KEY;
          const page = Math.floor(hpa / PAGE_SIZE);
          if (mc.pageAsid[page] !== want) mc.convert(page, want, cpu);
        },
      };
      this.views[asid] = v;
    }
    return v;
  }

  /** Hardware reads the page at `hpa` directly with key `asid` (HOST_KEY: a VMCB, a permission map). */
  ensureForm(hpa: number, asid: number, by: Cpu | null = null): void {
    const page = Math.floor(hpa / PAGE_SIZE);
    if (page < this.pageAsid.length && this.pageAsid[page] !== asid) this.convert(page, asid, by);
  }

  // ------------------------------------------------------------------ internals

  /** Read DRAM as a host access sees it (ciphertext for private pages). */
  readRaw(hpa: number, length: number): Uint8Array {
    return this.readRawInto(hpa, new Uint8Array(length));
  }

  /** readRaw into `out` (its whole length): a buffer the caller reuses on a hot path. */
  readRawInto(hpa: number, out: Uint8Array): Uint8Array {
    const length = out.length;
    for (let at = hpa; at < hpa + length; ) {
      const page = Math.floor(at / PAGE_SIZE);
      const end = Math.min(hpa + length, (page + 1) * PAGE_SIZE);
      const asid = this.pageAsid[page];
      if (asid === HOST_KEY)
        out.set(end - at === PAGE_SIZE ? this.wholePage(page) : this.bytes.subarray(at, end), at - hpa);
      else {
        const cipher = this.cipherOf(page, asid);
        out.set(cipher.subarray(at - page * PAGE_SIZE, end - page * PAGE_SIZE), at - hpa);
      }
      at = end;
    }
    return out;
  }

  /** Write DRAM as a host access does: into a private page the bytes land on its ciphertext. */
  writeRaw(hpa: number, data: Uint8Array): void {
    for (let at = hpa; at < hpa + data.length; ) {
      const page = Math.floor(at / PAGE_SIZE);
      const end = Math.min(hpa + data.length, (page + 1) * PAGE_SIZE);
      const asid = this.pageAsid[page];
      // (A write within one page uses `data` itself: the GHCB answer, once per VMGEXIT, allocates nothing.)
      const src = at === hpa && end === hpa + data.length ? data : data.subarray(at - hpa, end - hpa);
      if (asid === HOST_KEY) this.bytes.set(src, at);
      else {
        const base = page * PAGE_SIZE;
        const dram = this.cipherOf(page, asid);
        dram.set(src, at - base);
        this.bytes.set(cryptPage(this.key(asid), base, dram, false), base);
        this.hostCipherOps++;
        this.formEpoch++;
      }
      this.codeChanged(page);
      at = end;
    }
  }

  /** Views of whole DRAM pages the host copies (a GHCB page at every VMGEXIT), made once each. */
  private readonly pageViews: (Uint8Array | undefined)[] = [];
  private wholePage(page: number): Uint8Array {
    let v = this.pageViews[page];
    if (v === undefined) {
      v = this.bytes.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
      this.pageViews[page] = v;
    }
    return v;
  }

  /** The page at `hpa` is raw: a DataView access by the host needs no cipher. */
  isRaw(hpa: number): boolean {
    return this.pageAsid[Math.floor(hpa / PAGE_SIZE)] === HOST_KEY;
  }

  /** For HostAccess: DRAM as a DataView, valid only for raw pages. */
  dramView(): DataView {
    return this.dram;
  }

  /** A host write changed a raw page in place: decoded code of it is stale. */
  codeChanged(page: number): void {
    for (const cpu of this.codeOwners) if (cpu.codePages[page] !== 0) invalidateCodePage(cpu, page);
    this.codeShare?.written(page, -1);
  }

  private cipherOf(page: number, asid: number): Buffer {
    this.hostCipherOps++;
    const base = page * PAGE_SIZE;
    return cryptPage(this.key(asid), base, this.bytes.subarray(base, base + PAGE_SIZE), true);
  }

  private key(asid: number): Buffer {
    const k = this.keys[asid] ?? null;
    if (k === null) throw new Error(`ASID ${asid} has no key in the memory controller`);
    return k;
  }

  /**
   * Re-express page `page` in form `to`: through DRAM's view (raw), then decrypted with `to`'s key.
   * A key slot that was never programmed decrypts to what DRAM holds run through a zero key: the
   * guest sees garbage, as with a wrong key on hardware.
   */
  private convert(page: number, to: number, by: Cpu | null = null): void {
    const base = page * PAGE_SIZE;
    const from = this.pageAsid[page];
    const view = this.bytes.subarray(base, base + PAGE_SIZE);
    if (from !== HOST_KEY) view.set(cryptPage(this.key(from), base, view, true));
    if (to !== HOST_KEY) view.set(cryptPage(this.key(to), base, view, false));
    this.pageAsid[page] = to;
    this.conversions++;
    this.formEpoch++;
    if (by !== null) {
      tlbFlushAll(by);
      this.seenEpoch.set(by, this.formEpoch);
    }
    this.codeChanged(page);
  }
}

/**
 * The hypervisor's HostMemory: raw pages through DataView directly (its control pages: one typed
 * array look-up more than a bare DataView), private pages through the cipher.
 */
class HostAccess implements HostMemory {
  readonly byteLength: number;
  private readonly dram: DataView;
  constructor(private readonly mc: MemoryController) {
    this.dram = mc.dramView();
    this.byteLength = this.dram.byteLength;
  }
  read(hpa: number, length: number): Uint8Array {
    this.check(hpa, length);
    return this.mc.readRaw(hpa, length);
  }
  readInto(hpa: number, out: Uint8Array): Uint8Array {
    this.check(hpa, out.length);
    return this.mc.readRawInto(hpa, out);
  }
  write(hpa: number, data: Uint8Array): void {
    this.check(hpa, data.length);
    this.mc.writeRaw(hpa, data);
  }
  fill(hpa: number, length: number, value: number): void {
    this.write(hpa, new Uint8Array(length).fill(value));
  }
  getUint8(at: number): number {
    return this.mc.isRaw(at) ? this.dram.getUint8(at) : this.read(at, 1)[0];
  }
  getUint16(at: number): number {
    return this.mc.isRaw(at) && (at & 0xfff) <= 0xffe
      ? this.dram.getUint16(at, true)
      : this.slow(at, 2).getUint16(0, true);
  }
  getUint32(at: number): number {
    return this.mc.isRaw(at) && (at & 0xfff) <= 0xffc
      ? this.dram.getUint32(at, true)
      : this.slow(at, 4).getUint32(0, true);
  }
  getBigUint64(at: number): bigint {
    return this.mc.isRaw(at) && (at & 0xfff) <= 0xff8
      ? this.dram.getBigUint64(at, true)
      : this.slow(at, 8).getBigUint64(0, true);
  }
  setUint8(at: number, value: number): void {
    if (this.mc.isRaw(at)) this.store(at, 1).setUint8(at, value);
    else this.write(at, Uint8Array.of(value));
  }
  setUint16(at: number, value: number): void {
    if (this.mc.isRaw(at) && (at & 0xfff) <= 0xffe) this.store(at, 2).setUint16(at, value, true);
    else
      this.write(
        at,
        bytesOf(2, (d) => d.setUint16(0, value, true)),
      );
  }
  setUint32(at: number, value: number): void {
    if (this.mc.isRaw(at) && (at & 0xfff) <= 0xffc) this.store(at, 4).setUint32(at, value, true);
    else
      this.write(
        at,
        bytesOf(4, (d) => d.setUint32(0, value, true)),
      );
  }
  setBigUint64(at: number, value: bigint): void {
    if (this.mc.isRaw(at) && (at & 0xfff) <= 0xff8) this.store(at, 8).setBigUint64(at, value, true);
    else
      this.write(
        at,
        bytesOf(8, (d) => d.setBigUint64(0, value, true)),
      );
  }

  private slow(at: number, n: number): DataView {
    return new DataView(this.read(at, n).buffer);
  }
  /** A store to a raw page: decoded code of the page is stale (a write to a code page is rare). */
  private store(at: number, n: number): DataView {
    this.check(at, n);
    this.mc.codeChanged(Math.floor(at / PAGE_SIZE));
    return this.dram;
  }
  private check(hpa: number, length: number): void {
    if (!(hpa >= 0 && hpa + length <= this.byteLength))
      throw new RangeError(
        `host-physical 0x${hpa.toString(16)}+0x${length.toString(16)} is outside DRAM (0x${this.byteLength.toString(16)} bytes)`,
      );
  }
}

function bytesOf(n: number, put: (d: DataView) => void): Uint8Array {
  const b = new Uint8Array(n);
  put(new DataView(b.buffer));
  return b;
}
