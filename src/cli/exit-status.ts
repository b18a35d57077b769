// The process exit status of `hvemu run`, for scripts (`hvemu run guest.img && next`).
//
// The guest's own verdict comes through QEMU's isa-debug-exit device (a write of V to port 0xF4).
// QEMU exits with (V << 1) | 1, so a guest can never make QEMU exit 0; hvemu's default gives 0 for
// V = 0 (success, as a test harness means it) and QEMU's odd status for every other V, so a script
// reads "0 passed, odd failed with V = (status - 1) / 2". `--exit-status qemu` gives QEMU's status for
// every V, for scripts written against QEMU. hvemu's own endings are even, so neither mode can be
// mistaken for a guest's verdict (statuses are 8 bits: the low 8 bits of (V << 1) | 1 are kept, as
// QEMU's exit() keeps them).
import type { BootSectorRunResult } from '../vmm/bare-metal.js';
import { KVM_EXIT_FAIL_ENTRY } from '../vmm/kvm-abi.js';

export type ExitStatusMode = 'default' | 'qemu';
export const EXIT_STATUS_MODES: readonly ExitStatusMode[] = ['default', 'qemu'];

export const EXIT_OK = 0;
/** Triple fault: the processor shut down (QEMU with -no-reboot stops the same way). */
export const EXIT_TRIPLE_FAULT = 2;
/** --max-instructions reached. */
export const EXIT_MAX_INSTRUCTIONS = 4;
/** Every processor halted or waiting for a SIPI, with no interrupt source left to wake one. */
export const EXIT_HALTED = 6;
/** A bad image, a bad argument or a file that cannot be read: nothing ran. */
export const EXIT_BAD_INPUT = 8;
/** The guest asked to be terminated (SEV-ES GHCB termination request) or the hypervisor stopped it. */
export const EXIT_TERMINATED = 10;
/** The guest reset the machine (port 92h bit 0, the 8042's FEh pulse): hvemu has no firmware to reboot. */
export const EXIT_RESET = 12;
/**
 * The VMM could not go on: KVM_EXIT_INTERNAL_ERROR (an exit it has no handler for, an emulation
 * failure) or any other KVM exit userspace does not handle.
 */
export const EXIT_INTERNAL_ERROR = 14;
/** KVM_EXIT_FAIL_ENTRY: VM entry failed its checks (SVM VMEXIT_INVALID, VMX entry failure). */
export const EXIT_FAIL_ENTRY = 16;
/** hvemu itself failed (an exception nobody expected: a bug, please report it with the command). */
export const EXIT_HVEMU_BUG = 70;
/** Stopped by SIGINT (Ctrl-C) / SIGTERM: 128 + the signal's number, as shells report it. */
export const EXIT_SIGINT = 130;
export const EXIT_SIGTERM = 143;

/** The status for a guest that wrote `value` to the isa-debug-exit port. */
export function debugExitStatus(value: number, mode: ExitStatusMode): number {
  if (mode === 'default' && value === 0) return EXIT_OK;
  return ((value << 1) | 1) & 0xff;
}

/** The status for a run's ending (not a signal: see EXIT_SIGINT). */
export function exitStatusFor(r: BootSectorRunResult, mode: ExitStatusMode): number {
  switch (r.stop) {
    case 'exit':
      // exitStatus is QEMU's (V << 1) | 1 (32 bits); V is what the guest wrote.
      return debugExitStatus((r.exitStatus ?? 1) >>> 1, mode);
    case 'triple-fault':
      return EXIT_TRIPLE_FAULT;
    case 'max-instructions':
      return EXIT_MAX_INSTRUCTIONS;
    case 'halted':
      return EXIT_HALTED;
    case 'terminated':
      return EXIT_TERMINATED;
    case 'reset':
      return EXIT_RESET;
    case 'interrupted':
      return EXIT_SIGINT;
    case 'error':
      return r.kvmExitReason === KVM_EXIT_FAIL_ENTRY ? EXIT_FAIL_ENTRY : EXIT_INTERNAL_ERROR;
  }
}

/** The table `hvemu run --help` and the README print. */
export const EXIT_STATUS_HELP = `exit status:
  0    the guest wrote 0 to port 0xF4 (isa-debug-exit): success
  odd  the guest wrote V != 0 to port 0xF4: (V << 1) | 1, low 8 bits, as QEMU exits
       (--exit-status qemu: that for V = 0 too, so 1 is QEMU's success)
  ${EXIT_TRIPLE_FAULT}    triple fault (the last exceptions on stderr)
  ${EXIT_MAX_INSTRUCTIONS}    --max-instructions reached
  ${EXIT_HALTED}    every vCPU halted or waiting for SIPI, with nothing to wake it
  ${EXIT_BAD_INPUT}    bad image, bad arguments, unreadable file: nothing ran
  ${EXIT_TERMINATED}   the guest asked to be terminated (SEV-ES termination request)
  ${EXIT_RESET}   the guest reset the machine (port 92h, the 8042's pulse): there is no firmware to reboot
  ${EXIT_INTERNAL_ERROR}   KVM_EXIT_INTERNAL_ERROR: the VMM could not handle an exit
  ${EXIT_FAIL_ENTRY}   KVM_EXIT_FAIL_ENTRY: a VM entry failed its checks (SVM VMEXIT_INVALID, VMX entry failure)
  ${EXIT_HVEMU_BUG}   hvemu itself failed (a bug: please report it with the command line)
  ${EXIT_SIGINT}  stopped by SIGINT (Ctrl-C); ${EXIT_SIGTERM} by SIGTERM`;
