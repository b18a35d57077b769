// The guests and what they must do, read from guests/<name>/{<name>.img,expected.txt,expected.json}.
// Shared by guests.test.ts (hvemu) and qemu.test.ts (QEMU, the outside truth).
//
// expected.json's "kind" says how the image boots: "boot-sector" (the default: loaded at 0x7C00,
// real mode, no BIOS) or "multiboot" (a Multiboot kernel, loaded as QEMU's -kernel loads it, run as
// a VM with "cpus" vCPUs). Directories of any other kind (an SEV-ES firmware image, say) belong to
// other runners and are left out here.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GUESTS_DIR = dirname(fileURLToPath(import.meta.url));

export type GuestKind = 'boot-sector' | 'multiboot';
export const GUEST_KINDS: readonly GuestKind[] = ['boot-sector', 'multiboot'];

export interface GuestExpectation {
  name: string;
  kind: GuestKind;
  /** vCPUs the expected output was recorded with (QEMU -smp); 1 unless expected.json says. */
  cpus: number;
  /** A Multiboot kernel's command line after its name (QEMU -append); '' unless expected.json says. */
  append: string;
  /**
   * The vCPU vendor QEMU's output was recorded with (its TCG default, qemu64, is AMD); hvemu uses
   * it under VMX too when expected.json names it, for guests that print vendor-dependent machine facts.
   */
  vendor: 'amd' | 'intel' | undefined;
  imagePath: string;
  image: Uint8Array;
  /** Exact console output (for a triple fault: everything printed before it). */
  output: string;
  stop: 'exit' | 'triple-fault';
  /** (V << 1) | 1 for a guest that writes V to port 0xF4; null when it never exits that way. */
  exitStatus: number | null;
  /** QEMU's process status when it differs from exitStatus (a triple fault with -no-reboot: 0). */
  qemuExitStatus: number;
}

/**
 * The guests of the given kinds (default: boot sectors only, which every runner can boot),
 * sorted by name.
 */
export function loadGuests(kinds: readonly GuestKind[] = ['boot-sector']): GuestExpectation[] {
  return readdirSync(GUESTS_DIR, { withFileTypes: true })
    .filter(
      (d) =>
        d.isDirectory() &&
        existsSync(join(GUESTS_DIR, d.name, 'expected.txt')) &&
        existsSync(join(GUESTS_DIR, d.name, 'expected.json')),
    )
    .map((d) => {
      const dir = join(GUESTS_DIR, d.name);
      const json = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      return { name: d.name, dir, json, kind: (json.kind ?? 'boot-sector') as string };
    })
    .filter((g) => (kinds as readonly string[]).includes(g.kind))
    .map(({ name, dir, json, kind }) => {
      const imagePath = join(dir, `${name}.img`);
      return {
        name,
        kind: kind as GuestKind,
        cpus: json.cpus ?? 1,
        append: json.append ?? '',
        vendor: json.vendor,
        imagePath,
        image: new Uint8Array(readFileSync(imagePath)),
        output: readFileSync(join(dir, 'expected.txt'), 'latin1'),
        stop: json.stop,
        exitStatus: json.exitStatus,
        qemuExitStatus: json.qemuExitStatus ?? json.exitStatus,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}
