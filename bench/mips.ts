// Guest MIPS of hvemu on the peer workload (bench/peers/guest.asm), bare and as an SVM, VMX and
// SEV-ES guest of its own VMM, interpreter and tier 2, against Bochs, QEMU TCG and v86 in the same
// interleaved rounds; then the spin-loop rows (mips-spin.ts): see bench/README.md.
//   node dist/bench/mips.js          quick mode (about 1.5-2 minutes on a 2-core machine)
//   node dist/bench/mips.js --full   larger N, more repetitions (about 7 minutes)
//   (npm run bench -- --mips runs it after the other suites; --full runs it with --full)
// Options: --reps=N, --no-bochs, --no-qemu, --no-child (in-process runs only), --no-spin,
// --forms=bare,svm,vmx,sev-es (hvemu's forms in the child-process rounds; default all),
// --v86=DIR: also v86's JIT (npm package "v86", x86 to WebAssembly; not a dependency: DIR is where
// `npm install v86` was run), through bench/peers/run-v86.mjs; 32-bit only, v86 has no long mode.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBootSector } from '../src/vmm/bare-metal.js';
import { assemble } from './lib/assemble.js';
import { runTimed } from './lib/child-time.js';
import {
  Checksums,
  FORM_NAMES,
  FORMS,
  type Form,
  formTable,
  makeRow,
  peerChecksum,
  type Row,
  type Tier,
} from './lib/peer-table.js';
import { spinRows } from './mips-spin.js';

const IPI = 24; // guest instructions per iteration (guest.asm: exact, both paths)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..'); // dist/bench -> project root
const PEERS = join(ROOT, 'bench/peers');
const CLI = join(ROOT, 'dist/src/cli.js');
const MODES = [32, 64] as const;
type Mode = (typeof MODES)[number];

const args = process.argv.slice(2);
const full = args.includes('--full');
const optReps = args.find((a) => a.startsWith('--reps='));
// Iteration counts per runner, so that N2 - N1 more iterations take about a second of CPU or more
// (the difference must stand well above start-up jitter and the 10 ms of bash's `times`):
// hvemu tier 2 (~500-700 MIPS here in CPU time), in process and as a child: N1/N2;
const N1 = full ? 2_000_000 : 1_000_000;
const N2 = full ? 50_000_000 : 20_000_000;
// Bochs (~90 MIPS): the peers' own quick counts;
const BN1 = N1;
const BN2 = full ? 20_000_000 : 5_000_000;
// QEMU TCG (~1500 MIPS): the peers' N2 = 100M (about 2 s per large run here);
const QN1 = N1;
const QN2 = 100_000_000;
// hvemu's interpreter (tier 2 off, ~40-55 MIPS);
const ON1 = N1 / 4;
const ON2 = full ? 5_000_000 : 1_750_000;
// v86's JIT (~850 MIPS).
const VN1 = N1;
const VN2 = full ? QN2 : 40_000_000;
const REPS = optReps ? Number(optReps.slice(7)) : full ? 5 : 3;

function die(msg: string): never {
  console.error(`bench: FAILED: ${msg}`);
  process.exit(1);
}
const sh = (cmd: string, a: string[]) => spawnSync(cmd, a, { encoding: 'utf8' });
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mips = (n1: number, n2: number, t1: number, t2: number) => (IPI * (n2 - n1)) / (t2 - t1) / 1e6;
const formArg = args.find((a) => a.startsWith('--forms='));
const forms: Form[] = formArg
  ? formArg
      .slice(8)
      .split(',')
      .map((f) => {
        if (!(FORMS as readonly string[]).includes(f))
          die(`--forms: '${f}' is not one of ${FORMS.join(', ')}`);
        return f as Form;
      })
  : [...FORMS];
const label = (n: number) => (n % 1e6 ? `${n}` : `${n / 1e6}M`);
const f1 = (x: number) => (Number.isFinite(x) && x > 0 ? x.toFixed(1) : 'n/a');

// ---- the guest and its expected checksum
const ASM = join(PEERS, 'guest.asm');
const WORK = join(tmpdir(), `hvemu-bench-${process.pid}`);
mkdirSync(WORK, { recursive: true });
process.on('exit', () => rmSync(WORK, { recursive: true, force: true }));

function image(mode: Mode, n: number): string {
  const out = join(WORK, `guest${mode}-${n}.img`);
  const r = sh('nasm', [
    '-f',
    'bin',
    '-D',
    `ITERS=${n}`,
    ...(mode === 64 ? ['-D', 'LONGMODE'] : []),
    '-i',
    `${PEERS}/`,
    '-o',
    out,
    ASM,
  ]);
  if (r.error || r.status !== 0) die(`nasm failed: ${r.error?.message ?? r.stderr}`);
  return out;
}

const expected = peerChecksum;

/** Every run's checksum: against the model, and against every other run of the same N. */
const sums = new Checksums();
function check(what: string, out: string, exp: string, n: number, who: string): void {
  const got = /CKSUM=[0-9A-F]{8}/.exec(out)?.[0];
  if (got !== exp) die(`${what} printed '${got ?? out.trim().slice(0, 60)}', expected ${exp}`);
  sums.record(n, who, got);
}

// ---- the ways of running an image; each checks the checksum and returns wall and CPU seconds
interface Time {
  wall: number;
  cpu: number;
}
const imgs = new Map<string, { path: string; bytes: Uint8Array; exp: string }>();
const sevImgs = new Map<string, string>(); // `${mode}-${n}` -> the SEV-ES ROM (bench/guests/sev-peer.asm)
const insns = new Map<string, number>(); // instructions counted by hvemu, per image

function inProcess(mode: Mode, n: number): number {
  const im = imgs.get(`${mode}-${n}`)!;
  const t0 = performance.now();
  const r = runBootSector(im.bytes, { maxInstructions: 2 * IPI * n + 1e6 });
  const t = (performance.now() - t0) / 1e3;
  check(
    `in-process ${mode}-bit N=${n} (stop: ${r.stop}: ${r.message})`,
    r.output,
    im.exp,
    n,
    `hvemu in-process ${mode}`,
  );
  insns.set(`${mode}-${n}`, r.instructions);
  return t;
}

/** `hvemu run` with the form's options: the boot sector bare or in a VM, the SEV-ES ROM launched. */
const FORM_ARGS: Record<Form, string[]> = {
  bare: [],
  svm: ['--arch', 'svm'],
  vmx: ['--arch', 'vmx'],
  'sev-es': ['--sev-es'],
};
function hvemuChild(tier2: Tier, form: Form, mode: Mode, n: number): Time {
  const im = imgs.get(`${mode}-${n}`)!;
  const path = form === 'sev-es' ? sevImgs.get(`${mode}-${n}`)! : im.path;
  const r = runTimed(
    process.execPath,
    [CLI, 'run', path, ...FORM_ARGS[form], '--max-instructions', String(2 * IPI * n + 1e6)],
    {
      env: { ...process.env, HVEMU_TIER2: tier2 },
    },
  );
  // The guest writes each byte to port 0xE9 and to COM1; `hvemu run --console auto` (the default)
  // prints the first console it writes to, so stdout holds each byte once.
  const who = `hvemu ${form} tier2=${tier2}`;
  // As the other SEV-ES benches require of the launch (lib/guest-run.ts): the measurement verified.
  if (form === 'sev-es' && !/launch measurement \S+ \(matches/.test(r.stderr))
    die(`${who} ${mode}-bit N=${n}: the SEV-ES launch measurement did not verify [${r.stderr.trim()}]`);
  check(`${who} ${mode}-bit N=${n} [${r.stderr.trim()}]`, r.stdout, im.exp, n, `${who} ${mode}`);
  return r;
}

/**
 * Why Bochs cannot run the workload here ('' when it can): besides the program, bochsrc.txt needs
 * its VGA BIOS (Debian: a link to package vgabios, not pulled in by bochs) and its 'term' display
 * (package bochs-term), else Bochs stops before the guest and the bench would read no checksum.
 */
function bochsMissing(): string {
  if (args.includes('--no-bochs')) return '--no-bochs';
  if (sh('sh', ['-c', 'command -v bochs']).status)
    return '`bochs` is not on PATH (Debian: apt-get install bochs)';
  const share = process.env.BXSHARE ?? '/usr/share/bochs';
  if (!existsSync(join(share, 'VGABIOS-lgpl-latest')))
    return `${share}/VGABIOS-lgpl-latest is missing or a dangling link (Debian: apt-get install vgabios)`;
  const plugins = [
    '/usr/lib/x86_64-linux-gnu/bochs/plugins',
    '/usr/lib/bochs/plugins',
    '/usr/local/lib/bochs/plugins',
  ];
  if (!plugins.some((d) => existsSync(join(d, 'libbx_term_gui.so'))))
    return "Bochs's 'term' display is not installed (Debian: apt-get install bochs-term)";
  return '';
}
const bochsWhy = bochsMissing();
const bochsOk = bochsWhy === '';
function bochs(mode: Mode, n: number): Time {
  const im = imgs.get(`${mode}-${n}`)!;
  const serial = join(WORK, 'serial');
  rmSync(serial, { force: true });
  const env = {
    ...process.env,
    TERM: 'xterm',
    BENCH_IMG: im.path,
    BENCH_SERIAL: serial,
    BENCH_LOG: join(WORK, 'bochs.log'),
  };
  const r = runTimed(
    'bochs',
    ['-q', '-f', join(PEERS, 'bochsrc.txt'), '-rc', join(PEERS, 'bochs-continue.rc')],
    {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  check(
    `bochs ${mode}-bit N=${n}`,
    existsSync(serial) ? readFileSync(serial, 'latin1') : '',
    im.exp,
    n,
    `bochs ${mode}`,
  );
  return r;
}

// --v86=DIR: a directory where `npm install v86` was run, booted through bench/peers/run-v86.mjs;
// --v86=FILE.mjs: a runner script of one's own (node FILE IMAGE, with node_modules/v86 beside it).
const v86Arg = args.find((a) => a.startsWith('--v86='));
const v86Path = v86Arg ? resolve(v86Arg.slice(6)) : '';
const v86Dir = v86Path && existsSync(v86Path) && statSync(v86Path).isDirectory() ? v86Path : dirname(v86Path);
const v86Argv = (img: string) =>
  v86Dir === v86Path ? [join(PEERS, 'run-v86.mjs'), v86Dir, img] : [v86Path, img];
const v86Why = !v86Path
  ? 'no --v86=DIR (a directory where `npm install v86` was run)'
  : !existsSync(join(v86Dir, 'node_modules/v86/build/v86.wasm'))
    ? `${v86Dir}/node_modules/v86 is missing (npm install v86 there)`
    : '';
const v86Ok = v86Why === '';
const v86Version = v86Why
  ? undefined
  : JSON.parse(readFileSync(join(v86Dir, 'node_modules/v86/package.json'), 'utf8')).version;
/** v86 boots SeaBIOS, which loads the image from its disk; the checksum comes on COM1. */
function v86(mode: Mode, n: number): Time {
  const im = imgs.get(`${mode}-${n}`)!;
  const r = runTimed(process.execPath, v86Argv(im.path), { timeout: 600_000 });
  check(`v86 ${mode}-bit N=${n} [${r.stderr.trim()}]`, r.stdout, im.exp, n, `v86 ${mode}`);
  return r;
}

const qemuWhy = args.includes('--no-qemu')
  ? '--no-qemu'
  : args.includes('--no-child')
    ? '--no-child'
    : sh('sh', ['-c', 'command -v qemu-system-x86_64']).status
      ? '`qemu-system-x86_64` is not on PATH (Debian: apt-get install qemu-system-x86)'
      : '';
const qemuOk = !qemuWhy;
const qemuVersion = qemuOk
  ? sh('qemu-system-x86_64', ['--version'])
      .stdout.split('\n')[0]
      .replace(/^QEMU emulator version /, '')
  : undefined;
/** The guests' committed BIOS stub (guests/qemu/bios-stub.asm, built by guests/build.sh). */
const STUB = join(ROOT, 'guests/qemu/bios-stub.bin');
/** QEMU with no firmware: the BIOS stub jumps from the reset vector to
 * 0:7C00, where QEMU's generic loader put the image. The guest exits through isa-debug-exit
 * (status 1, not checked: the checksum on COM1 decides, as in run-peers.sh). */
function qemu(mode: Mode, n: number): Time {
  const im = imgs.get(`${mode}-${n}`)!;
  const serial = join(WORK, 'qemu-serial');
  rmSync(serial, { force: true });
  const r = runTimed(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-display',
      'none',
      '-nodefaults',
      '-no-reboot',
      '-m',
      '32',
      '-bios',
      STUB,
      '-device',
      `loader,file=${im.path},addr=0x7c00,force-raw=on`,
      '-serial',
      `file:${serial}`,
      '-debugcon',
      `file:${join(WORK, 'qemu-e9')}`,
      '-device',
      'isa-debug-exit,iobase=0xf4,iosize=0x04',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 },
  );
  const why = r.error ? ` [${r.error.message}]` : r.stderr.trim() ? ` [${r.stderr.trim()}]` : '';
  check(
    `qemu ${mode}-bit N=${n}${why}`,
    existsSync(serial) ? readFileSync(serial, 'latin1') : '',
    im.exp,
    n,
    `qemu ${mode}`,
  );
  return r;
}

// ---- measurement: alternate sizes (and runners), repeat, take medians
function row(
  runner: string,
  mode: Mode,
  n1: number,
  n2: number,
  t1: number[],
  t2: number[],
  form?: Form,
  tier?: Tier,
): Row {
  return makeRow(IPI, { runner, form, tier, mode, n1, n2, t1, t2 });
}
function show(r: Row): void {
  const ms = (xs: number[]) => `${(median(xs) * 1e3).toFixed(0)} ms`;
  const cpu = r.cpuMips ? `, cpu-time ${f1(r.cpuMips)}` : '';
  console.log(
    `  ${r.runner.padEnd(24)} ${r.mode}-bit ${f1(r.mips).padStart(7)} MIPS  (pairs ${f1(r.pairMin)}-${f1(r.pairMax)}${cpu}; median t(${label(r.n1)}) ${ms(r.t1)}, t(${label(r.n2)}) ${ms(r.t2)})`,
  );
}

/** Hash of dist/src: the child processes load it at each spawn, so a rebuild mid-bench mixes builds. */
function distHash(): string {
  const h = createHash('sha1');
  const files = readdirSync(join(ROOT, 'dist/src'), { recursive: true, encoding: 'utf8' });
  for (const f of files.filter((f) => f.endsWith('.js')).sort())
    h.update(f).update(readFileSync(join(ROOT, 'dist/src', f)));
  return h.digest('hex').slice(0, 12);
}
const dist0 = distHash();
const git = sh('git', ['-C', ROOT, 'describe', '--always', '--dirty']).stdout.trim() || 'unknown';

const started = new Date();
const load0 = loadavg();
console.log(
  `hvemu guest-MIPS bench (${full ? 'full' : 'quick'}): N1=${N1}, N2=${N2} (hvemu tier 2), N1=${ON1}, N2=${ON2} (hvemu interpreter)${bochsOk ? `, N1=${BN1}, N2=${BN2} (Bochs)` : ''}${qemuOk ? `, N1=${QN1}, N2=${QN2} (QEMU)` : ''}${v86Ok ? `, N1=${VN1}, N2=${VN2} (v86)` : ''}; ${REPS} repetitions, ${IPI} instructions/iteration; hvemu forms: ${forms.join(', ')}`,
);
console.log(
  `date ${started.toISOString()}; node ${process.version} (V8 ${process.versions.v8}); ${cpus().length} x ${cpus()[0]?.model}`,
);
console.log(`hvemu ${git}, dist/src ${dist0}`);
console.log(`load average at start: ${load0.map((x) => x.toFixed(2)).join(' ')}`);
console.log(`guest: ${ASM}`);
if (qemuOk) console.log(`qemu-system-x86_64 ${qemuVersion}`);
if (v86Ok) console.log(`v86 ${v86Version} (${v86Path})`);

const sizes = [
  ...new Set([
    N1,
    N2,
    ON1,
    ON2,
    ...(bochsOk ? [BN1, BN2] : []),
    ...(qemuOk ? [QN1, QN2] : []),
    ...(v86Ok ? [VN1, VN2] : []),
  ]),
];
const exps = new Map(sizes.map((n) => [n, expected(n)]));
for (const mode of MODES)
  for (const n of sizes) {
    const path = image(mode, n);
    imgs.set(`${mode}-${n}`, { path, bytes: readFileSync(path), exp: exps.get(n)! });
    if (forms.includes('sev-es') && [N1, N2, ON1, ON2].includes(n)) {
      const sev = join(WORK, `sev-peer${mode}-${n}.rom`);
      writeFileSync(sev, assemble('sev-peer', { ITERS: n, ...(mode === 64 ? { LONGMODE: true } : {}) }));
      sevImgs.set(`${mode}-${n}`, sev);
    }
  }

const rows: Row[] = [];
const cpuRows: Row[] = []; // the child-process rows again, from CPU times
const inTier = process.env.HVEMU_TIER2 ?? 'on';
console.log(`\nin-process runBootSector (this process, HVEMU_TIER2=${inTier}; run time only, no start-up):`);
for (const mode of MODES) {
  inProcess(mode, N1); // warm-up: V8 compiles the interpreter once; not counted
  const t1: number[] = [];
  const t2: number[] = [];
  let cpu1 = 0;
  let cpu2 = 0;
  for (let i = 0; i < REPS; i++) {
    for (const [n, ts] of [
      [N1, t1],
      [N2, t2],
    ] as const) {
      const c0 = process.cpuUsage();
      ts.push(inProcess(mode, n));
      const c = process.cpuUsage(c0);
      if (n === N1) cpu1 += (c.user + c.system) / 1e6;
      else cpu2 += (c.user + c.system) / 1e6;
    }
  }
  // Exact up to the hex printing: each digit A-F costs one more instruction than 0-9 (at most 8).
  const d = insns.get(`${mode}-${N2}`)! - insns.get(`${mode}-${N1}`)!;
  if (Math.abs(d - IPI * (N2 - N1)) > 8)
    die(
      `${mode}-bit: hvemu counted ${d} instructions for ${N2 - N1} more iterations, not ${IPI * (N2 - N1)}`,
    );
  const r = row('hvemu in-process', mode, N1, N2, t1, t2);
  r.cpuMips = mips(N1, N2, cpu1 / REPS, cpu2 / REPS);
  rows.push(r);
  show(r);
}

if (!args.includes('--no-child')) {
  // name, run, small and large iteration counts, and for hvemu its form and tier
  const runners: [string, (m: Mode, n: number) => Time, number, number, Form?, Tier?][] = [];
  for (const form of forms)
    for (const tier of ['off', 'on'] as const)
      runners.push([
        `hvemu ${form} tier2=${tier}`,
        (m, n) => hvemuChild(tier, form, m, n),
        tier === 'off' ? ON1 : N1,
        tier === 'off' ? ON2 : N2,
        form,
        tier,
      ]);
  if (bochsOk) runners.push(['bochs', bochs, BN1, BN2]);
  if (qemuOk) runners.push(['qemu tcg (no BIOS)', qemu, QN1, QN2]);
  if (v86Ok) runners.push(['v86 jit', v86, VN1, VN2]);
  console.log(`\nwhole processes, wall and CPU time, interleaved (${runners.map((r) => r[0]).join(' / ')}):`);
  if (!bochsOk) console.log(`  Bochs NOT measured: ${bochsWhy}; no hvemu/bochs ratio.`);
  if (!qemuOk) console.log(`  QEMU NOT measured: ${qemuWhy}; no hvemu/qemu ratio.`);
  if (!v86Ok) console.log(`  v86 NOT measured: ${v86Why}; no hvemu/v86 ratio.`);
  const T = new Map<string, Time[]>();
  for (let i = 0; i < REPS; i++)
    for (const mode of MODES)
      for (const large of [false, true])
        for (const [name, run, n1, n2] of runners) {
          if (name === 'v86 jit' && mode === 64) continue; // no long mode in v86
          const n = large ? n2 : n1;
          const k = `${name}|${mode}|${n}`;
          T.set(k, [...(T.get(k) ?? []), run(mode, n)]);
        }
  for (const mode of MODES)
    for (const [name, , n1, n2, form, tier] of runners) {
      if (name === 'v86 jit' && mode === 64) continue;
      const a = T.get(`${name}|${mode}|${n1}`)!;
      const b = T.get(`${name}|${mode}|${n2}`)!;
      const wall = (ts: Time[]) => ts.map((t) => t.wall);
      const cpu = (ts: Time[]) => ts.map((t) => t.cpu);
      const r = row(name, mode, n1, n2, wall(a), wall(b), form, tier);
      const c = row(name, mode, n1, n2, cpu(a), cpu(b), form, tier);
      r.cpuMips = c.mips;
      rows.push(r);
      cpuRows.push(c);
      show(r);
    }
  const peers = [
    ...(bochsOk ? [{ name: 'Bochs', runner: 'bochs' }] : []),
    ...(qemuOk ? [{ name: 'QEMU', runner: 'qemu tcg (no BIOS)' }] : []),
    ...(v86Ok ? [{ name: 'v86', runner: 'v86 jit' }] : []),
  ];
  console.log('\nCPU time (user + system of each process: what it cost, whatever else the machine ran):');
  for (const mode of MODES) console.log(`\n${formTable(cpuRows, mode, peers)}`);
  console.log('\nwall time (what one waits; moves with the load):');
  for (const mode of MODES) console.log(`\n${formTable(rows, mode, peers)}`);
  console.log(
    `\n(${forms.map((f) => FORM_NAMES[f]).join(', ')}: \`hvemu run\` ${forms.map((f) => FORM_ARGS[f].join(' ') || '(bare)').join(' | ')}; ratios of MIPS from the same rounds)`,
  );
}

// Every run of one N printed the same checksum (each was also checked against the model above).
const disagree = sums.disagreements();
if (disagree.length) die(`the runs disagree on the checksum: ${disagree.join(' / ')}`);
console.log(
  `\nchecksums agree: ${sums
    .agreed()
    .map(([n, c]) => `N=${label(n)} ${c.slice(6)} (${sums.runners(n)} runners x modes)`)
    .join(', ')}`,
);

const spin = args.includes('--no-spin')
  ? []
  : await spinRows({
      full,
      reps: REPS,
      work: WORK,
      cli: CLI,
      peerBare: cpuRows.find((r) => r.mode === 32 && r.form === 'bare' && r.tier === 'on')?.mips,
      die,
    });

const load1 = loadavg();
const dist1 = distHash();
if (dist1 !== dist0)
  console.log(`WARNING: dist/src changed during the bench (${dist0} -> ${dist1}): figures mix two builds`);
const secs = (Date.now() - started.getTime()) / 1e3;
console.log(
  `\nload average at end: ${load1.map((x) => x.toFixed(2)).join(' ')}; bench took ${secs.toFixed(0)} s`,
);
const outDir = join(ROOT, 'bench/out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `mips-${started.toISOString().replace(/:/g, '-').replace(/\..*/, '')}.json`);
const meta = {
  date: started.toISOString(),
  git,
  dist: dist0,
  distChanged: dist1 !== dist0,
  node: process.version,
  v8: process.versions.v8,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
};
const setup = {
  full,
  N1,
  N2,
  reps: REPS,
  instructionsPerIteration: IPI,
  guest: ASM,
  inProcessTier2: inTier,
  bochs: bochsOk ? true : bochsWhy,
  qemu: qemuOk ? { N1: QN1, N2: QN2, version: qemuVersion, variant: 'no BIOS (bios-stub.asm)' } : qemuWhy,
  v86: v86Ok ? { N1: VN1, N2: VN2, path: v86Path, version: v86Version, modes: [32] } : v86Why,
  interpreter: { N1: ON1, N2: ON2 },
  bochsN: { N1: BN1, N2: BN2 },
  forms,
};
writeFileSync(
  file,
  `${JSON.stringify({ ...meta, ...setup, loadStart: load0, loadEnd: load1, seconds: secs, rows, cpuRows, spin, checksums: sums.agreed() }, null, 1)}\n`,
);
console.log(`wrote ${file}`);
