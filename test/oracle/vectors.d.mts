// Types for vectors.mjs (the committed vector format; see the comment at the top of vectors.mjs).
export interface VectorRecord {
  form: string;
  /** Instruction bytes, hex. */
  code: string;
  in: { gpr: string[]; rflags: string; mem: { addr: string; bytes: string } | null };
  out: { fault: number | null; rflags: string; gpr: Record<string, string>; mem: string | null };
  /** flags: RFLAGS bits to compare; gpr: register indices not compared; mem: compare the window. */
  mask: { flags: number; gpr: number[]; mem: boolean };
}
export function readVectors(dir: string): { family: string; records: VectorRecord[] }[];
export function writeFamily(dir: string, family: string, records: VectorRecord[]): string;
