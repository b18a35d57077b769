// RFLAGS bits the vectors compare: the six arithmetic flags plus DF.
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const DF = 0x400;
export const OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
export const COMPARED = ARITH | DF;
