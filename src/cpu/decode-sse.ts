// SSE/SSE2 forms of the 0F map, keyed by opcode and mandatory prefix (SDM vol 2 Table A-3).
// Returns op << 8 | sub, or 0 when the form is not offered (it decodes as #UD).
// sub for moves: operand width in bytes | ALIGNED (0x20: #GP unless 16-byte aligned).
import { Op } from './ops.js';

export const SSE_ALIGNED = 0x20;

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
    case 0x6f: // MOVDQA / MOVDQU
      return pfx === 0x66 ? (Op.SSE_LOAD << 8) | 16 | A : pfx === 0xf3 ? (Op.SSE_LOAD << 8) | 16 : 0;
    case 0x7f:
      return pfx === 0x66 ? (Op.SSE_STORE << 8) | 16 | A : pfx === 0xf3 ? (Op.SSE_STORE << 8) | 16 : 0;
    case 0xe7: // MOVNTDQ
      return pfx === 0x66 ? (Op.SSE_STORE << 8) | 16 | A : 0;
    case 0x6e: // MOVD/MOVQ xmm, r/m32/64
      return pfx === 0x66 ? Op.MOVD_X_RM << 8 : 0;
    case 0x7e: // MOVD/MOVQ r/m, xmm (66) or MOVQ xmm, xmm/m64 (F3)
      return pfx === 0x66 ? Op.MOVD_RM_X << 8 : pfx === 0xf3 ? Op.MOVQ_X_XM << 8 : 0;
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
      return pfx === 0x66 ? (Op.PCMPEQ << 8) | 1 : 0;
    case 0x75:
      return pfx === 0x66 ? (Op.PCMPEQ << 8) | 2 : 0;
    case 0x76:
      return pfx === 0x66 ? (Op.PCMPEQ << 8) | 4 : 0;
    case 0xd7:
      return pfx === 0x66 ? Op.PMOVMSKB << 8 : 0;
    case 0xfc:
      return pfx === 0x66 ? (Op.PADD << 8) | 1 : 0;
    case 0xfd:
      return pfx === 0x66 ? (Op.PADD << 8) | 2 : 0;
    case 0xfe:
      return pfx === 0x66 ? (Op.PADD << 8) | 4 : 0;
    case 0xd4:
      return pfx === 0x66 ? (Op.PADD << 8) | 8 : 0;
    case 0xf8:
      return pfx === 0x66 ? (Op.PSUB << 8) | 1 : 0;
    case 0xf9:
      return pfx === 0x66 ? (Op.PSUB << 8) | 2 : 0;
    case 0xfa:
      return pfx === 0x66 ? (Op.PSUB << 8) | 4 : 0;
    case 0xfb:
      return pfx === 0x66 ? (Op.PSUB << 8) | 8 : 0;
    case 0x70:
      return pfx === 0x66 ? Op.PSHUFD << 8 : 0;
    case 0x60:
      return pfx === 0x66 ? (Op.PUNPCKL << 8) | 1 : 0;
    case 0x61:
      return pfx === 0x66 ? (Op.PUNPCKL << 8) | 2 : 0;
    case 0x62:
      return pfx === 0x66 ? (Op.PUNPCKL << 8) | 4 : 0;
    case 0x6c:
      return pfx === 0x66 ? (Op.PUNPCKL << 8) | 8 : 0;
    case 0xda:
      return pfx === 0x66 ? (Op.PMINMAXUB << 8) | 0 : 0;
    case 0xde:
      return pfx === 0x66 ? (Op.PMINMAXUB << 8) | 1 : 0;
    case 0x71:
    case 0x72:
    case 0x73: // shift groups: ModRM.reg selects; register operand only
      return pfx === 0x66 ? (Op.PSHIFT_I << 8) | b : 0;
  }
  return 0;
}

function logic(b: number, pfx: number, sub: number): number {
  if (b < 0x60) return pfx === 0 || pfx === 0x66 ? (Op.SSE_LOGIC << 8) | sub : 0;
  return pfx === 0x66 ? (Op.SSE_LOGIC << 8) | sub : 0;
}
