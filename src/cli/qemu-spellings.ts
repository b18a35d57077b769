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
  '-bios':
    'firmware images run as SEV-ES guests: `hvemu run --sev-es FIRMWARE` (mapped to end at 4 GiB, as -bios maps it)',
  '-pflash': 'firmware images run as SEV-ES guests: `hvemu run --sev-es FIRMWARE` (mapped to end at 4 GiB)',
  '-cpu': 'the guest CPU is AMD or Intel by CPUID vendor: --vendor amd|intel',
  '-accel': 'hvemu is the accelerator: --arch none|svm|vmx',
  '-enable-kvm': 'hvemu is the accelerator: --arch svm or --arch vmx runs the guest as a VM',
  '-machine': 'hvemu has one machine, a PC (8259, PIT, CMOS, I/O APIC, COM1): no -machine',
  '-serial': 'COM1 goes to stdout: --console com1 (or auto, the default)',
  '-debugcon': 'port 0xE9 goes to stdout: --console e9 (or auto, the default)',
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
