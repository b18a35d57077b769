/**
 * Page tables built in a Cpu's RAM for translate() tests, in the three walk formats: 32-bit
 * (10/10/12), PAE (2/9/9/12) and 4-level (9/9/9/9/12). Entries follow Intel SDM vol 3 4.3-4.5 /
 * AMD APM vol 2 5.3: P=1 W=2 U=4 A=0x20 D=0x40 PS=0x80 G=0x100, NX = bit 63.
 * Levels are numbered from the leaf: 1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E.
 */
import { Cpu, FAULT, type Vendor } from '../../src/cpu/cpu.js';
import {
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  CR4_PSE,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  PF_VEC,
} from '../../src/cpu/regs.js';
import { tlbFlushAll } from '../../src/cpu/tlb.js';

export type PagingMode = '32' | 'pae' | 'long';
export const P = 1n,
  W = 2n,
  U = 4n,
  A = 0x20n,
  D = 0x40n,
  PS = 0x80n,
  G = 0x100n,
  NX = 1n << 63n;

const TABLES = 0x100000;

export class PageTables {
  readonly cpu: Cpu;
  readonly dv: DataView;
  readonly root: number;
  private next = TABLES;

  constructor(
    readonly mode: PagingMode,
    opts: { nxe?: boolean; cr0?: number; cr4?: number; ramBytes?: number; vendor?: Vendor } = {},
  ) {
    const buf = new SharedArrayBuffer(opts.ramBytes ?? 4 << 20);
    this.dv = new DataView(buf);
    this.cpu = new Cpu({
      vendor: opts.vendor,
      ram: buf,
      io: { portRead: () => 0xffffffff, portWrite: () => {} },
      mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
    });
    const cpu = this.cpu;
    this.root = this.alloc();
    cpu.cr3 = this.root;
    cpu.cr0 = CR0_PE | CR0_PG | 0x10 | (opts.cr0 ?? 0);
    cpu.cr4 = (mode === '32' ? 0 : CR4_PAE) | (opts.cr4 ?? 0);
    cpu.efer = (mode === 'long' ? EFER_LME | EFER_LMA : 0) | (opts.nxe ? EFER_NXE : 0);
    cpu.updateMode();
    tlbFlushAll(cpu);
  }

  alloc(): number {
    const a = this.next;
    this.next += 0x1000;
    for (let i = 0; i < 0x1000; i += 4) this.dv.setUint32(a + i, 0, true);
    return a;
  }

  get topLevel(): number {
    return this.mode === 'long' ? 4 : this.mode === 'pae' ? 3 : 2;
  }

  /** Index of `lin` at `level`. */
  index(lin: bigint, level: number): number {
    if (this.mode === '32') return Number((lin >> BigInt(level === 2 ? 22 : 12)) & 0x3ffn);
    if (this.mode === 'pae' && level === 3) return Number((lin >> 30n) & 3n);
    return Number((lin >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);
  }

  private entSize(): number {
    return this.mode === '32' ? 4 : 8;
  }

  read(addr: number): bigint {
    return this.mode === '32' ? BigInt(this.dv.getUint32(addr, true)) : this.dv.getBigUint64(addr, true);
  }
  write(addr: number, v: bigint): void {
    if (this.mode === '32') this.dv.setUint32(addr, Number(v & 0xffffffffn), true);
    else this.dv.setBigUint64(addr, v, true);
  }

  /**
   * Map `lin` to `pa` with a page whose entry lives at `leafLevel` (1: 4 KiB; 2: 2 MiB, or 4 MiB
   * with 32-bit paging, PS added; 3: 1 GiB, PS added). `upper` are the flags of missing
   * intermediate entries (PAE PDPTEs take only P). Returns the leaf entry's physical address.
   */
  map(
    lin: bigint | number,
    pa: bigint | number,
    leaf: bigint,
    opts: { leafLevel?: number; upper?: bigint } = {},
  ) {
    const l = BigInt(lin);
    const leafLevel = opts.leafLevel ?? 1;
    const upper = opts.upper ?? P | W | U;
    let table = this.root;
    for (let level = this.topLevel; level > leafLevel; level--) {
      const ea = table + this.index(l, level) * this.entSize();
      let e = this.read(ea);
      if (!(e & P)) {
        const t = this.alloc();
        e = BigInt(t) | (this.mode === 'pae' && level === 3 ? P : upper);
        this.write(ea, e);
      }
      table = Number(e & 0xffffffffff000n);
    }
    const ea = table + this.index(l, leafLevel) * this.entSize();
    this.write(ea, BigInt(pa) | leaf | (leafLevel > 1 ? PS : 0n));
    return ea;
  }

  /** Physical address of the entry that translates `lin` at `level` (the tables must exist down to it). */
  entryAddr(lin: bigint | number, level: number): number {
    const l = BigInt(lin);
    let table = this.root;
    for (let lv = this.topLevel; lv > level; lv--) {
      const e = this.read(table + this.index(l, lv) * this.entSize());
      table = Number(e & 0xffffffffff000n);
    }
    return table + this.index(l, level) * this.entSize();
  }
}

/** Run `f`; return the #PF it raised as { err, cr2 }, or null. Other exceptions fail the test. */
export function pageFaultOf(cpu: Cpu, f: () => unknown): { err: number; cr2: number } | null {
  cpu.cr2 = 0xdead;
  try {
    f();
    return null;
  } catch (e) {
    if (e !== FAULT) throw e;
    if (cpu.excVector !== PF_VEC) throw new Error(`expected #PF, got vector ${cpu.excVector}`);
    return { err: cpu.excError, cr2: cpu.cr2 };
  }
}

/** #PF error-code bits (Intel SDM vol 3 4.7, AMD APM vol 2 8.4.2). */
export const PFE = { P: 1, W: 2, U: 4, RSVD: 8, ID: 16 } as const;
export { CR4_PSE };
