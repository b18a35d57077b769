// The module map's import rules (docs/ARCHITECTURE.md), checked on the sources: the processor core
// imports no hypervisor module, the GHCB code is pure, the arrows point only down the map, and,
// file by file, the trust boundary: no hypervisor file can reach a plaintext view of DRAM.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = dirname(new URL(import.meta.url).pathname);

/** Which top-level folders of src/ each folder may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  cpu: [],
  apic: ['cpu'],
  ghcb: [],
  host: ['cpu'],
  svm: ['cpu', 'apic', 'ghcb', 'vmm', 'host'],
  vmx: ['cpu', 'apic', 'vmm', 'host'],
  vmm: ['cpu', 'apic', 'host'],
  // The threaded scheduler: a vCPU worker builds its VM (a backend) over the shared DRAM handle.
  threads: ['cpu', 'apic', 'vmm', 'host', 'svm', 'vmx'],
};

/** The hardware: processors, the machine's memory controller and secure processor, SVM/VMX units. */
function isHardware(file: string): boolean {
  return /^(cpu|host|apic)\//.test(file) || /^(svm|vmx)\/hw\//.test(file);
}

/**
 * Modules that hold or open the processor's direct path to DRAM: only hardware may import them.
 * (host-memory.ts, host-machine.ts and physical-cpu.ts are the hypervisor's side of the boundary.)
 */
const HARDWARE_ONLY = ['host/core-access.ts', 'host/memory-controller.ts', 'host/page-cipher.ts'];

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) yield p;
  }
}

interface Import {
  spec: string;
  names: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(/(import|export)\s+(type\s+)?([^'"]*?)from\s+['"]([^'"]+)['"]/g))
    out.push({ spec: m[4], names: m[3], typeOnly: m[2] !== undefined });
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g))
    out.push({ spec: m[1], names: '', typeOnly: false });
  return out.filter((i) => i.spec.startsWith('.'));
}

const files = [...sources(SRC)].map((f) => relative(SRC, f));
const graph = new Map<string, Import[]>();
for (const f of files) graph.set(f, importsOf(join(SRC, f)));
const target = (from: string, spec: string) =>
  relative(SRC, resolve(dirname(join(SRC, from)), spec)).replace(/\.js$/, '.ts');

describe('module map', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const [file, imports] of graph) {
    const from = file.split('/')[0];
    const rules = ALLOWED[from];
    if (rules === undefined) continue; // composition roots (cli.ts, vm-boot.ts, ...) may import any folder
    for (const { spec } of imports) {
      checked++;
      const to = target(file, spec).split('/')[0];
      if (to !== from && !rules.includes(to)) violations.push(`${file} imports ${spec} (${from} -> ${to})`);
    }
  }

  it('finds the imports it checks', () => {
    expect(checked).toBeGreaterThan(50);
  });

  it('has no import against the allowed directions', () => {
    expect(violations).toEqual([]);
  });
});

describe('the trust boundary, file by file', () => {
  it('no hypervisor or userspace file imports the modules that hold a view of DRAM', () => {
    const bad: string[] = [];
    for (const [file, imports] of graph) {
      if (isHardware(file)) continue;
      for (const { spec } of imports)
        if (HARDWARE_ONLY.includes(target(file, spec))) bad.push(`${file} imports ${spec}`);
    }
    expect(bad).toEqual([]);
  });

  it('no hypervisor or userspace file names the processor core (Cpu holds the DRAM view)', () => {
    const bad: string[] = [];
    for (const [file, imports] of graph) {
      if (isHardware(file) || file === 'vmm/bare-metal.ts') continue; // a bare PC has no hypervisor
      for (const { spec, names } of imports)
        if (target(file, spec) === 'cpu/cpu.ts' && /\bCpu\b/.test(names))
          bad.push(`${file}: ${names.trim()}`);
    }
    expect(bad).toEqual([]);
  });

  // Shared words that are not DRAM: the command line's words shared with its run thread (stop
  // request, progress; the GDB relay's arrival counter), the IPI mailbox's words per vCPU
  // (events and IRR bits crossing threads), the threaded scheduler's run pages and the bus
  // lock's words (locked accesses across threads).
  const controlWord = (file: string, what: string) =>
    (file === 'cli/supervise.ts' ||
      file === 'cli/gdb-relay.ts' ||
      file === 'apic/ipi-mailbox.ts' ||
      file === 'threads/run-page.ts' ||
      file === 'cpu/bus-lock.ts') &&
    what === 'new SharedArrayBuffer';

  it('only the host machine builds a memory controller, a secure processor or DRAM', () => {
    const bad: string[] = [];
    for (const file of files) {
      if (file.startsWith('host/')) continue;
      const text = readFileSync(join(SRC, file), 'utf8');
      for (const what of ['new MemoryController', 'new SecureProcessor', 'new SharedArrayBuffer'])
        if (text.includes(what) && file !== 'vmm/bare-metal.ts' && !controlWord(file, what))
          bad.push(`${file}: ${what}`);
    }
    expect(bad).toEqual([]);
  });

  it('the protected vCPU type has no processor and no register accessor', () => {
    const api = readFileSync(join(SRC, 'vmm/backend-api.ts'), 'utf8');
    const start = api.indexOf('export interface ProtectedBackendVcpu');
    const body = api.slice(start, api.indexOf('}', start));
    expect(start).toBeGreaterThan(0);
    for (const member of ['cpu', 'getRegs', 'setRegs', 'setSegment', 'setRip'])
      expect(body).not.toMatch(new RegExp(`\\b${member}\\b`));
    const sev = readFileSync(join(SRC, 'svm/sev-es/vcpu.ts'), 'utf8');
    expect(sev).toMatch(/implements ProtectedBackendVcpu/);
    expect(sev).not.toMatch(/\b(getRegs|setRegs|setSegment)\s*\(/);
  });

  // The processor core's files share the Cpu type both ways by design; everywhere else an import
  // cycle is a layering mistake (e.g. the SEV-ES vCPU and its VMGEXIT handler naming each other).
  it('has no import cycle among the files outside the processor core', () => {
    const cycles: string[] = [];
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 1);
      stack.push(f);
      for (const { spec } of graph.get(f) ?? []) {
        const t = target(f, spec);
        if (!graph.has(t) || t.startsWith('cpu/')) continue;
        if (state.get(t) === 1) cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
        else if (state.get(t) === undefined) visit(t);
      }
      stack.pop();
      state.set(f, 2);
    };
    for (const f of graph.keys()) if (!state.has(f) && !f.startsWith('cpu/')) visit(f);
    expect(cycles).toEqual([]);
  });
});
