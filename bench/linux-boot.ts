// Debian's Linux kernel booted by hvemu and by QEMU TCG on the same vmlinux, command line, initramfs,
// vCPU count and memory, in the same run: the CPU time each process has used when the serial
// console shows "smp: Brought up" and when the initramfs's /init prints its first line (userspace),
// and the ratio hvemu / QEMU. CPU time, not wall time, so a shared machine's load matters less.
//   npm run bench:linux                  one round (hvemu needs a few minutes, QEMU seconds)
//   node dist/bench/linux-boot.js --reps=3 --arch=vmx   (after npm run build)
// Options: --reps=N (interleaved rounds; medians), --arch=svm|vmx (hvemu's backend, default svm),
// --cpus=N (default 4), --no-qemu (hvemu only). Skipped, saying why, when build/debian has no
// kernel (test/linux/fetch-debian.sh) or qemu-system-x86_64 is not installed.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractVmlinux } from '../src/vmm/loaders/linux/bzimage.js';
import { buildInitramfs, INIT_MARKERS } from '../test/linux/initramfs.js';
import { ROOT } from './lib/paths.js';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const REPS = Number(opt('reps') ?? 1);
const ARCH = opt('arch') ?? 'svm';
const CPUS = Number(opt('cpus') ?? 4);
const MEMORY = '256M';
/** The command line of test/linux/debian-linux.test.ts: lpj= and tsc=reliable skip the calibrations. */
const APPEND = 'console=ttyS0 panic=-1 tsc=reliable lpj=4000000';
const CLI = join(ROOT, 'dist/src/cli.js');
const DEBIAN = join(ROOT, 'build/debian');

/** What the markers are called in the table, and the serial-console text that marks them. */
const MARKERS = [
  { name: 'smp: Brought up', text: `smp: Brought up 1 node, ${CPUS} CPU` },
  { name: 'userspace (/init)', text: INIT_MARKERS.started },
] as const;

function skip(why: string): never {
  console.log(`bench linux: skipped: ${why}`);
  process.exit(0);
}

/** CPU seconds (user + system, every thread) a live process has used, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // Fields after the command name (which may hold spaces) start at its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tick = 100; // USER_HZ: Linux reports clock ticks of 1/100 s to userspace
  return (Number(f[11]) + Number(f[12])) / tick;
}

interface Run {
  /** CPU seconds at each marker (NaN: not reached). */
  at: number[];
  total: number;
  /** hvemu only: guest instructions and MIPS over the process's CPU time. */
  instructions: number;
}

/** Start `cmd`, watch its stdout for the markers, stop it after the last one (or when it ends). */
function timed(cmd: string, argv: string[], timeoutMs: number): Promise<Run> {
  return new Promise((done, fail) => {
    const child: ChildProcess = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const at = MARKERS.map(() => Number.NaN);
    let text = '';
    let errText = '';
    let total = Number.NaN;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const check = () => {
      for (let i = 0; i < MARKERS.length; i++) {
        if (Number.isNaN(at[i]) && text.includes(MARKERS[i].text)) at[i] = cpuSeconds(child.pid as number);
      }
      if (at.every((t) => !Number.isNaN(t)) && Number.isNaN(total)) {
        total = at[at.length - 1];
        // SIGINT: hvemu stops the run and prints its statistics; QEMU exits.
        child.kill('SIGINT');
      }
    };
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      check();
    });
    child.stderr?.on('data', (d: Buffer) => {
      errText += d.toString('latin1');
    });
    child.on('error', fail);
    child.on('close', () => {
      clearTimeout(timer);
      const m = /hvemu: (\d+) instructions in/.exec(errText);
      done({ at, total, instructions: m ? Number(m[1]) : Number.NaN });
    });
  });
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f2 = (x: number) => (Number.isNaN(x) ? 'not reached' : x.toFixed(2));

async function main(): Promise<void> {
  if (!existsSync(join(DEBIAN, 'vmlinuz')) || !existsSync(join(DEBIAN, 'busybox')))
    skip('build/debian has no vmlinuz and busybox: run test/linux/fetch-debian.sh');
  if (!existsSync(CLI)) skip('dist/src/cli.js is missing: npm run build');
  const noQemu = args.includes('--no-qemu');
  if (!noQemu && spawnSync('qemu-system-x86_64', ['--version']).status !== 0)
    skip('qemu-system-x86_64 is not installed (or pass --no-qemu)');

  const dir = mkdtempSync(join(tmpdir(), 'hvemu-bench-linux-'));
  try {
    // Both get the vmlinux hvemu's loader takes out of the bzImage: QEMU boots it through the same
    // PVH entry, and neither pays for the decompression.
    const vmlinux = join(dir, 'vmlinux');
    writeFileSync(vmlinux, extractVmlinux(readFileSync(join(DEBIAN, 'vmlinuz'))));
    const initrd = join(dir, 'initrd');
    writeFileSync(initrd, buildInitramfs(readFileSync(join(DEBIAN, 'busybox')), { hotplug: false }));

    const hvemuArgs = [
      CLI,
      'run',
      vmlinux,
      ...['--arch', ARCH, '--cpus', String(CPUS), '--memory', MEMORY, '--append', APPEND],
      ...['--initrd', initrd, '--max-instructions', '10000000000', '--stats'],
    ];
    const qemuArgs = [
      ...['-M', 'pc', '-accel', 'tcg,thread=single', '-cpu', 'qemu64'],
      ...['-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot'],
      ...['-smp', String(CPUS), '-m', MEMORY, '-kernel', vmlinux, '-initrd', initrd, '-append', APPEND],
    ];
    const runs = { hvemu: [] as Run[], qemu: [] as Run[] };
    for (let r = 0; r < REPS; r++) {
      if (!noQemu) {
        process.stderr.write(`round ${r + 1}/${REPS}: QEMU TCG ...\n`);
        runs.qemu.push(await timed('qemu-system-x86_64', qemuArgs, 120_000));
      }
      process.stderr.write(`round ${r + 1}/${REPS}: hvemu ${ARCH} ...\n`);
      runs.hvemu.push(await timed(process.execPath, hvemuArgs, 1_800_000));
    }

    console.log(
      `\nDebian's kernel, ${CPUS} vCPUs, ${MEMORY}, "${APPEND}", PVH vmlinux; CPU seconds of each process (median of ${REPS})\n`,
    );
    console.log(`| marker | hvemu ${ARCH} | QEMU TCG | hvemu / QEMU |`);
    console.log('| --- | --- | --- | --- |');
    MARKERS.forEach((m, i) => {
      const h = median(runs.hvemu.map((x) => x.at[i]));
      const q = median(runs.qemu.map((x) => x.at[i]));
      console.log(
        `| ${m.name} | ${f2(h)} | ${f2(q)} | ${Number.isNaN(h / q) ? 'n/a' : `${(h / q).toFixed(1)}x`} |`,
      );
    });
    const ins = median(runs.hvemu.map((x) => x.instructions));
    const cpu = median(runs.hvemu.map((x) => x.total));
    if (!Number.isNaN(ins))
      console.log(
        `\nhvemu: ${(ins / 1e6).toFixed(0)}M guest instructions to userspace, ${(ins / cpu / 1e6).toFixed(1)} MIPS over its CPU time`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
