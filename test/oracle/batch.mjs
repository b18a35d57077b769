// Generates cases for forms and runs them through the oracle: the records the tests consume.
import { generateForm } from './casegen.mjs';
import { FORMS } from './forms.mjs';
import { runOracle } from './run-oracle.mjs';
import { toRecord } from './vectors.mjs';

/** Vector records for `perForm` cases of every form (or those `filter` accepts), from `seed`. */
export function generateVectors({ seed, perForm, perFamily = {}, filter = () => true }) {
  const cases = FORMS.filter(filter).flatMap((f) => generateForm(f, seed, perFamily[f.family] ?? perForm));
  const results = runOracle(cases);
  return cases.map((c, i) => ({ family: c.family, record: toRecord(c, results[i]) }));
}
