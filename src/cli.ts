#!/usr/bin/env node
// hvemu command line. `hvemu run <image>` boots a raw boot-sector image on a bare processor.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { disassemble, hexBytes } from './disasm.js';
import { runBootSectorVm } from './vm-boot.js';
import { ImageError, runBootSector } from './vmm/bare-metal.js';

/** Process exit statuses for stops that are not the guest's own isa-debug-exit (those are odd). */
export const EXIT_TRIPLE_FAULT = 2;
export const EXIT_MAX_INSTRUCTIONS = 4;
export const EXIT_HALTED = 6;
export const EXIT_BAD_INPUT = 8;

const USAGE = `usage: hvemu run <image> [options]

Runs a raw boot-sector image: the whole file is loaded at 0x7C00 and started in real mode at
0000:7C00 with DL = 0x80. There are no BIOS services. Bytes written to port 0xE9 go to stdout;
a write of V to port 0xF4 ends the run with exit status (V << 1) | 1 (QEMU's isa-debug-exit).

options:
  --max-instructions N   stop after N guest instructions (default 500000000)
  --memory MiB           guest RAM (default 64)
  --vendor amd|intel     CPUID vendor (default amd; intel with --arch vmx)
  --arch none|svm|vmx    run on the bare processor (none, the default) or as a VM through AMD SVM
                         (VMRUN/#VMEXIT with nested paging) or Intel VMX (VM entry/VM exit with
                         EPT); in a VM the debug ports are userspace I/O
  --cpus N               vCPUs (with --arch svm|vmx; default 1): vCPU 0 boots, the others wait for
                         INIT-SIPI-SIPI from it
  --trace exits,mp       print one line per VM exit / MP-state change on stderr (with --arch svm|vmx)
  --debug-ud             report every undefined opcode (#UD) on stderr with its bytes
  --stats                print instructions executed and MIPS on stderr

exit status: the guest's (V << 1) | 1; ${EXIT_TRIPLE_FAULT} triple fault; ${EXIT_MAX_INSTRUCTIONS} --max-instructions reached;
${EXIT_HALTED} halted with nothing to wake it; ${EXIT_BAD_INPUT} bad image or arguments.`;

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
  if (cmd !== 'run') fail(`unknown command '${cmd}'\n${USAGE}`);
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
  const arch = values.arch ?? 'none';
  if (arch !== 'none' && arch !== 'svm' && arch !== 'vmx')
    fail(`--arch must be none, svm or vmx, not '${arch}'`);
  const cpus = numberOption(values.cpus, 1, 'cpus');
  if (cpus > 1 && arch === 'none')
    fail('--cpus above 1 needs --arch svm or vmx (the bare processor is one CPU)');
  if (cpus > 255) fail('--cpus takes at most 255 for now (xAPIC IDs)');
  const traceCats = new Set((values.trace ?? '').split(',').filter((x) => x !== ''));
  for (const c of traceCats) if (c !== 'exits' && c !== 'mp') fail(`--trace takes exits or mp, not '${c}'`);
  const vendor = values.vendor ?? (arch === 'vmx' ? 'intel' : 'amd');
  if (vendor !== 'amd' && vendor !== 'intel') fail('--vendor must be amd or intel');
  let image: Uint8Array;
  try {
    image = readFileSync(positionals[0]);
  } catch (e) {
    fail(`cannot read ${positionals[0]}: ${(e as Error).message}`);
  }
  const out: number[] = [];
  const flush = () => {
    if (out.length) process.stdout.write(Buffer.from(out.splice(0)));
  };
  const t0 = process.hrtime.bigint();
  let result: ReturnType<typeof runBootSector>;
  try {
    const vm = arch === 'svm' || arch === 'vmx';
    const run = vm ? runBootSectorVm : runBootSector;
    result = run(image, {
      arch: vm ? arch : undefined,
      cpus,
      trace: traceCats.size
        ? (cat: string, line: string) => traceCats.has(cat) && process.stderr.write(`${line}\n`)
        : null,
      maxInstructions,
      memoryBytes: memoryMiB * 1024 * 1024,
      vendor: vendor === 'amd' ? 'AuthenticAMD' : 'GenuineIntel',
      onDebugByte: (b) => {
        out.push(b);
        if (b === 10 || out.length >= 4096) flush();
      },
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
    },
  });
}

function numberOption(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--${name} takes a positive whole number, not '${v}'`);
  return n;
}

main(process.argv.slice(2));
