// hvemu as a Unix tool, through dist/src/cli.js as `npx hvemu` runs it (issue 15): --version and
// --help for every command, exit statuses a script can use, files looked at before they are run,
// Ctrl-C that says where the guest was, a progress line on a quiet terminal, sizes with suffixes,
// QEMU's spellings and unknown options refused.
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureCli, guestImage, hvemu, hvemuSignalled, ROOT } from '../support/cli.js';

beforeAll(ensureCli);

const DIR = mkdtempSync(join(tmpdir(), 'hvemu-unix-'));
function file(name: string, bytes: Uint8Array | number[] | string): string {
  const p = join(DIR, name);
  writeFileSync(p, typeof bytes === 'string' ? bytes : Uint8Array.from(bytes));
  return p;
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

// Boot sectors, hand-assembled (real mode at 0000:7C00):
/** mov al, V / out 0xF4, al */
const exitWith = (v: number) => [0xb0, v, 0xe6, 0xf4];
/** mov al,'a' / out 0xE9,al / mov al,'b' / out 0xE9,al / jmp $   (no newline: stays buffered) */
const PRINT_AB_THEN_LOOP = [0xb0, 0x61, 0xe6, 0xe9, 0xb0, 0x62, 0xe6, 0xe9, 0xeb, 0xfe];
/** cli / hlt: nothing can wake it */
const CLI_HLT = [0xfa, 0xf4];
/** jmp $ */
const LOOP = [0xeb, 0xfe];

/** An ELF64 header as a linker writes one (System V ABI: ET_EXEC, EM_X86_64), then zeros to 4 KiB. */
function elf64Executable(): Uint8Array {
  const b = new Uint8Array(4096);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
  const dv = new DataView(b.buffer);
  dv.setUint16(16, 2, true); // e_type ET_EXEC
  dv.setUint16(18, 62, true); // e_machine EM_X86_64
  dv.setUint32(20, 1, true); // e_version
  dv.setBigUint64(24, 0x401000n, true); // e_entry
  dv.setUint16(52, 64, true); // e_ehsize
  return b;
}

/** smp-sev-es.img with its reset vector (the last 16 bytes, F000:FFF0) replaced by `code`. */
const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];

function sevEsWithResetVector(name: string, code: number[]): string {
  const b = readFileSync(guestImage('smp-sev-es'));
  b.fill(0xf4, b.length - 16);
  b.set(code, b.length - 16);
  return file(name, b);
}

describe('every command answers --version and --help', () => {
  it('--version prints the package version', () => {
    const r = hvemu('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`hvemu ${pkg.version}\n`);
  });

  it.each([[['--help']], [['run', '--help']], [['inspect', '--help']], [['help', 'run']], [['run', '-h']]])(
    'hvemu %j prints its usage on stdout and exits 0',
    (args) => {
      const r = hvemu(...args);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^usage: hvemu /);
    },
  );

  it('run --help lists every option with its default, and the exit statuses', () => {
    const help = hvemu('run', '--help').stdout;
    for (const flag of [
      'arch',
      'cpus',
      'memory',
      'max-instructions',
      'vendor',
      'sev-es',
      'bios',
      'pflash',
      'pflash-write',
      'debugcon',
      'console',
      'trace',
      'exit-status',
      'threads',
      'stats',
    ])
      expect(help).toMatch(
        new RegExp(`--${flag}\\b[^\\n]*\\n(?: {6}[^\\n]*\\n)*? {6}[^\\n]*\\(default: [^)]+\\)`),
      );
    expect(help).toMatch(/12 +the guest reset the machine/);
    expect(help).toMatch(/14 +KVM_EXIT_INTERNAL_ERROR/);
    expect(help).toMatch(/16 +KVM_EXIT_FAIL_ENTRY/);
  });

  it('the package has a bin and a prepare script, so `npm ci` leaves a working `npx hvemu`', () => {
    expect(pkg.bin.hvemu).toBe('dist/src/cli.js');
    expect(pkg.scripts.prepare).toMatch(/tsc/);
    expect(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});

describe('exit statuses a script can use', () => {
  it.each([
    [0, 'default', 0],
    [0, 'qemu', 1],
    [3, 'default', 7],
    [3, 'qemu', 7],
    [0x7f, 'default', 0xff],
  ])('a guest writing %i to port 0xF4 with --exit-status %s exits %i', (v, mode, status) => {
    const r = hvemu('run', file(`exit-${v}.img`, exitWith(v)), '--exit-status', mode);
    expect(r.status).toBe(status);
    expect(r.stderr).toBe('');
  });

  it('halted with nothing to wake it: 6', () => {
    const r = hvemu('run', file('hlt.img', CLI_HLT), '--arch', 'svm');
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/halted .*nothing to wake it/);
  });

  it('an SEV-ES guest touching unbacked memory takes #VC (a KVM MMIO SPTE), not KVM_EXIT_INTERNAL_ERROR', () => {
    // Real mode at the reset vector: copy a #VC handler to 0:500h and point IVT entry 29 (#VC) at it,
    // then read 0x100010, above 1 MiB of RAM. The nested fault gets an MMIO SPTE, the retried access
    // raises #VC(400h), and the handler asks for termination (GHCB MSR protocol, reason set 1 code 7):
    // the run ends as terminated (10), where it once ended with KVM_EXIT_INTERNAL_ERROR (14).
    const handler = [
      ...[0x66, 0xb9, 0x30, 0x01, 0x01, 0xc0], // mov ecx, C0010130h (the GHCB MSR)
      ...[0x66, 0xb8, 0x00, 0x11, 0x07, 0x00], // mov eax, 00071100h: termination, set 1, code 7
      ...[0x66, 0x31, 0xd2], // xor edx, edx
      ...[0x0f, 0x30], // wrmsr
      ...[0xf3, 0x0f, 0x01, 0xd9], // vmgexit
      ...[0xeb, 0xfe], // jmp $
    ];
    const MAIN = 0xf000; // IP of the main code in the reset segment (CS base FFFF0000h)
    const HANDLER = MAIN + 0x80;
    const main = [
      ...[0x31, 0xc0, 0x8e, 0xc0], // xor ax, ax / mov es, ax
      ...[0xbe, HANDLER & 0xff, HANDLER >> 8], // mov si, HANDLER
      ...[0xbf, 0x00, 0x05], // mov di, 500h
      ...[0xb9, handler.length, 0x00], // mov cx, handler length
      ...[0x2e, 0xf3, 0xa4], // cs rep movsb
      ...[0x26, 0xc7, 0x06, 0x74, 0x00, 0x00, 0x05], // mov word [es:74h], 500h
      ...[0x26, 0xc7, 0x06, 0x76, 0x00, 0x00, 0x00], // mov word [es:76h], 0
      ...[0xb8, 0xff, 0xff, 0x8e, 0xd8, 0xa0, 0x20, 0x00], // mov ax, FFFFh / mov ds, ax / mov al, [20h]
      ...[0xeb, 0xfe], // jmp $
    ];
    const b = readFileSync(guestImage('smp-sev-es'));
    const seg = b.length - 0x10000; // file offset of IP 0 in the reset segment
    b.set(main, seg + MAIN);
    b.set(handler, seg + HANDLER);
    b.fill(0xf4, b.length - 16);
    b.set([0xe9, ...le16(MAIN - 0xfff3)], b.length - 16); // at FFF0h: jmp MAIN
    const r = hvemu('run', '--sev-es', file('npf.img', b), '--memory', '1M', '--max-instructions', '1000000');
    expect(r.stderr).toMatch(/guest requested termination \(MSR protocol\), reason set 1 code 7/);
    expect(r.stderr).not.toMatch(/KVM_EXIT_INTERNAL_ERROR/);
    expect(r.status).toBe(10);
  });

  it('npm start passes its arguments to hvemu run and exits 0 when the demo succeeds', () => {
    expect(pkg.scripts.start).toBe('npm run build --silent && sh guests/smp-sev-es/demo.sh');
    const r = spawnSync('sh', ['guests/smp-sev-es/demo.sh', '--cpus', '2', '--trace', 'mp'], {
      cwd: ROOT,
      encoding: 'latin1',
      timeout: 60_000,
    });
    expect(r.stdout).toMatch(/SEV-ES SMP: done: BSP \+ 1 APs?/);
    expect(r.stderr).toMatch(/vcpu 1: mp_state UNINITIALIZED -> INIT_RECEIVED/);
    expect(r.status).toBe(0);
  });

  it('--trace with --arch none is refused, saying there is no VMM to trace', () => {
    const r = hvemu('run', guestImage('hello64'), '--trace', 'exits');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/--trace follows the VMM .*--arch none there is no VMM/);
  });
});

describe('look before running: refused, exit 8, with what `inspect` says', () => {
  it.each([
    ['text (the README)', () => join(ROOT, 'README.md'), [], /is text, not a machine image/],
    [
      'an ELF64 executable',
      () => file('prog', elf64Executable()),
      [],
      /is an ELF64 file \(ET_EXEC, EM_X86_64\) with no Multiboot header/,
    ],
    [
      'SEV-ES firmware without --sev-es',
      () => guestImage('smp-sev-es'),
      [],
      /SEV-ES reset block\): run it as firmware with --bios .*, or as an SEV-ES guest with --sev-es/,
    ],
    [
      'a boot sector with --sev-es',
      () => guestImage('hello64'),
      ['--sev-es'],
      /not a firmware image or a Linux kernel: drop --sev-es/,
    ],
    ['a directory', () => DIR, [], /is a directory/],
    ['/dev/zero (would read forever)', () => '/dev/zero', [], /is a character device/],
  ] as [string, () => string, string[], RegExp][])('%s', (_what, path, extra, message) => {
    const t0 = Date.now();
    const r = hvemu('run', path(), ...extra);
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(8);
    expect(r.stdout).toBe('');
    expect(Date.now() - t0).toBeLessThan(20_000); // refused, not run
  });

  it('a FIFO is refused without waiting for a writer', () => {
    const fifo = join(DIR, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = hvemu('run', fifo);
    expect(r.stderr).toMatch(/is a FIFO/);
    expect(r.status).toBe(8);
  });

  it('a file larger than any guest is refused unread (a 100 GiB sparse file)', () => {
    const p = join(DIR, 'huge.img');
    const fd = openSync(p, 'w');
    ftruncateSync(fd, 100 * 2 ** 30);
    closeSync(fd);
    const r = hvemu('run', p);
    expect(r.stderr).toMatch(/is 100 GiB, more than 64 MiB/);
    expect(r.status).toBe(8);
  });

  it('inspect checks the file the same way', () => {
    const r = hvemu('inspect', '/dev/zero');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/is a character device/);
    expect(hvemu('inspect', join(ROOT, 'README.md')).stdout).toMatch(/is: text, not a machine image/);
  });
});

describe('SIGINT and SIGTERM stop the run and say where it was', () => {
  it('bare processor: the console bytes not yet written, where the CPU was, the stats, exit 130', async () => {
    const r = await hvemuSignalled(['run', file('ab.img', PRINT_AB_THEN_LOOP), '--stats'], 'SIGINT', 3000);
    expect(r.stdout).toBe('ab'); // held for a newline that never came, flushed on the way out
    expect(r.stderr).toMatch(/stopped by SIGINT after \d+ instructions/);
    expect(r.stderr).toMatch(/ {2}cpu: 0000:7c08\n/); // the jmp $ at 0x7C08
    expect(r.stderr).toMatch(/\d+ instructions in [\d.]+ s \([\d.]+ MIPS\)/);
    expect(r.status).toBe(130);
  });

  it('a VM: each vCPU with its MP state; SIGTERM exits 143', async () => {
    const r = await hvemuSignalled(
      ['run', file('loop.img', LOOP), '--arch', 'vmx', '--cpus', '2'],
      'SIGTERM',
      3000,
    );
    expect(r.stderr).toMatch(/vcpu 0: mp_state RUNNABLE, RIP 0x7c00, RFLAGS 0x[0-9a-f]+\n/);
    expect(r.stderr).toMatch(/vcpu 1: mp_state UNINITIALIZED, RIP 0x/);
    expect(r.status).toBe(143);
  });

  it('a VM whose standard input is a silent socket stops at once on SIGINT (no thread blocked in read)', async () => {
    const t0 = Date.now();
    const r = await hvemuSignalled(
      ['run', file('loop-in.img', LOOP), '--arch', 'svm'],
      'SIGINT',
      3000,
      process.env,
      'pipe',
    );
    expect(r.stderr).toMatch(/stopped by SIGINT after \d+ instructions/);
    expect(r.status).toBe(130);
    expect(Date.now() - t0).toBeLessThan(3000 + 4000); // not the 5 s grace: the run thread answered
  });

  it('SEV-ES: protected vCPUs show no registers, only that they are protected', async () => {
    const img = sevEsWithResetVector('loop-sev.img', LOOP);
    const r = await hvemuSignalled(['run', '--sev-es', img, '--cpus', '4'], 'SIGINT', 3500);
    expect(r.stderr).toMatch(/vcpu 0: mp_state RUNNABLE, registers protected \(SEV-ES\)\n/);
    expect(r.stderr).toMatch(/vcpus 1-3: mp_state UNINITIALIZED, registers protected \(SEV-ES\)\n/);
    expect(r.stderr).not.toMatch(/RIP|RFLAGS/);
    expect(r.status).toBe(130);
  });
});

describe('a quiet run on a terminal says it is still running', () => {
  const script = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!script)(
    'on a terminal (script(1) gives it one): "still running ... MIPS" on stderr',
    async () => {
      const cmd = `exec ${process.execPath} ${CLI} run ${file('quiet.img', LOOP)}`;
      const r = await hvemuSignalledVia('script', ['-qfec', cmd, '/dev/null'], 3500);
      expect(r).toMatch(/hvemu: still running after \d+ s: [\d.e+]+ instructions, [\d.]+ MIPS/);
    },
  );

  it('not on a terminal: nothing but what the guest printed', async () => {
    const r = await hvemuSignalled(['run', file('quiet2.img', LOOP)], 'SIGINT', 3500, {
      ...process.env,
      HVEMU_QUIET_SECONDS: '1',
    });
    expect(r.stderr).not.toMatch(/still running/);
    expect(r.status).toBe(130);
  });
});

/** Run `cmd args` with HVEMU_QUIET_SECONDS=1 for `ms`, then SIGINT its process group; all output. */
async function hvemuSignalledVia(cmd: string, args: string[], ms: number): Promise<string> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, HVEMU_QUIET_SECONDS: '1' }, detached: true });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    setTimeout(() => process.kill(-(p.pid as number), 'SIGINT'), ms);
    const guard = setTimeout(() => process.kill(-(p.pid as number), 'SIGKILL'), ms + 20_000);
    p.on('close', () => {
      clearTimeout(guard);
      resolve(out);
    });
  });
}

describe('sizes, QEMU spellings, unknown options', () => {
  const SMP_LEGACY = guestImage('smp-legacy');
  it('--memory takes suffixes; a plain number is MiB; QEMU -m and -smp are the same options', () => {
    const expected = readFileSync(join(ROOT, 'guests', 'smp-legacy', 'expected.txt'), 'latin1');
    for (const args of [
      ['--memory', '64M', '--cpus', '4'],
      ['-m', '64', '-smp', '4'],
      ['-m', '65536K', '-smp', 'cpus=4'],
    ]) {
      const r = hvemu('run', SMP_LEGACY, ...args);
      expect(r.stdout).toBe(expected);
      expect(r.status).toBe(0);
    }
  });

  it('the size reaches the guest: 1M leaves no room for a kernel loaded at 1 MiB', () => {
    const r = hvemu('run', SMP_LEGACY, '--memory', '1M');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/the kernel at 0x100000-0x[0-9A-F]+ is outside RAM \(1048576 bytes/);
  });

  it.each([
    [['--memory', '64X'], /--memory: '64X' is not a size/],
    [['--memory', '4G'], /--memory must be whole 4 KiB pages from 1M to 3G, not 4 GiB/],
    [
      ['-append', 'console=ttyS0'],
      /--append and --initrd are for a Multiboot or Linux kernel .*hello64\.img is neither/,
    ],
    [['-fda', 'floppy.img'], /-fda is QEMU's: hvemu has no floppy drive/],
    [['-enable-kvm'], /-enable-kvm is QEMU's: hvemu is the accelerator: --arch svm/],
    [['-smp', '4,sockets=2'], /hvemu takes only the vCPU count/],
    [['--frobnicate'], /^hvemu: unknown option --frobnicate \(`hvemu run --help` lists every option\)\n$/],
  ])('%j: exit 8 with a one-line answer', (args, message) => {
    const r = hvemu('run', guestImage('hello64'), ...args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.status).toBe(8);
  });

  it("QEMU's -kernel -append -initrd boot a PVH kernel with what QEMU gives it (pvh-hello's expected.txt)", () => {
    const dir = join(ROOT, 'guests', 'pvh-hello');
    const want = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
    const initrd = file('initrd', want.initrd);
    const r = hvemu('run', '-kernel', guestImage('pvh-hello'), '-append', want.cmdline, '-initrd', initrd);
    expect(r.stdout).toBe(readFileSync(join(dir, 'expected.txt'), 'latin1'));
    expect(r.status).toBe(0);
  });

  it('-kernel names the image, as in QEMU', () => {
    const r = hvemu('run', '-kernel', SMP_LEGACY, '-smp', '2');
    expect(r.stdout).toMatch(/done/i);
    expect(r.status).toBe(0);
  });
});
