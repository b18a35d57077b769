// The register layouts gdb expects from an x86 target (GDB manual, "Target Descriptions",
// "i386 Features"): the org.gnu.gdb.i386.core feature, whose registers and their order gdb checks
// by name. The 'g' packet carries them in this order, each in the target's byte order (little-endian).
// hvemu's VMM holds no x87 state of a guest (KVM_GET_FPU is not offered), so the x87 registers are
// sent as unavailable.

export interface GdbReg {
  name: string;
  bits: number;
  type: string;
}

const X87: GdbReg[] = [
  ...Array.from({ length: 8 }, (_, i) => ({ name: `st${i}`, bits: 80, type: 'i387_ext' })),
  ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((name) => ({
    name,
    bits: 32,
    type: 'int',
  })),
];
const SEGS = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'].map((name) => ({ name, bits: 32, type: 'int32' }));

/** amd64: RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP, R8-R15 (gdb's order, not the encoding's), RIP, EFLAGS. */
export const AMD64_REGS: GdbReg[] = [
  ...['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp'].map((name) => ({
    name,
    bits: 64,
    type: 'int64',
  })),
  ...Array.from({ length: 8 }, (_, i) => ({ name: `r${i + 8}`, bits: 64, type: 'int64' })),
  { name: 'rip', bits: 64, type: 'code_ptr' },
  { name: 'eflags', bits: 32, type: 'int32' },
  ...SEGS,
  ...X87,
];
/** gdb's amd64 general register n is encoding register AMD64_GPR_ENCODING[n]. */
export const AMD64_GPR_ENCODING = [0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15];

/** i386: EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (the encoding order), EIP, EFLAGS. */
export const I386_REGS: GdbReg[] = [
  ...['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'].map((name) => ({
    name,
    bits: 32,
    type: 'int32',
  })),
  { name: 'eip', bits: 32, type: 'code_ptr' },
  { name: 'eflags', bits: 32, type: 'int32' },
  ...SEGS,
  ...X87,
];

/** target.xml for qXfer:features:read. */
export function targetXml(amd64: boolean): string {
  const regs = amd64 ? AMD64_REGS : I386_REGS;
  const lines = regs.map(
    (r, i) => `    <reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${i}"/>`,
  );
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `  <architecture>${amd64 ? 'i386:x86-64' : 'i386'}</architecture>`,
    '  <feature name="org.gnu.gdb.i386.core">',
    ...lines,
    '  </feature>',
    '</target>',
    '',
  ].join('\n');
}
