// Guest RAM of any whole number of pages is mapped whole by the backend's nested tables (SVM) and
// EPT (VMX), and RAM of 2 GiB or more reaches the guest under both. Before: a tail that was not a
// whole 2 MiB page stayed unmapped (with `--memory 1` the boot sector itself was MMIO, open bus),
// and VMX refused every VM of 2048 MiB or more ("EPTP reserved bits set": the EPT pointer was
// computed in signed 32 bits).
import { describe, expect, it } from 'vitest';
import { runBootSectorVm, runMultibootVm } from '../../src/vm-boot.js';
import { aoutKernel, EXIT_0, OUT_EAX } from './platform-kernels.js';

const MiB = 2 ** 20;

/** Real mode: out 0xE9 'O', 'K'; out 0xF4, 0. */
const BOOT = (() => {
  const img = new Uint8Array(512);
  img.set([0xb0, 0x4f, 0xe6, 0xe9, 0xb0, 0x4b, 0xe6, 0xe9, 0x30, 0xc0, 0xe6, 0xf4]);
  img[510] = 0x55;
  img[511] = 0xaa;
  return img;
})();

const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** mov dword [addr], 0x5a5aa5a5 / mov eax, [addr] / print EAX: the value RAM kept (open bus gives all ones). */
const writeReadBack = (addr: number) =>
  aoutKernel([0xc7, 0x05, ...le(addr), ...le(0x5a5aa5a5), 0xa1, ...le(addr), ...OUT_EAX, ...EXIT_0]);

describe('guest RAM that is not a multiple of 2 MiB', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    it(`${arch}: a boot sector runs with 1 MiB of RAM (--memory 1)`, () => {
      const r = runBootSectorVm(BOOT, { arch, memoryBytes: MiB, maxInstructions: 10_000 });
      expect(r.stop, r.message).toBe('exit');
      expect(r.output).toBe('OK');
    });

    it(`${arch}: with 3 MiB, the last page of RAM is RAM and the byte after it is MMIO`, () => {
      const mmio: number[] = [];
      const onMmio = (gpa: number) => {
        mmio.push(gpa);
        return 0xffffffff;
      };
      const last = runMultibootVm(writeReadBack(3 * MiB - 4), {
        arch,
        memoryBytes: 3 * MiB,
        onMmio,
        maxInstructions: 100_000,
      });
      expect(last.stop, last.message).toBe('exit');
      expect(Buffer.from(last.output, 'latin1').readUInt32LE(0)).toBe(0x5a5aa5a5);
      expect(mmio).toEqual([]);
      const past = runMultibootVm(writeReadBack(3 * MiB), {
        arch,
        memoryBytes: 3 * MiB,
        onMmio,
        maxInstructions: 100_000,
      });
      expect(past.stop, past.message).toBe('exit');
      expect(Buffer.from(past.output, 'latin1').readUInt32LE(0)).toBe(0xffffffff);
      expect(mmio).toEqual([3 * MiB, 3 * MiB]);
    });
  }
});

/**
 * 32-bit paging with its page directory at 2 GiB and its page table right after it (identity map
 * of the first 4 MiB), then the write/read-back at 0x3FFFFC through it. Table addresses at or
 * above 2 GiB are negative as int32: the processor model must not walk them as such.
 */
const PAGING_ABOVE_2G = aoutKernel([
  0xbf,
  ...le(0x80001000), // mov edi, 0x80001000 (the page table)
  0xb8,
  ...le(3), // mov eax, 3 (P RW, frame 0)
  0xb9,
  ...le(1024), // mov ecx, 1024
  0xab, // .fill: stosd
  0x05,
  ...le(0x1000), // add eax, 0x1000
  0xe2,
  0xf8, // loop .fill
  0xc7,
  0x05,
  ...le(0x80000000),
  ...le(0x80001003), // mov dword [0x80000000], 0x80001003 (PDE 0)
  0xb8,
  ...le(0x80000000), // mov eax, 0x80000000
  0x0f,
  0x22,
  0xd8, // mov cr3, eax
  0x0f,
  0x20,
  0xc0, // mov eax, cr0
  0x0d,
  ...le(0x80000000), // or eax, CR0.PG
  0x0f,
  0x22,
  0xc0, // mov cr0, eax
  0xc7,
  0x05,
  ...le(0x3ffffc),
  ...le(0x5a5aa5a5), // mov dword [0x3FFFFC], 0x5a5aa5a5
  0xa1,
  ...le(0x3ffffc), // mov eax, [0x3FFFFC]
  ...OUT_EAX,
  ...EXIT_0,
]);

describe('2 GiB of guest RAM and more', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    for (const [mib, addrs] of [
      [2048, [0x7ffffffc]],
      [3072, [0x80000000, 0xbffffffc]],
    ] as const)
      it(`${arch}: ${mib} MiB: RAM at ${addrs.map((a) => `0x${a.toString(16)}`).join(', ')} holds what the guest wrote`, () => {
        for (const addr of addrs) {
          const r = runMultibootVm(writeReadBack(addr), {
            arch,
            memoryBytes: mib * MiB,
            onMmio: () => 0xffffffff,
            maxInstructions: 100_000,
          });
          expect(r.stop, r.message).toBe('exit');
          expect(Buffer.from(r.output, 'latin1').readUInt32LE(0)).toBe(0x5a5aa5a5);
        }
      });

    it(`${arch}: 32-bit paging with its page directory and page table at 2 GiB`, () => {
      const r = runMultibootVm(PAGING_ABOVE_2G, { arch, memoryBytes: 2050 * MiB, maxInstructions: 100_000 });
      expect(r.stop, r.message).toBe('exit');
      expect(Buffer.from(r.output, 'latin1').readUInt32LE(0)).toBe(0x5a5aa5a5);
    });
  }
});
