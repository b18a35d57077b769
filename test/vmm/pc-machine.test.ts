// The PC machine's QEMU-style pieces through the ports and MMIO a guest uses: PCI configuration
// mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) with the IDs the i440FX/PIIX3/PIIX4 datasheets give
// (and QEMU's pc machine presents), the PIIX4 PMBA/PMREGMISC decode of the ACPI PM block, the PM
// timer's rate (3.579545 MHz, ACPI 6.5 4.8.3.3) against the VM's virtual clock, the FADT pointing
// to it, and QEMU's pc-testdev (hw/misc/pc-testdev.c).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPcVm, loadLinuxKernel } from '../../src/vm-boot.js';
import { PM_TIMER_HZ, pmTimerNs, pmTimerTicks } from '../../src/vmm/devices/acpi-pm.js';
import { FADT } from '../../src/vmm/firmware/acpi-fadt.js';

const cfgAddr = (dev: number, fn: number, reg: number) => (0x80000000 | (dev << 11) | (fn << 8) | reg) >>> 0;

function machine() {
  const pc = createPcVm({ cpus: 2 });
  const p = pc.vm.ports;
  const cfg = (dev: number, fn: number, reg: number, size = 4) => {
    p.portWrite(0xcf8, 4, cfgAddr(dev, fn, reg & 0xfc));
    return p.portRead(0xcfc + (reg & 3), size);
  };
  const cfgWrite = (dev: number, fn: number, reg: number, size: number, v: number) => {
    p.portWrite(0xcf8, 4, cfgAddr(dev, fn, reg & 0xfc));
    p.portWrite(0xcfc + (reg & 3), size, v);
  };
  return { pc, p, cfg, cfgWrite };
}

describe('PCI configuration mechanism #1', () => {
  const { p, cfg } = machine();

  it('CONFIG_ADDRESS reads back what was written (bits 1:0 and 30:24 read 0)', () => {
    p.portWrite(0xcf8, 4, 0x80000000);
    expect(p.portRead(0xcf8, 4)).toBe(0x80000000);
    p.portWrite(0xcf8, 4, 0xff00ff07);
    expect(p.portRead(0xcf8, 4)).toBe(0x8000ff04);
  });

  it("bus 0 holds QEMU's pc functions with the datasheets' IDs, class codes and revisions", () => {
    expect(cfg(0, 0, 0)).toBe(0x12378086); // 82441FX PMC
    expect(cfg(0, 0, 8)).toBe(0x06000002); // host bridge, rev 02
    expect(cfg(1, 0, 0)).toBe(0x70008086); // PIIX3 ISA
    expect(cfg(1, 0, 8) >>> 8).toBe(0x060100);
    expect(cfg(1, 0, 0x0e, 1) & 0x80).toBe(0x80); // multi-function
    expect(cfg(1, 1, 0)).toBe(0x70108086); // PIIX3 IDE
    expect(cfg(1, 1, 8) >>> 8).toBe(0x010180);
    expect(cfg(1, 3, 0)).toBe(0x71138086); // PIIX4 PM
    expect(cfg(1, 3, 8)).toBe(0x06800003);
  });

  it('byte and word accesses at CFCh-CFFh reach the register + n', () => {
    expect(cfg(0, 0, 2, 2)).toBe(0x1237);
    expect(cfg(0, 0, 1, 1)).toBe(0x80);
    expect(cfg(1, 3, 3, 1)).toBe(0x71);
  });

  it('absent functions, other buses and a clear enable bit read all ones', () => {
    expect(cfg(2, 0, 0)).toBe(0xffffffff);
    expect(cfg(1, 2, 0)).toBe(0xffffffff);
    p.portWrite(0xcf8, 4, cfgAddr(0, 0, 0) | (1 << 16));
    expect(p.portRead(0xcfc, 4)).toBe(0xffffffff);
    p.portWrite(0xcf8, 4, 0);
    expect(p.portRead(0xcfc, 2)).toBe(0xffff);
  });

  it('read-only fields ignore writes; the command register keeps its enable bits', () => {
    const { cfg: c, cfgWrite } = machine();
    cfgWrite(0, 0, 0, 4, 0);
    expect(c(0, 0, 0)).toBe(0x12378086);
    cfgWrite(1, 3, 4, 2, 0xffff);
    expect(c(1, 3, 4, 2)).toBe(0x7);
  });
});

describe('the PIIX4 ACPI PM block and its timer', () => {
  it('firmware left PMBA at 600h with PMIOSE set, SCI on IRQ 9; the FADT points there', () => {
    const { pc, cfg } = machine();
    expect(cfg(1, 3, 0x40) & 0xffc0).toBe(0x600);
    expect(cfg(1, 3, 0x80, 1) & 1).toBe(1);
    expect(cfg(1, 3, 0x3c, 1)).toBe(9);
    const ram = pc.vm.loaderRam(); // the tables as written before the first run
    const dv = new DataView(ram.buffer);
    const rsdt = dv.getUint32(0xf0010 + 16, true);
    const fadt = dv.getUint32(rsdt + 36, true);
    expect(String.fromCharCode(...ram.subarray(fadt, fadt + 4))).toBe('FACP');
    const len = dv.getUint32(fadt + 4, true);
    expect(ram.subarray(fadt, fadt + len).reduce((a, b) => a + b, 0) & 0xff).toBe(0);
    expect(dv.getUint32(fadt + FADT.PM_TMR_BLK, true)).toBe(0x608);
    expect(ram[fadt + FADT.PM_TMR_LEN]).toBe(4);
    expect(dv.getUint32(fadt + FADT.PM1a_EVT_BLK, true)).toBe(0x600);
    expect(dv.getUint32(fadt + FADT.PM1a_CNT_BLK, true)).toBe(0x604);
    expect(dv.getUint16(fadt + FADT.SCI_INT, true)).toBe(9);
    expect(Number(dv.getBigUint64(fadt + FADT.X_PM_TMR_BLK + 4, true))).toBe(0x608);
    const dsdt = dv.getUint32(fadt + FADT.DSDT, true);
    expect(String.fromCharCode(...ram.subarray(dsdt, dsdt + 4))).toBe('DSDT');
    const facs = dv.getUint32(fadt + FADT.FIRMWARE_CTRL, true);
    expect(facs % 64).toBe(0);
    expect(String.fromCharCode(...ram.subarray(facs, facs + 4))).toBe('FACS');
  });

  it('counts 3,579,545 ticks per second of virtual time, 24 bits wide', () => {
    expect(pmTimerTicks(1e9)).toBe(PM_TIMER_HZ);
    expect(pmTimerTicks(10e9)).toBe(10 * PM_TIMER_HZ);
    expect(pmTimerTicks(279)).toBe(0); // one tick is 279.365 ns
    expect(pmTimerTicks(280)).toBe(1);
    expect(pmTimerNs(PM_TIMER_HZ)).toBe(1e9);
    const { pc, p } = machine();
    const clock = pc.platform.clock;
    clock.skipTo(5e9);
    expect(p.portRead(0x608, 4)).toBe((5 * PM_TIMER_HZ) & 0xffffff);
    clock.skipTo(5e9 + 1e6); // 1 ms later: 3579.545 ticks
    expect(p.portRead(0x608, 4)).toBe((5 * PM_TIMER_HZ + 3579) & 0xffffff);
  });

  it('moving PMBA moves the block; clearing PMIOSE unmaps it', () => {
    const { p, cfgWrite } = machine();
    cfgWrite(1, 3, 0x40, 4, 0xb000);
    expect(p.portRead(0xb008, 4)).toBeLessThan(1 << 24);
    expect(p.portRead(0x608, 4)).toBe(0xffffffff);
    cfgWrite(1, 3, 0x80, 1, 0);
    expect(p.portRead(0xb008, 4)).toBe(0xffffffff);
  });

  it('TMR_STS is set when timer bit 23 changes and clears when written with 1', () => {
    const { pc, p } = machine();
    expect(p.portRead(0x600, 2) & 1).toBe(0);
    pc.platform.clock.skipTo(pmTimerNs(0x800000));
    expect(p.portRead(0x600, 2) & 1).toBe(1);
    p.portWrite(0x600, 2, 1);
    expect(p.portRead(0x600, 2) & 1).toBe(0);
  });

  it("SLP_EN with SLP_TYP 0 (the DSDT's \\_S5) powers the machine off", () => {
    const { pc, p } = machine();
    expect(pc.powerOffRequested).toBe(false);
    p.portWrite(0x604, 2, 1 << 13);
    expect(pc.powerOffRequested).toBe(true);
  });
});

describe('ACPI tables through fw_cfg (what OVMF reads)', () => {
  it('the FADT in etc/acpi/tables names the PM block where firmware has put it when it reads them', () => {
    const { pc, p, cfgWrite } = machine();
    const fw = pc.platform.fwCfg;
    const read = (name: string) => {
      p.portWrite(0x510, 2, fw.fileKey(name)!);
      const n = fw.itemData(fw.fileKey(name)!)!.length;
      return Uint8Array.from({ length: n }, () => p.portRead(0x511, 1));
    };
    const fadtPmTimer = (tables: Uint8Array) => {
      const dv = new DataView(tables.buffer);
      for (let at = 0; at + 4 <= tables.length; at += 16)
        if (String.fromCharCode(...tables.subarray(at, at + 4)) === 'FACP')
          return dv.getUint32(at + FADT.PM_TMR_BLK, true);
      return -1;
    };
    expect(String.fromCharCode(...read('etc/acpi/rsdp').subarray(0, 8))).toBe('RSD PTR ');
    expect(read('etc/table-loader').length % 128).toBe(0);
    expect(fadtPmTimer(read('etc/acpi/tables'))).toBe(0x608);
    cfgWrite(1, 3, 0x40, 4, 0xb001); // OVMF's PcdAcpiPmBaseAddress
    expect(fadtPmTimer(read('etc/acpi/tables'))).toBe(0xb008);
  });
});

describe('fw_cfg kernel items for a Linux kernel (QEMU -kernel/-append/-initrd)', () => {
  it('the command line (size with its NUL, the string, where it is) and the initrd (address, size, bytes)', () => {
    const { pc, p } = machine();
    const image = readFileSync(join(import.meta.dirname, '..', '..', 'guests', 'pvh-hello', 'pvh-hello.img'));
    const initrd = new TextEncoder().encode('INITRD!');
    loadLinuxKernel(pc, new Uint8Array(image), 'console=ttyS0 x=1', initrd);
    const item = (key: number, n: number) => {
      p.portWrite(0x510, 2, key);
      return Array.from({ length: n }, () => p.portRead(0x511, 1));
    };
    const u32 = (key: number) => item(key, 4).reduce((v, b, i) => v + b * 2 ** (8 * i), 0);
    expect(u32(0x14)).toBe('console=ttyS0 x=1'.length + 1);
    expect(String.fromCharCode(...item(0x15, 18))).toBe('console=ttyS0 x=1\0');
    const ram = pc.vm.loaderRam();
    const at = u32(0x13);
    expect(new TextDecoder().decode(ram.subarray(at, at + 17))).toBe('console=ttyS0 x=1');
    expect(u32(0x0b)).toBe(7);
    const initrdAt = u32(0x0a);
    expect(initrdAt % 4096).toBe(0);
    expect(new TextDecoder().decode(ram.subarray(initrdAt, initrdAt + 7))).toBe('INITRD!');
    expect(String.fromCharCode(...item(0x12, 7))).toBe('INITRD!');
  });
});

describe("QEMU's pc-testdev", () => {
  it('E0h is a 32-bit register with byte lanes; E8h is the same register', () => {
    const { p } = machine();
    p.portWrite(0xe0, 4, 0x11223344);
    expect(p.portRead(0xe0, 4)).toBe(0x11223344);
    expect(p.portRead(0xe2, 1)).toBe(0x22);
    p.portWrite(0xe1, 1, 0xaa);
    expect(p.portRead(0xe0, 4)).toBe(0x1122aa44);
    expect(p.portRead(0xe8, 4)).toBe(0x1122aa44);
    p.portWrite(0xea, 2, 0xbeef);
    expect(p.portRead(0xe0, 4)).toBe(0xbeefaa44);
    expect(p.portRead(0xe4, 4)).toBe(0); // flush page reads 0
  });

  it('2000h+n drives interrupt line n into the I/O APIC (a level pin raises its vector)', () => {
    const { pc, p } = machine();
    const ioapic = pc.platform.ioApic;
    // Redirection entry 10: vector 0x40, level, unmasked, to APIC 0.
    ioapic.mmioWrite(0, 4, 0x10 + 2 * 10);
    ioapic.mmioWrite(0x10, 4, 0x40 | (1 << 15));
    const apic = pc.vm.vcpus[0].apic;
    apic.mmioWrite(0xf0, 4, 0x1ff); // software-enable the local APIC
    expect(apic.pendingVector()).toBe(-1);
    p.portWrite(0x2000 + 10, 1, 1);
    expect(apic.pendingVector()).toBe(0x40);
    ioapic.mmioWrite(0, 4, 0x10 + 2 * 10);
    expect(ioapic.mmioRead(0x10, 4) & (1 << 14)).toBe(1 << 14); // remote IRR: delivered, level
    expect(p.portRead(0x2000, 1)).toBe(0);
  });

  it('0xFF000000 is 64 KiB of device memory', () => {
    const { pc } = machine();
    const mmio = pc.vm.mmio;
    expect(mmio.claims(0xff000000)).toBe(true);
    expect(mmio.claims(0xff010000)).toBe(false);
    mmio.write(0xff000010, 4, 0xdeadbeef);
    expect(mmio.read(0xff000010, 4)).toBe(0xdeadbeef);
    expect(mmio.read(0xff000011, 2)).toBe(0xadbe);
    mmio.write(0xff00ffff, 1, 0x5a);
    expect(mmio.read(0xff00ffff, 1)).toBe(0x5a);
  });
});
