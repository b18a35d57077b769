// Composition root: a guest as a VM on one or more vCPUs through a virtualization backend (AMD SVM
// or Intel VMX), on the PC platform (vmm/platform.ts) with the MP and ACPI tables in RAM
// (vmm/platform-firmware.ts). Three ways in: a raw boot sector (loaded at 0x7C00, started in real
// mode at 0000:7C00 with DL = 0x80, no BIOS services), a disk (its LBA 0 loaded at 0x7C00 and
// entered the same way, the disk on the primary ATA channel), or a Multiboot kernel (loaded as
// QEMU's -kernel loads it, the BSP entering in 32-bit protected mode with EAX = 0x2BADB002). Userspace's
// part is KVM's: it owns the debug console (0xE9) and the debug-exit port (0xF4) and answers
// KVM_EXIT_IO for them (and for 0x402, the firmware debug console); the VMM emulates the other devices. COM1 is the console too: its bytes join
// the 0xE9 bytes in one output stream.

import { IOAPIC_DEFAULT_BASE } from './apic/io-apic.js';
import { disassembleOne } from './disasm.js';
import { SvmBackend } from './svm/backend.js';
import type { Backend, RunState } from './vmm/backend-api.js';
import type { BootSectorRunOptions, BootSectorRunResult, StopReason } from './vmm/bare-metal.js';
import { BOOT_ADDR, ImageError } from './vmm/bare-metal.js';
import { DiskImage, SECTOR_BYTES } from './vmm/devices/disk-image.js';
import { VgaConsoleMirror } from './vmm/devices/vga-text.js';
import { type ExitCosts, KVM_LIKE_EXIT_COSTS } from './vmm/exit-cost.js';
import { addLinuxKernelItems } from './vmm/firmware/fw-cfg-pc.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_EXIT_NAMES,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  MP_STATE_NAMES,
} from './vmm/kvm-abi.js';
import { isDiskImage } from './vmm/loaders/disk-image-kind.js';
import { BzImageError, extractVmlinux, isBzImage } from './vmm/loaders/linux/bzimage.js';
import { findPvhEntry, loadPvhKernel } from './vmm/loaders/linux/pvh.js';
import {
  flat,
  hasMultibootMagic,
  loadMultiboot,
  MultibootError,
  multibootMemoryMap,
} from './vmm/loaders/multiboot.js';
import { writeMultibootEntry } from './vmm/loaders/multiboot-entry.js';
import type { HostInput } from './vmm/pc-legacy.js';
import { IOAPIC_ID, PcPlatform } from './vmm/platform.js';
import { BIOS_AREA, MULTIBOOT_ENTRY_ADDR, RSDP_ADDR, writeFirmwareTables } from './vmm/platform-firmware.js';
import { TRACE_TOPIC_NAMES, type TraceSink, type TraceTopic } from './vmm/trace.js';
import { EXIT_COST, type Vcpu } from './vmm/vcpu.js';
import { Vm } from './vmm/vm.js';
import type { VmDebugHook } from './vmm/vm-debug-hook.js';
import { WakeList } from './vmm/wake-list.js';
import { VmxBackend } from './vmx/backend.js';

export interface VmBootOptions extends BootSectorRunOptions {
  /** The backend (default svm); vmx defaults the guest CPU's vendor to GenuineIntel. */
  arch?: 'svm' | 'vmx';
  /** vCPUs (default 1): vCPU 0 is the BSP, the others wait for INIT-SIPI-SIPI. */
  cpus?: number;
  /** --trace: the sink, and the topics it wants (default all); vmm/trace.ts. */
  trace?: TraceSink | null;
  traceTopics?: ReadonlySet<TraceTopic>;
  /** --perfetto: the run's events on the virtual clock (it sees the exits, apic and mp topics). */
  timeline?: Timeline;
  /**
   * A Multiboot or Linux kernel's command line (QEMU's -append). With `append` given, a Multiboot
   * kernel gets "<cmdline> <append>" (QEMU's "<kernel file> <-append text>") and a Linux kernel
   * gets `append` alone, as under QEMU; `cmdline` is then the kernel's file name.
   */
  cmdline?: string;
  /** A Linux kernel's initrd (QEMU's -initrd). */
  initrd?: Uint8Array;
  /**
   * The RTC's wall-clock time at virtual time 0: ms since the epoch, or 'host' for the host's time
   * now (default: a fixed date, RTC_DEFAULT_EPOCH_MS, so runs repeat exactly).
   */
  rtcEpochMs?: number | 'host';
  /** A backend built by the caller (e.g. SEV-ES's, which joins a launch); overrides `arch`. */
  backend?: Backend;
  /** Called with the VM before its vCPUs are created (map firmware, begin a launch). */
  prepare?: (vm: Vm) => void;
  /** Userspace's MMIO (KVM_EXIT_MMIO): returns a read's value (default: open bus, all ones). */
  onMmio?: (gpa: number, size: number, isWrite: boolean, data: number) => number;
  /** Write the MP and ACPI tables into RAM (default true; an SEV-ES guest's RAM is encrypted). */
  firmwareTables?: boolean;
  /** What VM exits cost in virtual time (default KVM-like, vmm/exit-cost.ts). */
  exitCosts?: Readonly<ExitCosts>;
  /** QEMU's -append (see `cmdline`). */
  append?: string;
  /** QEMU's -initrd for a Multiboot kernel: its modules (each named "file args"), read by the caller. */
  modules?: { name: string; data: Uint8Array }[];
  /** Disks on the primary ATA channel: [master, slave], either may be null. */
  disks?: (DiskImage | null)[];
  /** Host bytes for COM1's receiver, given as its FIFO has room (a flow-controlled line). */
  serialInput?: HostInput;
  /** Host bytes typed on the keyboard (set-1 scan codes through the 8042), one key at a time. */
  keyboardInput?: HostInput;
  /** Finished rows of the VGA text screen, as VgaConsoleMirror decides them. */
  onVgaLine?: (line: string) => void;
  /** The VGA text screen at the end of the run. */
  onVgaScreen?: (text: string) => void;
  /** A vCPU's turn begins (the bench times the scheduling part of a wake with it). */
  onTurn?: (vcpu: number) => void;
  /** A debugger (the GDB stub) that may stop the VM between turns (vm-debug-hook.ts). */
  debug?: VmDebugHook;
}

export type { HostInput };

/** What a timeline (--perfetto) is told, in virtual nanoseconds. */
export interface Timeline {
  /** A line of the exits, apic or mp topic, at `ns`. */
  line(topic: TraceTopic, line: string, ns: number): void;
  /** A vCPU's turn of KVM_RUN: [start, end). */
  turn(vcpu: number, start: number, end: number): void;
  /** The VMM spent `ns` on a vCPU's exit (exit-cost.ts), from `start`. */
  host(vcpu: number, start: number, ns: number): void;
}

/** The topics a timeline reads. */
const TIMELINE_TOPICS: readonly TraceTopic[] = ['exits', 'apic', 'mp'];

/** The trace sink and topics for the VM: the caller's, plus the timeline's (stamped with the clock). */
function traceWiring(
  opts: VmBootOptions,
  now: () => number,
): { trace: TraceSink | null; topics: ReadonlySet<TraceTopic> | undefined } {
  const timeline = opts.timeline;
  if (timeline === undefined) return { trace: opts.trace ?? null, topics: opts.traceTopics };
  const user = opts.trace ?? null;
  const userTopics: ReadonlySet<TraceTopic> =
    user === null ? new Set() : (opts.traceTopics ?? new Set(TRACE_TOPIC_NAMES.filter((t) => t !== 'insn')));
  const topics = new Set<TraceTopic>([...userTopics, ...TIMELINE_TOPICS]);
  return {
    topics,
    trace: (topic, line) => {
      if (user !== null && userTopics.has(topic)) user(topic, line);
      if (TIMELINE_TOPICS.includes(topic)) timeline.line(topic, line, now());
    },
  };
}

/** A fixed input (tests, scripted sessions): every byte available at once, then the end. */
export function bytesInput(bytes: Uint8Array | string): HostInput {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let pos = 0;
  return {
    read(max) {
      const n = Math.min(max, data.length - pos);
      const out = Array.from(data.subarray(pos, pos + n));
      pos += n;
      return out;
    },
    wait: () => pos < data.length,
  };
}

/**
 * The deterministic scheduler's quantum: each runnable vCPU in turn runs this many instructions
 * (the host-timer #VMEXIT ends it). Small enough that an IPI reaches its target promptly.
 */
const QUANTUM = 1 << 14;
/** The debug console port OVMF and SeaBIOS write to (QEMU: -debugcon with isa-debugcon.iobase=0x402). */
const DEBUGCON_OVMF = 0x402;
/**
 * When every vCPU waits, time skips to the next timer interrupt; after this many skips in a row
 * that woke nobody (a periodic timer whose interrupt is masked), the VM is reported halted.
 */
const MAX_IDLE_SKIPS = 64;

/** A VM on the PC platform, with its console output so far. */
export interface PcVm {
  vm: Vm;
  platform: PcPlatform;
  /** Bytes written to port 0xE9 and to COM1, in order. */
  output: number[];
  /** The guest asked for a reset (port 92h bit 0, the 8042's reset line, CF9h bit 2). */
  resetRequested: boolean;
  /** The guest turned the machine off (ACPI S5). */
  powerOffRequested: boolean;
}

/** Create the VM, its vCPUs and platform, and write the firmware tables (with RAM to 1 MiB). */
export function createPcVm(opts: VmBootOptions = {}): PcVm {
  const memoryBytes = opts.memoryBytes ?? 64 * 1024 * 1024;
  const vmx = opts.arch === 'vmx';
  let now = () => 0; // the platform's clock, once there is one
  const wiring = traceWiring(opts, () => now());
  const vm = new Vm({
    memoryBytes,
    maxVcpus: opts.cpus ?? 1,
    vendor: opts.vendor ?? (vmx ? 'GenuineIntel' : undefined),
    backend: opts.backend ?? (vmx ? new VmxBackend() : new SvmBackend()),
    trace: wiring.trace,
    traceTopics: wiring.topics,
    disassemble: disassembleOne, // iced-x86, loaded at its first call (a traced exit or instruction)
    onUndefined: opts.onUndefined ?? null,
  });
  opts.prepare?.(vm);
  const ncpus = opts.cpus ?? 1;
  for (let i = 0; i < ncpus; i++) vm.createVcpu();
  const output: number[] = [];
  const disks = opts.disks ?? [];
  const platform = new PcPlatform(vm, {
    disks: disks.filter((d) => d !== null).length ? [disks[0] ?? null, disks[1] ?? null] : [],
    console: (b) => {
      output.push(b);
      opts.onSerialByte?.(b);
    },
    onReset: () => {
      pc.resetRequested = true;
    },
    onPowerOff: () => {
      pc.powerOffRequested = true;
    },
    rtcEpochMs: opts.rtcEpochMs === 'host' ? Date.now() : opts.rtcEpochMs,
  });
  const pc: PcVm = { vm, platform, output, resetRequested: false, powerOffRequested: false };
  const costs = opts.exitCosts ?? KVM_LIKE_EXIT_COSTS;
  now = () => platform.clock.now();
  const timeline = opts.timeline;
  for (const v of vm.vcpus) {
    v.now = () => platform.clock.now();
    v.charge =
      timeline === undefined
        ? (ns) => platform.clock.charge(ns)
        : (ns) => {
            timeline.host(v.id, platform.clock.now(), ns);
            platform.clock.charge(ns);
          };
    v.exitCosts = costs;
  }
  if (memoryBytes >= 0x100000 && opts.firmwareTables !== false) {
    const id = new Int32Array(4);
    vm.cpuid(1, 0, id);
    writeFirmwareTables(vm.loaderRam(), {
      cpus: ncpus,
      ioApicId: IOAPIC_ID,
      ioApicAddr: IOAPIC_DEFAULT_BASE,
      cpuSignature: id[0],
      featureFlags: id[3],
      pm: platform.firmwareSetup(),
    });
  }
  return pc;
}

/**
 * Run a Linux kernel (a bzImage, or an ELF vmlinux with a PVH entry), a Multiboot kernel or a boot
 * sector, whichever the image is; with `opts.disks` and an empty image, the first disk boots. A
 * disk image (more than a sector, 55 AA in the first, not a bzImage: loaders/disk-image-kind.ts)
 * boots as the master disk, with `opts.disks` after it.
 */
export function runImageVm(image: Uint8Array, opts: VmBootOptions = {}): BootSectorRunResult {
  if (image.length === 0 && opts.disks?.some((d) => d !== null)) return runDiskVm(opts);
  if (isLinuxKernel(image)) return runLinuxVm(image, opts);
  if (isDiskImage(image)) {
    // The image is the boot disk (master), ahead of any disks given.
    const disks = [new DiskImage(image, 'image'), ...(opts.disks ?? [])];
    if (disks.length > 2)
      throw new ImageError('the primary ATA channel takes two disks: the image and one more');
    return runDiskVm({ ...opts, disks });
  }
  return hasMultibootMagic(image) ? runMultibootVm(image, opts) : runBootSectorVm(image, opts);
}

/** A bzImage, or an ELF file with a PVH entry note (Linux's vmlinux). */
export function isLinuxKernel(image: Uint8Array): boolean {
  return isBzImage(image) || findPvhEntry(image) !== null;
}

/** Boot a Linux kernel through its PVH entry, as QEMU's -kernel/-append/-initrd do with a vmlinux. */
export function runLinuxVm(image: Uint8Array, opts: VmBootOptions = {}): BootSectorRunResult {
  const pc = createPcVm(opts);
  loadLinuxKernel(pc, image, opts.append ?? opts.cmdline ?? '', opts.initrd);
  return runPcVm(pc, opts);
}

/** Where hvm_start_info, its module list, memory map and command line go (below the boot sector). */
const PVH_INFO_ADDR = 0x5000;
const PVH_INFO_ROOM = 0x2000;

/**
 * A bzImage's vmlinux (decompressed here) or a vmlinux, loaded at its physical addresses with
 * hvm_start_info; the BSP starts at the entry stub, which enters the PVH entry point in flat 32-bit
 * protected mode with EBX = hvm_start_info.
 */
export function loadLinuxKernel(pc: PcVm, image: Uint8Array, cmdline: string, initrd?: Uint8Array): void {
  const ram = pc.vm.loaderRam();
  let pvh: ReturnType<typeof loadPvhKernel>;
  try {
    const elf = isBzImage(image) ? extractVmlinux(image) : image;
    pvh = loadPvhKernel(elf, ram, {
      cmdline,
      initrd,
      rsdpAddr: RSDP_ADDR,
      infoAddr: PVH_INFO_ADDR,
      infoRoom: PVH_INFO_ROOM,
      memoryMap: multibootMemoryMap(pc.vm.guestRamBytes),
    });
  } catch (e) {
    if (e instanceof MultibootError || e instanceof BzImageError)
      throw new ImageError(`not a bootable Linux kernel: ${e.message}`);
    throw e;
  }
  // hvm_start_info.cmdline_paddr (offset 24): where the loader put the command line.
  const cmdlineAddr = Number(new DataView(ram.buffer, ram.byteOffset).getBigUint64(pvh.startInfo + 24, true));
  addLinuxKernelItems(pc.platform.fwCfg, {
    entry: pvh.entry,
    cmdline,
    cmdlineAddr,
    initrd: pvh.initrd && initrd ? { addr: pvh.initrd.addr, data: initrd } : undefined,
  });
  const data = flat(0x10, 0x3);
  const { cs, ip } = writeMultibootEntry(ram, MULTIBOOT_ENTRY_ADDR, {
    cs: flat(0x08, 0xb),
    ds: data,
    cr0: 0x11,
    eax: 0,
    ebx: pvh.startInfo,
    entry: pvh.entry,
  });
  const b = pc.vm.vcpus[0];
  b.setSegment('cs', cs, cs << 4, 0xffff, 0x9b);
  const regs = b.getRegs();
  regs.rip = BigInt(ip);
  b.setRegs(regs);
}

/**
 * Boot from the first disk as a PC BIOS hands over: its LBA 0 at 0x7C00, the BSP at 0000:7C00 in
 * real mode with DL = 0x80 (the first hard disk). There are no BIOS services: the boot sector
 * reads the rest of the disk through the ATA ports.
 */
export function runDiskVm(opts: VmBootOptions = {}): BootSectorRunResult {
  const boot = opts.disks?.find((d) => d !== null);
  if (!boot) throw new ImageError('no disk to boot from');
  const sector = boot.bytes.subarray(0, SECTOR_BYTES);
  if (sector[510] !== 0x55 || sector[511] !== 0xaa)
    throw new ImageError(
      `${boot.name}: its first sector has no boot signature (55 AA at offset 510), so a BIOS would not boot it`,
    );
  const pc = createPcVm(opts);
  loadBootSector(pc, sector);
  return runPcVm(pc, opts);
}

export function runBootSectorVm(image: Uint8Array, opts: VmBootOptions = {}): BootSectorRunResult {
  checkBootSector(image, opts.memoryBytes ?? 64 * 1024 * 1024);
  const pc = createPcVm(opts);
  loadBootSector(pc, image);
  return runPcVm(pc, opts);
}

/**
 * Load a Multiboot (version 1) kernel as QEMU's -kernel does and start the BSP at a real-mode stub
 * that enters it in the specification's state (loaders/multiboot-entry.ts). A malformed kernel is
 * refused with an ImageError that says what is wrong.
 */
export function runMultibootVm(image: Uint8Array, opts: VmBootOptions = {}): BootSectorRunResult {
  const pc = createPcVm(opts);
  loadMultibootKernel(pc, image, multibootCmdline(opts), opts.modules);
  return runPcVm(pc, opts);
}

function checkBootSector(image: Uint8Array, memoryBytes: number): void {
  if (image.length === 0) throw new ImageError('the image is empty');
  const room = Math.min(memoryBytes, 0xa0000) - BOOT_ADDR;
  if (image.length > room)
    throw new ImageError(
      `the image is ${image.length} bytes; it must end below 0xA0000 (at most ${room} bytes)`,
    );
}

/** The whole image at 0x7C00; the BSP at 0000:7C00 in real mode with DL = 0x80. */
export function loadBootSector(pc: PcVm, image: Uint8Array): void {
  checkBootSector(image, pc.vm.guestRamBytes);
  pc.vm.loaderRam().set(image, BOOT_ADDR);
  const b = pc.vm.vcpus[0];
  b.setSegment('cs', 0, 0, 0xffff, 0x9b);
  const regs = b.getRegs();
  regs.rip = BigInt(BOOT_ADDR);
  regs.gpr[2] = 0x80n; // DL: boot drive
  b.setRegs(regs);
}

/**
 * The command line a Multiboot kernel gets: QEMU passes "<kernel file> <-append text>" (with the
 * space even when -append is empty); `cmdline` alone is the whole line.
 */
function multibootCmdline(opts: VmBootOptions): string {
  if (opts.append === undefined) return opts.cmdline ?? '';
  return `${opts.cmdline ?? ''} ${opts.append}`;
}

/** The kernel, its modules and its information structure in RAM; the BSP at the entry stub. */
export function loadMultibootKernel(
  pc: PcVm,
  image: Uint8Array,
  cmdline: string,
  initrd: { name: string; data: Uint8Array }[] = [],
): void {
  const ram = pc.vm.loaderRam();
  let state: ReturnType<typeof loadMultiboot>;
  try {
    state = loadMultiboot(image, ram, {
      cmdline,
      modules: initrd.map((m) => ({ data: m.data, cmdline: m.name })),
    });
  } catch (e) {
    if (e instanceof MultibootError) throw new ImageError(`not a loadable Multiboot kernel: ${e.message}`);
    throw e;
  }
  for (const s of state.segments)
    if (s.addr < 0x100000 && BIOS_AREA < s.addr + s.memSize)
      throw new ImageError(
        `not a loadable Multiboot kernel: its segment at ${hex(s.addr)}-${hex(s.addr + s.memSize)} overlaps the BIOS area 0xF0000-0xFFFFF (the MP and ACPI tables)`,
      );
  if (state.infoAddr < 0x100000 && BIOS_AREA < state.infoEnd)
    throw new ImageError(
      `not a loadable Multiboot kernel: with it, the Multiboot information (${hex(state.infoAddr)}-${hex(state.infoEnd)}) would overlap the BIOS area 0xF0000-0xFFFFF`,
    );
  const { cs, ip } = writeMultibootEntry(ram, MULTIBOOT_ENTRY_ADDR, state);
  const b = pc.vm.vcpus[0];
  b.setSegment('cs', cs, cs << 4, 0xffff, 0x9b);
  const regs = b.getRegs();
  regs.rip = BigInt(ip);
  b.setRegs(regs);
}

const hex = (v: number) => `0x${v.toString(16).toUpperCase()}`;

/**
 * One line per vCPU: its MP state and, when the VMM may read them (KVM_GET_REGS), CS and RIP. An
 * SEV-ES vCPU's registers are the guest's secret: only the fact that they are protected is shown.
 */
export function vcpuLocations(vm: Vm): string[] {
  return vm.vcpus.map((v) => {
    const mp = MP_STATE_NAMES[v.mpState] ?? String(v.mpState);
    if (v.backend.guestStateProtected === true)
      return `vcpu ${v.id}: mp_state ${mp}, registers protected (SEV-ES)`;
    const r = v.getRegs();
    return `vcpu ${v.id}: mp_state ${mp}, RIP 0x${r.rip.toString(16)}, RFLAGS 0x${r.rflags.toString(16)}`;
  });
}

/**
 * Run a loaded VM to its end: round robin over the runnable vCPUs, one quantum each, the same way
 * every run (the same run gives the same trace).
 */
export function runPcVm(pc: PcVm, opts: VmBootOptions = {}): BootSectorRunResult {
  const r = runPcVmLoop(pc, opts);
  opts.debug?.ended(pc.vm, r);
  return r;
}

function runPcVmLoop(pc: PcVm, opts: VmBootOptions): BootSectorRunResult {
  const { vm, platform, output: out } = pc;
  const clock = platform.clock;
  const max = opts.maxInstructions ?? 500_000_000;
  const total = () => vm.vcpus.reduce((n, v) => n + v.backend.clock.icount, 0);
  // The budget counts VM exits too (vcpu.ts EXIT_COST): an exit loop ends like a busy loop.
  const spent = () => vm.vcpus.reduce((n, v) => n + v.budgetUsed(), 0);
  const { legacy } = platform;
  const mirror = opts.onVgaLine ? new VgaConsoleMirror(legacy.screen, opts.onVgaLine) : null;
  const result = (
    stop: StopReason,
    message: string,
    exitStatus: number | null = null,
  ): BootSectorRunResult => {
    mirror?.tick(true);
    opts.onVgaScreen?.(legacy.screen.text());
    return {
      output: Buffer.from(out).toString('latin1'),
      exitStatus,
      stop,
      message,
      instructions: total(),
    };
  };
  const serialIn = opts.serialInput;
  const keyboardIn = opts.keyboardInput;
  legacy.serialInput = serialIn ?? null;
  legacy.keyboardInput = keyboardIn ?? null;
  // Host input reaches the devices when they have room: here once per round, and at once when
  // the guest empties COM1's receiver or the 8042's output buffer (the devices call back).
  const feedInput = () => legacy.feedInput();
  /** The machine is idle: wait for host input a device can take now. */
  const inputWakes = (): boolean => {
    if (!serialIn && !keyboardIn) return false;
    if (feedInput()) return true;
    const more = (serialIn?.wait() ?? false) || (keyboardIn?.wait() ?? false);
    return more && feedInput();
  };
  const check = opts.checkpoint;
  const dbg = opts.debug;
  // The wake rule (vmm/wake-list.ts, docs/scheduling.md): a turn ends at the VM exit that made a
  // waiting vCPU runnable; the woken run next, then the vCPU goes on with what is left of its
  // quantum in this round. Each vCPU's part of a round is one quantum, however many pieces a wake
  // cuts it into, so vCPUs waking each other back and forth still let the round end.
  const wakes = new WakeList();
  for (const v of vm.vcpus) v.wakeList = wakes;
  /** vCPUs the last exit woke, to run before the turn goes on. */
  const woken: Vcpu[] = [];
  /** Each vCPU's budget left in this round, the virtual time its last piece ended, and whether it
   *  is in the middle of a turn that a wake cut short (it then goes on in that turn, not twice). */
  const roundLeft = new Float64Array(vm.vcpus.length);
  const endedAt = new Float64Array(vm.vcpus.length);
  const cut = new Uint8Array(vm.vcpus.length);
  /** The events of the vCPUs the last exit reached are accepted; true if one became runnable. */
  const acceptWakes = (): boolean => {
    for (const id of wakes.take()) {
      const w = vm.vcpus[id];
      if (w.runnable() && !woken.includes(w)) woken.push(w);
    }
    return woken.length !== 0;
  };
  /** One piece of a turn: up to the vCPU's budget left in the round, across userspace I/O exits
   *  (userspace calls KVM_RUN again at once), until it waits, a wake cuts it, or the budget ends. */
  const piece = (v: Vcpu, notBefore: number): BootSectorRunResult | null => {
    clock.beginTurn(v.backend.clock, notBefore);
    const turnStart = clock.now();
    opts.onTurn?.(v.id);
    wakes.armed = true;
    const start = v.budgetUsed();
    const turnEnd = start + roundLeft[v.id];
    for (;;) {
      const reason = v.kvmRun(Math.max(1, Math.min(turnEnd - v.budgetUsed(), max - spent())));
      const run = v.run;
      if (reason === KVM_EXIT_IO) {
        const debugcon = run.ioPort === 0xe9 || run.ioPort === DEBUGCON_OVMF;
        if (traceIo) traceUserIo(v.id, run, debugcon);
        if (run.ioDirection === KVM_EXIT_IO_OUT && debugcon) {
          out.push(run.ioData & 0xff);
          opts.onDebugByte?.(run.ioData & 0xff);
        } else if (run.ioDirection === KVM_EXIT_IO_OUT && run.ioPort === 0xf4) {
          const val = run.ioData >>> 0;
          return result('exit', `guest wrote ${val.toString(16)} to port 0xF4`, ((val << 1) | 1) >>> 0);
        } else if (debugcon)
          run.ioData = 0xe9; // the debug console's signature (QEMU's readback value at either port)
        else run.ioData = 0xffffffff; // nothing there
      } else if (reason === KVM_EXIT_MMIO) {
        // No device there: open bus (reads all ones, writes dropped), unless the caller has one.
        run.mmioData = opts.onMmio
          ? opts.onMmio(run.mmioPhysAddr, run.mmioLen, run.mmioIsWrite, run.mmioData)
          : run.mmioLen === 4
            ? 0xffffffff
            : (1 << (8 * run.mmioLen)) - 1;
        if (traceMmio)
          opts.trace?.(
            'mmio',
            `vcpu ${v.id}: ${run.mmioIsWrite ? 'write' : 'read'} 0x${run.mmioPhysAddr.toString(16)} size ${run.mmioLen} ${run.mmioIsWrite ? '<-' : '->'} 0x${(run.mmioData >>> 0).toString(16)} (userspace: KVM_EXIT_MMIO, ${opts.onMmio ? 'the caller' : 'open bus'})`,
          );
      } else if (reason === KVM_EXIT_SHUTDOWN)
        return result('triple-fault', `vcpu ${v.id}: ${run.explanation}`);
      else if (reason === KVM_EXIT_SYSTEM_EVENT) return result('terminated', run.explanation);
      else if (reason !== KVM_EXIT_HLT && reason !== KVM_EXIT_INTR && reason !== KVM_EXIT_AP_RESET_HOLD)
        return {
          ...result('error', `vcpu ${v.id}: ${KVM_EXIT_NAMES[reason] ?? reason}: ${run.explanation}`),
          kvmExitReason: reason,
        };
      // An exit that reached waiting vCPUs cuts the turn if one of them became runnable; one that
      // woke nobody (an INIT: the target now waits for SIPI) lets it go on.
      const byWake = wakes.ids.length !== 0;
      if (byWake && acceptWakes()) break;
      // KVM_EXIT_AP_RESET_HOLD (when a vCPU opted in): the AP parked itself; userspace has nothing to do.
      // A vCPU that waits keeps the rest of its quantum for a wake later in the round.
      if (reason === KVM_EXIT_HLT || reason === KVM_EXIT_AP_RESET_HOLD) break;
      if (reason === KVM_EXIT_INTR && !byWake) {
        roundLeft[v.id] = 0; // the quantum's end, or the pause filter's yield: the round is over for it
        break;
      }
      if (v.budgetUsed() >= turnEnd || spent() >= max) break;
    }
    wakes.armed = false;
    roundLeft[v.id] = Math.max(0, roundLeft[v.id] - (v.budgetUsed() - start));
    opts.timeline?.turn(v.id, turnStart, clock.now());
    endedAt[v.id] = clock.endTurn();
    dbg?.afterTurn(vm, v);
    if (pc.resetRequested)
      return result(
        'reset',
        `vcpu ${v.id} reset the machine (port 0x92, the 8042's reset line or port 0xCF9; hvemu ends the run there)`,
      );
    if (pc.powerOffRequested) return result('exit', `vcpu ${v.id} powered the machine off (ACPI S5)`, 0);
    if (spent() >= max) {
      const exits = vm.vcpus.reduce((n, x) => n + x.exits, 0);
      return result(
        'max-instructions',
        `stopped after ${total()} instructions and ${exits} VM exits, ${EXIT_COST} instructions each (--max-instructions)`,
      );
    }
    return null;
  };
  /**
   * A vCPU's turn in the round: pieces, with the vCPUs each cut woke run in between (their own
   * turns, cut the same way), each from the moment it was woken and not before its last piece ended.
   */
  const turn = (v: Vcpu, notBefore: number): BootSectorRunResult | null => {
    cut[v.id] = 1;
    let at = notBefore;
    for (;;) {
      const r = piece(v, at);
      if (r !== null) return r;
      if (woken.length === 0) break;
      const now = woken.splice(0, woken.length);
      at = endedAt[v.id];
      for (const w of now) {
        // A vCPU already in a cut turn goes on there; one whose quantum is spent waits for the round.
        if (cut[w.id] === 1 || roundLeft[w.id] <= 0) continue;
        platform.poll();
        const runnable = w.runnable();
        if (dbg?.beforeTurn(vm, w, runnable)) roundLeft[w.id] = Math.min(roundLeft[w.id], 1);
        if (!runnable) continue;
        const r = turn(w, Math.max(w.readyAt, endedAt[w.id]));
        if (r !== null) return r;
        // The cut vCPU goes on after the woken in virtual time too: what it reads of their work
        // happened before, and no TSC it reads disagrees with that order.
        at = Math.max(at, endedAt[w.id]);
      }
      if (roundLeft[v.id] <= 0 || !v.runnable()) break;
    }
    cut[v.id] = 0;
    return null;
  };
  let idleSkips = 0;
  const traceIo = vm.traceOn.io;
  const traceMmio = vm.traceOn.mmio;
  /** `--trace io` for a port userspace answers (KVM_EXIT_IO): an OUT's value now, an IN's as answered. */
  const traceUserIo = (id: number, run: RunState, debugcon: boolean) => {
    const out = run.ioDirection === KVM_EXIT_IO_OUT;
    const what = debugcon
      ? 'debug console'
      : run.ioPort === 0xf4 && out
        ? 'isa-debug-exit'
        : 'nothing there: reads all ones';
    const value = out ? `<- 0x${(run.ioData >>> 0).toString(16)}` : debugcon ? '-> 0xe9' : '-> all ones';
    opts.trace?.(
      'io',
      `vcpu ${id}: ${out ? 'out' : 'in'} port 0x${run.ioPort.toString(16)} size ${run.ioSize} ${value} (userspace: KVM_EXIT_IO, ${what})`,
    );
  };
  for (;;) {
    let ran = false;
    feedInput();
    mirror?.tick();
    roundLeft.fill(QUANTUM);
    for (const v of vm.vcpus) {
      platform.poll(); // timer interrupts that are due reach their APICs before the turn
      if (check?.(total()))
        return {
          ...result('interrupted', `interrupted after ${total()} instructions`),
          where: vcpuLocations(vm),
        };
      if (roundLeft[v.id] <= 0) continue; // it had its quantum in this round already
      const runnable = v.runnable();
      // A debugger looks once per turn; it asks for one-instruction turns only while it steps or has breakpoints.
      if (dbg?.beforeTurn(vm, v, runnable)) roundLeft[v.id] = 1;
      if (!runnable) continue;
      ran = true;
      const r = turn(v, Math.max(v.readyAt, endedAt[v.id]));
      if (r !== null) return r;
    }
    clock.endRound();
    if (ran) {
      idleSkips = 0;
      continue;
    }
    // Every vCPU waits: let time jump to the next timer interrupt, which may wake one.
    const next = platform.nextDeadline();
    if (next !== undefined && idleSkips < MAX_IDLE_SKIPS) {
      idleSkips++;
      clock.skipTo(next);
      continue;
    }
    // Nothing inside the machine will wake it; input from the host still may.
    if (inputWakes()) {
      idleSkips = 0;
      continue;
    }
    return result('halted', 'every vCPU is halted or waiting for SIPI, with nothing to wake it');
  }
}
