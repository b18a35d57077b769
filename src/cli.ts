#!/usr/bin/env node
// hvemu command line. `hvemu run <image>` boots a raw boot-sector image on a bare processor or as a
// VM, a Multiboot kernel as a VM, or (with --disk, or an image that is a disk) a PC from its disk.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { disassemble, hexBytes } from './disasm.js';
import { inspectImage } from './inspect.js';
import { runSevEsVm, type SevEsRunResult } from './sev-boot.js';
import { stdinInput } from './stdin-input.js';
import { type HostInput, isLinuxKernel, runImageVm } from './vm-boot.js';
import { ImageError, runBootSector } from './vmm/bare-metal.js';
import { DiskImage } from './vmm/devices/disk-image.js';
import { isDiskImage } from './vmm/loaders/disk-image-kind.js';
import { hasMultibootMagic } from './vmm/loaders/multiboot.js';

/** Process exit statuses for stops that are not the guest's own isa-debug-exit (those are odd). */
export const EXIT_TRIPLE_FAULT = 2;
export const EXIT_MAX_INSTRUCTIONS = 4;
export const EXIT_HALTED = 6;
export const EXIT_BAD_INPUT = 8;
export const EXIT_TERMINATED = 10;
export const EXIT_RESET = 12;

/**
 * --trace categories, each printed on stderr as one line per event: `exits` (VM exits), `mp`
 * (MP-state changes). A new category is one entry here plus the VMM's trace() calls that use it.
 */
const TRACE_CATEGORIES: Record<string, string> = {
  exits: 'one line per VM exit',
  apic: 'one line per IPI (delivery mode, vector, destination, shorthand, targets) and APIC error',
  mp: 'one line per MP-state change',
};

const USAGE = `usage: hvemu run <image> [options]
       hvemu run --disk <disk.img> [--disk <disk2.img>] [options]
       hvemu inspect <file>    say what an image is (boot sector, disk, Multiboot, ELF, OVMF table)

Runs a raw boot-sector image or a Multiboot (version 1) kernel. A boot sector is loaded whole at
0x7C00 and started in real mode at 0000:7C00 with DL = 0x80; there are no BIOS services. An image
with the Multiboot magic in its first 8 KiB is a Multiboot kernel (ELF32, or flat with the a.out
kludge): it is loaded as QEMU's -kernel loads it and entered in 32-bit protected mode with
EAX = 0x2BADB002 and EBX = the information structure, as a VM (--arch svm unless given). VMs have
a PC around them: 8259 pair, 8254 PIT, CMOS/RTC, I/O APIC, COM1 (16550), the MP and ACPI tables,
and QEMU's pc machine interface: fw_cfg (CPU count, RAM, etc/e820), PCI (i440FX/PIIX3/PIIX4) with
the ACPI PM timer, and pc-testdev (docs/platform.md).
Bytes written to COM1 and to ports 0xE9 and 0x402 go to stdout (see --console); a write of V to port 0xF4 ends
the run with exit status (V << 1) | 1 (QEMU's isa-debug-exit); an ACPI power-off ends it with 0.

A disk (--disk, or an image larger than 512 bytes whose first sector ends in 55 AA, whatever else it
holds) boots as a PC BIOS boots it: LBA 0 at 0x7C00, entered in real mode at 0000:7C00 with
DL = 0x80, as a VM (--arch svm unless given), with the disks on the primary ATA channel (1F0h-1F7h,
3F6h, IRQ 14), the 8042 keyboard controller (60h/64h) and VGA text mode (B8000h, CRTC 3D4h/3D5h).

options:
  --max-instructions N   stop after N guest instructions (default 500000000)
  --memory MiB           guest RAM (default 64)
  --vendor amd|intel     CPUID vendor (default amd; intel with --arch vmx)
  --arch none|svm|vmx    run on the bare processor (none, the default for boot sectors) or as a VM
                         through AMD SVM (VMRUN/#VMEXIT with nested paging) or Intel VMX (VM
                         entry/VM exit with EPT); in a VM the debug ports are userspace I/O
  --cpus N               vCPUs (with --arch svm|vmx; default 1): vCPU 0 boots, the others wait for
                         INIT-SIPI-SIPI from it
  --trace CATEGORIES     comma-separated, with --arch svm|vmx, on stderr:
${Object.entries(TRACE_CATEGORIES)
  .map(([name, what]) => `                           ${name.padEnd(8)} ${what}`)
  .join('\n')}
  --sev-es               run <image> as an SEV-ES guest (implies --arch svm): a firmware image mapped
                         to end at 4 GiB, launched and measured by the secure processor; the BSP
                         starts at F000:FFF0, the APs at the image's SEV-ES reset block (OVMF GUIDed
                         table); its registers and private memory are encrypted, it talks to the
                         hypervisor through its GHCB, and APs park with AP Reset Hold
  --console auto|both|e9|com1
                         what goes to stdout: the debug port 0xE9, COM1, or both; auto (the
                         default) gives stdout to whichever of the two the guest writes to first
  --append "TEXT"        the kernel command line, as QEMU's -append: a Linux kernel gets TEXT, a
                         Multiboot kernel "<image> TEXT" (QEMU's form)
  --initrd FILE          as QEMU's -initrd: a Linux kernel's initrd; for a Multiboot kernel
                         "F [ARGS][,F2 ...]", each file a boot module (on a page boundary after
                         the kernel) whose string is "F ARGS"
  --disk FILE            a hard disk on the primary ATA channel (first: master, second: slave; QEMU's
                         -hda/-hdb are taken too); the first boots when no <image> is given
  --disk-write           the guest's disk writes go to the files (default: to a copy in memory)
  --input com1|keyboard|none
                         where standard input goes (default com1): COM1's receiver, or the 8042
                         as scan codes (US layout); a terminal sends a line at each Enter; a
                         socket is read with blocking reads (--input none if it stays silent)
  --vga FILE             write the VGA text screen (B8000h) to FILE as text when the run ends
  --vga-console          print each finished VGA text row on stdout (a row is finished when the
                         cursor moves below it, or a row below it gets text; scrolling repeats nothing)
  --rtc fixed|host       the CMOS clock's start: fixed (the default) is 2025-01-01 00:00:00 UTC,
                         so every run is the same; host is the host's time now
  --debug-ud             report every undefined opcode (#UD) on stderr with its bytes
  --stats                print instructions executed and MIPS on stderr

exit status: the guest's (V << 1) | 1; ${EXIT_TRIPLE_FAULT} triple fault; ${EXIT_MAX_INSTRUCTIONS} --max-instructions reached;
${EXIT_HALTED} halted with nothing to wake it; ${EXIT_BAD_INPUT} bad image or arguments; ${EXIT_TERMINATED} the guest asked to be
terminated (SEV-ES termination request) or the hypervisor stopped it; ${EXIT_RESET} the guest reset the
machine (port 92h bit 0, the 8042's FEh pulse: hvemu has no firmware to reboot).`;

function fail(msg: string): never {
  process.stderr.write(`hvemu: ${msg}\n`);
  process.exit(EXIT_BAD_INPUT);
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (cmd === 'inspect') {
    inspect(rest);
    return;
  }
  if (cmd !== 'run') fail(`unknown command '${cmd}'\n${USAGE}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let parsed: ReturnType<typeof parse>;
  let qemuDisks: (string | undefined)[];
  try {
    const q = qemuDiskSpellings(rest);
    qemuDisks = q.disks;
    parsed = parse(q.args);
  } catch (e) {
    fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  const diskPaths = Array.from(qemuDisks); // dense: a lone -hdb leaves slot 0 undefined, not a hole
  for (const p of values.disk ?? []) {
    const free = diskPaths.indexOf(undefined);
    if (free >= 0) diskPaths[free] = p;
    else diskPaths.push(p);
  }
  if (positionals.length > 1 || (positionals.length === 0 && diskPaths.length === 0))
    fail(`run takes one image file (or --disk)\n${USAGE}`);
  const maxInstructions = numberOption(values['max-instructions'], 500_000_000, 'max-instructions');
  const memoryMiB = numberOption(values.memory, 64, 'memory');
  if (memoryMiB < 1 || memoryMiB > 3072) fail('--memory must be between 1 and 3072 MiB');
  let image: Uint8Array = new Uint8Array(0);
  if (positionals.length === 1) {
    try {
      image = readFileSync(positionals[0]);
    } catch (e) {
      fail(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    }
    // A disk given as the image is the boot disk, ahead of any --disk.
    if (isDiskImage(image)) {
      diskPaths.unshift(positionals[0]);
      image = new Uint8Array(0);
    }
  }
  const diskWrite = values['disk-write'] === true;
  if (diskPaths.length > 2)
    fail(`the primary ATA channel takes two disks (master and slave), not ${diskPaths.length}`);
  const disks: (DiskImage | null)[] = [];
  for (const p of diskPaths) {
    if (p === undefined) {
      disks.push(null);
      continue;
    }
    try {
      disks.push(DiskImage.open(p, diskWrite));
    } catch (e) {
      fail(`cannot open disk ${p}: ${(e as Error).message}`);
    }
  }
  const diskBoot = image.length === 0;
  const multiboot = !diskBoot && hasMultibootMagic(image);
  const linux = !diskBoot && isLinuxKernel(image);
  const sevEs = values['sev-es'] === true;
  const consoleChoice = values.console ?? 'auto';
  if (
    consoleChoice !== 'auto' &&
    consoleChoice !== 'both' &&
    consoleChoice !== 'e9' &&
    consoleChoice !== 'com1'
  )
    fail(`--console must be auto, both, e9 or com1, not '${consoleChoice}'`);
  const arch = values.arch ?? (multiboot || linux || sevEs || disks.length > 0 ? 'svm' : 'none');
  if (sevEs && arch !== 'svm') fail('--sev-es runs on AMD SVM: use --arch svm (or leave --arch out)');
  if (arch !== 'none' && arch !== 'svm' && arch !== 'vmx')
    fail(`--arch must be none, svm or vmx, not '${arch}'`);
  if (multiboot && arch === 'none')
    fail(`${positionals[0]} is a Multiboot kernel, which runs as a VM: use --arch svm or vmx`);
  if (linux && arch === 'none')
    fail(`${positionals[0]} is a Linux kernel, which runs as a VM: use --arch svm or vmx`);
  if (disks.length > 0 && arch === 'none')
    fail('disks are on the PC platform, which runs as a VM: use --arch svm or vmx');
  if (disks.length > 0 && sevEs) fail('--sev-es boots a firmware image, not a disk');
  const inputChoice = values.input ?? 'com1';
  if (inputChoice !== 'com1' && inputChoice !== 'keyboard' && inputChoice !== 'none')
    fail(`--input must be com1, keyboard or none, not '${inputChoice}'`);
  const cpus = numberOption(values.cpus, 1, 'cpus');
  if (cpus > 1 && arch === 'none')
    fail('--cpus above 1 needs --arch svm or vmx (the bare processor is one CPU)');
  if (cpus > 1024) fail('--cpus takes at most 1024');
  const traceCats = new Set((values.trace ?? '').split(',').filter((x) => x !== ''));
  for (const c of traceCats)
    if (!(c in TRACE_CATEGORIES))
      fail(`--trace takes ${Object.keys(TRACE_CATEGORIES).join(', ')}, not '${c}'`);
  if ((values.append !== undefined || values.initrd !== undefined) && ((!multiboot && !linux) || sevEs))
    fail('--append and --initrd are for a Multiboot or Linux kernel (QEMU -kernel); this image is neither');
  // -initrd: a Linux kernel's initrd is one file; a Multiboot kernel's are modules, "file args,...".
  const modules: { name: string; data: Uint8Array }[] = [];
  let linuxInitrd: Uint8Array | undefined;
  const readOrFail = (file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      fail(`cannot read --initrd ${file}: ${(e as Error).message}`);
    }
  };
  if (values.initrd !== undefined && linux) linuxInitrd = readOrFail(values.initrd);
  else
    for (const spec of (values.initrd ?? '').split(',').filter((x) => x !== ''))
      modules.push({ name: spec, data: readOrFail(spec.split(' ')[0]) });
  const rtc = values.rtc ?? 'fixed';
  if (rtc !== 'fixed' && rtc !== 'host') fail(`--rtc must be fixed or host, not '${rtc}'`);
  const vendor = values.vendor ?? (arch === 'vmx' ? 'intel' : 'amd');
  if (vendor !== 'amd' && vendor !== 'intel') fail('--vendor must be amd or intel');
  const out: number[] = [];
  const flush = () => {
    if (out.length) process.stdout.write(Buffer.from(out.splice(0)));
  };
  // A prompt without a newline shows before the guest looks for input.
  const input: HostInput | undefined =
    arch !== 'none' && inputChoice !== 'none' ? stdinInput(flush) : undefined;
  if (sevEs && values['debug-ud'])
    process.stderr.write(
      'hvemu: --debug-ud reports nothing for an SEV-ES guest: its #UD goes to its own handler, and its RIP and instruction bytes are protected\n',
    );
  const t0 = process.hrtime.bigint();
  let result: ReturnType<typeof runBootSector>;
  try {
    const vm = arch === 'svm' || arch === 'vmx';
    const run = sevEs ? runSevEsVm : vm ? runImageVm : runBootSector;
    // Both consoles go to stdout, but a guest that writes everything to both (as the shared bench
    // guest does, for emulators that have only one) should not print each byte twice: with
    // --console auto, the first console the guest writes to owns stdout.
    let owner: string | null = consoleChoice === 'auto' || consoleChoice === 'both' ? null : consoleChoice;
    const console = (which: 'e9' | 'com1', b: number) => {
      if (consoleChoice === 'auto' && owner === null) owner = which;
      if (consoleChoice !== 'both' && owner !== which) return;
      toStdout(b);
    };
    const toStdout = (b: number) => {
      out.push(b);
      if (b === 10 || out.length >= 4096) flush();
    };
    result = run(image, {
      arch: vm ? arch : undefined,
      cpus,
      cmdline: positionals[0], // as QEMU's -kernel passes it: "<file> <append>"
      append: values.append ?? '', // QEMU: Linux gets '' without -append
      modules,
      initrd: linuxInitrd,
      trace: traceCats.size
        ? (cat: string, line: string) => traceCats.has(cat) && process.stderr.write(`${line}\n`)
        : null,
      maxInstructions,
      rtcEpochMs: rtc === 'host' ? 'host' : undefined,
      memoryBytes: memoryMiB * 1024 * 1024,
      vendor: vendor === 'amd' ? 'AuthenticAMD' : 'GenuineIntel',
      disks,
      serialInput: inputChoice === 'com1' ? input : undefined,
      keyboardInput: inputChoice === 'keyboard' ? input : undefined,
      onVgaLine: values['vga-console']
        ? (line: string) => {
            for (const c of Buffer.from(`${line}\n`, 'latin1')) toStdout(c);
          }
        : undefined,
      onVgaScreen: values.vga
        ? (text: string) => {
            try {
              writeFileSync(values.vga as string, text, 'latin1');
            } catch (e) {
              process.stderr.write(`hvemu: cannot write ${values.vga}: ${(e as Error).message}\n`);
            }
          }
        : undefined,
      onDebugByte: (b: number) => console('e9', b),
      onSerialByte: (b: number) => console('com1', b),
      onUndefined: values['debug-ud']
        ? (rip, bytes, codeSize) =>
            process.stderr.write(
              `hvemu: #UD at ${rip.toString(16)}: ${hexBytes(bytes)} (${disassemble(bytes, codeSize)}): not implemented or invalid here\n`,
            )
        : undefined,
    });
  } catch (e) {
    flush();
    if (e instanceof ImageError) fail(`bad image ${positionals[0]}: ${e.message}`);
    throw e;
  }
  flush();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sevEs) {
    const r = result as SevEsRunResult;
    process.stderr.write(
      `hvemu: SEV-ES launch measurement ${r.measurement} (${r.measurementVerified ? 'matches' : 'DOES NOT match'} the owner's recomputation from the image)\n`,
    );
  }
  if (values.stats) {
    process.stderr.write(
      `hvemu: ${result.instructions} instructions in ${secs.toFixed(3)} s (${(result.instructions / secs / 1e6).toFixed(1)} MIPS)\n`,
    );
  }
  switch (result.stop) {
    case 'exit':
      process.exitCode = result.exitStatus ?? 0;
      return;
    case 'triple-fault':
      process.stderr.write(`hvemu: ${result.message}\n`);
      process.exitCode = EXIT_TRIPLE_FAULT;
      return;
    case 'max-instructions':
      process.stderr.write(`hvemu: ${result.message}\n`);
      process.exitCode = EXIT_MAX_INSTRUCTIONS;
      return;
    case 'terminated':
      process.stderr.write(`hvemu: ${result.message}\n`);
      process.exitCode = EXIT_TERMINATED;
      return;
    case 'reset':
      process.stderr.write(`hvemu: ${result.message}\n`);
      process.exitCode = EXIT_RESET;
      return;
    default:
      process.stderr.write(`hvemu: ${result.message}\n`);
      process.exitCode = EXIT_HALTED;
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      'max-instructions': { type: 'string' },
      memory: { type: 'string' },
      vendor: { type: 'string' },
      'debug-ud': { type: 'boolean' },
      arch: { type: 'string' },
      cpus: { type: 'string' },
      trace: { type: 'string' },
      stats: { type: 'boolean' },
      'sev-es': { type: 'boolean' },
      console: { type: 'string' },
      append: { type: 'string' },
      initrd: { type: 'string' },
      disk: { type: 'string', multiple: true },
      'disk-write': { type: 'boolean' },
      input: { type: 'string' },
      vga: { type: 'string' },
      'vga-console': { type: 'boolean' },
      rtc: { type: 'string' },
    },
  });
}

/**
 * QEMU's disk spellings: -hda FILE and -hdb FILE are taken (master and slave); -hdc/-hdd (the
 * secondary channel) and -drive get a one-line hint naming --disk. Returns the other arguments.
 */
function qemuDiskSpellings(args: string[]): { args: string[]; disks: (string | undefined)[] } {
  const out: string[] = [];
  const disks: (string | undefined)[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-hda' || a === '-hdb') {
      const file = args[++i];
      if (file === undefined) throw new Error(`${a} takes a file`);
      disks[a === '-hda' ? 0 : 1] = file;
    } else if (a === '-drive' || a.startsWith('-drive=') || a === '-hdc' || a === '-hdd') {
      throw new Error(
        `QEMU's ${a.split('=')[0]} is not taken: use --disk FILE (master) [--disk FILE (slave)] and --disk-write to write through`,
      );
    } else out.push(a);
  }
  return { args: out, disks };
}

function numberOption(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--${name} takes a positive whole number, not '${v}'`);
  return n;
}

function inspect(args: string[]): void {
  if (args.length !== 1) fail('inspect takes one file');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(args[0]);
  } catch (e) {
    fail(`cannot read ${args[0]}: ${(e as Error).message}`);
  }
  process.stdout.write(`${inspectImage(bytes, args[0])}\n`);
}

// A reader that goes away (`hvemu run ... | head`) ends the run quietly, as for other Unix tools.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2));
