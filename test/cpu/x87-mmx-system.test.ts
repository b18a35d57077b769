/**
 * What the native oracle cannot show (it runs at CPL 3 under Linux, with CR0.NE set and EM/TS
 * clear): the CR0 checks of x87 and MMX instructions and the #MF of a pending x87 exception, as
 * Intel SDM vol 1 Table 9-1 / 9-2 and 8.7, vol 3 2.5 (CR0.EM, TS, MP, NE) and AMD APM vol 2 8.2
 * give them.
 */
import { describe, expect, it } from 'vitest';
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS } from '../../src/cpu/regs.js';
import { type Exec64Input, exec64 } from '../support/exec64.js';

const NM = 7,
  UD = 6,
  MF = 16;

/** An x87 state: FCW, FSW, two valid registers (1.0 and 2.0) at TOP 6. */
function fx(fcw: number, fsw: number): Uint8Array {
  const b = new Uint8Array(160);
  const v = new DataView(b.buffer);
  v.setUint16(0, fcw, true);
  v.setUint16(2, fsw | (6 << 11), true);
  b[4] = 0xc0; // physical 6 and 7 valid
  v.setUint32(24, 0x1f80, true);
  v.setBigUint64(32, 1n << 63n, true);
  v.setUint16(40, 0x3fff, true); // ST0 = 1.0
  v.setBigUint64(48, 1n << 63n, true);
  v.setUint16(56, 0x4000, true); // ST1 = 2.0
  return b;
}

function runCode(code: number[], extra: Partial<Exec64Input> = {}) {
  return exec64({
    code: new Uint8Array(code),
    gpr: Array.from({ length: 16 }, () => 0n),
    rflags: 2n,
    fx: fx(0x37f, 0),
    ...extra,
  });
}

const FADD = [0xd8, 0xc1]; // fadd st0, st1
const FNINIT = [0xdb, 0xe3];
const FNSTSW_AX = [0xdf, 0xe0];
const FWAIT = [0x9b];
const PADDB_MM = [0x0f, 0xfc, 0xc1];
const EMMS = [0x0f, 0x77];
const PADDB_XMM = [0x66, 0x0f, 0xfc, 0xc1];

describe('CR0.EM (emulate coprocessor)', () => {
  it('x87 instructions raise #NM, waiting or not; FWAIT does not', () => {
    expect(runCode(FADD, { cr0Set: CR0_EM }).fault).toBe(NM);
    expect(runCode(FNINIT, { cr0Set: CR0_EM }).fault).toBe(NM);
    expect(runCode(FNSTSW_AX, { cr0Set: CR0_EM }).fault).toBe(NM);
    expect(runCode(FWAIT, { cr0Set: CR0_EM }).fault).toBe(null);
  });
  it('MMX and SSE instructions raise #UD', () => {
    expect(runCode(PADDB_MM, { cr0Set: CR0_EM }).fault).toBe(UD);
    expect(runCode(EMMS, { cr0Set: CR0_EM }).fault).toBe(UD);
    expect(runCode(PADDB_XMM, { cr0Set: CR0_EM }).fault).toBe(UD);
  });
});

describe('CR0.TS (task switched)', () => {
  it('x87, MMX and SSE instructions raise #NM', () => {
    expect(runCode(FADD, { cr0Set: CR0_TS }).fault).toBe(NM);
    expect(runCode(PADDB_MM, { cr0Set: CR0_TS }).fault).toBe(NM);
    expect(runCode(EMMS, { cr0Set: CR0_TS }).fault).toBe(NM);
    expect(runCode(PADDB_XMM, { cr0Set: CR0_TS }).fault).toBe(NM);
  });
  it('FWAIT raises #NM only together with CR0.MP', () => {
    expect(runCode(FWAIT, { cr0Set: CR0_TS }).fault).toBe(null);
    expect(runCode(FWAIT, { cr0Set: CR0_TS | CR0_MP }).fault).toBe(NM);
  });
  it('leaves the x87 state untouched when it faults', () => {
    const r = runCode(FADD, { cr0Set: CR0_TS });
    expect(Buffer.from(r.fx!.subarray(0, 4))).toEqual(Buffer.from(fx(0x37f, 0).subarray(0, 4)));
    expect(r.fx![40]).toBe(0xff); // ST0 still 1.0 (exponent 3FFFh)
  });
});

describe('a pending unmasked x87 exception (FSW.ES)', () => {
  // FCW with IM clear and FSW with IE, ES and B set: an invalid operation waits to be reported.
  const pending = { fx: fx(0x37e, 0x8081) };
  it('raises #MF on the next waiting x87 or MMX instruction when CR0.NE is set', () => {
    expect(runCode(FADD, pending).fault).toBe(MF);
    expect(runCode(FWAIT, pending).fault).toBe(MF);
    expect(runCode(PADDB_MM, pending).fault).toBe(MF);
    expect(runCode(EMMS, pending).fault).toBe(MF);
  });
  it('is not checked by the non-waiting forms', () => {
    const r = runCode(FNSTSW_AX, pending);
    expect(r.fault).toBe(null);
    expect(Number(r.gpr[0] & 0xffffn)).toBe(0x8081 | (6 << 11));
    expect(runCode(FNINIT, pending).fault).toBe(null);
  });
  it('does not reach SSE instructions', () => {
    expect(runCode(PADDB_XMM, pending).fault).toBe(null);
  });
  it('with CR0.NE clear goes to FERR#, which this machine does not wire: no #MF, the instruction runs', () => {
    const r = runCode(FADD, { ...pending, cr0Clear: CR0_NE });
    expect(r.fault).toBe(null);
    expect(r.fx![41]).toBe(0x40); // ST0 = 1.0 + 2.0 = 3.0: exponent 4000h
  });
});

describe('an unmasked exception raised by the instruction itself', () => {
  it('is reported in FSW (ES, B) and taken by the next waiting instruction, not by this one', () => {
    // 0/0 with IM clear: FDIV leaves its destination alone and sets IE, ES and B.
    const zero = fx(0x37e, 0);
    zero.fill(0, 32, 42); // ST0 = +0
    zero.fill(0, 48, 58); // ST1 = +0
    const r = exec64({ code: new Uint8Array([0xd8, 0xf1]), gpr: Array(16).fill(0n), rflags: 2n, fx: zero });
    expect(r.fault).toBe(null);
    const fsw = r.fx![2] | (r.fx![3] << 8);
    expect(fsw & 0x8081).toBe(0x8081);
    expect(runCode(FWAIT, { fx: r.fx! }).fault).toBe(MF);
  });
});
