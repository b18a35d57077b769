// The exit status a script sees for each way a run ends (src/cli/exit-status.ts), from real runs:
// a VM entry that fails its checks ends the run with KVM_EXIT_FAIL_ENTRY and status 16, not the
// "halted" 6 it used to share with every other ending. CLI-level cases: cli-unix-tool.test.ts.
import { describe, expect, it } from 'vitest';
import { EXIT_FAIL_ENTRY, EXIT_HALTED, exitStatusFor } from '../../src/cli/exit-status.js';
import { translateQemuArgs } from '../../src/cli/qemu-spellings.js';
import { parseSize } from '../../src/cli/sizes.js';
import { createPcVm, loadBootSector, runPcVm } from '../../src/vm-boot.js';
import { KVM_EXIT_FAIL_ENTRY } from '../../src/vmm/kvm-abi.js';

describe('exit statuses from real runs', () => {
  it('VMX: a guest RIP above 4 GiB outside 64-bit mode fails VM entry (SDM 26.3.1.4): 16', () => {
    const pc = createPcVm({ arch: 'vmx' });
    loadBootSector(pc, Uint8Array.from([0xf4]));
    const v = pc.vm.vcpus[0];
    const regs = v.getRegs();
    regs.rip = 1n << 32n;
    v.setRegs(regs);
    const r = runPcVm(pc);
    expect(r.stop).toBe('error');
    expect(r.kvmExitReason).toBe(KVM_EXIT_FAIL_ENTRY);
    expect(r.message).toMatch(/KVM_EXIT_FAIL_ENTRY: VM-entry failure \(INVALID_STATE\): RIP bits 63:32/);
    expect(exitStatusFor(r, 'default')).toBe(EXIT_FAIL_ENTRY);
  });

  it('a halted VM with nothing to wake it stays 6', () => {
    const pc = createPcVm({ arch: 'svm' });
    loadBootSector(pc, Uint8Array.from([0xfa, 0xf4])); // cli; hlt
    const r = runPcVm(pc);
    expect(r.stop).toBe('halted');
    expect(exitStatusFor(r, 'default')).toBe(EXIT_HALTED);
  });
});

describe('sizes as QEMU writes them', () => {
  it.each([
    ['64', 64 * 2 ** 20],
    ['64M', 64 * 2 ** 20],
    ['64MiB', 64 * 2 ** 20],
    ['2G', 2 * 2 ** 30],
    ['2g', 2 * 2 ** 30],
    ['640K', 640 * 1024],
  ])('%s is %i bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });
  it.each(['', '1.5G', '-1', 'M', '64X'])('%j is refused', (text) => {
    expect(parseSize(text)).toHaveProperty('error');
  });
});

describe("QEMU's spellings", () => {
  it('twins are rewritten, the rest of the line is left alone', () => {
    expect(
      translateQemuArgs(['-m', '2G', '-smp', 'cpus=8,maxcpus=8', '-kernel', 'k.elf', '--stats']),
    ).toEqual({
      args: ['--memory', '2G', '--cpus', '8', '--kernel', 'k.elf', '--stats'],
    });
  });
  it('an option without a twin is answered, naming what to use', () => {
    expect(translateQemuArgs(['img', '-serial', 'stdio'])).toEqual({
      error: "-serial is QEMU's: COM1 goes to stdout: --console com1 (or auto, the default)",
    });
  });
});
