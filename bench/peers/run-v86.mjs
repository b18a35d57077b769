// Boot one peer-workload image (guest.asm) in v86 under Node and print what it writes to COM1, for
// bench/mips.ts's v86 row (--v86=DIR). v86 is not a dependency of hvemu: DIR is a directory where
// `npm install v86` was run (bench/README.md). SeaBIOS (Debian's /usr/share/seabios) loads the image
// from the first hard disk and jumps to 0:7C00, as on a PC; the run ends when the checksum line is
// complete (v86 has no debug-exit port).
//   node bench/peers/run-v86.mjs DIR IMAGE
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, imagePath] = process.argv.slice(2);
if (!dir || !imagePath) {
  console.error('usage: node run-v86.mjs DIR IMAGE (DIR: where `npm install v86` was run)');
  process.exit(2);
}
const pkg = join(dir, 'node_modules/v86');
const { V86 } = await import(pathToFileURL(join(pkg, 'build/libv86.mjs')).href);
const seabios = process.env.SEABIOS_DIR ?? '/usr/share/seabios';
const buf = (f) => {
  const b = readFileSync(f);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const image = new Uint8Array(512 * 64); // a small disk: the boot sector, then zeros
image.set(readFileSync(imagePath).subarray(0, 512));

const emulator = new V86({
  wasm_path: join(pkg, 'build/v86.wasm'),
  memory_size: 32 * 1024 * 1024,
  vga_memory_size: 2 * 1024 * 1024,
  bios: { buffer: buf(join(seabios, 'bios.bin')) },
  vga_bios: { buffer: buf(join(seabios, 'vgabios-stdvga.bin')) },
  hda: { buffer: image.buffer },
  boot_order: 0x132, // hard disk first
  autostart: true,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
});
let out = '';
const limit = setTimeout(() => {
  console.error(`v86: no checksum line after 600 s; COM1 so far: ${JSON.stringify(out)}`);
  process.exit(1);
}, 600_000);
emulator.add_listener('serial0-output-byte', (b) => {
  out += String.fromCharCode(b);
  if (/CKSUM=[0-9A-F]{8}\r?\n|NOLM\r?\n/.test(out)) {
    clearTimeout(limit);
    process.stdout.write(out);
    emulator.destroy().finally(() => process.exit(0));
  }
});
