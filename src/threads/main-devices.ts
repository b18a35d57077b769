// The main thread's answers to the accesses vCPU workers post in their run pages: the VMM's
// devices (the PC platform's ports and MMIO, on this thread only) and userspace's own ports (the
// debug consoles 0xE9 and 0x402, isa-debug-exit 0xF4), as the deterministic scheduler answers
// KVM_EXIT_IO and KVM_EXIT_MMIO.
import type { BootSectorRunResult } from '../vmm/bare-metal.js';
import type { PcPlatform } from '../vmm/platform.js';
import type { Vm } from '../vmm/vm.js';
import { KIND_IO, type UserAccess } from './run-page.js';

/** The parts of a loaded PC VM (vm-boot.ts's PcVm) the threaded scheduler uses. */
export interface ThreadedPc {
  vm: Vm;
  platform: PcPlatform;
  output: number[];
  resetRequested: boolean;
  powerOffRequested: boolean;
}

export interface UserHooks {
  /** Bytes to 0x402 (else they join the output). */
  onDebugcon?: (byte: number) => void;
  /** Each byte to 0xE9 as it comes. */
  onDebugByte?: (byte: number) => void;
  /** Userspace MMIO nobody claims (default open bus). */
  onMmio?: (gpa: number, size: number, isWrite: boolean, data: number) => number;
}

export interface RunEnd {
  stop: BootSectorRunResult['stop'];
  message: string;
  exitStatus: number | null;
}

const DEBUGCON_OVMF = 0x402;
const ones = (size: number) => (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1);

/** Answer one posted access: a read's value, or the end of the run (isa-debug-exit). */
export function answerAccess(
  pc: ThreadedPc,
  hooks: UserHooks,
  a: UserAccess,
): { data: number; end?: RunEnd } {
  if (a.kind === KIND_IO) {
    const port = a.addr;
    const debugcon = port === 0xe9 || port === DEBUGCON_OVMF;
    if (a.isWrite) {
      if (port === DEBUGCON_OVMF && hooks.onDebugcon) hooks.onDebugcon(a.data & 0xff);
      else if (debugcon) {
        pc.output.push(a.data & 0xff);
        hooks.onDebugByte?.(a.data & 0xff);
      } else if (port === 0xf4) {
        const val = a.data >>> 0;
        return {
          data: 0,
          end: {
            stop: 'exit',
            message: `guest wrote ${val.toString(16)} to port 0xF4`,
            exitStatus: ((val << 1) | 1) >>> 0,
          },
        };
      } else pc.vm.ports.portWrite(port, a.size, a.data >>> 0);
      return { data: 0 };
    }
    if (debugcon) return { data: 0xe9 };
    return { data: pc.vm.ports.portRead(port, a.size) };
  }
  const map = pc.vm.mmio;
  if (map.claims(a.addr)) {
    if (a.isWrite) map.write(a.addr, a.size, a.data >>> 0);
    return { data: a.isWrite ? 0 : map.read(a.addr, a.size) };
  }
  if (hooks.onMmio) return { data: hooks.onMmio(a.addr, a.size, a.isWrite, a.data >>> 0) };
  return { data: a.isWrite ? 0 : ones(a.size) };
}
