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
const SHOWN = Number(process.env.ORACLE_SHOW ?? 3);

const big = (h: string) => BigInt(`0x${h}`);
const hex = (v: bigint) => `0x${BigInt.asUintN(64, v).toString(16)}`;
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

export function toInput(r: VectorRecord): Exec64Input {
  const input: Exec64Input = { code: bytes(r.code), gpr: r.in.gpr.map(big), rflags: big(r.in.rflags) };
  if (r.in.mem) input.mem = { addr: Number(big(r.in.mem.addr)), bytes: bytes(r.in.mem.bytes) };
  if (r.in.fx) input.fx = bytes(r.in.fx);
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
  if (r.out.fx) return fxDifference(bytes(r.out.fx), res.fx, r.mask.fsw ?? 0xffff);
  return null;
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const h16 = (v: number) => `0x${v.toString(16).padStart(4, '0')}`;
/** An 80-bit image as the manuals write it: sign/exponent, then the significand. */
function st80(b: Uint8Array, o: number): string {
  const sig = Array.from(b.subarray(o, o + 8)).reverse();
  return `${h16(u16(b, o + 8))}:${Buffer.from(sig).toString('hex')}`;
}

/** FCW, FSW (under the mask), abridged FTW, MXCSR and the ST0-7 images (bytes 0-9 of each slot). */
function fxDifference(want: Uint8Array, got: Uint8Array | null, fswMask: number): string | null {
  if (!got) return 'x87 state: expected an FXSAVE image back, got none';
  if (u16(want, 0) !== u16(got, 0)) return `FCW: expected ${h16(u16(want, 0))}, got ${h16(u16(got, 0))}`;
  if ((u16(want, 2) ^ u16(got, 2)) & fswMask)
    return `FSW: expected ${h16(u16(want, 2))}, got ${h16(u16(got, 2))} (compared bits ${h16(fswMask)})`;
  if (want[4] !== got[4])
    return `abridged FTW: expected 0x${want[4]!.toString(16)}, got 0x${got[4]!.toString(16)}`;
  for (let o = 24; o < 28; o++)
    if (want[o] !== got[o])
      return `MXCSR byte ${o - 24}: expected 0x${want[o]!.toString(16)}, got 0x${got[o]!.toString(16)}`;
  for (let i = 0; i < 8; i++) {
    const o = 32 + 16 * i;
    for (let k = 0; k < 10; k++)
      if (want[o + k] !== got[o + k]) return `ST${i}/MM${i}: expected ${st80(want, o)}, got ${st80(got, o)}`;
  }
  for (let o = 160; o < want.length; o += 16) {
    const w = Buffer.from(want.subarray(o, o + 16)).toString('hex');
    const g = Buffer.from(got.subarray(o, o + 16)).toString('hex');
    if (w !== g) return `XMM${(o - 160) >> 4}: expected ${w}, got ${g}`;
  }
  return null;
}

function describeCase(r: VectorRecord, diff: string): string {
  const regs = r.in.gpr.map((v, i) => `${REG[i]}=${v}`).join(' ');
  const mem = r.in.mem ? `\n    mem @${r.in.mem.addr}: ${r.in.mem.bytes}` : '';
  let fx = '';
  if (r.in.fx) {
    const b = bytes(r.in.fx);
    const sts = Array.from({ length: 8 }, (_, i) => `ST${i}=${st80(b, 32 + 16 * i)}`).join(' ');
    const xs = Array.from({ length: (b.length - 160) >> 4 }, (_, i) =>
      Buffer.from(b.subarray(160 + 16 * i, 176 + 16 * i)).toString('hex'),
    );
    fx = `\n    fcw=${h16(u16(b, 0))} fsw=${h16(u16(b, 2))} tags=0x${b[4]!.toString(16)} ${sts}${xs.length ? `\n    xmm: ${xs.join(' ')}` : ''}`;
  }
  return `  code ${r.code}  ->  ${diff}\n    in: ${regs} rflags=${r.in.rflags}${mem}${fx}`;
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
