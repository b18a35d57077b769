// INS and OUTS ignore REX.W: ports are 8, 16 or 32 bits wide, so `48 6D` is INSD and `48 6F` is
// OUTSD, moving 4 bytes and stepping RDI/RSI by 4 (SDM vol 2 INS/OUTS: the opcode tables list only
// m8, m16 and m32 forms, "the operand-size attribute ... for a 16- or 32-bit I/O port"). The host
// processor cannot be the oracle here (INS/OUTS need I/O privilege, which test/oracle's user-mode
// harness does not have), so the outside truth is the manual's text and iced-x86's decoding of the
// same bytes (Insd_m32_DX / Outsd_DX_m32, a 32-bit memory operand).
import { Code, Decoder, DecoderOptions, MemorySize } from 'iced-x86';
import { describe, expect, it } from 'vitest';
import { DATA_ADDR, exec64 } from '../support/exec64.js';

const gpr = (rsi: bigint, rdi: bigint, rcx = 0n) => {
  const g = new Array<bigint>(16).fill(0n);
  g[1] = rcx;
  g[2] = 0x80n; // DX: the port (the harness's ports read all ones)
  g[6] = rsi;
  g[7] = rdi;
  return g;
};

function iced(hex: string) {
  const insn = new Decoder(64, Buffer.from(hex, 'hex'), DecoderOptions.None).decode();
  return { code: insn.code, memorySize: insn.memorySize };
}

describe('REX.W on INS and OUTS is ignored (32-bit ports)', () => {
  it('iced-x86 decodes 48 6D as INSD and 48 6F as OUTSD, with 32-bit memory operands', () => {
    expect(iced('486d')).toEqual({ code: Code.Insd_m32_DX, memorySize: MemorySize.UInt32 });
    expect(iced('486f')).toEqual({ code: Code.Outsd_DX_m32, memorySize: MemorySize.UInt32 });
  });

  it('INS with REX.W writes 4 bytes and steps RDI by 4', () => {
    const r = exec64({
      code: Uint8Array.of(0x48, 0x6d),
      gpr: gpr(0n, BigInt(DATA_ADDR)),
      rflags: 2n,
      mem: { addr: DATA_ADDR, bytes: new Uint8Array(16) },
    });
    expect(r.fault).toBeNull();
    expect(r.gpr[7]).toBe(BigInt(DATA_ADDR + 4));
    expect([...(r.mem ?? [])].slice(0, 8)).toEqual([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
  });

  it('REP INS with REX.W and DF set steps RDI down by 4 per element', () => {
    const r = exec64({
      code: Uint8Array.of(0xf3, 0x48, 0x6d),
      gpr: gpr(0n, BigInt(DATA_ADDR + 8), 3n),
      rflags: 2n | 0x400n,
      mem: { addr: DATA_ADDR, bytes: new Uint8Array(16) },
    });
    expect(r.fault).toBeNull();
    expect(r.gpr[7]).toBe(BigInt(DATA_ADDR - 4));
    expect(r.gpr[1]).toBe(0n);
    expect([...(r.mem ?? [])]).toEqual([...new Array(12).fill(0xff), 0, 0, 0, 0]);
  });

  it('OUTS with REX.W steps RSI by 4', () => {
    const r = exec64({
      code: Uint8Array.of(0x48, 0x6f),
      gpr: gpr(BigInt(DATA_ADDR), 0n),
      rflags: 2n,
      mem: { addr: DATA_ADDR, bytes: new Uint8Array(16) },
    });
    expect(r.fault).toBeNull();
    expect(r.gpr[6]).toBe(BigInt(DATA_ADDR + 4));
  });
});
