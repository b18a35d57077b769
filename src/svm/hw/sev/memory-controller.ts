// The memory controller of an SEV machine (AMD APM vol 2 15.34): it holds one key slot per ASID,
// programmed only by the secure processor, and encrypts and decrypts guest pages on their way to
// and from DRAM. hvemu keeps each page of host memory in one of two forms:
//   - raw: the bytes are what DRAM holds (shared pages, hypervisor pages, or ciphertext as the
//     hypervisor left it);
//   - private to ASID n: the bytes are the page decrypted with ASID n's key, i.e. what the guest
//     sees through the C-bit. DRAM would hold their ciphertext.
// The guest's processor reads either form directly (no cipher on the hot path). A page changes form
// when the guest accesses it the other way (a shared access to a private page sees ciphertext,
// a private access to a raw page sees it decrypted), and the hypervisor side always gets the raw
// view through hostRead/hostWrite, so private pages and VMSAs reach it only as ciphertext.
import { invalidateCodePage } from '../../../cpu/block.js';
import type { Cpu } from '../../../cpu/cpu.js';
import type { MemoryEncryption } from '../../../cpu/ports.js';
import { tlbFlushAll } from '../../../cpu/tlb.js';
import { cryptPage, KEY_BYTES, PAGE_SIZE } from './page-cipher.js';

/** The C-bit position hvemu reports (CPUID 8000001Fh EBX[5:0]), as on EPYC parts. */
export const SEV_CBIT = 47;

export class MemoryController {
  private readonly bytes: Uint8Array;
  /** Per host page: 0 for the raw form, else the ASID whose decrypted view the page holds. */
  private readonly pageAsid: Uint16Array;
  private readonly keys: (Buffer | null)[] = [];
  /** One processor per decoded-code cache among the attached ones (a VM's vCPUs share one). */
  private readonly codeOwners: Cpu[] = [];
  private readonly views: (MemoryEncryption | null)[] = [];
  /**
   * Bumped whenever a page changes form or content behind the processors' backs: a processor whose
   * last look is older drops its TLB before it next runs the guest (syncTlb), instead of every
   * processor flushing at every conversion (quadratic with a thousand vCPUs).
   */
  private formEpoch = 0;
  private readonly seenEpoch = new WeakMap<Cpu, number>();
  /** Pages converted between forms, and cipher operations done for the hypervisor (statistics). */
  conversions = 0;
  hostCipherOps = 0;

  constructor(memory: SharedArrayBuffer | ArrayBuffer) {
    this.bytes = new Uint8Array(memory);
    this.pageAsid = new Uint16Array(Math.ceil(memory.byteLength / PAGE_SIZE));
  }

  /** A processor of this machine: its TLB and decoded-code cache are dropped when a page changes form. */
  attach(cpu: Cpu): void {
    if (!this.codeOwners.some((c) => c.code === cpu.code)) this.codeOwners.push(cpu);
    this.seenEpoch.set(cpu, this.formEpoch);
  }

  /** Hardware side, at VMRUN: drop the processor's translations if pages changed form since it last ran. */
  syncTlb(cpu: Cpu): void {
    if (this.seenEpoch.get(cpu) === this.formEpoch) return;
    tlbFlushAll(cpu);
    this.seenEpoch.set(cpu, this.formEpoch);
  }

  /** Secure processor only (SEV API ACTIVATE): program ASID `asid`'s key slot. */
  installKey(asid: number, key: Buffer): void {
    if (key.length !== KEY_BYTES) throw new Error(`an SEV key is ${KEY_BYTES} bytes`);
    this.keys[asid] = key;
  }

  /** Secure processor only (DEACTIVATE/DECOMMISSION): forget the key; its pages stay ciphertext. */
  removeKey(asid: number): void {
    for (let p = 0; p < this.pageAsid.length; p++) if (this.pageAsid[p] === asid) this.convert(p, 0);
    this.keys[asid] = null;
  }

  hasKey(asid: number): boolean {
    return asid > 0 && (this.keys[asid] ?? null) !== null;
  }

  /**
   * Secure processor only (LAUNCH_UPDATE_DATA / LAUNCH_UPDATE_VMSA, "encrypt in place"): the
   * plaintext now in these pages becomes private to `asid`. In hvemu's representation the bytes
   * stay as they are; DRAM's view of them becomes their ciphertext.
   */
  sealInPlace(asid: number, hpa: number, bytes: number): void {
    if (!this.hasKey(asid)) throw new Error(`ASID ${asid} has no key`);
    for (let p = Math.floor(hpa / PAGE_SIZE); p * PAGE_SIZE < hpa + bytes; p++) {
      if (this.pageAsid[p] !== 0 && this.pageAsid[p] !== asid) this.convert(p, 0);
      this.pageAsid[p] = asid;
    }
    this.flushCpus(-1);
  }

  /** What a processor running ASID `asid` plugs into Cpu.memCrypt. */
  forAsid(asid: number): MemoryEncryption {
    let v = this.views[asid] ?? null;
    if (v === null) {
      const mc = this;
      v = {
        cBitValue: 2 ** SEV_CBIT,
        access(cpu: Cpu, hpa: number, priv: boolean): void {
          const want = priv ? asid : 0;
          const page = Math.floor(hpa / PAGE_SIZE);
          if (mc.pageAsid[page] !== want) mc.convert(page, want, cpu);
        },
      };
      this.views[asid] = v;
    }
    return v;
  }

  /** True when the page at `hpa` holds ASID `asid`'s decrypted view (hardware side, e.g. VMRUN's VMSA check). */
  isPrivateTo(hpa: number, asid: number): boolean {
    return this.pageAsid[Math.floor(hpa / PAGE_SIZE)] === asid;
  }

  /** Hardware side: make the page hold ASID `asid`'s view (0: raw) before reading it directly. */
  ensureForm(hpa: number, asid: number): void {
    const page = Math.floor(hpa / PAGE_SIZE);
    if (this.pageAsid[page] !== asid) this.convert(page, asid);
  }

  /** The hypervisor's read of host memory: DRAM's bytes, so ciphertext for every private page. */
  hostRead(hpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let at = hpa; at < hpa + length; ) {
      const page = Math.floor(at / PAGE_SIZE);
      const end = Math.min(hpa + length, (page + 1) * PAGE_SIZE);
      const asid = this.pageAsid[page];
      if (asid === 0) out.set(this.bytes.subarray(at, end), at - hpa);
      else {
        const cipher = this.cipherOf(page, asid);
        out.set(cipher.subarray(at - page * PAGE_SIZE, end - page * PAGE_SIZE), at - hpa);
      }
      at = end;
    }
    return out;
  }

  /**
   * The hypervisor's write to host memory. Into a private page it lands in DRAM as raw bytes over
   * the ciphertext, so the guest later sees those blocks decrypt to garbage, as on hardware.
   */
  hostWrite(hpa: number, data: Uint8Array): void {
    for (let at = hpa; at < hpa + data.length; ) {
      const page = Math.floor(at / PAGE_SIZE);
      const end = Math.min(hpa + data.length, (page + 1) * PAGE_SIZE);
      const asid = this.pageAsid[page];
      const src = data.subarray(at - hpa, end - hpa);
      if (asid === 0) this.bytes.set(src, at);
      else {
        const base = page * PAGE_SIZE;
        const dram = this.cipherOf(page, asid);
        dram.set(src, at - base);
        this.bytes.set(cryptPage(this.key(asid), base, dram, false), base);
        this.hostCipherOps++;
        this.flushCpus(page);
      }
      at = end;
    }
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

  /** Re-express page `page` in form `to`: through DRAM's view (raw), then decrypted with `to`'s key. */
  private convert(page: number, to: number, by: Cpu | null = null): void {
    const base = page * PAGE_SIZE;
    const from = this.pageAsid[page];
    const view = this.bytes.subarray(base, base + PAGE_SIZE);
    if (from !== 0) view.set(cryptPage(this.key(from), base, view, true));
    if (to !== 0) view.set(cryptPage(this.key(to), base, view, false));
    this.pageAsid[page] = to;
    this.conversions++;
    this.flushCpus(page, by);
  }

  /**
   * Translations and decoded code of the page are stale: the code cache drops the page's blocks;
   * the processor that caused the change flushes its TLB now, every other one before it next runs.
   */
  private flushCpus(page: number, by: Cpu | null = null): void {
    this.formEpoch++;
    if (by !== null) {
      tlbFlushAll(by);
      this.seenEpoch.set(by, this.formEpoch);
    }
    if (page >= 0) for (const cpu of this.codeOwners) invalidateCodePage(cpu, page);
  }
}
