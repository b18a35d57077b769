// The MIPS bench's forms run one loop: the peer workload (bench/peers/guest.asm, its loop in
// workload.inc) bare and as an SVM and a VMX guest, and sev-peer.asm (the same loop) as an SEV-ES
// guest, 32- and 64-bit, all print the checksum the bench's model computes. Not timed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assemble } from './lib/assemble.js';
import { type Kind, runGuest } from './lib/guest-run.js';
import { PEERS } from './lib/paths.js';
import { peerChecksum } from './lib/peer-table.js';

const N = 3000;
const work = mkdtempSync(join(tmpdir(), 'hvemu-peer-forms-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function bootSector(mode: 32 | 64): Uint8Array {
  const out = join(work, `guest${mode}.img`);
  const r = spawnSync(
    'nasm',
    [
      '-f',
      'bin',
      '-i',
      `${PEERS}/`,
      '-D',
      `ITERS=${N}`,
      ...(mode === 64 ? ['-D', 'LONGMODE'] : []),
      '-o',
      out,
      join(PEERS, 'guest.asm'),
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`nasm guest.asm: ${r.error?.message ?? r.stderr}`);
  return readFileSync(out);
}

describe('the peer workload in every form of the MIPS bench', () => {
  const want = peerChecksum(N);
  for (const mode of [32, 64] as const)
    for (const kind of ['bare', 'svm', 'vmx', 'sev-es'] as Kind[])
      it(`${kind}, ${mode}-bit: ${want}`, async () => {
        const image =
          kind === 'sev-es'
            ? assemble('sev-peer', { ITERS: N, ...(mode === 64 ? { LONGMODE: true } : {}) })
            : bootSector(mode);
        const r = await runGuest({ kind, image, what: `peer ${kind} ${mode}`, memoryMiB: 32 });
        expect(r.text).toContain(want);
        // At least the loop's 24 instructions per iteration ran (the counted guest instructions).
        expect(r.result.instructions).toBeGreaterThan(24 * N);
      });
});
