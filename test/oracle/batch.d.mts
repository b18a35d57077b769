// Types for batch.mjs.
import type { VectorRecord } from './vectors.mjs';
export function generateVectors(opts: {
  seed: string;
  perForm: number;
  /** Cases per form for some families (the x87 and MMX records are larger). */
  perFamily?: Record<string, number>;
  filter?: (form: { family: string; name: string }) => boolean;
}): { family: string; record: VectorRecord }[];
