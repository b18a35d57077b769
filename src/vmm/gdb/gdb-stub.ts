// A GDB stub (GDB manual, "Remote Protocol") on the VMM's side of the trust boundary: it sees a
// vCPU through KVM's ioctls (KVM_GET_REGS, KVM_GET_SREGS, KVM_SET_REGS), which an SEV-ES vCPU
// refuses, and guest memory through the VMM's host path. vCPUs are gdb's threads (thread id =
// vCPU id + 1). The run loop calls it once per turn (VmDebugHook); while gdb holds the VM stopped
// the stub blocks there, serving packets. Breakpoints (Z0 and Z1 alike) compare the linear RIP of a
// vCPU before each instruction, as a debug register does: guest memory is never patched with INT3,
// so a guest that reads its own code sees its own bytes. While any is set, or a step is pending,
// turns are one instruction long; otherwise the guest runs at full speed.

import type { Regs, Sregs } from '../backend-api.js';
import type { BootSectorRunResult } from '../bare-metal.js';
import { GuestStateProtectedError } from '../errors.js';
import { MP_STATE_NAMES } from '../kvm-abi.js';
import type { Vcpu } from '../vcpu.js';
import type { Vm } from '../vm.js';
import type { VmDebugHook } from '../vm-debug-hook.js';
import { linearToPhysical, longMode } from './guest-linear.js';
import { framePacket, fromHex, RspDecoder, type RspInput, textToHex, toHex } from './rsp-packets.js';
import { AMD64_GPR_ENCODING, AMD64_REGS, I386_REGS, targetXml } from './target-description.js';

/** The connection to gdb, as the stub's thread sees it. */
export interface GdbTransport {
  /** Cheap (one shared-memory load): did bytes or a connection change arrive since the last take()? */
  pending(): boolean;
  /** What arrived, without waiting; `wait`: block until something does, or a short while passes. */
  take(wait: boolean): { bytes: Uint8Array[]; connected: boolean };
  send(text: string): void;
  /** The stub is ready to answer (the VM is built and about to run). */
  ready(): void;
}

const SIGINT = 2;
const SIGTRAP = 5;
/** The largest packet gdb may send (qSupported PacketSize); a memory read's reply is two hex digits a byte. */
const PACKET_SIZE = 0x4000;
const MAX_READ = PACKET_SIZE / 2;
/** Debug registers DR0-DR3: at most four hardware breakpoints, as on the processor. */
const MAX_HW_BREAKPOINTS = 4;

export interface GdbStubOptions {
  /** QEMU's -S: hold the VM before its first instruction until gdb attaches and continues. */
  waitForAttach: boolean;
  /** gdb's kill (k): end the run. */
  kill: () => void;
  /** The user asked the run to end (Ctrl-C or SIGTERM to hvemu): a held VM lets go. */
  stopping: () => boolean;
  /** One line for the user (attach, detach), on stderr. */
  log?: (line: string) => void;
}

export class GdbStub implements VmDebugHook {
  private readonly decoder = new RspDecoder();
  private readonly inbox: RspInput[] = [];
  private connected = false;
  /** Stop at the next turn (Ctrl-C, a new connection, --gdb-wait). */
  private stopRequested: number;
  private readonly swBreaks = new Set<number>();
  private readonly hwBreaks = new Set<number>();
  /** A vCPU resumed at a breakpoint runs its instruction once before the breakpoint counts again. */
  private passAt: number[] = [];
  private icountBefore = 0;
  /** The vCPU gdb asked to single-step (-1: none). */
  private stepping = -1;
  /** gdb's current thread for registers and memory (Hg) and for resuming (Hc), as vCPU ids. */
  private gVcpu = 0;
  private cVcpu = -1;
  /** gdb waits for a stop reply (it sent c or s). */
  private running = false;
  private amd64 = true;
  /** Connections so far, and the one the register layout was chosen for. */
  private connection = 0;
  private layoutFor = -1;
  private threadList: string[] = [];

  constructor(
    private readonly transport: GdbTransport,
    private readonly opts: GdbStubOptions,
  ) {
    this.stopRequested = opts.waitForAttach ? SIGTRAP : 0;
    this.holdUntilAttached = opts.waitForAttach;
  }

  /** --gdb-wait, until the first client attaches. */
  private holdUntilAttached: boolean;

  private announced = false;

  beforeTurn(vm: Vm, v: Vcpu, runnable: boolean): boolean {
    if (!this.announced) {
      this.announced = true;
      this.transport.ready();
    }
    if (this.transport.pending()) this.receive(false);
    // Stop where gdb can look at running code: at a vCPU that runs, or at the BSP (all may wait).
    if (this.stopRequested !== 0 && (runnable || v.id === 0)) {
      const sig = this.stopRequested;
      this.stopRequested = 0;
      this.stop(vm, v, sig, '');
    } else if (runnable && this.breakpointsSet()) {
      const rip = this.linearRip(v);
      if (rip !== null && this.passAt[v.id] !== rip && (this.swBreaks.has(rip) || this.hwBreaks.has(rip)))
        this.stop(vm, v, SIGTRAP, this.swBreaks.has(rip) ? 'swbreak:;' : 'hwbreak:;');
    }
    this.icountBefore = v.backend.clock.icount;
    return this.stepping >= 0 || this.breakpointsSet();
  }

  afterTurn(vm: Vm, v: Vcpu): void {
    if (v.backend.clock.icount === this.icountBefore) return;
    this.passAt[v.id] = -1;
    if (this.stepping === v.id) this.stop(vm, v, SIGTRAP, '');
  }

  ended(_vm: Vm, result: BootSectorRunResult): void {
    if (!this.connected) return;
    // W: the process exited (with the guest's exit status where it has one); gdb says so and detaches.
    const status = result.exitStatus ?? 0;
    if (this.running) this.transport.send(framePacket(`W${(status & 0xff).toString(16).padStart(2, '0')}`));
    else this.transport.send(framePacket(`O${textToHex(`hvemu: the run ended: ${result.message}\n`)}`));
  }

  private breakpointsSet(): boolean {
    return this.swBreaks.size + this.hwBreaks.size > 0;
  }

  /** RIP as a linear address: CS base + EIP outside long mode; null for a protected vCPU. */
  private linearRip(v: Vcpu): number | null {
    if (v.backend.guestStateProtected) return null;
    const s = v.getSregs();
    const rip = v.getRegs().rip;
    return longMode(s) ? Number(rip) : Number((pcBase(s) + rip) & 0xffff_ffffn);
  }

  private receive(wait: boolean): void {
    const got = this.transport.take(wait);
    if (got.connected !== this.connected) {
      this.connected = got.connected;
      if (got.connected) {
        this.connection++;
        // QEMU's behaviour: a client that attaches finds the VM stopped.
        this.stopRequested ||= SIGTRAP;
        this.holdUntilAttached = false;
        this.opts.log?.('hvemu: gdb attached');
      } else this.detached();
    }
    for (const b of got.bytes) this.decoder.feed(b, this.inbox);
    for (const m of this.inbox) if (m.kind === 'interrupt' && this.running) this.stopRequested = SIGINT;
  }

  private detached(): void {
    this.swBreaks.clear();
    this.hwBreaks.clear();
    this.stepping = -1;
    this.running = false;
    this.inbox.length = 0;
    this.opts.log?.('hvemu: gdb detached; the guest runs on');
  }

  /** Hold the VM stopped at `v`, serving gdb until it resumes, detaches or goes away. */
  private stop(vm: Vm, v: Vcpu, signal: number, why: string): void {
    for (const x of vm.vcpus) x.applyStaged(); // --gdb-wait stops before the first KVM_RUN
    this.stepping = -1;
    this.gVcpu = v.id;
    this.threadList = vm.vcpus.map((x) => (x.id + 1).toString(16));
    const reply = `T${signal.toString(16).padStart(2, '0')}thread:${(v.id + 1).toString(16)};${why}`;
    if (this.running) this.transport.send(framePacket(reply));
    this.running = false;
    this.lastStop = reply;
    for (;;) {
      if (!this.connected && !this.holdUntilAttached) return;
      while (this.inbox.length > 0) {
        const m = this.inbox.shift() as RspInput;
        if (m.kind === 'bad-checksum') {
          this.transport.send('-');
          continue;
        }
        if (m.kind === 'interrupt') continue;
        this.transport.send('+');
        const answer = this.command(vm, m.data);
        if (answer === RESUMED) {
          this.resume(vm);
          return;
        }
        this.transport.send(framePacket(answer));
      }
      this.receive(true);
      this.stopRequested = 0;
      if (this.opts.stopping()) return;
    }
  }

  private lastStop = '';

  private resume(vm: Vm): void {
    this.running = true;
    this.stopRequested = 0;
    for (const x of vm.vcpus) this.passAt[x.id] = this.linearRip(x) ?? -1;
  }

  /** The description gdb gets: amd64 when any vCPU runs in long mode (or its state is protected), else i386. */
  private targetIsAmd64(vm: Vm): boolean {
    return vm.vcpus.some((v) => v.backend.guestStateProtected || longMode(v.getSregs()));
  }

  /** One packet's answer, or RESUMED when the VM should run on. */
  private command(vm: Vm, p: string): string | typeof RESUMED {
    // gdb reads the description once per connection: the layout is chosen at its first packet and kept.
    if (this.layoutFor !== this.connection) {
      this.layoutFor = this.connection;
      this.amd64 = this.targetIsAmd64(vm);
    }
    const v = vm.vcpus[this.gVcpu];
    try {
      switch (p[0]) {
        case '?':
          return this.lastStop;
        case 'g':
          return this.readRegisters(v);
        case 'G':
          return this.writeRegisters(v, p.slice(1));
        case 'p':
          return this.readRegister(v, Number.parseInt(p.slice(1), 16));
        case 'P': {
          const [n, hex] = p.slice(1).split('=');
          return this.writeRegister(v, Number.parseInt(n, 16), hex);
        }
        case 'm': {
          const [addr, len] = p
            .slice(1)
            .split(',')
            .map((x) => Number.parseInt(x, 16));
          return this.readMemory(vm, v, addr, len);
        }
        case 'M': {
          const [head, hex] = p.slice(1).split(':');
          const addr = Number.parseInt(head.split(',')[0], 16);
          return this.writeMemory(vm, v, addr, hex);
        }
        case 'H': {
          const id = Number.parseInt(p.slice(2), 16);
          const vcpu = id <= 0 ? -1 : id - 1; // 0: any, -1: all
          if (vcpu >= vm.vcpus.length) return 'E02';
          if (p[1] === 'g') this.gVcpu = vcpu < 0 ? this.gVcpu : vcpu;
          else this.cVcpu = vcpu;
          return 'OK';
        }
        case 'T': {
          const id = Number.parseInt(p.slice(1), 16);
          return id >= 1 && id <= vm.vcpus.length ? 'OK' : 'E02';
        }
        case 'c':
          if (p.length > 1) return 'E01'; // resuming at another address is not offered
          return RESUMED;
        case 's':
          if (p.length > 1) return 'E01';
          this.stepping = this.cVcpu >= 0 ? this.cVcpu : this.gVcpu;
          if (vm.vcpus[this.stepping].backend.guestStateProtected) {
            this.stepping = -1;
            return 'E.single-stepping an SEV-ES vCPU needs its registers, which are encrypted';
          }
          return RESUMED;
        case 'Z':
        case 'z':
          return this.breakpoint(p);
        case 'D':
          this.transport.send(framePacket('OK'));
          this.connected = false;
          this.detached();
          return RESUMED;
        case 'k':
          this.opts.kill();
          this.connected = false;
          this.detached();
          return RESUMED;
        case 'q':
        case 'Q':
          return this.query(vm, p);
        case 'v':
          if (p.startsWith('vMustReplyEmpty')) return '';
          if (p.startsWith('vKill')) {
            this.opts.kill();
            return 'OK';
          }
          return '';
        default:
          return '';
      }
    } catch (e) {
      if (e instanceof GuestStateProtectedError)
        return `E.vcpu ${v.id} is an SEV-ES vCPU: its registers are encrypted in its VMSA and belong to the guest; the hypervisor (and so this stub) cannot read or write them`;
      throw e;
    }
  }

  private query(vm: Vm, p: string): string {
    if (p.startsWith('qSupported'))
      return `PacketSize=${PACKET_SIZE.toString(16)};qXfer:features:read+;swbreak+;hwbreak+`;
    if (p === 'qAttached') return '1';
    if (p === 'qC') return `QC${(this.gVcpu + 1).toString(16)}`;
    if (p === 'qfThreadInfo') return `m${this.threadList.join(',')}`;
    if (p === 'qsThreadInfo') return 'l';
    if (p.startsWith('qThreadExtraInfo,')) {
      const v = vm.vcpus[Number.parseInt(p.split(',')[1], 16) - 1];
      if (v === undefined) return 'E02';
      const role = v.id === 0 ? 'BSP' : 'AP';
      const prot = v.backend.guestStateProtected ? ', SEV-ES: registers protected' : '';
      return textToHex(`vcpu ${v.id} (${role}), ${MP_STATE_NAMES[v.mpState] ?? v.mpState}${prot}`);
    }
    if (p.startsWith('qXfer:features:read:target.xml:')) {
      const [off, len] = p
        .split(':')[4]
        .split(',')
        .map((x) => Number.parseInt(x, 16));
      const xml = targetXml(this.amd64);
      const part = xml.slice(off, off + len);
      return (off + len >= xml.length ? 'l' : 'm') + part;
    }
    if (p.startsWith('qXfer:features:read:')) return 'E00';
    return '';
  }

  private regs(v: Vcpu): { r: Regs; s: Sregs } {
    return { r: v.getRegs(), s: v.getSregs() };
  }

  /** Every register of the layout as little-endian hex ('x' for the x87 state the VMM does not hold). */
  private readRegisters(v: Vcpu): string {
    const { r, s } = this.regs(v);
    const layout = this.amd64 ? AMD64_REGS : I386_REGS;
    let out = '';
    for (let i = 0; i < layout.length; i++) out += this.regHex(i, r, s, layout[i].bits);
    return out;
  }

  private readRegister(v: Vcpu, n: number): string {
    const layout = this.amd64 ? AMD64_REGS : I386_REGS;
    if (!(n >= 0 && n < layout.length)) return 'E01';
    const { r, s } = this.regs(v);
    return this.regHex(n, r, s, layout[n].bits);
  }

  private regValue(n: number, r: Regs, s: Sregs): bigint | null {
    const gprs = 16 * Number(this.amd64) + 8 * Number(!this.amd64);
    if (n < gprs) return r.gpr[this.amd64 ? AMD64_GPR_ENCODING[n] : n];
    if (n === gprs) return longMode(s) ? r.rip : (pcBase(s) + r.rip) & 0xffff_ffffn; // linear
    if (n === gprs + 1) return r.rflags;
    if (n < gprs + 8) return BigInt(s.selectors[[1, 2, 3, 0, 4, 5][n - gprs - 2]]);
    return null;
  }

  private regHex(n: number, r: Regs, s: Sregs, bits: number): string {
    const v = this.regValue(n, r, s);
    if (v === null) return 'x'.repeat(bits / 4);
    const bytes = new Uint8Array(bits / 8);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number((v >> BigInt(8 * i)) & 0xffn);
    return toHex(bytes);
  }

  private writeRegisters(v: Vcpu, hex: string): string {
    const layout = this.amd64 ? AMD64_REGS : I386_REGS;
    const r = v.getRegs();
    const base = pcBase(v.getSregs());
    let at = 0;
    for (let i = 0; i < layout.length && at < hex.length; i++) {
      const digits = layout[i].bits / 4;
      this.setReg(r, i, hex.slice(at, at + digits), base);
      at += digits;
    }
    v.setRegs(r);
    return 'OK';
  }

  private writeRegister(v: Vcpu, n: number, hex: string): string {
    const r = v.getRegs();
    if (!this.setReg(r, n, hex, pcBase(v.getSregs()))) return 'E01';
    v.setRegs(r);
    return 'OK';
  }

  /** General registers, RIP and RFLAGS are writable (KVM_SET_REGS); segments and x87 are not. */
  private setReg(r: Regs, n: number, hex: string, base: bigint): boolean {
    const bytes = fromHex(hex);
    if (bytes === null) return false;
    let v = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    const gprs = this.amd64 ? 16 : 8;
    const keep = (old: bigint) => (this.amd64 ? v : (old & ~0xffff_ffffn) | v);
    if (n < gprs) {
      const e = this.amd64 ? AMD64_GPR_ENCODING[n] : n;
      r.gpr[e] = keep(r.gpr[e]);
    } else if (n === gprs) r.rip = this.amd64 && base === 0n ? v : (v - base) & 0xffff_ffffn;
    else if (n === gprs + 1) r.rflags = v & 0xffff_ffffn;
    else return n < (this.amd64 ? AMD64_REGS : I386_REGS).length;
    return true;
  }

  /** Guest-physical ranges behind [addr, addr + len), page by page; null where nothing is mapped. */
  private physical(vm: Vm, v: Vcpu, addr: number, len: number): [number, number][] | null {
    const s = v.getSregs();
    const parts: [number, number][] = [];
    let at = addr;
    while (at < addr + len) {
      const n = Math.min(addr + len - at, 0x1000 - (at & 0xfff));
      const pa = linearToPhysical(vm.guestMemory, s, at);
      if (pa === null || pa + n > vm.guestMemory.size) return null;
      parts.push([pa, n]);
      at += n;
    }
    return parts;
  }

  private protectedMemory(vm: Vm): string | null {
    return vm.vcpus.some((x) => x.backend.guestStateProtected)
      ? 'E.the memory of an SEV-ES guest is encrypted with its key: the hypervisor reads only ciphertext, and cannot tell shared pages from private ones'
      : null;
  }

  private readMemory(vm: Vm, v: Vcpu, addr: number, len: number): string {
    const refused = this.protectedMemory(vm);
    if (refused !== null) return refused;
    if (!(len >= 0 && len <= MAX_READ)) return 'E01';
    const parts = this.physical(vm, v, addr, len);
    if (parts === null) return 'E14'; // EFAULT: gdb says "Cannot access memory at address ..."
    return parts.map(([pa, n]) => toHex(vm.guestMemory.read(pa, n))).join('');
  }

  private writeMemory(vm: Vm, v: Vcpu, addr: number, hex: string): string {
    const refused = this.protectedMemory(vm);
    if (refused !== null) return refused;
    const bytes = fromHex(hex ?? '');
    if (bytes === null) return 'E01';
    const parts = this.physical(vm, v, addr, bytes.length);
    if (parts === null) return 'E14';
    let off = 0;
    for (const [pa, n] of parts) {
      vm.guestMemory.write(pa, bytes.subarray(off, off + n));
      off += n;
    }
    return 'OK';
  }

  private breakpoint(p: string): string {
    const [type, addrHex] = p.slice(1).split(',');
    const addr = Number.parseInt(addrHex, 16);
    const set = type === '0' ? this.swBreaks : type === '1' ? this.hwBreaks : null;
    if (set === null) return ''; // watchpoints are not offered
    if (p[0] === 'z') {
      set.delete(addr);
      return 'OK';
    }
    if (set === this.hwBreaks && !set.has(addr) && set.size >= MAX_HW_BREAKPOINTS) return 'E28'; // ENOSPC
    set.add(addr);
    return 'OK';
  }
}

const RESUMED = Symbol('resumed');

/**
 * What the stub adds to EIP to report the PC outside long mode: CS base. gdb's addresses are
 * linear, and so are the stub's breakpoints; reporting EIP alone would put gdb's $pc (in real mode,
 * the IP) at another address than the code it disassembles and the breakpoint that stopped it.
 */
function pcBase(s: Sregs): bigint {
  return longMode(s) ? 0n : s.bases[1];
}
