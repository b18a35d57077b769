// QEMU's command-line spellings (qemu-system-x86_64 -help; `-d help` for the log items) and what
// hvemu makes of them: the twin where hvemu has one, else a one-line answer naming hvemu's spelling.
import { describe, expect, it } from 'vitest';
import { qemuDiskSpellings, translateQemuArgs } from '../../src/cli/qemu-spellings.js';

const has =
  (...options: string[]) =>
  (o: string) =>
    options.includes(o);

describe('QEMU -d and -D', () => {
  it('-d in_asm,int,cpu_reset are the insn, irq and mp topics; -D is --trace-file', () => {
    expect(translateQemuArgs(['-d', 'in_asm,int,cpu_reset', '-D', 'log.txt'])).toEqual({
      args: ['--trace-file', 'log.txt', '--trace', 'insn,irq,mp'],
    });
  });
  it('-d joins a --trace on the same line', () => {
    expect(translateQemuArgs(['--trace', 'ghcb', '-d', 'int'])).toEqual({ args: ['--trace', 'ghcb,irq'] });
  });
  it('a log item without a twin is answered with the topics hvemu has', () => {
    const r = translateQemuArgs(['-d', 'mmu']);
    expect(r).toHaveProperty('error');
    expect((r as { error: string }).error).toMatch(
      /^-d mmu has no hvemu twin: .*--trace insn, insn, irq and mp/,
    );
  });
});

describe('QEMU -s, -gdb, -bios, -pflash: twins only where this hvemu has the option', () => {
  it('-s is -gdb tcp::1234 (QEMU), so --gdb 1234; -gdb tcp::PORT is --gdb PORT', () => {
    expect(translateQemuArgs(['-s'], has('--gdb'))).toEqual({ args: ['--gdb', '1234'] });
    expect(translateQemuArgs(['-s', '-S'], has('--gdb', '--gdb-wait'))).toEqual({
      args: ['--gdb', '1234', '--gdb-wait'],
    });
    expect(translateQemuArgs(['-gdb', 'tcp::4321'], has('--gdb'))).toEqual({ args: ['--gdb', '4321'] });
    expect(translateQemuArgs(['-bios', 'OVMF.fd'], has('--bios'))).toEqual({ args: ['--bios', 'OVMF.fd'] });
  });
  it('without the option, the answer names what hvemu has', () => {
    expect(translateQemuArgs(['-s'])).toEqual({
      error: "-s is QEMU's: this hvemu has no gdb stub: --trace and --debug-ud say what the guest does",
    });
    expect((translateQemuArgs(['-bios', 'x']) as { error: string }).error).toMatch(/--sev-es FIRMWARE/);
  });
});

describe('QEMU -drive', () => {
  it('file=F[,format=raw][,if=ide][,index=N] is a disk on the primary channel', () => {
    expect(qemuDiskSpellings(['-drive', 'file=a.img,format=raw'])).toEqual({ args: [], disks: ['a.img'] });
    expect(qemuDiskSpellings(['-drive', 'file=b.img,if=ide,index=1', '--stats']).disks[1]).toBe('b.img');
  });
  it('if=pflash is --pflash where hvemu has it, else answered', () => {
    expect(qemuDiskSpellings(['-drive', 'if=pflash,format=raw,file=OVMF.fd'], has('--pflash'))).toEqual({
      args: ['--pflash', 'OVMF.fd'],
      disks: [],
    });
    expect(() => qemuDiskSpellings(['-drive', 'if=pflash,format=raw,file=OVMF.fd'])).toThrow(
      /--sev-es FIRMWARE/,
    );
  });
});
