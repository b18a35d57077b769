// REP STOS and REP MOVS with 64-bit addresses run in page-sized bulk when the TLB maps the pages
// (src/cpu/exec/string.ts). The result must be what the SDM's element-by-element definition gives
// (vol 2 "REP/REPE/REPZ/REPNE/REPNZ", "MOVS", "STOS": one element per iteration, RSI/RDI stepped by
// the element size, RCX counted down): runs across a page boundary, elements straddling it, and
// overlapping MOVS, where the destination ahead of the source repeats the data instead of copying it.
import { describe, expect, it } from 'vitest';
import { DATA_ADDR, exec64 } from '../support/exec64.js';

const REGION = 4096;
const BASE = DATA_ADDR + 0x800; // the region spans the page boundary at DATA_ADDR + 0x1000

function pattern(): Uint8Array {
  const b = new Uint8Array(REGION);
  for (let i = 0; i < REGION; i++) b[i] = (i * 37 + 11) & 0xff;
  return b;
}

/** The SDM's REP MOVS / REP STOS, one element at a time, on a copy of `mem` (DF clear). */
function reference(
  mem: Uint8Array,
  op: 'movs' | 'stos',
  size: number,
  src: number,
  dst: number,
  n: number,
  rax: bigint,
) {
  const m = mem.slice();
  const raxBytes = new Uint8Array(new BigUint64Array([rax]).buffer);
  for (let i = 0; i < n; i++) {
    const el =
      op === 'stos' ? raxBytes.slice(0, size) : m.slice(src - BASE + i * size, src - BASE + (i + 1) * size);
    m.set(el, dst - BASE + i * size);
  }
  return m;
}

const OPCODE: Record<number, number[]> = { 1: [0xf3], 2: [0x66, 0xf3], 4: [0xf3], 8: [0xf3, 0x48] };

function run(op: 'movs' | 'stos', size: number, src: number, dst: number, n: number) {
  const rax = 0x1122334455667788n;
  const code = Uint8Array.from([
    ...OPCODE[size],
    op === 'movs' ? (size === 1 ? 0xa4 : 0xa5) : size === 1 ? 0xaa : 0xab,
  ]);
  const g = new Array<bigint>(16).fill(0n);
  g[0] = rax;
  g[1] = BigInt(n);
  g[6] = BigInt(src);
  g[7] = BigInt(dst);
  const mem = pattern();
  const r = exec64({ code, gpr: g, rflags: 2n, mem: { addr: BASE, bytes: mem } });
  expect(r.fault).toBeNull();
  expect(r.gpr[1]).toBe(0n);
  expect(r.gpr[7]).toBe(BigInt(dst + n * size));
  if (op === 'movs') expect(r.gpr[6]).toBe(BigInt(src + n * size));
  expect([...(r.mem ?? [])]).toEqual([...reference(mem, op, size, src, dst, n, rax)]);
}

describe('REP STOS / REP MOVS in bulk give the element-by-element result', () => {
  for (const size of [1, 2, 4, 8]) {
    it(`rep stos (${size}-byte elements) across a page boundary, an element straddling it`, () => {
      // From 3 bytes past a multiple of the element size, so one element straddles the boundary.
      run('stos', size, 0, BASE + 3, Math.floor((REGION - 8) / size));
    });
    it(`rep movs (${size}-byte elements), source and destination in different pages`, () => {
      run('movs', size, BASE + 0x805, BASE + 1, Math.floor(0x7f0 / size));
    });
    it(`rep movs (${size}-byte elements), destination ahead of the source by less than the run`, () => {
      run('movs', size, BASE + 0x100, BASE + 0x100 + size * 3 + (size > 1 ? 1 : 0), Math.floor(0xc00 / size));
    });
  }
  it('rep movsb with the destination one byte ahead repeats the first byte', () => {
    run('movs', 1, BASE + 0x7f0, BASE + 0x7f1, 64);
  });
  it('rep movsq with the destination 4 bytes ahead (inside one element)', () => {
    run('movs', 8, BASE + 0x7f0, BASE + 0x7f4, 64);
  });
  it('rep movs with the destination behind the source (a forward copy)', () => {
    run('movs', 8, BASE + 0x900, BASE + 0x10, 0xe0);
  });
});
