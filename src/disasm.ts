// Disassembly for diagnostics (the #UD report, traces), through iced-x86: a well-kept x86
// decoder/formatter compiled to WebAssembly. Loaded only when asked for, so a plain run pays nothing.
import { createRequire } from 'node:module';

type Iced = typeof import('iced-x86');
let iced: Iced | null = null;

function load(): Iced {
  if (iced === null) iced = createRequire(import.meta.url)('iced-x86') as Iced;
  return iced;
}

/** One instruction in NASM syntax, e.g. "ud2", or "(not an instruction)". */
export function disassemble(bytes: Uint8Array, codeSize: number): string {
  const { Decoder, DecoderOptions, Formatter, FormatterSyntax } = load();
  const decoder = new Decoder(codeSize, bytes, DecoderOptions.None);
  const formatter = new Formatter(FormatterSyntax.Nasm);
  try {
    const insn = decoder.decode();
    const text = insn.isInvalid ? '(not an instruction)' : formatter.format(insn);
    insn.free();
    return text;
  } finally {
    formatter.free();
    decoder.free();
  }
}

/** One instruction in NASM syntax and its length in bytes (0 for bytes that are not an instruction). */
export function disassembleOne(
  bytes: Uint8Array,
  codeSize: number,
  ip: bigint,
): { text: string; length: number } {
  const { Decoder, DecoderOptions, Formatter, FormatterSyntax } = load();
  const decoder = new Decoder(codeSize, bytes, DecoderOptions.None);
  decoder.ip = ip;
  const formatter = new Formatter(FormatterSyntax.Nasm);
  try {
    const insn = decoder.decode();
    const out = insn.isInvalid
      ? { text: '(not an instruction)', length: 0 }
      : { text: formatter.format(insn), length: insn.length };
    insn.free();
    return out;
  } finally {
    formatter.free();
    decoder.free();
  }
}

export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
