// Runs every NASM guest in hvemu and asserts exactly what QEMU produced for it
// (expected.txt / expected.json are checked against QEMU by qemu.test.ts).
import { describe, expect, it } from 'vitest';
import { runBootSector } from '../src/vmm/bare-metal.js';
import { loadGuests } from './guest-list.js';

// Far above what any guest needs (modes, the largest, runs about 40 thousand in QEMU),
// so that a guest stuck in a loop ends as 'max-instructions' instead of hanging the test.
const MAX_INSTRUCTIONS = 5_000_000;

const guests = loadGuests();

describe('NASM guests in hvemu', () => {
  it('finds the guests', () => {
    expect(guests.map((g) => g.name)).toEqual(['faults', 'hello64', 'legacy', 'modes', 'smc', 'smp-boot']);
  });

  for (const guest of guests) {
    it(`${guest.name}: ${guest.stop === 'exit' ? `exits with status ${guest.exitStatus}` : 'triple-faults'}`, () => {
      const result = runBootSector(guest.image, { maxInstructions: MAX_INSTRUCTIONS });
      // One comparison so a failure shows output, stop reason and status side by side.
      expect({ output: result.output, stop: result.stop, exitStatus: result.exitStatus }).toEqual({
        output: guest.output,
        stop: guest.stop,
        exitStatus: guest.exitStatus,
      });
    });
  }
});
