// fw_cfg against QEMU's docs/specs/fw_cfg.rst, through the I/O ports a guest uses: the selector
// (510h, 16-bit) and data (511h) registers, the signature and ID items, the file directory
// (big-endian count, then 64-byte entries sorted by name), and the DMA interface (514h/518h, the
// big-endian descriptor, control bits error/read/skip/select/write, the status written back).
import { describe, expect, it } from 'vitest';
import { createPcVm } from '../../vm-boot.js';
import {
  FW_CFG_DMA_CTL_ERROR,
  FW_CFG_DMA_CTL_READ,
  FW_CFG_DMA_CTL_SELECT,
  FW_CFG_DMA_CTL_SKIP,
  FW_CFG_DMA_CTL_WRITE,
  FW_CFG_FILE_DIR,
  FW_CFG_ID,
  FW_CFG_MAX_CPUS,
  FW_CFG_NB_CPUS,
  FW_CFG_RAM_SIZE,
  FW_CFG_SIGNATURE,
  FwCfg,
} from './fw-cfg.js';

const pc = createPcVm({ cpus: 3, memoryBytes: 32 << 20 });
const ports = pc.vm.ports;
// Guest RAM through the hypervisor's path (where DMA lands); the VM never runs here.
const mem = pc.vm.memory;
const be32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
const readBe32 = (at: number) => new DataView(mem.read(at, 4).buffer).getUint32(0, false);
const bytesAt = (at: number, n: number) => [...mem.read(at, n)];

function readItem(key: number, n: number): number[] {
  ports.portWrite(0x510, 2, key);
  return Array.from({ length: n }, () => ports.portRead(0x511, 1));
}
const le = (b: number[]) => b.reduce((v, x, i) => v + x * 2 ** (8 * i), 0);
const bswap = (v: number) => ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);

interface DirEntry {
  name: string;
  size: number;
  select: number;
}
function directory(): DirEntry[] {
  const count = readItem(FW_CFG_FILE_DIR, 4).reduce((v, b) => v * 256 + b, 0); // big-endian
  const out: DirEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = Array.from({ length: 64 }, () => ports.portRead(0x511, 1));
    const name = String.fromCharCode(...e.slice(8, e.indexOf(0, 8)));
    out.push({ name, size: (e[0] << 24) | (e[1] << 16) | (e[2] << 8) | e[3], select: (e[4] << 8) | e[5] });
  }
  return out;
}

/** Write a DMA descriptor at `at` and start it through the two 32-bit halves, high then low. */
function dma(at: number, control: number, length: number, address: number): number {
  mem.write(at, Uint8Array.of(...be32(control), ...be32(length), ...be32(0), ...be32(address)));
  ports.portWrite(0x514, 4, bswap(0)); // the guest stores big-endian halves
  ports.portWrite(0x518, 4, bswap(at));
  return readBe32(at);
}

describe('the traditional interface', () => {
  it('selector 0000h reads "QEMU"; the ID has the traditional and DMA bits', () => {
    expect(String.fromCharCode(...readItem(FW_CFG_SIGNATURE, 4))).toBe('QEMU');
    expect(le(readItem(FW_CFG_ID, 4))).toBe(0x3);
  });

  it('CPU counts and RAM size as QEMU gives them to -kernel guests (little-endian)', () => {
    expect(le(readItem(FW_CFG_NB_CPUS, 2))).toBe(3);
    expect(le(readItem(FW_CFG_MAX_CPUS, 2))).toBe(3);
    expect(le(readItem(FW_CFG_RAM_SIZE, 8))).toBe(32 << 20);
  });

  it('reads past the end and of missing items are 0; re-selecting starts over; bit 14 is ignored', () => {
    expect(readItem(FW_CFG_SIGNATURE, 6)).toEqual([0x51, 0x45, 0x4d, 0x55, 0, 0]);
    expect(readItem(0x7fff, 2)).toEqual([0, 0]);
    expect(readItem(0x4000 | FW_CFG_NB_CPUS, 2)).toEqual([3, 0]);
    ports.portWrite(0x511, 1, 0x55); // data writes are ignored
    expect(readItem(FW_CFG_SIGNATURE, 1)).toEqual([0x51]);
  });

  it('the file directory is sorted by name, keys from 20h, with etc/e820 and etc/boot-fail-wait', () => {
    const dir = directory();
    const names = dir.map((d) => d.name);
    expect(names).toEqual([...names].sort());
    expect(dir.map((d) => d.select)).toEqual(dir.map((_, i) => 0x20 + i));
    // An AMD vCPU with 48 physical address bits: QEMU reserves the HyperTransport range first.
    const e820 = dir.find((d) => d.name === 'etc/e820')!;
    expect(e820.size).toBe(40);
    const entries = readItem(e820.select, 40);
    const entry = (i: number) => {
      const b = entries.slice(20 * i, 20 * i + 20);
      return [le(b.slice(0, 8)), le(b.slice(8, 16)), le(b.slice(16, 20))];
    };
    expect(entry(0)).toEqual([0xfd_0000_0000, 0x3_0000_0000, 2]); // E820_RESERVED
    expect(entry(1)).toEqual([0, 32 << 20, 1]); // E820_RAM
    const wait = dir.find((d) => d.name === 'etc/boot-fail-wait')!;
    expect(readItem(wait.select, 4)).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('an Intel vCPU has no HyperTransport hole: RAM only', () => {
    const intel = createPcVm({ memoryBytes: 16 << 20, vendor: 'GenuineIntel' });
    const fw = intel.platform.fwCfg;
    const data = fw.itemData(fw.fileKey('etc/e820')!)!;
    expect([...data]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('the DMA register reads as "QEMU CFG" in port order', () => {
    const bytes = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ports.portRead(0x514 + i, 1));
    expect(String.fromCharCode(...bytes)).toBe('QEMU CFG');
    expect(ports.portRead(0x514, 4)).toBe(0x554d4551);
  });
});

describe('the DMA interface', () => {
  const desc = 0x10000;
  const buf = 0x11000;

  it('select + read copies the item and writes 0 back into the control word', () => {
    mem.fill(buf, 16, 0xaa);
    expect(dma(desc, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, buf)).toBe(0);
    expect(String.fromCharCode(...bytesAt(buf, 4))).toBe('QEMU');
    expect(bytesAt(buf + 4, 1)).toEqual([0xaa]);
  });

  it('a read past the end fills zeros; reads continue at the offset; skip moves it', () => {
    mem.fill(buf, 16, 0xaa);
    expect(dma(desc, (FW_CFG_NB_CPUS << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 6, buf)).toBe(0);
    expect(bytesAt(buf, 7)).toEqual([3, 0, 0, 0, 0, 0, 0xaa]);
    dma(desc, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 2, 0);
    expect(dma(desc, FW_CFG_DMA_CTL_READ, 2, buf)).toBe(0);
    expect(String.fromCharCode(...bytesAt(buf, 2))).toBe('MU');
  });

  it('a write to a read-only item reports the error bit', () => {
    expect(dma(desc, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4, buf)).toBe(
      FW_CFG_DMA_CTL_ERROR,
    );
    expect(String.fromCharCode(...readItem(FW_CFG_SIGNATURE, 4))).toBe('QEMU');
  });

  it('a read into memory outside guest RAM (the control pages above it) reports the error bit', () => {
    expect(
      dma(desc, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 32 << 20),
    ).toBe(FW_CFG_DMA_CTL_ERROR);
  });

  it('a read into memory outside the machine reports the error bit', () => {
    expect(
      dma(desc, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0x7fff0000),
    ).toBe(FW_CFG_DMA_CTL_ERROR);
  });

  it('a writable file takes a DMA write of its whole length', () => {
    const fw = new FwCfg(pc.vm.guestMemory);
    const key = fw.addFile('etc/test-writable', new Uint8Array(4), true);
    const d = 0x12000;
    mem.write(buf, Uint8Array.of(1, 2, 3, 4));
    const control = (key << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE;
    mem.write(d, Uint8Array.of(...be32(control), ...be32(4), ...be32(0), ...be32(buf)));
    fw.dmaPorts.write(0x518, 4, bswap(d));
    expect(readBe32(d)).toBe(0);
    expect([...fw.itemData(key)!]).toEqual([1, 2, 3, 4]);
  });
});
