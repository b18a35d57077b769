// What both Debian kernel tests share: where test/linux/fetch-debian.sh put the kernel and busybox,
// why a test skips without them, and the initramfs with the hotplug script, built once per file.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ensureCli } from '../support/cli.js';
import { buildInitramfs } from './initramfs.js';

export const DEBIAN = new URL('../../build/debian/', import.meta.url).pathname;
const have = existsSync(join(DEBIAN, 'vmlinuz')) && existsSync(join(DEBIAN, 'busybox'));
/** Why the boots skip, or null when the kernel is there. */
export const DEBIAN_SKIP = have
  ? null
  : 'build/debian has no kernel: run test/linux/fetch-debian.sh (.ci/run does)';

/**
 * Builds the CLI and the hotplug initramfs before the file's tests (when the kernel is there) and
 * removes it after; returns the initramfs's path, valid inside the tests.
 */
export function hotplugInitrd(prefix: string): () => string {
  let dir = '';
  beforeAll(() => {
    if (!have) return;
    ensureCli();
    dir = mkdtempSync(join(tmpdir(), prefix));
    writeFileSync(
      join(dir, 'initrd'),
      buildInitramfs(readFileSync(join(DEBIAN, 'busybox')), { hotplug: true }),
    );
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => join(dir, 'initrd');
}
