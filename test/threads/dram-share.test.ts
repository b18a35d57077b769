// HostMachine.share(): the threaded scheduler's workers attach to the same DRAM, until a guest key
// is installed (a private page may sit in DRAM in plaintext form while a processor uses it).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HostMachine } from '../../src/host/host-machine.js';
import { HVEMU_SEV_ES_POLICY } from '../../src/sev-measure.js';

describe('HostMachine.share', () => {
  it("gives another HostMachine the same DRAM, seen through its own controller's host path", () => {
    const a = new HostMachine({ bytes: 1 << 20 });
    const b = new HostMachine({ bytes: 1 << 20, dram: a.share() });
    a.memory.write(0x3000, Uint8Array.from([1, 2, 3]));
    expect(Array.from(b.memory.read(0x3000, 3))).toEqual([1, 2, 3]);
    expect(() => new HostMachine({ bytes: 2 << 20, dram: a.share() })).toThrow(/1048576 bytes, not 2097152/);
  });

  it('gives it the same bus lock, so split locks on either thread exclude each other', () => {
    const a = new HostMachine({ bytes: 1 << 20 });
    const b = new HostMachine({ bytes: 1 << 20, dram: a.share() });
    expect(b.busLock.buffer).toBe(a.busLock.buffer);
    expect(new HostMachine({ bytes: 1 << 20 }).busLock.buffer).not.toBe(a.busLock.buffer);
  });

  it('installs no guest key on either side once shared (the buffer would show its plaintext pages)', () => {
    const a = new HostMachine({ bytes: 1 << 20 });
    const b = new HostMachine({ bytes: 1 << 20, dram: a.share() });
    for (const m of [a, b]) {
      const handle = m.psp.launchStart(HVEMU_SEV_ES_POLICY, randomBytes(16));
      expect(() => m.psp.activate(handle, 1)).toThrow(/shared with another host thread/);
    }
  });

  it('refuses once a guest key is installed', () => {
    const a = new HostMachine({ bytes: 1 << 20 });
    a.psp.activate(a.psp.launchStart(HVEMU_SEV_ES_POLICY, randomBytes(16)), 1);
    expect(() => a.share()).toThrow(/SEV guest key installed/);
  });
});
