// Guest accesses to guest-physical addresses that nothing maps reach the caller as KVM_EXIT_MMIO,
// under both backends: a read gets the caller's value, a write is reported with its data, an
// instruction that reads twice (an 8-byte load split in two) is answered access by access.
import { describe, expect, it } from 'vitest';
import { runMultibootVm } from '../../src/vm-boot.js';
import { UserspaceMmio } from '../../src/vmm/userspace-mmio.js';
import { aoutKernel, EXIT_0, OUT_EAX } from './platform-kernels.js';

const HOLE = 0xd0000000; // far above the VM's 64 MiB of RAM, claimed by no device

const KERNEL = aoutKernel([
  0x0f,
  0x20,
  0xe0,
  0x0d,
  0x00,
  0x02,
  0x00,
  0x00,
  0x0f,
  0x22,
  0xe0, // CR4.OSFXSR: SSE on
  0xa1,
  0x00,
  0x00,
  0x00,
  0xd0, // mov eax, [0xD0000000]
  ...OUT_EAX,
  0xc7,
  0x05,
  0x10,
  0x00,
  0x00,
  0xd0,
  0x78,
  0x56,
  0x34,
  0x12, // mov dword [0xD0000010], 0x12345678
  0xf3,
  0x0f,
  0x7e,
  0x05,
  0x20,
  0x00,
  0x00,
  0xd0, // movq xmm0, [0xD0000020]
  0x66,
  0x0f,
  0x7e,
  0xc0, // movd eax, xmm0
  ...OUT_EAX,
  0x66,
  0x0f,
  0x73,
  0xd0,
  0x20, // psrlq xmm0, 32
  0x66,
  0x0f,
  0x7e,
  0xc0, // movd eax, xmm0
  ...OUT_EAX,
  ...EXIT_0,
]);

const bytesOf = (...words: number[]) =>
  Buffer.concat(words.map((w) => Buffer.from(Uint32Array.of(w).buffer))).toString('latin1');

describe('KVM_EXIT_MMIO', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    it(`${arch}: reads get the caller's answers and writes reach it, in order`, () => {
      const seen: string[] = [];
      const r = runMultibootVm(KERNEL, {
        arch,
        onMmio: (gpa, size, isWrite, data) => {
          seen.push(
            `${isWrite ? 'W' : 'R'} ${(gpa - HOLE).toString(16)} ${size}${isWrite ? ` ${data.toString(16)}` : ''}`,
          );
          return isWrite ? 0 : (0xa0000000 + gpa - HOLE) >>> 0;
        },
      });
      expect(r.stop, r.message).toBe('exit');
      expect(r.output).toBe(bytesOf(0xa0000000, 0xa0000020, 0xa0000024));
      expect(seen).toEqual(['R 0 4', 'W 10 4 12345678', 'R 20 4', 'R 24 4']);
    });
  }

  it('without a userspace device the hole is open bus (all ones)', () => {
    const r = runMultibootVm(KERNEL, { arch: 'svm' });
    expect(r.output).toBe(bytesOf(0xffffffff, 0xffffffff, 0xffffffff));
  });
});

describe('UserspaceMmio', () => {
  it('a read after a write in the same instruction still waits for its answer', () => {
    const u = new UserspaceMmio();
    u.beginAttempt();
    u.write(0x10, 4, 7);
    expect(u.read(0x20, 4)).toBe(0);
    expect(u.unansweredRead).toEqual({ gpa: 0x20, size: 4, isWrite: false, data: 0 });
    u.answer(0x1234);
    u.beginAttempt();
    u.write(0x10, 4, 7);
    expect(u.read(0x20, 4)).toBe(0x1234);
    expect(u.unansweredRead).toBeNull();
    expect(u.writes).toEqual([{ gpa: 0x10, size: 4, isWrite: true, data: 7 }]);
  });
});
