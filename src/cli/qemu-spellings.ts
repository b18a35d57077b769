// QEMU's spellings of what hvemu also does. People come from QEMU and type its options; those with
// an exact hvemu twin are accepted as that twin, and the others get one line naming what to use.

/** QEMU option -> the hvemu option it means (same argument, same meaning). */
const TWINS: Record<string, string> = {
  '-m': '--memory', // QEMU's -m: MiB, or with a K/M/G/T suffix; so is --memory
  '-smp': '--cpus',
  '-kernel': '--kernel',
  '-append': '--append',
  '-initrd': '--initrd',
  '-bios': '--bios',
  '-pflash': '--pflash', // QEMU's older spelling of -drive if=pflash (units in order)
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
  '-debugcon':
    'port 0xE9 goes to stdout (--console e9); port 0x402, the firmware debug console, to a file with -debugcon file:FILE or --debugcon FILE',
  '-global': 'hvemu takes -global isa-debugcon.iobase=0x402 only (its firmware debug console is at 0x402)',
  '-device':
    'no devices to add: isa-debug-exit is always at port 0xF4, the debug console at 0xE9 (see --exit-status)',
  '-d': 'hvemu traces VM exits, IPIs and MP-state changes: --trace exits,apic,mp',
  '-nographic': 'hvemu has no display: the consoles go to stdout (--console)',
  '-display': 'hvemu has no display: the consoles go to stdout (--console)',
  '-no-reboot': 'a triple fault always ends the run (exit status 2), as -no-reboot does',
  '-s': 'there is no gdb stub: --trace and --debug-ud say what the guest does',
  '-S': 'there is no gdb stub: --trace and --debug-ud say what the guest does',
  '-snapshot': 'hvemu never writes the image: there is nothing to snapshot',
  '-icount': 'hvemu counts instructions always: --max-instructions, --stats',
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
export function translateQemuArgs(args: readonly string[]): { args: string[] } | { error: string } {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    // -debugcon file:FILE (with the debug console moved to 0x402, where hvemu has it).
    if (a === '-debugcon' && args[i + 1]?.startsWith('file:')) {
      out.push('--debugcon', args[++i].slice(5));
      continue;
    }
    if (a === '-global' && args[i + 1] === 'isa-debugcon.iobase=0x402') {
      i++;
      continue;
    }
    if (!a.startsWith('-') || a.startsWith('--') || a === '-h') {
      out.push(a);
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
  return { args: out };
}

/**
 * QEMU's disk spellings: -hda FILE and -hdb FILE are taken (master and slave); -hdc/-hdd (the
 * secondary channel) and -drive get a one-line hint naming --disk. Returns the other arguments.
 */
export function qemuDiskSpellings(args: string[]): { args: string[]; disks: (string | undefined)[] } {
  const out: string[] = [];
  const disks: (string | undefined)[] = [];
  const pflash: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const drive = a === '-drive' ? args[i + 1] : a.startsWith('-drive=') ? a.slice(7) : undefined;
    const p = a.startsWith('-drive') ? pflashDrive(drive, pflash) : null;
    if (p !== null) {
      if (a === '-drive') i++;
      if (pflash[p.unit] !== undefined) throw new Error(`-drive if=pflash: unit ${p.unit} is given twice`);
      pflash[p.unit] = p.file;
    } else if (a === '-hda' || a === '-hdb') {
      const file = args[++i];
      if (file === undefined) throw new Error(`${a} takes a file`);
      disks[a === '-hda' ? 0 : 1] = file;
    } else if (a === '-drive' || a.startsWith('-drive=') || a === '-hdc' || a === '-hdd') {
      throw new Error(
        `QEMU's ${a.split('=')[0]} is not taken: use --disk FILE (master) [--disk FILE (slave)] and --disk-write to write through`,
      );
    } else out.push(a);
  }
  if (pflash.length > 0) {
    // Units without a gap: 0 (code), then 1 (variables).
    for (let u = 0; u < pflash.length; u++)
      if (pflash[u] === undefined)
        throw new Error(`-drive if=pflash: unit ${u} is missing (the code is unit 0)`);
    for (const f of pflash) out.push('--pflash', f);
  }
  return { args: out, disks };
}

/**
 * `if=pflash,format=raw,unit=N,readonly=on,file=F` -> unit and file (without unit=, the first free
 * one, as QEMU numbers them), or null when it is not a pflash drive. Options that change nothing here (format=raw,
 * readonly) are taken; others are refused.
 */
function pflashDrive(spec: string | undefined, taken: string[]): { unit: number; file: string } | null {
  if (spec === undefined) return null;
  const kv = new Map(spec.split(',').map((p) => [p.split('=')[0], p.slice(p.indexOf('=') + 1)] as const));
  if (kv.get('if') !== 'pflash') return null;
  const file = kv.get('file');
  if (file === undefined) throw new Error(`-drive ${spec}: a pflash drive needs file=FILE`);
  const format = kv.get('format');
  if (format !== undefined && format !== 'raw')
    throw new Error(`-drive ${spec}: hvemu reads flash images raw, not ${format}`);
  for (const k of kv.keys())
    if (!['if', 'file', 'format', 'unit', 'readonly'].includes(k))
      throw new Error(
        `-drive ${spec}: hvemu takes if, file, format=raw, unit and readonly for a pflash drive, not ${k}`,
      );
  let free = 0;
  while (taken[free] !== undefined) free++;
  const unit = kv.has('unit') ? Number(kv.get('unit')) : free;
  if (!(unit === 0 || unit === 1)) throw new Error(`-drive ${spec}: the pc machine has pflash units 0 and 1`);
  return { unit, file };
}
