// The module map's import rules (docs/ARCHITECTURE.md), checked on the sources: the processor core
// imports no hypervisor module, the GHCB code is pure, and the arrows point only down the map.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = dirname(new URL(import.meta.url).pathname);

/** Which top-level folders of src/ each folder may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  cpu: [],
  apic: ['cpu'],
  ghcb: [],
  svm: ['cpu', 'apic', 'ghcb', 'vmm'],
  vmx: ['cpu', 'apic', 'vmm'],
  vmm: ['cpu', 'apic'],
};

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) yield p;
  }
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out.filter((s) => s.startsWith('.'));
}

describe('module map', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of sources(SRC)) {
    const from = relative(SRC, file).split('/')[0];
    const rules = ALLOWED[from];
    if (rules === undefined) continue; // composition roots (cli.ts, disasm.ts) may import anything
    for (const spec of importsOf(file)) {
      checked++;
      const target = relative(SRC, resolve(dirname(file), spec)).split('/')[0];
      if (target !== from && !rules.includes(target))
        violations.push(`${relative(SRC, file)} imports ${spec} (${from} -> ${target})`);
    }
  }

  it('finds the imports it checks', () => {
    expect(checked).toBeGreaterThan(50);
  });

  it('has no import against the allowed directions', () => {
    expect(violations).toEqual([]);
  });
});
