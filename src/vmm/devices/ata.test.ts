// The ATA channel against ATA-2 (X3T10 948D): register block (7.2), status and error bits, the PIO
// data-in and data-out protocols (9.3, 9.4: one INTRQ per DRQ block; data-out's first block without
// one), IDENTIFY DEVICE's words (8.12), LBA and CHS addressing, device selection with a missing
// device 1, nIEN and SRST (7.2.5, 9.1), and the error answers (ABRT, IDNF).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AtaChannel,
  DC_NIEN,
  DC_SRST,
  ERR_ABRT,
  ERR_IDNF,
  ST_BSY,
  ST_DRDY,
  ST_DRQ,
  ST_DSC,
  ST_ERR,
} from './ata.js';
import { DiskImage } from './disk-image.js';

const B = 0x1f0;
const [DATA, ERROR, NSECT, SECTOR, CYL_LO, CYL_HI, DRVHD, STATUS] = [0, 1, 2, 3, 4, 5, 6, 7].map(
  (r) => B + r,
);
const CMD = STATUS;
const FEATURES = ERROR;

/** A disk whose every sector holds its own number in each 32-bit word, so a read names its source. */
function numberedDisk(sectors: number): Uint8Array {
  const b = new Uint8Array(sectors * 512);
  const dv = new DataView(b.buffer);
  for (let s = 0; s < sectors; s++) for (let i = 0; i < 128; i++) dv.setUint32(s * 512 + i * 4, s, true);
  return b;
}

function make(master: Uint8Array | null = numberedDisk(4096), slave: Uint8Array | null = null) {
  const irqs: boolean[] = [];
  const ata = new AtaChannel(master && new DiskImage(master), slave && new DiskImage(slave), {
    irq: (l) => irqs.push(l),
  });
  const rd = (p: number) => ata.read(p, 1);
  const wr = (p: number, v: number) => ata.write(p, 1, v);
  const altStatus = () => ata.controlPort.read(0x3f6, 1);
  const devControl = (v: number) => ata.controlPort.write(0x3f6, 1, v);
  /** 256 words from the data port. */
  const readSector = () => {
    const out = new Uint8Array(512);
    for (let i = 0; i < 256; i++) {
      const w = ata.read(DATA, 2);
      out[2 * i] = w & 0xff;
      out[2 * i + 1] = w >> 8;
    }
    return out;
  };
  const lba28 = (lba: number, count: number, dev = 0) => {
    wr(DRVHD, 0xe0 | (dev << 4) | ((lba >>> 24) & 0x0f));
    wr(NSECT, count);
    wr(SECTOR, lba & 0xff);
    wr(CYL_LO, (lba >>> 8) & 0xff);
    wr(CYL_HI, (lba >>> 16) & 0xff);
  };
  return { ata, irqs, rd, wr, altStatus, devControl, readSector, lba28 };
}

const firstWord = (s: Uint8Array) => new DataView(s.buffer).getUint32(0, true);
const word = (s: Uint8Array, i: number) => s[2 * i] | (s[2 * i + 1] << 8);

describe('power-on state and signature (ATA-2 9.1)', () => {
  it('status DRDY|DSC, error 01h (diagnostic passed), sector count 1, sector number 1, cylinder 0', () => {
    const { rd } = make();
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    expect(rd(ERROR)).toBe(0x01);
    expect([rd(NSECT), rd(SECTOR), rd(CYL_LO), rd(CYL_HI)]).toEqual([1, 1, 0, 0]);
    expect(rd(DRVHD)).toBe(0xa0); // bits 7 and 5 read as one, device 0
  });

  it('a missing device 1 reads Status 00h and ignores commands; device 0 still answers', () => {
    const { rd, wr, irqs } = make();
    wr(DRVHD, 0xb0);
    expect(rd(STATUS)).toBe(0);
    wr(CMD, 0xec);
    expect(rd(STATUS)).toBe(0);
    expect(irqs).toEqual([]);
    wr(DRVHD, 0xa0);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
  });
});

describe('IDENTIFY DEVICE (ATA-2 8.12)', () => {
  it('PIO data-in: DRQ and INTRQ, 256 words, then DRQ clear without another interrupt', () => {
    const { rd, wr, irqs, readSector, altStatus } = make();
    wr(DRVHD, 0xa0);
    wr(CMD, 0xec);
    expect(altStatus()).toBe(ST_DRDY | ST_DSC | ST_DRQ);
    expect(irqs).toEqual([true]);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC | ST_DRQ); // reading Status clears INTRQ
    expect(irqs).toEqual([true, false]);
    const id = readSector();
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    expect(irqs).toEqual([true, false]);
    expect(word(id, 0) & 0x0080).toBe(0); // not removable
    expect(word(id, 49) & 0x0200).toBe(0x0200); // LBA supported
    expect(word(id, 60) | (word(id, 61) << 16)).toBe(4096); // user-addressable sectors
    expect(word(id, 47) & 0xff).toBe(16); // READ/WRITE MULTIPLE block limit
    // Strings: the first character of each pair in the high byte.
    const model = Array.from({ length: 20 }, (_, i) => {
      const w = word(id, 27 + i);
      return String.fromCharCode(w >> 8, w & 0xff);
    }).join('');
    expect(model.trimEnd()).toBe('HVEMU HARDDISK');
    // Default translation: 16 heads, 63 sectors per track, cylinders from the size (at least 2).
    expect([word(id, 1), word(id, 3), word(id, 6)]).toEqual([4, 16, 63]);
  });
});

describe('READ SECTORS (ATA-2 8.21)', () => {
  it('LBA28: each sector is its own DRQ block with its own INTRQ; registers end on the last sector', () => {
    const { rd, irqs, readSector, lba28, wr } = make();
    lba28(100, 3);
    wr(CMD, 0x20);
    const got: number[] = [];
    for (let i = 0; i < 3; i++) {
      expect(irqs.at(-1)).toBe(true);
      expect(rd(STATUS) & (ST_BSY | ST_DRQ | ST_ERR)).toBe(ST_DRQ);
      expect(irqs.at(-1)).toBe(false);
      got.push(firstWord(readSector()));
    }
    expect(got).toEqual([100, 101, 102]);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    expect(irqs.filter((l) => l).length).toBe(3); // no completion interrupt for data-in
    expect([rd(NSECT), rd(SECTOR), rd(CYL_LO), rd(CYL_HI), rd(DRVHD) & 0x4f]).toEqual([0, 102, 0, 0, 0x40]);
  });

  it('a sector count of 0 means 256 sectors', () => {
    const { rd, readSector, lba28, wr } = make();
    lba28(0, 0);
    wr(CMD, 0x20);
    let n = 0;
    while (rd(STATUS) & ST_DRQ) {
      expect(firstWord(readSector())).toBe(n);
      n++;
    }
    expect(n).toBe(256);
  });

  it('CHS through the default translation: C/H/S 1/2/3 is LBA (1*16+2)*63+2', () => {
    const { readSector, wr } = make();
    wr(DRVHD, 0xa0 | 2);
    wr(NSECT, 1);
    wr(SECTOR, 3);
    wr(CYL_LO, 1);
    wr(CYL_HI, 0);
    wr(CMD, 0x20);
    expect(firstWord(readSector())).toBe((1 * 16 + 2) * 63 + 2);
  });

  it('INITIALIZE DEVICE PARAMETERS changes the translation (4 heads, 17 sectors per track)', () => {
    const { rd, readSector, wr } = make();
    wr(NSECT, 17);
    wr(DRVHD, 0xa0 | 3); // heads - 1
    wr(CMD, 0x91);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    wr(DRVHD, 0xa0 | 1);
    wr(NSECT, 1);
    wr(SECTOR, 5);
    wr(CYL_LO, 2);
    wr(CMD, 0x20);
    expect(firstWord(readSector())).toBe((2 * 4 + 1) * 17 + 4);
  });

  it('32-bit data port accesses take two words at a time', () => {
    const { ata, lba28, wr } = make();
    lba28(7, 1);
    wr(CMD, 0x20);
    const words = Array.from({ length: 128 }, () => ata.read(DATA, 4));
    expect(words.every((w) => w === 7)).toBe(true);
  });

  it('a sector past the end aborts with IDNF, ERR and an interrupt, and no DRQ', () => {
    const { rd, irqs, lba28, wr } = make(numberedDisk(10));
    lba28(9, 2);
    wr(CMD, 0x20);
    expect(irqs).toEqual([true]);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC | ST_ERR);
    expect(rd(ERROR)).toBe(ERR_IDNF);
  });

  it('CHS with sector 0 is an address that does not exist (IDNF)', () => {
    const { rd, wr } = make();
    wr(DRVHD, 0xa0);
    wr(NSECT, 1);
    wr(SECTOR, 0);
    wr(CMD, 0x20);
    expect(rd(STATUS) & ST_ERR).toBe(ST_ERR);
    expect(rd(ERROR)).toBe(ERR_IDNF);
  });
});

describe('WRITE SECTORS (ATA-2 8.34)', () => {
  it('DRQ at once without INTRQ, then INTRQ after each sector; the data lands on the disk', () => {
    const disk = new DiskImage(new Uint8Array(64 * 512));
    const irqs: boolean[] = [];
    const ata = new AtaChannel(disk, null, { irq: (l) => irqs.push(l) });
    ata.write(DRVHD, 1, 0xe0);
    ata.write(NSECT, 1, 2);
    ata.write(SECTOR, 1, 5);
    ata.write(CYL_LO, 1, 0);
    ata.write(CYL_HI, 1, 0);
    ata.write(CMD, 1, 0x30);
    expect(ata.controlPort.read(0x3f6, 1)).toBe(ST_DRDY | ST_DSC | ST_DRQ);
    expect(irqs).toEqual([]);
    for (let i = 0; i < 256; i++) ata.write(DATA, 2, 0x1100 + i);
    expect(irqs).toEqual([true]); // second block requested
    expect(ata.read(STATUS, 1)).toBe(ST_DRDY | ST_DSC | ST_DRQ);
    for (let i = 0; i < 128; i++) ata.write(DATA, 4, 0xabcd0000 + i);
    expect(irqs).toEqual([true, false, true]); // completion
    expect(ata.read(STATUS, 1)).toBe(ST_DRDY | ST_DSC);
    const dv = new DataView(disk.bytes.buffer);
    expect(dv.getUint16(5 * 512, true)).toBe(0x1100);
    expect(dv.getUint16(5 * 512 + 510, true)).toBe(0x11ff);
    expect(dv.getUint32(6 * 512 + 4 * 127, true)).toBe(0xabcd007f);
  });

  it('without write-through the file is unchanged; with it the file gets the sector', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvemu-ata-'));
    for (const through of [false, true]) {
      const path = join(dir, `d${through}.img`);
      writeFileSync(path, new Uint8Array(4 * 512));
      const disk = DiskImage.open(path, through);
      const ata = new AtaChannel(disk, null);
      ata.write(DRVHD, 1, 0xe0);
      ata.write(NSECT, 1, 1);
      ata.write(SECTOR, 1, 3);
      ata.write(CMD, 1, 0x30);
      for (let i = 0; i < 256; i++) ata.write(DATA, 2, 0xa55a);
      disk.close();
      expect(disk.bytes[3 * 512]).toBe(0x5a);
      expect(readFileSync(path)[3 * 512]).toBe(through ? 0x5a : 0);
    }
  });
});

describe('READ/WRITE MULTIPLE (ATA-2 8.17, 8.22, 8.35)', () => {
  it('without SET MULTIPLE MODE they abort; with 4 sectors per block one INTRQ per 4 sectors', () => {
    const { rd, irqs, readSector, lba28, wr } = make();
    lba28(10, 6);
    wr(CMD, 0xc4);
    expect(rd(STATUS) & ST_ERR).toBe(ST_ERR);
    expect(rd(ERROR)).toBe(ERR_ABRT);
    wr(NSECT, 3);
    wr(CMD, 0xc6); // not a power of two
    expect(rd(ERROR)).toBe(ERR_ABRT);
    wr(NSECT, 4);
    wr(CMD, 0xc6);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    irqs.length = 0;
    lba28(10, 6);
    wr(CMD, 0xc4);
    const got: number[] = [];
    expect(irqs).toEqual([true]);
    rd(STATUS); // the interrupt handler's acknowledgement
    for (let i = 0; i < 4; i++) got.push(firstWord(readSector()));
    expect(irqs).toEqual([true, false, true]); // one interrupt for the block of 4, then the next block
    rd(STATUS);
    for (let i = 0; i < 2; i++) got.push(firstWord(readSector()));
    expect(got).toEqual([10, 11, 12, 13, 14, 15]);
    expect(irqs).toEqual([true, false, true, false]);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
  });
});

describe('two devices, interrupts, reset', () => {
  it('DEV selects device 1, whose data and registers are its own', () => {
    const { readSector, lba28, wr, rd } = make(numberedDisk(8), numberedDisk(300));
    lba28(250, 1, 1);
    wr(CMD, 0x20);
    expect(rd(DRVHD) & 0x10).toBe(0x10);
    expect(firstWord(readSector())).toBe(250);
    lba28(250, 1, 0);
    wr(CMD, 0x20);
    expect(rd(ERROR)).toBe(ERR_IDNF); // device 0 has only 8 sectors
  });

  it('reading Alternate Status leaves INTRQ pending; nIEN takes it off the bus until cleared', () => {
    const { rd, wr, irqs, altStatus, devControl } = make();
    wr(CMD, 0xe7); // FLUSH CACHE: completes at once with INTRQ
    expect(irqs).toEqual([true]);
    altStatus();
    expect(irqs).toEqual([true]);
    devControl(DC_NIEN);
    expect(irqs).toEqual([true, false]);
    devControl(0);
    expect(irqs).toEqual([true, false, true]);
    rd(STATUS);
    expect(irqs).toEqual([true, false, true, false]);
    devControl(DC_NIEN);
    wr(CMD, 0xe7);
    expect(irqs.length).toBe(4); // nothing on the line while nIEN is set
  });

  it('an unknown command aborts with ABRT and ERR', () => {
    const { rd, wr, irqs } = make();
    wr(CMD, 0x50); // FORMAT TRACK is not supported
    expect(irqs).toEqual([true]);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC | ST_ERR);
    expect(rd(ERROR)).toBe(ERR_ABRT);
  });

  it('SRST: BSY while asserted, then the signature with device 0 selected and the transfer gone', () => {
    const { rd, wr, altStatus, devControl, lba28 } = make(numberedDisk(8), numberedDisk(8));
    lba28(3, 2, 1);
    wr(CMD, 0x20);
    devControl(DC_SRST);
    expect(altStatus() & ST_BSY).toBe(ST_BSY);
    devControl(0);
    expect(rd(DRVHD) & 0x10).toBe(0);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    expect([rd(ERROR), rd(NSECT), rd(SECTOR), rd(CYL_LO), rd(CYL_HI)]).toEqual([1, 1, 1, 0, 0]);
    wr(DRVHD, 0xb0);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC); // device 1 reset too, nothing left to transfer
  });

  it('SET FEATURES accepts a transfer-mode setting and aborts an unknown subcommand', () => {
    const { rd, wr } = make();
    wr(FEATURES, 0x03);
    wr(NSECT, 0x0c); // PIO mode 4
    wr(CMD, 0xef);
    expect(rd(STATUS)).toBe(ST_DRDY | ST_DSC);
    wr(FEATURES, 0x77);
    wr(CMD, 0xef);
    expect(rd(ERROR)).toBe(ERR_ABRT);
  });
});
