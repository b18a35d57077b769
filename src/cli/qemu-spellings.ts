// QEMU's spellings of what hvemu also does. People come from QEMU and type its options; those with
// an exact hvemu twin are accepted as that twin, and the others get one line naming what to use.

/** QEMU option -> the hvemu option it means (same argument, same meaning). */
const TWINS: Record<string, string> = {
  '-m': '--memory', // QEMU's -m: MiB, or with a K/M/G/T suffix; so is --memory
  '-smp': '--cpus',
  '-kernel': '--kernel',
  '-append': '--append',
  '-initrd': '--initrd',
};

/** QEMU option -> what to write instead (no twin with the same meaning). */
const ANSWERS: Record<string, string> = {
  '-fda':
    'hvemu has no floppy drive: a hard disk is --disk FILE (QEMU: -hda), a boot sector `hvemu run IMAGE`',
  '-cpu': 'the guest CPU is AMD or Intel by CPUID vendor: --vendor amd|intel',
  '-accel': 'hvemu is the accelerator: --arch none|svm|vmx',
  '-enable-kvm': 'hvemu is the accelerator: --arch svm or --arch vmx runs the guest as a VM',
  '-machine': 'hvemu has one machine, a PC (8259, PIT, CMOS, I/O APIC, COM1): no -machine',
  '-serial': 'COM1 goes to stdout: --console com1 (or auto, the default)',
  '-debugcon': 'port 0xE9 goes to stdout: --console e9 (or auto, the default)',
  '-device':
    'no devices to add: isa-debug-exit is always at port 0xF4, the debug console at 0xE9 (see --exit-status)',
  '-nographic': 'hvemu has no display: the consoles go to stdout (--console)',
  '-display': 'hvemu has no display: the consoles go to stdout (--console)',
  '-no-reboot': 'a triple fault always ends the run (exit status 2), as -no-reboot does',
  '-snapshot': 'hvemu never writes the image: there is nothing to snapshot',
  '-icount': 'hvemu counts instructions always: --max-instructions, --stats',
};

/**
 * QEMU options whose twin only some builds of hvemu have (--gdb, --bios): taken as the twin when the
 * run command knows it, else answered with `answer`.
 */
const LATER_TWINS: Record<string, { twin: string; answer: string }> = {
  '-gdb': {
    twin: '--gdb',
    answer: 'this hvemu has no gdb stub: --trace and --debug-ud say what the guest does',
  },
  '-s': {
    twin: '--gdb',
    answer: 'this hvemu has no gdb stub: --trace and --debug-ud say what the guest does',
  },
  '-S': {
    twin: '--gdb-wait',
    answer: 'this hvemu has no gdb stub to wait for: --trace and --debug-ud say what the guest does',
  },
  '-pflash': {
    twin: '--pflash',
    answer: 'firmware images run as SEV-ES guests: `hvemu run --sev-es FIRMWARE` (mapped to end at 4 GiB)',
  },
  '-bios': {
    twin: '--bios',
    answer:
      'firmware images run as SEV-ES guests: `hvemu run --sev-es FIRMWARE` (mapped to end at 4 GiB, as -bios maps it)',
  },
};

/**
 * QEMU's -d log items and the --trace topic that shows the same events (QEMU: `-d help`).
 * in_asm/exec: each guest instruction; int: interrupts; cpu_reset: INIT, SIPI and resets.
 */
const LOG_ITEMS: Record<string, string> = {
  in_asm: 'insn',
  exec: 'insn',
  int: 'irq',
  cpu_reset: 'mp',
};

export type Spelling = { twin: string } | { answer: string } | null;

/** What a single-dash QEMU option means to hvemu (`-smp` -> --cpus), or null if it is not QEMU's. */
export function qemuSpelling(arg: string): Spelling {
  const name = arg.split('=')[0];
  if (name in TWINS) return { twin: TWINS[name] };
  if (name in ANSWERS) return { answer: ANSWERS[name] };
  return null;
}

/**
 * Rewrite QEMU twins into hvemu's options (`-m 64M` -> `--memory 64M`, `-smp 4` or
 * `-smp cpus=4` -> `--cpus 4`); returns the first QEMU option without a twin as an error message.
 */
export function translateQemuArgs(
  args: readonly string[],
  hasOption: (hvemuOption: string) => boolean = () => false,
): { args: string[] } | { error: string } {
  const out: string[] = [];
  const topics: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (!a.startsWith('-') || a.startsWith('--') || a === '-h') {
      out.push(a);
      continue;
    }
    const name = a.split('=')[0];
    const later = LATER_TWINS[name];
    if (later !== undefined) {
      if (!hasOption(later.twin)) return { error: `${name} is QEMU's: ${later.answer}` };
      if (name === '-s' || name === '-S') {
        // QEMU: -s is -gdb tcp::1234; -S holds the CPUs until the debugger says continue.
        out.push(...(name === '-s' ? ['--gdb', '1234'] : ['--gdb-wait']));
        continue;
      }
      const value = args[++i];
      if (value === undefined) return { error: `${a} needs a value (${later.twin} in hvemu's words)` };
      // -gdb tcp::PORT, tcp:127.0.0.1:PORT or PORT: hvemu's --gdb takes the port.
      out.push(later.twin, name === '-gdb' ? (/(\d+)$/.exec(value)?.[1] ?? value) : value);
      continue;
    }
    if (name === '-d' || name === '-D') {
      const value = args[++i];
      if (value === undefined) return { error: `${a} needs a value` };
      if (name === '-D') {
        out.push('--trace-file', value);
        continue;
      }
      for (const item of value.split(',')) {
        const topic = LOG_ITEMS[item];
        if (topic === undefined)
          return {
            error: `-d ${item} has no hvemu twin: QEMU's in_asm, exec, int and cpu_reset are --trace insn, insn, irq and mp; hvemu also traces exits, apic, ghcb, io and mmio (\`hvemu run --help\`)`,
          };
        if (!topics.includes(topic)) topics.push(topic);
      }
      continue;
    }
    const s = qemuSpelling(a);
    if (s === null) {
      out.push(a);
      continue;
    }
    if ('answer' in s) return { error: `${a.split('=')[0]} is QEMU's: ${s.answer}` };
    let value = args[i + 1];
    i++;
    if (s.twin === '--cpus' && value !== undefined) {
      // -smp [cpus=]N[,maxcpus=..,sockets=..]: hvemu takes the count; topology has no twin.
      const parts = value.split(',');
      const extra = parts.slice(1).filter((p) => !/^(cpus|maxcpus)=/.test(p));
      if (extra.length > 0)
        return {
          error: `-smp ${value}: hvemu takes only the vCPU count (--cpus N); it has no sockets, cores or threads`,
        };
      value = parts[0].replace(/^cpus=/, '');
    }
    if (value === undefined) return { error: `${a} needs a value (${s.twin} in hvemu's words)` };
    out.push(s.twin, value);
  }
  if (topics.length > 0) {
    // Merge with a --trace on the same line: one option, every topic.
    const t = out.indexOf('--trace');
    if (t >= 0 && t + 1 < out.length) out[t + 1] = [out[t + 1], ...topics].join(',');
    else out.push('--trace', topics.join(','));
  }
  return { args: out };
}

/**
 * QEMU's disk spellings: -hda FILE and -hdb FILE are taken (master and slave), as is -drive for an
 * IDE disk on the primary channel (file=, if=ide, index=0|1, format=raw, media=disk); -drive
 * if=pflash becomes --pflash where hvemu has it; -hdc/-hdd (the secondary channel) and other -drive
 * forms get a one-line answer naming --disk (thrown). Returns the other arguments.
 */
export function qemuDiskSpellings(
  args: string[],
  hasOption: (hvemuOption: string) => boolean = () => false,
): { args: string[]; disks: (string | undefined)[] } {
  const out: string[] = [];
  const disks: (string | undefined)[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-hda' || a === '-hdb') {
      const file = args[++i];
      if (file === undefined) throw new Error(`${a} takes a file`);
      disks[a === '-hda' ? 0 : 1] = file;
    } else if (a === '-drive') {
      const spec = args[++i];
      if (spec === undefined) throw new Error('-drive takes a specification (file=FILE,format=raw)');
      const d = driveSpelling(spec, hasOption);
      if ('disk' in d) disks[d.index] = d.disk;
      else out.push(...d.args);
    } else if (a === '-hdc' || a === '-hdd') {
      throw new Error(
        `QEMU's ${a} is on the secondary ATA channel, which hvemu does not have: use --disk FILE (master) [--disk FILE (slave)]`,
      );
    } else out.push(a);
  }
  return { args: out, disks };
}

/** The -drive keys hvemu can honour; others (cache=, aio=, ...) change nothing it emulates. */
const DRIVE_KEYS = new Set([
  'file',
  'if',
  'index',
  'format',
  'media',
  'readonly',
  'unit',
  'bus',
  'cache',
  'id',
]);

/** One -drive: an IDE disk slot (0 master, 1 slave), or hvemu options (--pflash FILE). */
function driveSpelling(
  spec: string,
  hasOption: (hvemuOption: string) => boolean,
): { disk: string; index: number } | { args: string[] } {
  const opts = new Map<string, string>();
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    opts.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? 'on' : part.slice(eq + 1));
  }
  const hint = 'use --disk FILE (master) [--disk FILE (slave)] and --disk-write to write through';
  const file = opts.get('file');
  if (file === undefined) throw new Error(`-drive ${spec}: hvemu needs file=FILE; ${hint}`);
  for (const k of opts.keys())
    if (!DRIVE_KEYS.has(k)) throw new Error(`-drive ${k}= has no hvemu twin: ${hint}`);
  const format = opts.get('format') ?? 'raw';
  if (format !== 'raw') throw new Error(`-drive format=${format}: hvemu reads raw images only; ${hint}`);
  const iface = opts.get('if') ?? 'ide'; // QEMU's pc machine: if=ide unless given
  if (iface === 'pflash') {
    if (hasOption('--pflash')) return { args: ['--pflash', file] };
    throw new Error(
      "-drive if=pflash is QEMU's: firmware images run as SEV-ES guests: `hvemu run --sev-es FIRMWARE` (mapped to end at 4 GiB, as pflash is)",
    );
  }
  if (iface !== 'ide')
    throw new Error(`-drive if=${iface}: hvemu has IDE disks only (the primary ATA channel); ${hint}`);
  if ((opts.get('media') ?? 'disk') !== 'disk')
    throw new Error(`-drive media=${opts.get('media')}: hvemu has hard disks only; ${hint}`);
  const index = Number(opts.get('index') ?? opts.get('unit') ?? '0');
  if (index !== 0 && index !== 1)
    throw new Error(
      `-drive index=${opts.get('index') ?? opts.get('unit')}: hvemu has the primary channel only (index 0 and 1); ${hint}`,
    );
  return { disk: file, index };
}
