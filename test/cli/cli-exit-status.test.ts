// The command line as a user meets it (dist/src/cli.js, built by `npm run build`): guest output on
// stdout, the documented exit statuses (0 for the guest's 0, else (V << 1) | 1; 2 triple fault, 4 instruction
// budget, 8 bad input) and a message on stderr for everything that is not the guest's own exit.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureCli, hvemu, ROOT } from '../support/cli.js';

const guest = (name: string) => join(ROOT, 'guests', name, `${name}.img`);

beforeAll(ensureCli);

describe('hvemu run', () => {
  it('hello64: prints the expected text and exits 0 (the guest wrote 0 to port 0xF4: success)', () => {
    const r = hvemu('run', guest('hello64'));
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'guests', 'hello64', 'expected.txt'), 'latin1'));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    // QEMU's convention on request: hello64's expected.json holds the status QEMU exits with.
    const q = hvemu('run', guest('hello64'), '--exit-status', 'qemu');
    expect(q.status).toBe(
      JSON.parse(readFileSync(join(ROOT, 'guests', 'hello64', 'expected.json'), 'utf8')).exitStatus,
    );
    expect(q.status).toBe(1);
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

describe('hvemu run --console', () => {
  // A boot sector that writes each of "ok\n" to port 0xE9 and then to COM1, then exits:
  //   mov si, msg / next: lodsb / test al, al / jz done / out 0xE9, al / mov dx, 0x3F8 / out dx, al /
  //   jmp next / done: xor al, al / out 0xF4, al / msg: db "ok", 10, 0
  const code = [
    0xbe, 0x14, 0x7c, 0xac, 0x84, 0xc0, 0x74, 0x08, 0xe6, 0xe9, 0xba, 0xf8, 0x03, 0xee, 0xeb, 0xf3, 0x30,
    0xc0, 0xe6, 0xf4, 0x6f, 0x6b, 0x0a, 0x00,
  ];
  const image = () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvemu-cli-'));
    const path = join(dir, 'both.img');
    writeFileSync(path, Uint8Array.from(code));
    return path;
  };

  it.each([
    ['auto', 'ok\n'],
    ['both', 'ookk\n\n'],
    ['e9', 'ok\n'],
    ['com1', 'ok\n'],
  ])('--console %s prints %j for a guest that writes every byte to both', (choice, out) => {
    const r = hvemu('run', image(), '--console', choice);
    expect(r.stdout).toBe(out);
    expect(r.status).toBe(0);
  });

  it('--console takes only the four choices', () => {
    const r = hvemu('run', image(), '--console', 'lpt1');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/--console must be auto, both, e9 or com1, not 'lpt1'/);
  });
});
