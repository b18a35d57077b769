// The guests and what they must do, read from guests/<name>/{<name>.img,expected.txt,expected.json}.
// Shared by guests.test.ts (hvemu) and qemu.test.ts (QEMU, the outside truth).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GUESTS_DIR = dirname(fileURLToPath(import.meta.url));

export interface GuestExpectation {
  name: string;
  imagePath: string;
  image: Uint8Array;
  /** Exact debug-port output (for a triple fault: everything printed before it). */
  output: string;
  stop: 'exit' | 'triple-fault';
  /** (V << 1) | 1 for a guest that writes V to port 0xF4; null when it never exits that way. */
  exitStatus: number | null;
  /** QEMU's process status when it differs from exitStatus (a triple fault with -no-reboot: 0). */
  qemuExitStatus: number;
}

export function loadGuests(): GuestExpectation[] {
  return readdirSync(GUESTS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(GUESTS_DIR, d.name, 'expected.txt')))
    .map((d) => {
      const dir = join(GUESTS_DIR, d.name);
      const imagePath = join(dir, `${d.name}.img`);
      const json = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      return {
        name: d.name,
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
