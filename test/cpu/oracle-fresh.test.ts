/**
 * A fresh random batch from the native oracle on every run (20 cases per form, 10 and 6 for the x87
 * and MMX forms; new seed each time unless ORACLE_SEED is set): catches what the committed vectors
 * happen to miss. ORACLE_FAMILIES=x87,mmx and ORACLE_PER_FORM=N narrow or widen a run. Needs gcc on an
 * x86-64 Linux host; skipped otherwise.
 */
import { arch, platform } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateVectors } from '../oracle/batch.mjs';
import { buildOracle, haveGcc } from '../oracle/run-oracle.mjs';
import type { VectorRecord } from '../oracle/vectors.mjs';
import { checkRecords } from './oracle-compare.js';

const PER_FORM = Number(process.env.ORACLE_PER_FORM ?? 20);
/** The x87 and MMX families have about 360 forms: fewer cases each keep the batch to seconds. */
const PER_FAMILY: Record<string, number> = process.env.ORACLE_PER_FORM ? {} : { x87: 10, mmx: 6 };
const FAMILIES = [
  'mov',
  'lea',
  'alu',
  'unary',
  'shift',
  'shiftd',
  'muldiv',
  'bits',
  'cond',
  'misc',
  'xchg',
  'string',
  'stack',
  'x87',
  'mmx',
].filter((f) => !process.env.ORACLE_FAMILIES || process.env.ORACLE_FAMILIES.split(',').includes(f));
const why =
  platform() !== 'linux' || arch() !== 'x64'
    ? `host is ${platform()}/${arch()}, not x86-64 Linux`
    : haveGcc()
      ? null
      : 'gcc not found on PATH';

if (why) {
  describe('fresh oracle batch', () => {
    it.skip(`fresh oracle batch skipped: ${why} (the oracle runs instructions on the host CPU)`, () => {});
  });
} else {
  const seed = process.env.ORACLE_SEED ?? String(Date.now());
  console.log(`fresh oracle batch: seed ${seed} (rerun with ORACLE_SEED=${seed})`);
  const byFamily = new Map<string, VectorRecord[]>();

  describe('fresh oracle batch', () => {
    beforeAll(() => {
      buildOracle();
      for (const { family, record } of generateVectors({
        seed,
        perForm: PER_FORM,
        perFamily: PER_FAMILY,
        filter: (f) => FAMILIES.includes(f.family),
      })) {
        if (!byFamily.has(family)) byFamily.set(family, []);
        byFamily.get(family)!.push(record);
      }
    });

    it('covers every family', () => {
      expect([...byFamily.keys()].sort()).toEqual([...FAMILIES].sort());
    });

    for (const family of FAMILIES) {
      it(family, () => {
        const { failed, message } = checkRecords(
          `${family} (ORACLE_SEED=${seed})`,
          byFamily.get(family) ?? [],
        );
        expect(failed, message).toBe(0);
      });
    }
  });
}
