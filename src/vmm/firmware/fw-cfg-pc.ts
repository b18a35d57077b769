// The fw_cfg items QEMU's x86 pc machine provides (hw/i386/fw_cfg.c, hw/i386/pc.c), as a guest
// started with -kernel finds them: the CPU counts, the RAM size, the memory map as the file
// `etc/e820`, and the few fixed items firmware reads. Checked against QEMU 7+ by guests/fwcfg. Values follow QEMU under TCG with
// -smp N (one thread per socket, so APIC IDs 0..N-1) and no NUMA.
import {
  FW_CFG_BOOT_MENU,
  FW_CFG_CMDLINE_ADDR,
  FW_CFG_CMDLINE_DATA,
  FW_CFG_CMDLINE_SIZE,
  FW_CFG_E820_TABLE,
  FW_CFG_INITRD_ADDR,
  FW_CFG_INITRD_DATA,
  FW_CFG_INITRD_SIZE,
  FW_CFG_IRQ0_OVERRIDE,
  FW_CFG_KERNEL_ENTRY,
  FW_CFG_MAX_CPUS,
  FW_CFG_NB_CPUS,
  FW_CFG_NOGRAPHIC,
  FW_CFG_NUMA,
  FW_CFG_RAM_SIZE,
  FW_CFG_UUID,
  type FwCfg,
} from '../devices/fw-cfg.js';

export const E820_RAM = 1;
export const E820_RESERVED = 2;
/** An `etc/e820` entry: le64 address, le64 length, le32 type. */
export const E820_ENTRY_SIZE = 20;
/** QEMU's legacy FW_CFG_E820_TABLE holds room for 16 entries after its count. */
const LEGACY_E820_ENTRIES = 16;

export interface E820Entry {
  addr: number;
  length: number;
  type: number;
}

export interface PcFwCfgOptions {
  cpus: number;
  /** Guest RAM, all below 4 GiB here (hvemu's largest is 3 GiB, under QEMU's 3.5 GiB split). */
  ramBytes: number;
  /**
   * The vCPUs are AMD's with at least 40 physical address bits: QEMU then reserves the
   * HyperTransport range below 1 TiB (0xFD_0000_0000, 12 GiB) in etc/e820.
   */
  amdHtHole?: boolean;
}

export const AMD_HT_START = 0xfd_0000_0000;
export const AMD_HT_SIZE = 0x3_0000_0000;

/**
 * What QEMU's etc/e820 says: RAM from 0 to the top of memory. Reserving the firmware areas is
 * the firmware's job (SeaBIOS, OVMF); the Multiboot map a kernel gets is the firmware's answer.
 */
export function pcE820(ramBytes: number, amdHtHole = false): E820Entry[] {
  // QEMU records the HyperTransport reservation before the RAM.
  const ht = amdHtHole ? [{ addr: AMD_HT_START, length: AMD_HT_SIZE, type: E820_RESERVED }] : [];
  return [...ht, { addr: 0, length: ramBytes, type: E820_RAM }];
}

export function encodeE820(entries: E820Entry[]): Uint8Array {
  const out = new Uint8Array(entries.length * E820_ENTRY_SIZE);
  const dv = new DataView(out.buffer);
  entries.forEach((e, i) => {
    const p = i * E820_ENTRY_SIZE;
    dv.setBigUint64(p, BigInt(e.addr), true);
    dv.setBigUint64(p + 8, BigInt(e.length), true);
    dv.setUint32(p + 16, e.type, true);
  });
  return out;
}

export function addPcFwCfgItems(fw: FwCfg, o: PcFwCfgOptions): void {
  fw.addBytes(FW_CFG_UUID, new Uint8Array(16));
  fw.addU64(FW_CFG_RAM_SIZE, o.ramBytes);
  fw.addU16(FW_CFG_NOGRAPHIC, 0);
  fw.addU16(FW_CFG_NB_CPUS, o.cpus);
  // QEMU gives the APIC ID limit (the highest APIC ID + 1); APIC ID = vCPU index here.
  fw.addU16(FW_CFG_MAX_CPUS, o.cpus);
  fw.addU16(FW_CFG_BOOT_MENU, 0);
  // NUMA: the node count (0), then one u64 per APIC ID and per node.
  fw.addBytes(FW_CFG_NUMA, new Uint8Array(8 * (1 + o.cpus)));
  fw.addU32(FW_CFG_IRQ0_OVERRIDE, 1);
  // The legacy table lists reservations only: none (count 0).
  fw.addBytes(FW_CFG_E820_TABLE, new Uint8Array(4 + LEGACY_E820_ENTRIES * E820_ENTRY_SIZE));
  fw.addFile('etc/e820', encodeE820(pcE820(o.ramBytes, o.amdHtHole)));
  // -boot reboot-timeout left unset: -1, never reboot after a failed boot.
  const wait = new Uint8Array(4).fill(0xff);
  fw.addFile('etc/boot-fail-wait', wait);
}

export interface LinuxKernelItems {
  /** The entry point the loader used (the PVH entry). */
  entry: number;
  cmdline: string;
  /** Where the loader put the command line in RAM. */
  cmdlineAddr: number;
  initrd?: { addr: number; data: Uint8Array };
}

/**
 * What QEMU's -kernel/-append/-initrd add to fw_cfg for a Linux kernel (hw/i386/x86.c): the entry,
 * the command line (size with its NUL, and the string), the initrd's address, size and bytes. QEMU
 * also gives the command line's address for a bzImage; hvemu gives where it put it.
 */
export function addLinuxKernelItems(fw: FwCfg, k: LinuxKernelItems): void {
  fw.addU32(FW_CFG_KERNEL_ENTRY, k.entry);
  fw.addU32(FW_CFG_CMDLINE_ADDR, k.cmdlineAddr);
  fw.addU32(FW_CFG_CMDLINE_SIZE, new TextEncoder().encode(k.cmdline).length + 1);
  fw.addString(FW_CFG_CMDLINE_DATA, k.cmdline);
  if (k.initrd) {
    fw.addU32(FW_CFG_INITRD_ADDR, k.initrd.addr);
    fw.addU32(FW_CFG_INITRD_SIZE, k.initrd.data.length);
    fw.addBytes(FW_CFG_INITRD_DATA, k.initrd.data);
  }
}
