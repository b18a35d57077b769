// Names for opcodes in diagnostics (#UD reports). The bytes come from the decoder's record of the
// opcode map and byte; iced-x86 (a well-kept disassembler) turns full instruction bytes into text
// where they are available.
const MAPS = ['', '0F ', '0F 38 ', '0F 3A '];

/** "opcode 0F 0B (map 0F)" style description of an undefined opcode. */
export function describeUndefined(bytes: number[]): string {
  const [map, op] = bytes;
  return `opcode ${MAPS[map] ?? ''}${op.toString(16).padStart(2, '0').toUpperCase()} is not implemented or invalid here`;
}
