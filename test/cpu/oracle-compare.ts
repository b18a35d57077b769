/**
 * Runs oracle vector records through exec64 and compares: the 16 GPRs (minus masked ones), RFLAGS
 * under the record's mask (CF PF AF ZF SF OF DF minus undefined flags), the memory window and the
 * fault. Shared by the committed-vector and fresh-batch tests.
 */
import type { VectorRecord } from '../oracle/vectors.mjs';
import { type Exec64Input, type Exec64Result, exec64 } from '../support/exec64.js';

const REG = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
];
const FLAG = [
  [0x1, 'CF'],
  [0x4, 'PF'],
  [0x10, 'AF'],
  [0x40, 'ZF'],
  [0x80, 'SF'],
  [0x400, 'DF'],
  [0x800, 'OF'],
] as const;
/** Show at most this many failing cases per group: enough to debug, not 40,000 lines. */
const SHOWN = 3;

const big = (h: string) => BigInt(`0x${h}`);
const hex = (v: bigint) => `0x${BigInt.asUintN(64, v).toString(16)}`;
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

export function toInput(r: VectorRecord): Exec64Input {
  const input: Exec64Input = { code: bytes(r.code), gpr: r.in.gpr.map(big), rflags: big(r.in.rflags) };
  if (r.in.mem) input.mem = { addr: Number(big(r.in.mem.addr)), bytes: bytes(r.in.mem.bytes) };
  return input;
}

export function expectedGpr(r: VectorRecord): bigint[] {
  const g = r.in.gpr.map(big);
  for (const [i, v] of Object.entries(r.out.gpr)) g[Number(i)] = big(v);
  return g;
}

/** The first difference between exec64 and the oracle for one case, or null when they agree. */
export function firstDifference(r: VectorRecord): string | null {
  let res: Exec64Result;
  try {
    res = exec64(toInput(r));
  } catch (e) {
    return `exec64 threw: ${(e as Error).message}`;
  }
  const fault = res.fault ?? null;
  if (fault !== r.out.fault) return `fault: expected ${r.out.fault ?? 'none'}, got ${fault ?? 'none'}`;
  const exp = expectedGpr(r);
  for (let i = 0; i < 16; i++) {
    if (r.mask.gpr.includes(i)) continue;
    if (BigInt.asUintN(64, res.gpr[i] ?? -1n) !== exp[i])
      return `${REG[i]}: expected ${hex(exp[i]!)}, got ${hex(res.gpr[i] ?? 0n)}`;
  }
  const diff = Number((big(r.out.rflags) ^ res.rflags) & BigInt(r.mask.flags));
  for (const [bit, name] of FLAG) {
    if (diff & bit)
      return `${name}: expected ${Number(big(r.out.rflags) & BigInt(bit)) ? 1 : 0} (rflags expected ${hex(big(r.out.rflags))}, got ${hex(res.rflags)}, compared bits ${hex(BigInt(r.mask.flags))})`;
  }
  if (r.out.mem !== null && r.mask.mem) {
    const want = bytes(r.out.mem);
    if (!res.mem) return 'memory: expected the data window back, got null';
    for (let i = 0; i < want.length; i++) {
      if (res.mem[i] !== want[i])
        return `memory byte ${hex(big(r.in.mem!.addr) + BigInt(i))}: expected 0x${want[i]!.toString(16)}, got 0x${(res.mem[i] ?? 0).toString(16)}`;
    }
  }
  return null;
}

function describeCase(r: VectorRecord, diff: string): string {
  const regs = r.in.gpr.map((v, i) => `${REG[i]}=${v}`).join(' ');
  const mem = r.in.mem ? `\n    mem @${r.in.mem.addr}: ${r.in.mem.bytes}` : '';
  return `  code ${r.code}  ->  ${diff}\n    in: ${regs} rflags=${r.in.rflags}${mem}`;
}

/** Checks a group of records; `message` names the form(s), counts failures and shows a few cases. */
export function checkRecords(title: string, records: VectorRecord[]): { failed: number; message: string } {
  const failing: string[] = [];
  const forms = new Map<string, number>();
  let failed = 0;
  for (const r of records) {
    const diff = firstDifference(r);
    if (diff === null) continue;
    failed++;
    forms.set(r.form, (forms.get(r.form) ?? 0) + 1);
    if (failing.length < SHOWN) failing.push(`[${r.form}]\n${describeCase(r, diff)}`);
  }
  const perForm =
    forms.size > 1 ? `\n  failing forms: ${[...forms].map(([f, n]) => `${f} (${n})`).join('; ')}` : '';
  const message = `${title}: ${failed} of ${records.length} cases differ from the host CPU${perForm}\n${failing.join('\n')}`;
  return { failed, message };
}

export function groupByForm(records: VectorRecord[]): Map<string, VectorRecord[]> {
  const m = new Map<string, VectorRecord[]>();
  for (const r of records) {
    if (!m.has(r.form)) m.set(r.form, []);
    m.get(r.form)!.push(r);
  }
  return m;
}
