// The disk-boot devices wired into a VM's PC (src/vmm/pc-legacy.ts), seen from the guest's ports:
// the ATA channel's INTRQ reaches IRQ 14 of both interrupt controllers (the slave 8259's input 6
// and I/O APIC pin 14, as on QEMU's pc machine), the 8042's OBF reaches IRQ 1, the A20 line is
// off only when both port 92h and the 8042's output port say so (PIIX4: A20M# needs both
// inputs low), the 8042's reset pulse ends the run with stop 'reset', and without disks the ATA
// ports are unclaimed (a guest probing for a controller reads FFh).
import { describe, expect, it } from 'vitest';
import { createPcVm, runDiskVm, runImageVm } from '../../src/vm-boot.js';
import { DiskImage } from '../../src/vmm/devices/disk-image.js';

function pcWithDisk(disks: (DiskImage | null)[] = [new DiskImage(new Uint8Array(8 * 512))]) {
  const pc = createPcVm({ arch: 'svm', disks });
  const out = (port: number, v: number) => pc.vm.ports.portWrite(port, 1, v);
  const inb = (port: number) => pc.vm.ports.portRead(port, 1);
  // The 8259 pair as firmware programs it: master at 20h, slave at 28h, cascade on IRQ 2, 8086
  // mode, all lines unmasked.
  for (const [base, vec, cascade] of [
    [0x20, 0x20, 0x04],
    [0xa0, 0x28, 0x02],
  ]) {
    out(base, 0x11);
    out(base + 1, vec);
    out(base + 1, cascade);
    out(base + 1, 0x01);
    out(base + 1, 0x00);
  }
  // The BSP's APIC on, and I/O APIC pins 14 and 1 to vectors 3Eh and 31h on APIC 0, edge.
  const apic = pc.vm.vcpus[0].apic;
  apic.mmioWrite(0xf0, 4, 0x1ff);
  const io = pc.platform.ioApic;
  io.writeRegister(0x10 + 14 * 2 + 1, 0);
  io.writeRegister(0x10 + 14 * 2, 0x3e);
  io.writeRegister(0x10 + 1 * 2 + 1, 0);
  io.writeRegister(0x10 + 1 * 2, 0x31);
  return { pc, out, inb, apic };
}

describe('interrupt wiring', () => {
  it('an ATA completion raises IRQ 14 on the slave 8259 (vector 28h + 6) and on I/O APIC pin 14', () => {
    const { pc, out, apic } = pcWithDisk();
    expect(pc.platform.pic.pendingVector()).toBe(-1);
    out(0x1f7, 0xe7); // FLUSH CACHE: completes at once with INTRQ
    expect(pc.platform.pic.pendingVector()).toBe(0x2e);
    expect(apic.pendingVector()).toBe(0x3e);
  });

  it('nIEN (3F6h bit 1) keeps the completion off IRQ 14', () => {
    const { pc, out, apic } = pcWithDisk();
    out(0x3f6, 0x02);
    out(0x1f7, 0xe7);
    expect(pc.platform.pic.pendingVector()).toBe(-1);
    expect(apic.pendingVector()).toBe(-1);
  });

  it("the 8042's output buffer raises IRQ 1 on both controllers (self-test's 55h)", () => {
    const { pc, out, inb, apic } = pcWithDisk();
    out(0x64, 0xaa);
    expect(pc.platform.pic.pendingVector()).toBe(0x21);
    expect(apic.pendingVector()).toBe(0x31);
    expect(inb(0x60)).toBe(0x55);
  });
});

describe('A20, reset and an absent controller', () => {
  it('A20 goes off only with both port 92h bit 1 and the 8042 output port bit 1 clear', () => {
    const { pc, out } = pcWithDisk();
    const line: boolean[] = []; // what reaches the VM's processors
    const setA20 = pc.vm.setA20.bind(pc.vm);
    pc.vm.setA20 = (on: boolean) => {
      line.push(on);
      setA20(on);
    };
    expect(pc.platform.a20.enabled).toBe(true);
    out(0x92, 0x00);
    expect(line).toEqual([]); // the 8042 still holds it on
    out(0x64, 0xd1);
    out(0x60, 0xdd);
    expect(line).toEqual([false]);
    expect(pc.platform.a20.enabled).toBe(false);
    out(0x92, 0x02);
    expect(line).toEqual([false, true]);
  });

  it("the 8042's FEh pulse ends a disk-booted run with stop 'reset'", () => {
    // Boot sector: mov al,0FEh / out 64h,al / jmp $
    const disk = new Uint8Array(2 * 512);
    disk.set([0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe]);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    const r = runDiskVm({ arch: 'vmx', disks: [new DiskImage(disk)], maxInstructions: 100_000 });
    expect(r.stop).toBe('reset');
    expect(r.message).toMatch(/reset the machine/);
  });

  it('without disks the ATA ports read FFh (no controller); with a slave only, the master reads 00h', () => {
    const none = createPcVm({ arch: 'svm' });
    expect(none.vm.ports.portRead(0x1f7, 1)).toBe(0xff);
    expect(none.vm.ports.portRead(0x3f6, 1)).toBe(0xff);
    const { inb, out } = pcWithDisk([null, new DiskImage(new Uint8Array(512))]);
    expect(inb(0x1f7)).toBe(0x00);
    out(0x1f6, 0xb0);
    expect(inb(0x1f7)).toBe(0x50);
  });

  it('a disk whose first sector has no boot signature is refused before anything runs', () => {
    expect(() => runDiskVm({ disks: [new DiskImage(new Uint8Array(1024))] })).toThrow(/no boot signature/);
  });
});

describe('runImageVm with a disk image', () => {
  it('boots it as the master disk: its boot sector reads LBA 1 over the ATA ports', () => {
    // Boot sector: read LBA 1 (polled READ SECTORS), send its first byte to port E9h, exit.
    //   mov dx,1F6h / mov al,0E0h / out dx,al / mov dx,1F2h / mov al,1 / out dx,al
    //   inc dx / out dx,al (LBA 1) / inc dx / xor al,al / out dx,al / inc dx / out dx,al
    //   mov dx,1F7h / mov al,20h / out dx,al
    //   w: in al,dx / test al,8 / jz w / mov dx,1F0h / in ax,dx / out E9h,al / xor al,al / out F4h,al
    const code = [
      0xba, 0xf6, 0x01, 0xb0, 0xe0, 0xee, 0xba, 0xf2, 0x01, 0xb0, 0x01, 0xee, 0x42, 0xee, 0x42, 0x30, 0xc0,
      0xee, 0x42, 0xee, 0xba, 0xf7, 0x01, 0xb0, 0x20, 0xee, 0xec, 0xa8, 0x08, 0x74, 0xfb, 0xba, 0xf0, 0x01,
      0xed, 0xe6, 0xe9, 0x30, 0xc0, 0xe6, 0xf4,
    ];
    const disk = new Uint8Array(3 * 512);
    disk.set(code);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk[512] = 0x5a; // LBA 1
    const r = runImageVm(disk, { arch: 'svm', maxInstructions: 100_000 });
    expect(r.exitStatus).toBe(1);
    expect([...Buffer.from(r.output, 'latin1')]).toEqual([0x5a]);
  });
});
