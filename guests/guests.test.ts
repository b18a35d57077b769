// Runs every NASM guest in hvemu and asserts exactly what QEMU produced for it
// (expected.txt / expected.json are checked against QEMU by qemu.test.ts). Boot sectors run on the
// bare processor; Multiboot kernels run as VMs with the vCPU count in expected.json, under SVM
// and under VMX.
import { describe, expect, it } from 'vitest';
import { runMultibootVm } from '../src/vm-boot.js';
import { runBootSector } from '../src/vmm/bare-metal.js';
import { GUEST_KINDS, loadGuests } from './guest-list.js';

// Far above what any guest needs (modes, the largest boot sector, runs about 40 thousand in QEMU;
// smp-legacy with 4 vCPUs about 80 thousand in hvemu), so that a guest stuck in a loop ends as
// 'max-instructions' instead of hanging the test.
const MAX_INSTRUCTIONS = 5_000_000;

const guests = loadGuests(GUEST_KINDS);

describe('NASM guests in hvemu', () => {
  it('finds the guests', () => {
    expect(guests.map((g) => `${g.name} (${g.kind})`)).toEqual([
      'faults (boot-sector)',
      'fwcfg (multiboot)',
      'hello64 (boot-sector)',
      'legacy (boot-sector)',
      'modes (boot-sector)',
      'smc (boot-sector)',
      'smp-boot (boot-sector)',
      'smp-legacy (multiboot)',
      'xmc (boot-sector)',
    ]);
  });

  for (const guest of guests) {
    const ending = guest.stop === 'exit' ? `exits with status ${guest.exitStatus}` : 'triple-faults';
    const expected = { output: guest.output, stop: guest.stop, exitStatus: guest.exitStatus };
    if (guest.kind === 'boot-sector') {
      it(`${guest.name}: ${ending}`, () => {
        const result = runBootSector(guest.image, { maxInstructions: MAX_INSTRUCTIONS });
        // One comparison so a failure shows output, stop reason and status side by side.
        expect({ output: result.output, stop: result.stop, exitStatus: result.exitStatus }).toEqual(expected);
      });
    } else {
      for (const arch of ['svm', 'vmx'] as const) {
        it(`${guest.name}: Multiboot, ${guest.cpus} vCPU(s) under ${arch}, ${ending}`, () => {
          const result = runMultibootVm(guest.image, {
            arch,
            cpus: guest.cpus,
            cmdline: guest.imagePath,
            append: guest.append,
            vendor:
              guest.vendor === 'amd' ? 'AuthenticAMD' : guest.vendor === 'intel' ? 'GenuineIntel' : undefined,
            maxInstructions: MAX_INSTRUCTIONS,
          });
          expect({ output: result.output, stop: result.stop, exitStatus: result.exitStatus }).toEqual(
            expected,
          );
        });
      }
    }
  }
});
