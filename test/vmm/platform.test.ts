// The PC platform around a VM (src/vmm/platform.ts, platform-firmware.ts) and the Multiboot entry:
// what a guest sees of CMOS, the warm-reset vector, COM1, the I/O APIC at 0xFEC00000, the 8259s
// and the PIT, the firmware tables it searches for, and the machine state a Multiboot kernel
// starts in (checked against QEMU -kernel when QEMU is installed).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPcVm, runBootSectorVm, runMultibootVm } from '../../src/vm-boot.js';
import { PIT_HZ } from '../../src/vmm/devices/pit8254.js';
import { VmClock } from '../../src/vmm/vm-clock.js';
import { aoutKernel, EXIT_0, OUT_EAX } from './platform-kernels.js';

const bytes = (s: string) => [...Buffer.from(s, 'latin1')];
const words = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32LE(i * 4));
};

describe('CMOS, warm-reset vector and COM1 as a boot-sector guest sees them', () => {
  // Real mode at 0000:7C00:
  //   xor ax,ax / mov ds,ax
  //   mov al,8Fh / out 70h,al / mov al,0Ah / out 71h,al      CMOS 0Fh (NMI off) := 0Ah
  //   mov al,0Fh / out 70h,al / in al,71h / out E9h,al       read it back
  //   mov word [467h],0 / mov word [469h],0800h              warm-reset vector 0800:0000
  //   mov ax,[469h] / out E9h,al / mov al,ah / out E9h,al
  //   mov al,5Fh / out 70h,al / in al,71h / out E9h,al       CMOS 5Fh: CPUs - 1 (SeaBIOS's byte)
  //   mov dx,3FDh / in al,dx / out E9h,al                    COM1 LSR
  //   mov dx,3F8h / mov al,'U' / out dx,al                   COM1 THR
  //   xor al,al / out F4h,al
  const GUEST = Uint8Array.from([
    0x31, 0xc0, 0x8e, 0xd8, 0xb0, 0x8f, 0xe6, 0x70, 0xb0, 0x0a, 0xe6, 0x71, 0xb0, 0x0f, 0xe6, 0x70, 0xe4,
    0x71, 0xe6, 0xe9, 0xc7, 0x06, 0x67, 0x04, 0x00, 0x00, 0xc7, 0x06, 0x69, 0x04, 0x00, 0x08, 0xa1, 0x69,
    0x04, 0xe6, 0xe9, 0x88, 0xe0, 0xe6, 0xe9, 0xb0, 0x5f, 0xe6, 0x70, 0xe4, 0x71, 0xe6, 0xe9, 0xba, 0xfd,
    0x03, 0xec, 0xe6, 0xe9, 0xba, 0xf8, 0x03, 0xb0, 0x55, 0xee, 0x30, 0xc0, 0xe6, 0xf4,
  ]);

  for (const arch of ['svm', 'vmx'] as const) {
    it(`under ${arch}: shutdown status 0Ah, vector 0800:0000, CPU count, LSR = THRE|TEMT, 'U' on the console`, () => {
      const serial: number[] = [];
      const debug: number[] = [];
      const r = runBootSectorVm(GUEST, {
        arch,
        cpus: 3,
        onSerialByte: (b) => serial.push(b),
        onDebugByte: (b) => debug.push(b),
      });
      expect(r.stop).toBe('exit');
      expect(debug).toEqual([0x0a, 0x00, 0x08, 2, 0x60]);
      expect(serial).toEqual(bytes('U'));
      // COM1 and port 0xE9 make one console stream, in the order written.
      expect(bytes(r.output)).toEqual([0x0a, 0x00, 0x08, 2, 0x60, 0x55]);
    });
  }
});

describe('the Multiboot entry state and the I/O APIC through MMIO', () => {
  // 32-bit code at 1 MiB + 32: mov esp,80000h; then EAX, EBX, CR0, CS, DS, SS, EFLAGS to port
  // 0xE9; the I/O APIC's version register (IOREGSEL = 1, IOWIN); redirection entry 4's low half
  // written with 31h and read back; exit.
  const KERNEL = aoutKernel([
    0xbc,
    0x00,
    0x00,
    0x08,
    0x00, // mov esp, 0x80000
    ...OUT_EAX, // EAX
    0x89,
    0xd8,
    ...OUT_EAX, // mov eax, ebx
    0x0f,
    0x20,
    0xc0,
    ...OUT_EAX, // mov eax, cr0
    0x8c,
    0xc8,
    ...OUT_EAX, // mov eax, cs
    0x8c,
    0xd8,
    ...OUT_EAX, // mov eax, ds
    0x8c,
    0xd0,
    ...OUT_EAX, // mov eax, ss
    0x9c,
    0x58,
    ...OUT_EAX, // pushfd / pop eax
    0xc7,
    0x05,
    0x00,
    0x00,
    0xc0,
    0xfe,
    0x01,
    0x00,
    0x00,
    0x00, // mov dword [0xFEC00000], 1
    0xa1,
    0x10,
    0x00,
    0xc0,
    0xfe,
    ...OUT_EAX, // mov eax, [0xFEC00010]
    0xc7,
    0x05,
    0x00,
    0x00,
    0xc0,
    0xfe,
    0x18,
    0x00,
    0x00,
    0x00, // IOREGSEL = 18h (entry 4, low)
    0xc7,
    0x05,
    0x10,
    0x00,
    0xc0,
    0xfe,
    0x31,
    0x00,
    0x00,
    0x00, // IOWIN = 31h
    0xa1,
    0x10,
    0x00,
    0xc0,
    0xfe,
    ...OUT_EAX, // read it back
    ...EXIT_0,
  ]);

  for (const arch of ['svm', 'vmx'] as const) {
    it(`under ${arch}: EAX = 2BADB002h, EBX = the info, PE with paging off, flat selectors, IF clear`, () => {
      const r = runMultibootVm(KERNEL, { arch });
      expect(r.stop).toBe('exit');
      const [eax, ebx, cr0, cs, ds, ss, eflags, ioApicVer, redir] = words(r.output);
      expect({ eax, ebx, cr0, cs, ds, ss }).toEqual({
        eax: 0x2badb002,
        ebx: 0x9000,
        cr0: 0x11,
        cs: 0x08,
        ds: 0x10,
        ss: 0x10,
      });
      expect(eflags & ((1 << 9) | (1 << 17))).toBe(0); // IF and VM clear (spec 3.2)
      expect(ioApicVer).toBe(0x00170020); // version 20h, 24 pins: QEMU's I/O APIC reads the same
      expect(redir).toBe(0x31);
    });
  }

  const qemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!qemu)(
    qemu
      ? 'QEMU -kernel enters it the same way (only the information structure sits elsewhere)'
      : 'QEMU not installed: the Multiboot entry comparison with QEMU was skipped',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'hvemu-mb-'));
      writeFileSync(join(dir, 'k.img'), KERNEL);
      spawnSync(
        'qemu-system-x86_64',
        [
          ...['-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-reboot', '-m', '64'],
          ...['-kernel', join(dir, 'k.img'), '-debugcon', `file:${join(dir, 'e9')}`],
          ...['-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'],
        ],
        { timeout: 60_000 },
      );
      const q = words(readFileSync(join(dir, 'e9'), 'latin1'));
      const h = words(runMultibootVm(KERNEL).output);
      expect(q).toHaveLength(9);
      expect(h.filter((_, i) => i !== 1)).toEqual(q.filter((_, i) => i !== 1));
    },
  );
});

describe('interrupt wiring', () => {
  /** A VM with the BSP's local APIC software-enabled and I/O APIC `pin` -> `vector`, fixed, to APIC 0. */
  function vmWithPin(pin: number, vector: number) {
    const pc = createPcVm({ cpus: 2, rtcEpochMs: 0 });
    const apic = pc.vm.vcpus[0].apic;
    apic.mmioWrite(0xf0, 4, 0x1ff); // SVR: software enable
    // Through the VM's MMIO map: the path a guest's access to 0xFEC00000 takes after the #NPF exit.
    pc.vm.mmio.write(0xfec00000, 4, 0x10 + 2 * pin + 1);
    pc.vm.mmio.write(0xfec00010, 4, 0); // destination APIC ID 0
    pc.vm.mmio.write(0xfec00000, 4, 0x10 + 2 * pin);
    pc.vm.mmio.write(0xfec00010, 4, vector); // fixed, physical, edge, active high, unmasked
    return { pc, apic };
  }

  it('COM1 (IRQ 4) reaches the BSP through I/O APIC pin 4', () => {
    const { pc, apic } = vmWithPin(4, 0x34);
    expect(apic.pendingVector()).toBe(-1);
    pc.vm.ports.portWrite(0x3f9, 1, 0x02); // IER.ETBEI with THR empty: the THRE interrupt
    expect(apic.pendingVector()).toBe(0x34);
    expect(pc.vm.ports.portRead(0x3fa, 1) & 0x0f).toBe(0x02); // IIR: THRE
    expect(pc.platform.com1.interruptLine).toBe(false); // reading IIR cleared it
  });

  it('the PIT (IRQ 0) reaches the BSP through I/O APIC pin 2 once virtual time passes', () => {
    const { pc, apic } = vmWithPin(2, 0x30);
    const ports = pc.vm.ports;
    ports.portWrite(0x43, 1, 0x30); // channel 0, LSB then MSB, mode 0
    ports.portWrite(0x40, 1, 1000 & 0xff);
    ports.portWrite(0x40, 1, 1000 >> 8);
    const due = pc.platform.nextDeadline()!;
    expect(due).toBeCloseTo((1001 * 1e9) / PIT_HZ, -3); // terminal count one CLK after the load
    pc.platform.poll();
    expect(apic.pendingVector()).toBe(-1);
    pc.platform.clock.skipTo(due);
    pc.platform.poll();
    expect(apic.pendingVector()).toBe(0x30);
  });

  it('the 8259 pair is there and maskable (ICW1-4, then OCW1 reads back)', () => {
    const { pc } = vmWithPin(2, 0x30);
    const ports = pc.vm.ports;
    for (const [cmd, data, base, cascade] of [
      [0x20, 0x21, 0x20, 0x04],
      [0xa0, 0xa1, 0x28, 0x02],
    ]) {
      ports.portWrite(cmd, 1, 0x11); // ICW1: edge, cascade, ICW4 needed
      ports.portWrite(data, 1, base); // ICW2: vector base
      ports.portWrite(data, 1, cascade); // ICW3
      ports.portWrite(data, 1, 0x01); // ICW4: 8086 mode
      ports.portWrite(data, 1, 0xff); // OCW1: mask all
      expect(ports.portRead(data, 1)).toBe(0xff);
    }
    expect(pc.platform.pic.state(0).vectorBase).toBe(0x20);
    expect(pc.platform.pic.state(1).vectorBase).toBe(0x28);
  });
});

describe('firmware tables in guest RAM', () => {
  const CPUS = 8;
  const pc = createPcVm({ cpus: CPUS });
  pc.vm.commitLoadedRam();
  const ram = pc.vm.memory.read(0, pc.vm.guestRamBytes);
  const dv = new DataView(ram.buffer, ram.byteOffset);
  const sig = (at: number, n: number) => Buffer.from(ram.subarray(at, at + n)).toString('latin1');
  const sum = (at: number, n: number) => ram.subarray(at, at + n).reduce((a, b) => (a + b) & 0xff, 0);

  it('the BIOS data area gives the EBDA segment and 639 KiB of base memory', () => {
    expect(dv.getUint16(0x40e, true)).toBe(0x9fc0);
    expect(dv.getUint16(0x413, true)).toBe(639);
  });

  it('the MP floating pointer in 0xF0000-0xFFFFF leads to a table with every CPU and the I/O APIC', () => {
    let fp = -1;
    for (let a = 0xf0000; a < 0x100000 && fp < 0; a += 16)
      if (sig(a, 4) === '_MP_' && sum(a, 16) === 0) fp = a;
    expect(fp).toBeGreaterThanOrEqual(0);
    const t = dv.getUint32(fp + 4, true);
    expect(sig(t, 4)).toBe('PCMP');
    expect(sum(t, dv.getUint16(t + 4, true))).toBe(0);
    const cpus: number[] = [];
    let ioApic = 0;
    for (let p = t + 44, n = dv.getUint16(t + 34, true); n > 0; n--) {
      if (ram[p] === 0) {
        if (ram[p + 3] & 1) cpus.push(ram[p + 1]);
        p += 20;
      } else {
        if (ram[p] === 2) ioApic = dv.getUint32(p + 4, true);
        p += 8;
      }
    }
    expect(cpus).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(ioApic).toBe(0xfec00000);
  });

  it('the RSDP in 0xE0000-0xFFFFF leads through the RSDT to a MADT with every CPU and the I/O APIC', () => {
    let rsdp = -1;
    for (let a = 0xe0000; a < 0x100000 && rsdp < 0; a += 16)
      if (sig(a, 8) === 'RSD PTR ' && sum(a, 20) === 0) rsdp = a;
    expect(rsdp).toBeGreaterThanOrEqual(0);
    const rsdt = dv.getUint32(rsdp + 16, true);
    expect(sig(rsdt, 4)).toBe('RSDT');
    const entries = (dv.getUint32(rsdt + 4, true) - 36) / 4;
    const tables = Array.from({ length: entries }, (_, i) => dv.getUint32(rsdt + 36 + 4 * i, true));
    expect(tables.map((t) => sig(t, 4))).toEqual(['FACP', 'APIC']);
    const madt = tables[1];
    const len = dv.getUint32(madt + 4, true);
    expect(sum(madt, len)).toBe(0);
    const cpus: number[] = [];
    let ioApic = 0;
    for (let p = madt + 44; p < madt + len; p += ram[p + 1]) {
      if (ram[p] === 0 && ram[p + 4] & 1) cpus.push(ram[p + 3]);
      if (ram[p] === 1) ioApic = dv.getUint32(p + 4, true);
    }
    expect(cpus).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(ioApic).toBe(0xfec00000);
  });
});

describe('how a VM run ends on the platform', () => {
  it('cli; hlt with only the power-up PIT running: halted with nothing to wake it', () => {
    const r = runBootSectorVm(Uint8Array.from([0xfa, 0xf4]));
    expect(r.stop).toBe('halted');
  });

  it('a reset through port 0x92 stops the run and says so', () => {
    // mov al, 1 / out 92h, al / jmp $
    const r = runBootSectorVm(Uint8Array.from([0xb0, 0x01, 0xe6, 0x92, 0xeb, 0xfe]));
    expect(r.stop).toBe('reset'); // the CLI's exit status 12
    expect(r.message).toMatch(/reset the machine \(port 0x92/);
  });
});

describe('VmClock', () => {
  it('a round lasts as long as its longest turn, and readings never go back', () => {
    const clock = new VmClock();
    const a = { icount: 100 };
    const b = { icount: 0 };
    clock.beginTurn(a);
    a.icount += 500;
    expect(clock.now()).toBe(500);
    clock.endTurn();
    clock.beginTurn(b);
    b.icount += 200;
    expect(clock.now()).toBe(500); // b is behind a within the round: time holds
    clock.endTurn();
    clock.endRound();
    expect(clock.now()).toBe(500);
    clock.skipTo(10_000);
    expect(clock.now()).toBe(10_000);
    clock.skipTo(5);
    expect(clock.now()).toBe(10_000);
  });
});
