/**
 * Committed native-oracle vectors (test/vectors/*.jsonl.gz, produced by test/oracle/generate.mjs on
 * an AMD EPYC host): every case runs through exec64 and must match the host CPU. One test per form.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readVectors } from '../oracle/vectors.mjs';
import { checkRecords, groupByForm } from './oracle-compare.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');
const families = readVectors(dir);

describe('oracle vectors', () => {
  it('are present', () => {
    expect(families.length).toBeGreaterThan(0);
    expect(families.reduce((n, f) => n + f.records.length, 0)).toBeGreaterThan(40_000);
  });
});

for (const { family, records } of families) {
  describe(`oracle vectors: ${family}`, () => {
    for (const [form, cases] of groupByForm(records)) {
      it(form, () => {
        const { failed, message } = checkRecords(form, cases);
        expect(failed, message).toBe(0);
      });
    }
  });
}
