// Bits of Cpu.attention: why the run loop must look up from the instruction stream.
/** Interrupt state changed (IF set, interrupt raised, HLT): check deliverable events. */
export const ATT_EVENT = 1;
/** A code page was written: the current block may be stale. */
export const ATT_SMC = 2;
/** The owner asked the vCPU to return from run() (kick). */
export const ATT_STOP = 4;
/**
 * An instruction in compiled code was intercepted: run() returns Stop.VMEXIT at its next look. A
 * status instead of a thrown VMEXIT, whose unwinding cost more than the rest of the exit (issue 12).
 */
export const ATT_VMEXIT = 8;
