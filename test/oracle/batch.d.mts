// Types for batch.mjs.
import type { VectorRecord } from './vectors.mjs';
export function generateVectors(opts: {
  seed: string;
  perForm: number;
  filter?: (form: { family: string; name: string }) => boolean;
}): { family: string; record: VectorRecord }[];
