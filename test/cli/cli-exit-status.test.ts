// The command line as a user meets it (dist/src/cli.js, built by `npm run build`): guest output on
// stdout, the documented exit statuses (the guest's (V << 1) | 1, 2 triple fault, 4 instruction
// budget, 8 bad input) and a message on stderr for everything that is not the guest's own exit.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const guest = (name: string) => join(ROOT, 'guests', name, `${name}.img`);

function hvemu(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'latin1', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(CLI)) {
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`npm run build failed:\n${b.stdout}\n${b.stderr}`);
  }
});

describe('hvemu run', () => {
  it('hello64: prints the expected text and exits 1 (the guest wrote 0 to port 0xF4)', () => {
    const r = hvemu('run', guest('hello64'));
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'guests', 'hello64', 'expected.txt'), 'latin1'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
  });

  it('faults: exits 2 and says "triple fault" on stderr, after the guest output', () => {
    const r = hvemu('run', guest('faults'));
    expect(r.status).toBe(2);
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'guests', 'faults', 'expected.txt'), 'latin1'));
    expect(r.stderr).toMatch(/^hvemu: triple fault/);
    expect(r.stderr).toMatch(/#DF/);
  });

  it('--max-instructions 1000 on modes: exits 4 and says why', () => {
    const r = hvemu('run', guest('modes'), '--max-instructions', '1000');
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/1000 instructions/);
  });
});

describe('bad input exits 8 with a message on stderr', () => {
  it('a missing image file', () => {
    const r = hvemu('run', join(tmpdir(), 'hvemu-no-such-image.img'));
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/^hvemu: cannot read .*hvemu-no-such-image\.img/);
    expect(r.stdout).toBe('');
  });

  it('an empty image file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvemu-cli-'));
    writeFileSync(join(dir, 'empty.img'), new Uint8Array(0));
    const r = hvemu('run', join(dir, 'empty.img'));
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/bad image .*empty\.img: the image is empty/);
  });

  it.each(['abc', '0', '1.5', '-5', ''])('--max-instructions=%j', (v) => {
    const r = hvemu('run', guest('hello64'), `--max-instructions=${v}`);
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/^hvemu: .*max-instructions/);
    expect(r.stdout).toBe('');
  });

  it('no image at all', () => {
    const r = hvemu('run');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/one image file/);
  });
});
