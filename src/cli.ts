#!/usr/bin/env node
// hvemu command line. `hvemu run <image>` boots a raw boot-sector image on a bare processor or as a
// VM, or a Multiboot kernel as a VM.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { disassemble, hexBytes } from './disasm.js';
import { inspectImage } from './inspect.js';
import { runSevEsVm, type SevEsRunResult } from './sev-boot.js';
import { runImageVm } from './vm-boot.js';
import { ImageError, runBootSector } from './vmm/bare-metal.js';
import { hasMultibootMagic } from './vmm/loaders/multiboot.js';

/** Process exit statuses for stops that are not the guest's own isa-debug-exit (those are odd). */
export const EXIT_TRIPLE_FAULT = 2;
export const EXIT_MAX_INSTRUCTIONS = 4;
export const EXIT_HALTED = 6;
export const EXIT_BAD_INPUT = 8;
export const EXIT_TERMINATED = 10;

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
       hvemu inspect <file>    say what an image is (boot sector, Multiboot, ELF, OVMF table)

Runs a raw boot-sector image or a Multiboot (version 1) kernel. A boot sector is loaded whole at
0x7C00 and started in real mode at 0000:7C00 with DL = 0x80; there are no BIOS services. An image
with the Multiboot magic in its first 8 KiB is a Multiboot kernel (ELF32, or flat with the a.out
kludge): it is loaded as QEMU's -kernel loads it and entered in 32-bit protected mode with
EAX = 0x2BADB002 and EBX = the information structure, as a VM (--arch svm unless given). VMs have
a PC around them: 8259 pair, 8254 PIT, CMOS/RTC, I/O APIC, COM1 (16550) and the MP and ACPI tables.
Bytes written to COM1 and to port 0xE9 go to stdout (see --console); a write of V to port 0xF4 ends the run with
exit status (V << 1) | 1 (QEMU's isa-debug-exit).

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
  --rtc fixed|host       the CMOS clock's start: fixed (the default) is 2025-01-01 00:00:00 UTC,
                         so every run is the same; host is the host's time now
  --debug-ud             report every undefined opcode (#UD) on stderr with its bytes
  --stats                print instructions executed and MIPS on stderr

exit status: the guest's (V << 1) | 1; ${EXIT_TRIPLE_FAULT} triple fault; ${EXIT_MAX_INSTRUCTIONS} --max-instructions reached;
${EXIT_HALTED} halted with nothing to wake it; ${EXIT_BAD_INPUT} bad image or arguments; ${EXIT_TERMINATED} the guest asked to be
terminated (SEV-ES termination request) or the hypervisor stopped it.`;

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
  try {
    parsed = parse(rest);
  } catch (e) {
    fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) fail(`run takes one image file\n${USAGE}`);
  const maxInstructions = numberOption(values['max-instructions'], 500_000_000, 'max-instructions');
  const memoryMiB = numberOption(values.memory, 64, 'memory');
  if (memoryMiB < 1 || memoryMiB > 3072) fail('--memory must be between 1 and 3072 MiB');
  let image: Uint8Array;
  try {
    image = readFileSync(positionals[0]);
  } catch (e) {
    fail(`cannot read ${positionals[0]}: ${(e as Error).message}`);
  }
  const multiboot = hasMultibootMagic(image);
  const sevEs = values['sev-es'] === true;
  const consoleChoice = values.console ?? 'auto';
  if (
    consoleChoice !== 'auto' &&
    consoleChoice !== 'both' &&
    consoleChoice !== 'e9' &&
    consoleChoice !== 'com1'
  )
    fail(`--console must be auto, both, e9 or com1, not '${consoleChoice}'`);
  const arch = values.arch ?? (multiboot || sevEs ? 'svm' : 'none');
  if (sevEs && arch !== 'svm') fail('--sev-es runs on AMD SVM: use --arch svm (or leave --arch out)');
  if (arch !== 'none' && arch !== 'svm' && arch !== 'vmx')
    fail(`--arch must be none, svm or vmx, not '${arch}'`);
  if (multiboot && arch === 'none')
    fail(`${positionals[0]} is a Multiboot kernel, which runs as a VM: use --arch svm or vmx`);
  const cpus = numberOption(values.cpus, 1, 'cpus');
  if (cpus > 1 && arch === 'none')
    fail('--cpus above 1 needs --arch svm or vmx (the bare processor is one CPU)');
  if (cpus > 1024) fail('--cpus takes at most 1024');
  const traceCats = new Set((values.trace ?? '').split(',').filter((x) => x !== ''));
  for (const c of traceCats)
    if (!(c in TRACE_CATEGORIES))
      fail(`--trace takes ${Object.keys(TRACE_CATEGORIES).join(', ')}, not '${c}'`);
  const rtc = values.rtc ?? 'fixed';
  if (rtc !== 'fixed' && rtc !== 'host') fail(`--rtc must be fixed or host, not '${rtc}'`);
  const vendor = values.vendor ?? (arch === 'vmx' ? 'intel' : 'amd');
  if (vendor !== 'amd' && vendor !== 'intel') fail('--vendor must be amd or intel');
  const out: number[] = [];
  const flush = () => {
    if (out.length) process.stdout.write(Buffer.from(out.splice(0)));
  };
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
      cmdline: positionals[0], // as QEMU's -kernel passes it
      trace: traceCats.size
        ? (cat: string, line: string) => traceCats.has(cat) && process.stderr.write(`${line}\n`)
        : null,
      maxInstructions,
      rtcEpochMs: rtc === 'host' ? 'host' : undefined,
      memoryBytes: memoryMiB * 1024 * 1024,
      vendor: vendor === 'amd' ? 'AuthenticAMD' : 'GenuineIntel',
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
      rtc: { type: 'string' },
    },
  });
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
