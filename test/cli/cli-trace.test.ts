// --trace topics, --trace-file, --trace-cpus and --perfetto, through the built CLI on the two SMP
// guests. The Perfetto file is checked against the trace-event format's documented rules (every
// event has ph, pid, tid, name and ts; a complete event "X" has dur; flow steps "s"/"f" share an id
// and "f" binds to its enclosing slice with bp "e"; slices on one thread nest) and against the run:
// what the trace lines of the same run say, and what the guest says it did (smp-sev-es parks each
// of its 3 APs in AP Reset Hold 4 times and wakes each 3 times, guests/smp-sev-es/expected.txt).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureCli, guestImage, hvemu } from '../support/cli.js';

beforeAll(ensureCli);

const tmp = () => mkdtempSync(join(tmpdir(), 'hvemu-trace-'));

interface TraceEvent {
  ph: string;
  pid: number;
  tid: number;
  name: string;
  cat?: string;
  ts?: number;
  dur?: number;
  id?: number;
  bp?: string;
  s?: string;
}

/** The format's structural rules; returns the events. */
function checkTraceEventJson(text: string): TraceEvent[] {
  const doc = JSON.parse(text) as { traceEvents: TraceEvent[]; displayTimeUnit?: string };
  expect(Array.isArray(doc.traceEvents)).toBe(true);
  const events = doc.traceEvents;
  for (const e of events) {
    expect(typeof e.ph).toBe('string');
    expect(typeof e.pid).toBe('number');
    expect(typeof e.tid).toBe('number');
    expect(typeof e.name).toBe('string');
    if (e.ph !== 'M') expect(e.ts).toBeGreaterThanOrEqual(0);
    if (e.ph === 'X') expect(e.dur).toBeGreaterThanOrEqual(0);
    if (e.ph === 'i') expect(e.s).toBe('t');
    if (e.ph === 's' || e.ph === 'f') expect(Number.isInteger(e.id)).toBe(true);
    if (e.ph === 'f') expect(e.bp).toBe('e');
  }
  // Slices on one thread nest: none starts inside another and ends after it.
  const slices = new Map<number, [number, number][]>();
  for (const e of events)
    if (e.ph === 'X') {
      const list = slices.get(e.tid) ?? [];
      list.push([e.ts as number, (e.ts as number) + (e.dur as number)]);
      slices.set(e.tid, list);
    }
  const eps = 1e-6;
  for (const list of slices.values()) {
    list.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const open: [number, number][] = [];
    for (const s of list) {
      while (open.length && open[open.length - 1][1] <= s[0] + eps) open.pop();
      if (open.length) expect(s[1]).toBeLessThanOrEqual(open[open.length - 1][1] + eps);
      open.push(s);
    }
  }
  // Every flow step lies inside a slice of its thread (what bp "e" binds it to), and every end has a start.
  for (const e of events)
    if (e.ph === 's' || e.ph === 'f') {
      const ts = e.ts as number;
      expect((slices.get(e.tid) ?? []).some(([a, b]) => a <= ts + eps && ts <= b + eps)).toBe(true);
    }
  const starts = new Set(events.filter((e) => e.ph === 's').map((e) => e.id));
  for (const e of events) if (e.ph === 'f') expect(starts.has(e.id)).toBe(true);
  return events;
}

const count = (lines: string[], re: RegExp) => lines.filter((l) => re.test(l)).length;

describe('--perfetto', () => {
  it('smp-sev-es: valid trace-event JSON whose IPIs, holds and exits are the trace lines of the same run', () => {
    const dir = tmp();
    const r = hvemu(
      'run',
      '--sev-es',
      guestImage('smp-sev-es'),
      '--cpus',
      '4',
      '--trace',
      'exits,apic,mp',
      '--trace-file',
      join(dir, 'trace.txt'),
      '--perfetto',
      join(dir, 'run.json'),
    );
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/vcpu \d+:/); // the trace went to the file
    const lines = readFileSync(join(dir, 'trace.txt'), 'utf8').trimEnd().split('\n');
    const events = checkTraceEventJson(readFileSync(join(dir, 'run.json'), 'utf8'));
    const named = (ph: string, name: string) => events.filter((e) => e.ph === ph && e.name === name).length;

    // One track per vCPU, named.
    expect(events.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.tid)).toEqual([
      0, 1, 2, 3,
    ]);
    // The guest: 3 APs, each parked 4 times (after boot and after each of 3 wakes), released 3 times.
    const holds = count(lines, /mp_state \S+ -> AP_RESET_HOLD/);
    const releases = count(lines, /: SIPI .*AP Reset Hold .* completed/);
    expect(holds).toBe(12);
    expect(releases).toBe(9);
    expect(events.filter((e) => e.ph === 's' && e.cat === 'ap-reset-hold').length).toBe(holds);
    expect(events.filter((e) => e.ph === 'f' && e.cat === 'ap-reset-hold').length).toBe(releases);
    // Every IPI line is an instant on its sender, with one flow per APIC that accepted it.
    const sipis = count(lines, /: IPI Start Up /);
    expect(sipis).toBeGreaterThan(0);
    expect(named('i', 'IPI Start Up')).toBe(sipis);
    expect(named('i', 'IPI INIT')).toBe(count(lines, /: IPI INIT,/));
    expect(events.filter((e) => e.ph === 's' && e.cat === 'ipi').length).toBe(
      events.filter((e) => e.ph === 'i' && e.cat === 'ipi' && e.name.endsWith('received')).length,
    );
    // 4 wake rounds of INIT-SIPI-SIPI to 3 APs: 12 INITs and 24 SIPIs reach an AP.
    expect(events.filter((e) => e.ph === 'f' && e.name === 'IPI INIT').length).toBe(12);
    expect(events.filter((e) => e.ph === 'f' && e.name === 'IPI Start Up').length).toBe(24);
    // Every VM exit line is an exit instant.
    expect(events.filter((e) => e.ph === 'i' && e.cat === 'exit').length).toBe(count(lines, /#VMEXIT/));
    // MP states as slices: each AP was UNINITIALIZED, INIT_RECEIVED, RUNNABLE and AP_RESET_HOLD.
    for (const tid of [1, 2, 3]) {
      const states = new Set(
        events.filter((e) => e.ph === 'X' && e.cat === 'mp_state' && e.tid === tid).map((e) => e.name),
      );
      expect([...states].sort()).toEqual(['AP_RESET_HOLD', 'INIT_RECEIVED', 'RUNNABLE', 'UNINITIALIZED']);
    }
    expect(events.some((e) => e.ph === 'X' && e.name === 'KVM_RUN')).toBe(true);
  });

  it('smp-legacy under VMX: INIT-SIPI-SIPI as flows to each AP, HALTED between turns', () => {
    const dir = tmp();
    const r = hvemu(
      'run',
      guestImage('smp-legacy'),
      '--arch',
      'vmx',
      '--cpus',
      '3',
      '--perfetto',
      join(dir, 'run.json'),
    );
    expect(r.status).toBe(0);
    const events = checkTraceEventJson(readFileSync(join(dir, 'run.json'), 'utf8'));
    for (const tid of [1, 2]) {
      const into = events.filter((e) => e.ph === 'f' && e.tid === tid).map((e) => e.name);
      expect(into).toContain('IPI INIT');
      expect(into).toContain('IPI Start Up');
    }
    expect(events.some((e) => e.ph === 'X' && e.cat === 'mp_state' && e.name === 'HALTED')).toBe(true);
  });
});

describe('--trace topics', () => {
  it('ghcb: each AP Reset Hold request and the MSR protocol in the GHCB specification words', () => {
    const r = hvemu('run', '--sev-es', guestImage('smp-sev-es'), '--cpus', '4', '--trace', 'ghcb');
    expect(r.status).toBe(0);
    const lines = r.stderr.split('\n');
    expect(count(lines, /GHCB request at .*sw_exit_code=0x80000004 \(SVM_VMGEXIT_AP_HLT_LOOP\)/)).toBe(12);
    expect(count(lines, /GHCB MSR request 0x[0-9a-f]+ CPUID Request: function 0x/)).toBeGreaterThan(0);
    expect(
      lines.some((l) =>
        /valid bitmap 0x[0-9a-f]+ = \{rax, sw_exit_code, sw_exit_info_1, sw_exit_info_2\}/.test(l),
      ),
    ).toBe(true);
    expect(lines.some((l) => /GHCB answer at .*sw_exit_info_1=0x0 \(success: no action\)/.test(l))).toBe(
      true,
    );
  });

  it('io, mmio, irq on smp-legacy: the devices by name, the interrupt path from pin to EOI', () => {
    const r = hvemu('run', guestImage('smp-legacy'), '--cpus', '2', '--trace', 'io,mmio,irq');
    expect(r.status).toBe(0);
    const t = r.stderr;
    expect(t).toMatch(/^vcpu 0: out port 0x3f8 size 1 <- 0x[0-9a-f]+ \(com1\)$/m);
    expect(t).toMatch(/^vcpu 0: write 0xfee00300 size 4 <- 0x4500 \(local APIC\+0x300\)$/m); // ICR: INIT (SDM 11.6.1)
    expect(t).toMatch(/^vcpu 0: read 0xfec00010 size 4 -> 0x[0-9a-f]+ \(ioapic\+0x10\)$/m);
    expect(t).toMatch(/^I\/O APIC: pin 2 sends vector 0x30 \(Fixed, edge/m);
    expect(t).toMatch(/^APIC 0x0: vector 0x30 accepted into the IRR \(edge\)$/m);
    expect(t).toMatch(/^vcpu 0: inject vector 0x30 as a virtual interrupt/m);
    expect(t).toMatch(/^APIC 0x0: vector 0x30 IRR -> ISR/m);
    expect(t).toMatch(/^APIC 0x0: EOI: vector 0x30 leaves the ISR$/m);
  });

  it('--trace-cpus keeps only the vCPUs asked for; bad values name the accepted range', () => {
    const r = hvemu(
      'run',
      guestImage('smp-legacy'),
      '--cpus',
      '3',
      '--trace',
      'mp,exits',
      '--trace-cpus',
      '1-2',
    );
    expect(r.status).toBe(0);
    const traced = r.stderr.split('\n').filter((l) => /^vcpu \d+:/.test(l));
    expect(traced.length).toBeGreaterThan(0);
    expect(traced.every((l) => /^vcpu [12]:/.test(l))).toBe(true);
    expect(traced.some((l) => l.startsWith('vcpu 2:'))).toBe(true);
    const bad = hvemu('run', guestImage('smp-legacy'), '--cpus', '3', '--trace', 'mp', '--trace-cpus', '0,3');
    expect(bad.status).toBe(8);
    expect(bad.stderr).toMatch(/--trace-cpus 0,3: vCPU 3 does not exist: the VM has vCPUs 0 to 2/);
    const topic = hvemu('run', guestImage('smp-legacy'), '--trace', 'exits,bogus');
    expect(topic.status).toBe(8);
    expect(topic.stderr).toMatch(
      /--trace takes exits, apic, mp, ghcb, insn, io, mmio, irq or all, not 'bogus'/,
    );
  });
});

describe('help', () => {
  /** The options a help text lists ("  --name VALUE" lines), each with its "(default: ...)". */
  function options(text: string): string[] {
    const blocks = text.split(/\n(?= {2}--)/).slice(1);
    for (const b of blocks) expect(b.replace(/\s+/g, ' ')).toMatch(/\(default: [^)]*\)/);
    return blocks.map((b) => (/^ {2}(--[a-z0-9-]+)/.exec(b) as RegExpExecArray)[1]);
  }
  it('hvemu --help and hvemu run --help list the same options, every one with its default', () => {
    const main = hvemu('--help');
    const run = hvemu('run', '--help');
    expect([main.status, run.status]).toEqual([0, 0]);
    const listed = options(run.stdout);
    expect(options(main.stdout)).toEqual(listed);
    for (const o of [
      '--cpus',
      '--trace',
      '--trace-file',
      '--trace-cpus',
      '--perfetto',
      '--kernel',
      '--append',
    ])
      expect(listed).toContain(o);
  });
  it('QEMU -d int with -D writes the irq topic to the file', () => {
    const dir = tmp();
    const r = hvemu('run', guestImage('smp-legacy'), '-smp', '2', '-d', 'int', '-D', join(dir, 'log'));
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toMatch(/^APIC 0x0: EOI: vector 0x30 leaves the ISR$/m);
  });
});

describe('--trace insn', () => {
  it('smp-legacy: stepping changes nothing the guest prints; SVM and VMX agree; the bytes are the image', () => {
    const dir = tmp();
    const runs = (['svm', 'vmx'] as const).map((arch) => {
      const file = join(dir, `${arch}.txt`);
      const r = hvemu(
        'run',
        guestImage('smp-legacy'),
        '--cpus',
        '2',
        '--arch',
        arch,
        '--trace',
        'insn',
        '--trace-file',
        file,
        '--stats',
      );
      return { ...r, trace: readFileSync(file, 'utf8') };
    });
    const plain = hvemu('run', guestImage('smp-legacy'), '--cpus', '2', '--stats');
    const retired = (stderr: string) => /(\d+) instructions in/.exec(stderr)?.[1];
    const vcpu0 = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('vcpu 0: 0x'));
    for (const r of runs) {
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(plain.stdout);
    }
    // SVM's pause filter counts across VMRUNs, so a stepped run retires exactly the same
    // instructions. (VMX's PAUSE-loop exiting starts afresh at each VM entry, SDM 25.1.3, so a
    // stepped spin loop yields later there, as it would under a monitor-trap-flag debugger.)
    expect(retired(runs[0].stderr)).toBe(retired(plain.stderr));
    const [svm, vmx] = runs.map((r) => vcpu0(r.trace));
    expect(svm.length).toBeGreaterThan(1000);
    expect(svm.map((l) => l.split(' ')[2])).toEqual(vmx.map((l) => l.split(' ')[2]));
    // The Multiboot kernel's image is loaded at 1 MiB (its a.out-kludge header): the traced bytes
    // at 0x100000 + n are the file's bytes at n.
    const image = readFileSync(guestImage('smp-legacy'));
    const inImage = svm
      .map((l) => /^vcpu 0: 0x([0-9a-f]+): ([0-9a-f]+) /.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && Number.parseInt(m[1], 16) >= 0x100000)
      .filter((m) => Number.parseInt(m[1], 16) - 0x100000 + m[2].length / 2 <= image.length);
    expect(inImage.length).toBeGreaterThan(100);
    for (const m of inImage.slice(0, 300)) {
      const at = Number.parseInt(m[1], 16) - 0x100000;
      expect(m[2]).toBe(image.subarray(at, at + m[2].length / 2).toString('hex'));
    }
    expect(svm[0]).toMatch(/^vcpu 0: 0x[0-9a-f]+: fa cli$/);
  });

  it('SEV-ES: no instruction is traced, and the trace says why', () => {
    const r = hvemu('run', '--sev-es', guestImage('smp-sev-es'), '--cpus', '2', '--trace', 'insn,exits');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^vcpu 1: no instruction trace: an SEV-ES vCPU's RIP and code are encrypted$/m);
    expect(r.stderr).not.toMatch(/^vcpu \d+: 0x/m);
    expect(r.stderr).toMatch(
      /#VMEXIT VMGEXIT .*; guest \(instruction not shown: SEV-ES keeps RIP and code encrypted\)$/m,
    );
  });
});
