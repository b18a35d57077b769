#!/usr/bin/env node
// Regenerates the committed vectors: node test/oracle/generate.mjs [--seed S] [--per-form N]
// [--out DIR] [--families a,b] [--per-family name=N,...]. The seed defaults to $ORACLE_SEED, else the clock; it is printed so a batch can be
// reproduced. Requires gcc and an x86-64 host (the oracle is built on demand).
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateVectors } from './batch.mjs';
import { writeFamily } from './vectors.mjs';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    'per-form': { type: 'string', default: '200' },
    out: { type: 'string' },
    families: { type: 'string' },
    'per-family': { type: 'string', default: 'x87=40,mmx=16' },
  },
});
const seed = values.seed ?? process.env.ORACLE_SEED ?? String(Date.now());
const perForm = Number(values['per-form']);
const outDir = values.out ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');
console.log(`oracle seed: ${seed} (${perForm} cases per form)`);

const t0 = Date.now();
const byFamily = new Map();
const only = values.families ? new Set(values.families.split(',')) : null;
const perFamily = Object.fromEntries(
  values['per-family'].split(',').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])]),
);
for (const { family, record } of generateVectors({
  seed,
  perForm,
  perFamily,
  filter: (f) => !only || only.has(f.family),
})) {
  if (!byFamily.has(family)) byFamily.set(family, []);
  byFamily.get(family).push(record);
}
mkdirSync(outDir, { recursive: true });
let total = 0;
let bytes = 0;
for (const [family, records] of byFamily) {
  const file = writeFamily(outDir, family, records);
  const size = statSync(file).size;
  total += records.length;
  bytes += size;
  const faults = records.filter((r) => r.out.fault !== null).length;
  console.log(
    `${family.padEnd(8)} ${String(records.length).padStart(6)} cases ${String(faults).padStart(5)} faults ${(size / 1024).toFixed(0).padStart(5)} KiB`,
  );
}
console.log(
  `${byFamily.size} families, ${total} cases, ${(bytes / 1024).toFixed(0)} KiB, ${Date.now() - t0} ms`,
);
