// SSE/SSE2 and MMX forms of the 0F map, keyed by opcode and mandatory prefix (SDM vol 2 Table A-3).
// Returns op << 8 | sub, or 0 when the form is not offered (it decodes as #UD).
// sub for moves: operand width in bytes | ALIGNED (0x20: #GP unless 16-byte aligned).
// The packed-integer forms exist twice: with 66 on XMM registers and without a prefix on MMX
// registers (sub | MMX); one handler serves both, parameterised by the operand width.
import { Op } from './ops.js';

export const SSE_ALIGNED = 0x20;
/** sub bit: the MMX form (64-bit MM registers, no prefix). */
export const MMX = 0x80;

/** A packed-integer form: 66 selects XMM, no prefix MMX (when `mmx`), F2/F3 nothing. */
function packed(pfx: number, op: Op, sub: number, mmx = true): number {
  if (pfx === 0x66) return (op << 8) | sub;
  if (pfx === 0 && mmx) return (op << 8) | sub | MMX;
  return 0;
}

/** Shift by a register or memory count: sub = kind (2 SRL, 4 SRA, 6 SLL) << 2 | 1 words, 2 dwords, 3 qwords. */
const shiftR = (pfx: number, kind: number, g: number) => packed(pfx, Op.PSHIFT_R, (kind << 2) | g);

export function decodeSse(b: number, pfx: number): number {
  const A = SSE_ALIGNED;
  switch (b) {
    case 0x10: // MOVUPS MOVUPD MOVSS MOVSD (load)
      return (Op.SSE_LOAD << 8) | (pfx === 0xf3 ? 4 : pfx === 0xf2 ? 8 : 16);
    case 0x11:
      return (Op.SSE_STORE << 8) | (pfx === 0xf3 ? 4 : pfx === 0xf2 ? 8 : 16);
    case 0x28: // MOVAPS / MOVAPD
      return pfx === 0 || pfx === 0x66 ? (Op.SSE_LOAD << 8) | 16 | A : 0;
    case 0x29:
    case 0x2b: // MOVNTPS / MOVNTPD
      return pfx === 0 || pfx === 0x66 ? (Op.SSE_STORE << 8) | 16 | A : 0;
    case 0x6f: // MOVDQA / MOVDQU / MOVQ mm, mm/m64
      if (pfx === 0) return (Op.SSE_LOAD << 8) | 8 | MMX;
      return pfx === 0x66 ? (Op.SSE_LOAD << 8) | 16 | A : pfx === 0xf3 ? (Op.SSE_LOAD << 8) | 16 : 0;
    case 0x7f: // MOVDQA / MOVDQU / MOVQ mm/m64, mm
      if (pfx === 0) return (Op.SSE_STORE << 8) | 8 | MMX;
      return pfx === 0x66 ? (Op.SSE_STORE << 8) | 16 | A : pfx === 0xf3 ? (Op.SSE_STORE << 8) | 16 : 0;
    case 0xe7: // MOVNTDQ
      return pfx === 0x66 ? (Op.SSE_STORE << 8) | 16 | A : 0;
    case 0x6e: // MOVD/MOVQ xmm|mm, r/m32/64
      return packed(pfx, Op.MOVD_X_RM, 0);
    case 0x7e: // MOVD/MOVQ r/m, xmm|mm (66 / none) or MOVQ xmm, xmm/m64 (F3)
      return pfx === 0xf3 ? Op.MOVQ_X_XM << 8 : packed(pfx, Op.MOVD_RM_X, 0);
    case 0x12: // MOVLPS xmm, m64 / MOVHLPS xmm, xmm; 66: MOVLPD (memory only)
    case 0x13: // MOVLPS/MOVLPD m64, xmm
    case 0x16: // MOVHPS xmm, m64 / MOVLHPS xmm, xmm; 66: MOVHPD (memory only)
    case 0x17: // MOVHPS/MOVHPD m64, xmm
      if (pfx !== 0 && pfx !== 0x66) return 0; // F2/F3 0F 12/16 are SSE3 (MOVDDUP, MOVS*DUP)
      return (Op.MOV_HALF << 8) | (b & 1) | (b >= 0x16 ? 2 : 0) | (pfx === 0x66 || b & 1 ? 0x10 : 0);
    case 0xd6: // MOVQ xmm/m64, xmm
      return pfx === 0x66 ? Op.MOVQ_XM_X << 8 : 0;
    case 0x54:
    case 0xdb:
      return logic(b, pfx, 0); // ANDPS/ANDPD, PAND
    case 0x55:
    case 0xdf:
      return logic(b, pfx, 1); // ANDNPS/ANDNPD, PANDN
    case 0x56:
    case 0xeb:
      return logic(b, pfx, 2); // ORPS/ORPD, POR
    case 0x57:
    case 0xef:
      return logic(b, pfx, 3); // XORPS/XORPD, PXOR
    case 0x74:
    case 0x75:
    case 0x76: // PCMPEQB/W/D
      return packed(pfx, Op.PCMPEQ, 1 << (b - 0x74));
    case 0x64:
    case 0x65:
    case 0x66: // PCMPGTB/W/D
      return packed(pfx, Op.PCMPGT, 1 << (b - 0x64));
    case 0xd7:
      return pfx === 0x66 ? Op.PMOVMSKB << 8 : 0;
    case 0xfc:
    case 0xfd:
    case 0xfe: // PADDB/W/D
      return packed(pfx, Op.PADD, 1 << (b - 0xfc));
    case 0xd4:
      return packed(pfx, Op.PADD, 8);
    case 0xf8:
    case 0xf9:
    case 0xfa: // PSUBB/W/D
      return packed(pfx, Op.PSUB, 1 << (b - 0xf8));
    case 0xfb:
      return packed(pfx, Op.PSUB, 8);
    case 0xec:
    case 0xed: // PADDSB/W (signed saturation)
      return packed(pfx, Op.PADDSAT, 1 << (b - 0xec));
    case 0xdc:
    case 0xdd: // PADDUSB/W (unsigned saturation: sub | 0x10)
      return packed(pfx, Op.PADDSAT, (1 << (b - 0xdc)) | 0x10);
    case 0xe8:
    case 0xe9: // PSUBSB/W
      return packed(pfx, Op.PSUBSAT, 1 << (b - 0xe8));
    case 0xd8:
    case 0xd9: // PSUBUSB/W
      return packed(pfx, Op.PSUBSAT, (1 << (b - 0xd8)) | 0x10);
    case 0xd5:
      return packed(pfx, Op.PMUL, 0); // PMULLW
    case 0xe5:
      return packed(pfx, Op.PMUL, 1); // PMULHW
    case 0xf5:
      return packed(pfx, Op.PMUL, 2); // PMADDWD
    case 0x63:
      return packed(pfx, Op.PACK, 0); // PACKSSWB
    case 0x6b:
      return packed(pfx, Op.PACK, 1); // PACKSSDW
    case 0x67:
      return packed(pfx, Op.PACK, 2); // PACKUSWB
    case 0x70:
      return pfx === 0x66 ? Op.PSHUFD << 8 : 0;
    case 0x60:
    case 0x61:
    case 0x62: // PUNPCKLBW/WD/DQ
      return packed(pfx, Op.PUNPCKL, 1 << (b - 0x60));
    case 0x6c:
      return pfx === 0x66 ? (Op.PUNPCKL << 8) | 8 : 0;
    case 0x68:
    case 0x69:
    case 0x6a: // PUNPCKHBW/WD/DQ
      return packed(pfx, Op.PUNPCKH, 1 << (b - 0x68));
    case 0x6d:
      return pfx === 0x66 ? (Op.PUNPCKH << 8) | 8 : 0;
    case 0xda:
      return packed(pfx, Op.PMINMAXUB, 0);
    case 0xde:
      return packed(pfx, Op.PMINMAXUB, 1);
    case 0xd1:
      return shiftR(pfx, 2, 1); // PSRLW
    case 0xd2:
      return shiftR(pfx, 2, 2); // PSRLD
    case 0xd3:
      return shiftR(pfx, 2, 3); // PSRLQ
    case 0xe1:
      return shiftR(pfx, 4, 1); // PSRAW
    case 0xe2:
      return shiftR(pfx, 4, 2); // PSRAD
    case 0xf1:
      return shiftR(pfx, 6, 1); // PSLLW
    case 0xf2:
      return shiftR(pfx, 6, 2); // PSLLD
    case 0xf3:
      return shiftR(pfx, 6, 3); // PSLLQ
    case 0x71:
    case 0x72:
    case 0x73: // shift groups: ModRM.reg selects; register operand only
      return packed(pfx, Op.PSHIFT_I, b);
  }
  return 0;
}

function logic(b: number, pfx: number, sub: number): number {
  if (b < 0x60) return pfx === 0 || pfx === 0x66 ? (Op.SSE_LOGIC << 8) | sub : 0;
  return packed(pfx, Op.SSE_LOGIC, sub);
}
