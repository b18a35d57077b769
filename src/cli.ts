#!/usr/bin/env node
// hvemu command line. `hvemu run <image>` boots a raw boot-sector image on a bare processor or as a
// VM, a Multiboot kernel as a VM, or a firmware image as an SEV-ES guest; `hvemu inspect <file>`
// says what a file is. Every option of `run` is in RUN_FLAGS below, with its default.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  EXIT_BAD_INPUT,
  EXIT_HVEMU_BUG,
  EXIT_SIGINT,
  EXIT_SIGTERM,
  EXIT_STATUS_HELP,
  EXIT_STATUS_MODES,
  type ExitStatusMode,
  exitStatusFor,
} from './cli/exit-status.js';
import { type GdbRelay, startGdbRelay } from './cli/gdb-relay.js';
import { checkDiskFile, checkImageKind, isDiskFile, RefusedFile, readImageFile } from './cli/preflight.js';
import { qemuDiskSpellings, translateQemuArgs } from './cli/qemu-spellings.js';
import type { ConsoleChoice } from './cli/run-job.js';
import { formatSize, parseSize } from './cli/sizes.js';
import { supervise } from './cli/supervise.js';
import { parseCpuList } from './cli/trace-output.js';
import { inspectImage } from './inspect.js';
import { isLinuxKernel } from './vm-boot.js';
import { hasMultibootMagic } from './vmm/loaders/multiboot.js';
import { TRACE_TOPICS } from './vmm/trace.js';

/**
 * --trace topics, each printed as one line per event (docs/tracing.md). A new topic is one entry in
 * vmm/trace.ts plus the VMM's trace() calls that use it.
 */
const TRACE_CATEGORIES: Record<string, string> = TRACE_TOPICS;

interface Flag {
  type: 'string' | 'boolean';
  /** May be given more than once (--disk A --disk B). */
  multiple?: boolean;
  /** What the value looks like in the help (string flags). */
  value?: string;
  /** The default, as the help prints it; string flags with a fixed default are parsed from it. */
  default: string;
  help: string;
}

/** Every option of `hvemu run`, with its default: the one list (parsing and help come from it). */
const RUN_FLAGS = {
  arch: {
    type: 'string',
    value: 'none|svm|vmx',
    default: 'none for a boot sector; svm for a kernel, a disk and with --sev-es',
    help: 'the bare processor (none), or a VM through AMD SVM (VMRUN/#VMEXIT, nested paging) or Intel VMX (VM entry/VM exit, EPT); in a VM the debug ports are userspace I/O',
  },
  cpus: {
    type: 'string',
    value: 'N',
    default: '1',
    help: 'vCPUs, 1 to 1024 (with --arch svm|vmx): vCPU 0 boots, the others wait for INIT-SIPI-SIPI; more than 255 need a guest in x2APIC mode. QEMU: -smp N',
  },
  memory: {
    type: 'string',
    value: 'SIZE',
    default: '64M',
    help: 'guest RAM, 1M to 3G: MiB, or with a suffix K, M, G (64M, 2G). QEMU: -m',
  },
  'max-instructions': {
    type: 'string',
    value: 'N',
    default: '500000000',
    help: 'stop after N guest instructions (exit status 4)',
  },
  vendor: {
    type: 'string',
    value: 'amd|intel',
    default: 'amd; intel with --arch vmx',
    help: 'the guest CPU vendor (CPUID)',
  },
  'sev-es': {
    type: 'boolean',
    default: 'off',
    help: "run a firmware image as an SEV-ES guest (implies --arch svm): mapped to end at 4 GiB, launched and measured by the secure processor; the BSP starts at F000:FFF0, the APs at the image's SEV-ES reset block (OVMF GUIDed table); registers and private memory encrypted, the GHCB protocol, AP Reset Hold. With a Linux kernel (a bzImage or vmlinux): the kernel entered through its 64-bit boot protocol with --append and --initrd, everything in RAM at its first instruction launched and measured",
  },
  bios: {
    type: 'string',
    value: 'FILE',
    default: '(none)',
    help: "system firmware (OVMF.fd, OVMF_CODE.fd) as a VM: mapped to end at 4 GiB, the BSP at the reset vector F000:FFF0, the APs waiting for INIT-SIPI-SIPI; the PC around it as QEMU's pc machine (i440FX/PIIX4 with the ACPI PM timer, fw_cfg). QEMU: -bios",
  },
  pflash: {
    type: 'string',
    multiple: true,
    value: 'FILE',
    default: '(none)',
    help: "QEMU's pflash pair: the first is the firmware code (unit 0, mapped to end at 4 GiB, as --bios), the second the variable store (unit 1, a CFI flash right below it; OVMF_VARS.fd). With --sev-es the code is the launched image. QEMU: -drive if=pflash,unit=N,file=FILE",
  },
  'pflash-write': {
    type: 'boolean',
    default: 'off: the variable store is a copy in memory',
    help: "the guest's programs and erases of the variable store (the second --pflash) go to its file",
  },
  debugcon: {
    type: 'string',
    value: 'FILE',
    default: '(none: port 0x402 joins port 0xE9 on stdout)',
    help: "write port 0x402, the firmware debug console (OVMF's DEBUG messages), to FILE. QEMU: -debugcon file:FILE -global isa-debugcon.iobase=0x402",
  },
  kernel: {
    type: 'string',
    value: 'FILE',
    default: '(the image argument)',
    help: "the image, as QEMU's -kernel names it: a Multiboot kernel, a Linux bzImage or a vmlinux with a PVH entry. QEMU: -kernel",
  },
  append: {
    type: 'string',
    value: 'CMDLINE',
    default: '(none)',
    help: "a kernel's command line: a Linux kernel gets CMDLINE, a Multiboot kernel its file name, a space and CMDLINE (as QEMU's, the space even without -append). QEMU: -append",
  },
  initrd: {
    type: 'string',
    value: 'FILE',
    default: '(none)',
    help: "a Linux kernel's initrd (PVH module 0), or a Multiboot kernel's modules, 'file args,file args'. QEMU: -initrd",
  },
  disk: {
    type: 'string',
    multiple: true,
    value: 'FILE',
    default: '(none)',
    help: 'a hard disk on the primary ATA channel (first: master, second: slave); the first boots when no <image> is given. An image of more than one sector whose first ends in 55 AA is a disk too. QEMU: -hda, -hdb',
  },
  'disk-write': {
    type: 'boolean',
    default: 'off: writes go to a copy in memory',
    help: "the guest's disk writes go to the files",
  },
  input: {
    type: 'string',
    value: 'com1|keyboard|none',
    default: 'com1',
    help: "where standard input goes, in a VM: COM1's receiver, or the 8042 as scan codes (US layout); a terminal sends a line at each Enter; a socket is read with blocking reads (--input none if it stays silent)",
  },
  vga: {
    type: 'string',
    value: 'FILE',
    default: '(none)',
    help: 'write the VGA text screen (B8000h) to FILE as text when the run ends',
  },
  'vga-console': {
    type: 'boolean',
    default: 'off',
    help: 'print each finished VGA text row on stdout (a row is finished when the cursor moves below it, or a row below it gets text; scrolling repeats nothing)',
  },
  console: {
    type: 'string',
    value: 'auto|both|e9|com1',
    default: 'auto',
    help: 'what goes to stdout: port 0xE9, COM1 or both; auto gives stdout to whichever of the two the guest writes to first',
  },
  // --trace and the options that shape it (docs/tracing.md), together.
  trace: {
    type: 'string',
    value: 'TOPICS',
    default: '(none)',
    help: `comma-separated, or all (every topic but insn); with --arch svm|vmx, on stderr (--trace-file): ${Object.entries(
      TRACE_CATEGORIES,
    )
      .map(([name, what]) => `${name}: ${what}`)
      .join('; ')}. QEMU: -d`,
  },
  'trace-file': {
    type: 'string',
    value: 'FILE',
    default: '(none: stderr)',
    help: 'write the --trace lines to FILE instead of stderr',
  },
  'trace-cpus': {
    type: 'string',
    value: 'LIST',
    default: '(all)',
    help: 'trace only these vCPUs, e.g. 0,2 or 1-3 (lines about the whole machine are kept)',
  },
  perfetto: {
    type: 'string',
    value: 'FILE',
    default: '(none)',
    help: 'write a timeline to FILE as Chrome trace-event JSON (open it in ui.perfetto.dev): a track per vCPU with its MP states and guest time, VM exits and IPIs, flows from each IPI to its target and from AP Reset Hold to its release',
  },
  gdb: {
    type: 'string',
    value: 'PORT',
    default: '(none)',
    help: 'serve the GDB remote protocol on 127.0.0.1:PORT (0: any free port, printed on stderr), with --arch svm|vmx: vCPUs are threads; registers, memory, breakpoints, single step, Ctrl-C; an SEV-ES vCPU refuses with the reason. gdb stops the VM when it attaches (docs/gdb.md). QEMU: -gdb tcp::PORT',
  },
  'gdb-wait': {
    type: 'boolean',
    default: 'off',
    help: 'with --gdb: hold the VM before its first instruction until gdb attaches and continues. QEMU: -S',
  },
  'exit-status': {
    type: 'string',
    value: 'default|qemu',
    default: 'default',
    help: "the status for a guest that writes V to port 0xF4: default 0 for V = 0, else (V << 1) | 1; qemu (V << 1) | 1 always, as QEMU's isa-debug-exit",
  },
  rtc: {
    type: 'string',
    value: 'fixed|host',
    default: 'fixed',
    help: "the CMOS clock's start, in a VM: fixed is 2025-01-01 00:00:00 UTC, so every run is the same; host is the host's time now. QEMU: -rtc base=utc is host",
  },
  'debug-ud': {
    type: 'boolean',
    default: 'off',
    help: 'report every undefined opcode (#UD) on stderr with its bytes',
  },
  'dump-regions': {
    type: 'boolean',
    default: 'off',
    help: 'print the JavaScript of every region tier 2 compiles on stderr (guest registers as eax..r15d, the lazy-flag record as lazyOp.., one comment per guest instruction); same as HVEMU_DUMP_REGIONS=1',
  },
  threads: {
    type: 'boolean',
    default: 'off',
    help: 'run each vCPU on its own host thread (with --arch svm|vmx; not with --sev-es, --gdb, --trace or --perfetto): real parallelism, not reproducible; the default scheduler is deterministic (docs/scheduling.md)',
  },
  stats: {
    type: 'boolean',
    default: 'off',
    help: 'print instructions executed and MIPS on stderr at the end (Ctrl-C too)',
  },
  help: { type: 'boolean', default: 'off', help: 'this text' },
} satisfies Record<string, Flag>;

type RunFlag = keyof typeof RUN_FLAGS;

function flagHelp(): string {
  return Object.entries(RUN_FLAGS as Record<string, Flag>)
    .map(([name, f]) => {
      const head = `  --${name}${f.value ? ` ${f.value}` : ''}`;
      return `${head}\n${wrap(`${f.help} (default: ${f.default})`, 6)}`;
    })
    .join('\n');
}

function wrap(text: string, indent: number, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => ' '.repeat(indent) + l).join('\n');
}

const VERSION = (): string =>
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;

const MAIN_USAGE = `usage: hvemu run <image> [options]    run a guest (hvemu run --help)
       hvemu inspect <file>           say what a file is (hvemu inspect --help)
       hvemu --version`;

const MAIN_HELP = () => `${MAIN_USAGE}

options of run, each with its default (hvemu run --help says what run does):
${flagHelp()}`;

const RUN_USAGE = () => `usage: hvemu run <image> [options]

Runs a raw boot-sector image, a Multiboot (version 1) kernel, a Linux kernel, system firmware
(--bios, --pflash: OVMF as QEMU's pc machine runs it) or, with --sev-es, a firmware image or a
Linux kernel as an SEV-ES guest.
A boot sector is loaded whole at 0x7C00 and started in real mode at 0000:7C00 with DL = 0x80; there
are no BIOS services. An image with the Multiboot magic in its first 8 KiB is loaded as QEMU's
-kernel loads it and entered in 32-bit protected mode with EAX = 0x2BADB002, as a VM. VMs have a PC
around them: 8259 pair, 8254 PIT, CMOS/RTC, I/O APIC, COM1 (16550), the MP and ACPI tables. Bytes
written to COM1 and to port 0xE9 go to stdout (--console). Files that are plainly not guests (text,
ELF programs, SEV-ES firmware without --sev-es) are refused before anything runs. Ctrl-C stops the
run and says where each vCPU was.

options:
${flagHelp()}

QEMU's spellings are taken as their hvemu twins: -m (--memory), -smp (--cpus), -kernel, -append,
-initrd, -hda/-hdb and -drive file=F (--disk), -d in_asm,int,cpu_reset (--trace insn,irq,mp), -D
(--trace-file), -s/-gdb (--gdb), -bios (--bios), -drive if=pflash (--pflash) and -debugcon file:F
(--debugcon); its other options get a one-line answer naming what hvemu has instead.

${EXIT_STATUS_HELP}`;

const INSPECT_USAGE = `usage: hvemu inspect <file>

Says what a file is, as each consumer would see it: a boot sector (the 55 AA signature), a Multiboot
v1 kernel (header, flags, checksum, a.out kludge), an ELF file, a firmware image with an OVMF GUIDed
table (each entry; the SEV-ES reset block decoded) and its reset vector, or text. Nothing runs.
Exit status 0, or ${EXIT_BAD_INPUT} when the file cannot be read.`;

function fail(msg: string): never {
  process.stderr.write(`hvemu: ${msg}\n`);
  process.exit(EXIT_BAD_INPUT);
}

const say = (line: string) => process.stderr.write(`hvemu: ${line}\n`);
const wantsHelp = (args: string[]) => args.some((a) => a === '--help' || a === '-h');

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    process.stdout.write(`${cmd === undefined ? MAIN_USAGE : MAIN_HELP()}\n`);
    return;
  }
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`hvemu ${VERSION()}\n`);
    return;
  }
  if (cmd === 'help') {
    process.stdout.write(
      `${rest[0] === 'run' ? RUN_USAGE() : rest[0] === 'inspect' ? INSPECT_USAGE : MAIN_USAGE}\n`,
    );
    return;
  }
  if (cmd === 'inspect') return inspect(rest);
  if (cmd === 'run') return run(rest);
  fail(`unknown command '${cmd}'\n${MAIN_USAGE}`);
}

/** Whether `hvemu run` has this option ("--gdb"): QEMU spellings translate only to options that exist. */
const knownRunOption = (option: string): boolean => Object.hasOwn(RUN_FLAGS, option.replace(/^--/, ''));

function parseRunArgs(args: string[]) {
  let q: ReturnType<typeof qemuDiskSpellings>;
  try {
    q = qemuDiskSpellings(args, knownRunOption);
  } catch (e) {
    fail((e as Error).message);
  }
  const t = translateQemuArgs(q.args, knownRunOption);
  if ('error' in t) fail(t.error);
  const options = Object.fromEntries(
    Object.entries(RUN_FLAGS as Record<string, Flag>).map(([name, f]) => [
      name,
      { type: f.type, multiple: f.multiple === true },
    ]),
  ) as Record<RunFlag, { type: 'string' | 'boolean'; multiple: boolean }>;
  try {
    return {
      ...parseArgs({ args: t.args, allowPositionals: true, strict: true, options }),
      qemuDisks: q.disks,
    };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const opt = /'([^']+)'/.exec(err.message)?.[1] ?? '?';
      fail(`unknown option ${opt} (\`hvemu run --help\` lists every option)`);
    }
    fail(`${err.message} (\`hvemu run --help\` lists every option)`);
  }
}

/** A whole-number option, 1 to `max`; the error names the option and the range. */
function whole(v: string | undefined, name: RunFlag, max = Number.MAX_SAFE_INTEGER): number {
  const text = v ?? RUN_FLAGS[name].default;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0 || n > max)
    fail(`--${name} takes a positive whole number from 1 to ${max}, not '${text}'`);
  return n;
}

function oneOf<T extends string>(v: string | undefined, name: RunFlag, choices: readonly T[]): T {
  const text = v ?? RUN_FLAGS[name].default;
  if (!(choices as readonly string[]).includes(text))
    fail(`--${name} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, not '${text}'`);
  return text as T;
}

const MAX_MEMORY = 3 * 2 ** 30;
/** Larger files are refused unread: no guest hvemu runs is bigger than its RAM or a 16 MiB firmware. */
const imageLimit = (memoryBytes: number) => Math.max(memoryBytes, 16 * 2 ** 20);

async function run(args: string[]): Promise<void> {
  if (wantsHelp(args)) {
    process.stdout.write(`${RUN_USAGE()}\n`);
    return;
  }
  const { values, positionals, qemuDisks } = parseRunArgs(args);
  const images = [...positionals, ...(values.kernel !== undefined ? [values.kernel as string] : [])];
  const diskPaths = Array.from(qemuDisks); // dense: a lone -hdb leaves slot 0 undefined, not a hole
  for (const p of (values.disk as string[] | undefined) ?? []) {
    const free = diskPaths.indexOf(undefined);
    if (free >= 0) diskPaths[free] = p;
    else diskPaths.push(p);
  }
  const str = (name: RunFlag) => values[name] as string | undefined;
  const firmwareGiven = str('bios') !== undefined || values.pflash !== undefined;
  if (images.length > 1 || (images.length === 0 && diskPaths.length === 0 && !firmwareGiven))
    fail('run takes one image file (or --disk, --bios, --pflash) (`hvemu run --help`)');

  const maxInstructions = whole(str('max-instructions'), 'max-instructions');
  const memory = parseSize(str('memory') ?? RUN_FLAGS.memory.default);
  if (typeof memory !== 'number') fail(`--memory: ${memory.error}`);
  if (memory < 2 ** 20 || memory > MAX_MEMORY || memory % 4096 !== 0)
    fail(`--memory must be whole 4 KiB pages from 1M to 3G, not ${formatSize(memory)}`);
  const sevEs = values['sev-es'] === true;
  const console = oneOf<ConsoleChoice>(str('console'), 'console', ['auto', 'both', 'e9', 'com1']);
  const exitMode = oneOf<ExitStatusMode>(str('exit-status'), 'exit-status', EXIT_STATUS_MODES);
  const rtc = oneOf(str('rtc'), 'rtc', ['fixed', 'host'] as const);

  // Firmware: --bios FILE, or the pflash pair (code, then variables).
  const pflash = (values.pflash as string[] | undefined) ?? [];
  const bios = str('bios');
  if (pflash.length > 2)
    fail(`--pflash takes the code and the variable store (QEMU's units 0 and 1), not ${pflash.length} files`);
  if (bios !== undefined && pflash.length > 0)
    fail('--bios and --pflash both name the firmware: give --bios FILE, or --pflash CODE [--pflash VARS]');
  const firmwarePath = bios ?? pflash[0];
  if (
    firmwarePath !== undefined &&
    (images.length > 0 || diskPaths.length > 0) &&
    !(sevEs && images.length === 0)
  )
    fail(
      `the firmware (${firmwarePath}) is what boots: give no other image${sevEs ? ' (with --sev-es, the firmware is the first --pflash)' : ''}`,
    );
  if (firmwarePath !== undefined && images.length === 0) images.push(firmwarePath);
  if (values['pflash-write'] === true && pflash.length < 2)
    fail('--pflash-write writes the variable store, the second --pflash: there is none');

  let path = images[0] ?? diskPaths.find((p) => p !== undefined) ?? '';
  let image: Uint8Array = new Uint8Array(0);
  let linux = false;
  let initrd: Uint8Array | undefined;
  let vars: Uint8Array | undefined;
  const modules: { name: string; data: Uint8Array }[] = [];
  try {
    if (images.length === 1) {
      // A disk given as the image is the boot disk, ahead of any --disk; it is not read whole.
      if (firmwarePath !== undefined) {
        // Firmware is taken as given: its size is checked against the flash layout when it is mapped.
        image = readImageFile(path, imageLimit(memory), '16 MiB for firmware');
        if (pflash.length === 2) vars = readImageFile(pflash[1], imageLimit(memory), '16 MiB for firmware');
      } else if (isDiskFile(path)) diskPaths.unshift(path);
      else {
        image = readImageFile(path, imageLimit(memory), "the guest's RAM, or 16 MiB for firmware");
        linux = isLinuxKernel(image);
        checkImageKind(image, path, { sevEs, linux });
      }
    }
    for (const d of diskPaths) if (d !== undefined) checkDiskFile(d);
    // -initrd: a Linux kernel's initrd is one file; a Multiboot kernel's are modules, "file args,...".
    const i = str('initrd');
    if (i !== undefined && linux) initrd = readImageFile(i, memory, "the guest's RAM");
    else
      for (const spec of (i ?? '').split(',').filter((x) => x !== ''))
        modules.push({ name: spec, data: readImageFile(spec.split(' ')[0], memory, "the guest's RAM") });
  } catch (e) {
    if (e instanceof RefusedFile) fail(e.message);
    throw e;
  }
  if (diskPaths.length > 2)
    fail(`the primary ATA channel takes two disks (master and slave), not ${diskPaths.length}`);
  const firmware = firmwarePath !== undefined && !sevEs;
  const diskBoot = image.length === 0 && firmwarePath === undefined;
  if (diskBoot) path = diskPaths.find((p) => p !== undefined) ?? path;
  const multiboot = !diskBoot && !firmware && !linux && hasMultibootMagic(image);
  const kernel = linux || multiboot;
  if (values.kernel !== undefined && !kernel)
    fail(
      `--kernel (QEMU's -kernel) takes a Multiboot or Linux kernel; ${path} is neither: run it as \`hvemu run ${path}\``,
    );
  const append = str('append');
  if ((append !== undefined || str('initrd') !== undefined) && !kernel)
    fail(`--append and --initrd are for a Multiboot or Linux kernel (QEMU -kernel); ${path} is neither`);

  const disks = diskPaths.length > 0;
  const arch = oneOf(str('arch') ?? (kernel || sevEs || disks || firmware ? 'svm' : 'none'), 'arch', [
    'none',
    'svm',
    'vmx',
  ] as const);
  if (sevEs && arch !== 'svm') fail('--sev-es runs on AMD SVM: use --arch svm (or leave --arch out)');
  if (kernel && arch === 'none')
    fail(`${path} is a ${linux ? 'Linux' : 'Multiboot'} kernel, which runs as a VM: use --arch svm or vmx`);
  if (firmware && arch === 'none')
    fail(`${path} is system firmware, which runs as a VM on the PC platform: use --arch svm or vmx`);
  if (disks && arch === 'none')
    fail('disks are on the PC platform, which runs as a VM: use --arch svm or vmx');
  if (disks && sevEs) fail('--sev-es boots a firmware image, not a disk');
  const input = oneOf(str('input'), 'input', ['com1', 'keyboard', 'none'] as const);
  const cpus = whole(str('cpus'), 'cpus', 1024);
  if (cpus > 1 && arch === 'none')
    fail('--cpus above 1 needs --arch svm or vmx (the bare processor is one CPU)');
  if (cpus > 1024) fail('--cpus takes at most 1024');
  let trace = (str('trace') ?? '').split(',').filter((x) => x !== '');
  // all: every topic but insn (it single-steps the guest), which is added only by name.
  if (trace.includes('all'))
    trace = Object.keys(TRACE_CATEGORIES).filter((t) => t !== 'insn' || trace.includes('insn'));
  for (const c of trace)
    if (!(c in TRACE_CATEGORIES))
      fail(`--trace takes ${Object.keys(TRACE_CATEGORIES).join(', ')} or all, not '${c}'`);
  const perfetto = str('perfetto') ?? null;
  if ((trace.length > 0 || perfetto !== null) && arch === 'none')
    fail(
      `${trace.length > 0 ? '--trace' : '--perfetto'} follows the VMM (VM exits, IPIs, MP states); with --arch none there is no VMM: add --arch svm or --arch vmx`,
    );
  if (trace.length === 0 && (str('trace-file') !== undefined || str('trace-cpus') !== undefined))
    fail('--trace-file and --trace-cpus shape the --trace output: add --trace TOPICS');
  let traceCpus: number[] | null = null;
  const cpuList = str('trace-cpus');
  if (cpuList !== undefined) {
    const parsed = parseCpuList(cpuList, cpus);
    if (!(parsed instanceof Set)) fail(`--trace-cpus ${cpuList}: ${parsed.error}`);
    traceCpus = [...parsed];
  }
  const gdbText = str('gdb');
  const gdbPort = gdbText === undefined ? undefined : Number(gdbText);
  if (gdbText !== undefined && !(/^\d+$/.test(gdbText) && Number(gdbText) <= 65535))
    fail(`--gdb takes a TCP port, 0 to 65535 (0: any free one), not '${gdbText}'`);
  if (gdbPort !== undefined && arch === 'none')
    fail(
      "--gdb serves the VMM's view of its vCPUs; with --arch none there is no VMM: add --arch svm or --arch vmx",
    );
  if (values['gdb-wait'] && gdbPort === undefined) fail('--gdb-wait needs --gdb PORT');
  let gdb: GdbRelay | undefined;
  if (gdbPort !== undefined) {
    try {
      gdb = await startGdbRelay(gdbPort, (port) =>
        say(`gdb: listening on 127.0.0.1:${port} (gdb -ex 'target remote :${port}')`),
      );
    } catch (e) {
      fail(`--gdb ${gdbPort}: cannot listen on 127.0.0.1:${gdbPort}: ${(e as Error).message}`);
    }
  }
  const vendor = oneOf(str('vendor') ?? (arch === 'vmx' ? 'intel' : 'amd'), 'vendor', [
    'amd',
    'intel',
  ] as const);

  // Read by tier 2 when it compiles (src/cpu/jit/tier2.ts), so no processor object is needed here.
  if (values['dump-regions']) process.env.HVEMU_DUMP_REGIONS = '1';
  if (values.threads && (arch === 'none' || sevEs || firmware))
    fail(
      '--threads runs a VM (--arch svm|vmx) from a kernel, disk or boot sector: not the bare processor, firmware or --sev-es',
    );
  if (values.threads && (trace.length !== 0 || perfetto !== null || gdb))
    fail('--threads does not trace or debug yet (--trace, --perfetto, --gdb): run without --threads');
  if (values.stats) process.env.HVEMU_TIER2_STATS = '1'; // tier 2's counters, printed by the run thread
  if (sevEs && values['debug-ud'])
    say(
      '--debug-ud reports nothing for an SEV-ES guest: its #UD goes to its own handler, and its RIP and instruction bytes are protected',
    );
  const { reply, signal, seconds } = await supervise({
    image,
    kind: sevEs
      ? linux
        ? 'sev-es-linux'
        : 'sev-es'
      : firmware
        ? 'firmware'
        : arch === 'none'
          ? 'bare'
          : 'vm',
    imagePath: path,
    vars:
      vars === undefined
        ? undefined
        : { path: pflash[1], bytes: vars, writeBack: values['pflash-write'] === true },
    debugcon: str('debugcon'),
    arch: arch === 'none' ? undefined : arch,
    cpus,
    cmdline: path, // as QEMU's -kernel passes it: "<file> <append>" to Multiboot
    append: append ?? '', // QEMU: Linux gets '' without -append
    modules,
    initrd,
    trace,
    traceFile: str('trace-file') ?? null,
    traceCpus,
    perfetto,
    maxInstructions,
    memoryBytes: memory,
    vendor: vendor === 'amd' ? 'AuthenticAMD' : 'GenuineIntel',
    rtc,
    console,
    debugUd: values['debug-ud'] === true,
    threads: values.threads === true,
    disks: diskPaths,
    diskWrite: values['disk-write'] === true,
    input: arch === 'none' ? 'none' : input,
    vga: str('vga'),
    vgaConsole: values['vga-console'] === true,
    gdb: gdb && { port: gdb.vmPort, shared: gdb.shared, wait: values['gdb-wait'] === true },
  });
  gdb?.close();
  if (reply.kind === 'epipe') process.exit(0); // the reader went away (`| head`): quietly, as Unix tools do
  if (reply.kind === 'image-error') fail(`bad image ${path}: ${reply.message}`);
  if (reply.kind === 'bad-input') fail(reply.message);
  const r = reply.result;
  if (reply.measurement !== undefined)
    say(
      `SEV-ES launch measurement ${reply.measurement} (${reply.measurementVerified ? 'matches' : 'DOES NOT match'} the owner's recomputation from the image)`,
    );
  if (signal !== null) {
    say(`stopped by ${signal} after ${r.instructions} instructions; where each processor was:`);
    for (const w of groupVcpus(r.where ?? [])) process.stderr.write(`  ${w}\n`);
  } else if (r.stop !== 'exit') say(r.message);
  if (values.stats)
    say(
      `${r.instructions} instructions in ${seconds.toFixed(3)} s (${(r.instructions / seconds / 1e6).toFixed(1)} MIPS)`,
    );
  process.exitCode =
    signal === 'SIGTERM' ? EXIT_SIGTERM : signal === 'SIGINT' ? EXIT_SIGINT : exitStatusFor(r, exitMode);
}

/** "vcpu 1: X", "vcpu 2: X" -> "vcpus 1-2: X": a thousand parked APs in a few lines. */
function groupVcpus(lines: string[]): string[] {
  const out: string[] = [];
  let run: { first: number; last: number; what: string } | null = null;
  const flush = () => {
    if (run)
      out.push(
        run.first === run.last
          ? `vcpu ${run.first}: ${run.what}`
          : `vcpus ${run.first}-${run.last}: ${run.what}`,
      );
  };
  for (const line of lines) {
    const m = /^vcpu (\d+): (.*)$/.exec(line);
    if (m === null) {
      flush();
      run = null;
      out.push(line);
      continue;
    }
    const id = Number(m[1]);
    if (run && run.what === m[2] && run.last + 1 === id) run.last = id;
    else {
      flush();
      run = { first: id, last: id, what: m[2] };
    }
  }
  flush();
  return out;
}

function inspect(args: string[]): void {
  if (wantsHelp(args)) {
    process.stdout.write(`${INSPECT_USAGE}\n`);
    return;
  }
  const unknown = args.find((a) => a.startsWith('-'));
  if (unknown !== undefined) fail(`inspect has no option ${unknown} (\`hvemu inspect --help\`)`);
  if (args.length !== 1) fail('inspect takes one file (`hvemu inspect --help`)');
  try {
    const bytes = readImageFile(args[0], 256 * 2 ** 20, 'inspect reads files up to 256 MiB');
    process.stdout.write(`${inspectImage(bytes, args[0])}\n`);
  } catch (e) {
    if (e instanceof RefusedFile) fail(e.message);
    throw e;
  }
}

// A reader that goes away (`hvemu inspect ... | head`) ends quietly, as for other Unix tools.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// A signal before the run begins (while files are read and checked) ends hvemu at once, with its
// status; supervise() replaces these handlers with ones that stop the run and say where it was.
for (const [sig, status] of [
  ['SIGINT', EXIT_SIGINT],
  ['SIGTERM', EXIT_SIGTERM],
] as const)
  process.on(sig, () => {
    say(`stopped by ${sig} before the guest ran`);
    process.exit(status);
  });

main(process.argv.slice(2)).catch((e: unknown) => {
  say(`internal error (a bug in hvemu; please report it with the command line):\n${(e as Error).stack ?? e}`);
  process.exit(EXIT_HVEMU_BUG);
});
