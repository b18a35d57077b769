// Types for vectors.mjs (the committed vector format; see the comment at the top of vectors.mjs).
export interface VectorRecord {
  form: string;
  /** Instruction bytes, hex. */
  code: string;
  /** fx: the first 160 bytes of an FXSAVE image, hex (x87 and MMX forms). */
  in: { gpr: string[]; rflags: string; mem: { addr: string; bytes: string } | null; fx?: string };
  out: { fault: number | null; rflags: string; gpr: Record<string, string>; mem: string | null; fx?: string };
  /** flags: RFLAGS bits to compare; gpr: register indices not compared; mem: compare the window; fsw: FSW bits compared. */
  mask: { flags: number; gpr: number[]; mem: boolean; fsw?: number };
}
export function readVectors(dir: string): { family: string; records: VectorRecord[] }[];
export function writeFamily(dir: string, family: string, records: VectorRecord[]): string;
