// `hvemu run --gdb`, driven by Debian's gdb (the outside truth for the remote protocol): gdb
// attaches to a held VM, reads registers and memory, stops at a hardware and a software
// breakpoint, single-steps, lists the vCPUs as threads, and sees the guest exit; an SEV-ES vCPU
// refuses its registers and gdb shows why. Addresses come from guests/smp-legacy's Multiboot
// header (entry 0x100020: cli; cld; mov [mb_magic], eax; mov [mb_info], ebx).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_BAD_INPUT } from '../../src/cli/exit-status.js';
import { CLI, ensureCli, ROOT } from '../support/cli.js';

const gdbInstalled = spawnSync('gdb', ['--version']).status === 0;
const LEGACY = join(ROOT, 'guests', 'smp-legacy', 'smp-legacy.img');
const SEV = join(ROOT, 'guests', 'smp-sev-es', 'smp-sev-es.img');

const running: ChildProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

/** Start hvemu with --gdb 0 --gdb-wait; resolves with the port it printed, and its output so far. */
function hvemuWithGdb(...args: string[]): Promise<{ port: number; out: () => string }> {
  // --input none: a child's stdin is a socket, from which COM1 would wait for bytes before the first turn.
  const p = spawn(process.execPath, [CLI, 'run', ...args, '--gdb', '0', '--gdb-wait', '--input', 'none']);
  running.push(p);
  let stderr = '';
  let stdout = '';
  p.stdout.on('data', (b: Buffer) => {
    stdout += b.toString('latin1');
  });
  return new Promise((resolve, reject) => {
    p.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('latin1');
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve({ port: Number(m[1]), out: () => stdout });
    });
    p.once('exit', (code) => reject(new Error(`hvemu ended (${code}) before listening: ${stderr}`)));
  });
}

function gdb(port: number, ...commands: string[]): Promise<string> {
  // A loaded CI machine may answer slower than gdb's default 2 s.
  const args = ['-batch', '-nx', '-ex', 'set remotetimeout 20', '-ex', `target remote :${port}`];
  for (const c of commands) args.push('-ex', c);
  return new Promise((resolve) => {
    const g = spawn('gdb', args, { timeout: 30_000 });
    running.push(g);
    let out = '';
    g.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    g.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    g.once('close', () => resolve(out));
  });
}

beforeAll(ensureCli);

// Skipped only where gdb is missing; .ci/run installs it.
describe.skipIf(!gdbInstalled)('hvemu run --gdb with Debian gdb', () => {
  it.each(['svm', 'vmx'])(
    '%s: registers, memory, breakpoints, single step, threads, exit',
    async (arch) => {
      const vm = await hvemuWithGdb(LEGACY, '--arch', arch, '--cpus', '2');
      const dump = join(mkdtempSync(join(tmpdir(), 'hvemu-gdb-')), 'kernel.bin');
      const image = readFileSync(LEGACY);
      const out = await gdb(
        vm.port,
        'p/x $cs',
        // The kernel as the loader put it at 1 MiB, read through the stub in packets of up to 8 KiB.
        `dump binary memory ${dump} 0x100000 ${0x100000 + image.length}`,
        'hbreak *0x100020',
        'break *0x100027',
        'continue',
        'p/x $pc',
        'p/x $eax',
        'x/2i $pc',
        'continue',
        'p/x $pc',
        'stepi',
        'p/x $pc',
        'x/wx 0x100000',
        'info threads',
        'delete',
        // The AP's trampoline (STARTUP vector 08h): thread 2 stops there in real mode, CS = 0800h.
        'hbreak *0x8000',
        'continue',
        'p/x $cs',
        'delete',
        'continue',
      );
      // Held before the first instruction: the Multiboot entry stub in real mode (hvemu's loader, vm-boot.ts).
      expect(out).toMatch(/\$1 = 0xff00\n/);
      expect(out).toContain('Hardware assisted breakpoint 1 at 0x100020');
      expect(out).toContain('Thread 1 hit Breakpoint 1, 0x00100020');
      expect(out).toMatch(/\$2 = 0x100020\n/);
      expect(out).toMatch(/\$3 = 0x2badb002\n/); // the Multiboot magic the loader put in EAX
      expect(out).toMatch(/0x100020:\s+cli\n\s+0x100021:\s+cld/);
      expect(out).toContain('Thread 1 hit Breakpoint 2, 0x00100027');
      expect(out).toMatch(/\$5 = 0x10002d\n/); // mov [mb_magic], eax is 6 bytes: one step later
      expect(out).toMatch(/0x100000:\s+0x1badb002/); // the Multiboot header's magic in memory
      expect(out).toMatch(/1 +Thread 1 \(vcpu 0 \(BSP\), RUNNABLE\)/);
      expect(out).toMatch(/2 +Thread 2 \(vcpu 1 \(AP\), UNINITIALIZED\)/);
      expect(out).toContain('Thread 2 hit Breakpoint 3, 0x00008000');
      expect(out).toMatch(/\$6 = 0x800\n/);
      expect(out).toContain('exited with code 01'); // the guest's port 0xF4 exit, as gdb's W packet
      expect(vm.out()).toContain('SMP: done');
      expect(Buffer.compare(readFileSync(dump), image)).toBe(0);
    },
    60_000,
  );

  it('an SEV-ES vCPU refuses its registers, and gdb says why', async () => {
    const vm = await hvemuWithGdb(SEV, '--sev-es', '--cpus', '2');
    const out = await gdb(vm.port, 'info registers rip');
    expect(out).toContain(
      "Could not read registers; remote failure reply 'E.vcpu 0 is an SEV-ES vCPU: its registers are encrypted in its VMSA",
    );
    expect(out).not.toMatch(/rip +0x/);
  }, 60_000);
});

describe('hvemu run --gdb: bad values name themselves', () => {
  // A boot sector (guests/hello64), which --arch none runs on the bare processor.
  const BOOT = join(ROOT, 'guests', 'hello64', 'hello64.img');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'run', BOOT, ...args], { encoding: 'utf8', timeout: 30_000 });

  it.each([
    [['--arch', 'svm', '--gdb', 'x'], "--gdb takes a TCP port, 0 to 65535 (0: any free one), not 'x'"],
    [
      ['--arch', 'svm', '--gdb', '70000'],
      "--gdb takes a TCP port, 0 to 65535 (0: any free one), not '70000'",
    ],
    [['--arch', 'svm', '--gdb-wait'], '--gdb-wait needs --gdb PORT'],
    [['--arch', 'none', '--gdb', '0'], 'with --arch none there is no VMM'],
  ])('%j', (args, message) => {
    const r = run(...args);
    expect(r.status).toBe(EXIT_BAD_INPUT);
    expect(r.stderr).toContain(message);
  });
});
