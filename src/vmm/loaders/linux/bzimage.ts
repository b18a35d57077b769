// A Linux bzImage (Documentation/x86/boot.rst, "The Linux/x86 Boot Protocol"): a real-mode setup
// part, then the protected-mode kernel whose payload is the compressed vmlinux ELF. Entering the
// bzImage itself runs its decompressor (about 4.5 billion instructions for Debian's XZ kernel), so
// hvemu does what a direct-boot VMM does with a vmlinux: it takes the payload out of the setup
// header's payload_offset/payload_length (protocol 2.08+) and decompresses it here, then boots the
// ELF through its PVH entry (pvh.ts). XZ (Debian's choice) goes through the xz tool from xz-utils,
// gzip through Node's zlib; other formats are refused with what to do instead.
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';

/** The setup header's fields this loader uses (offsets from the start of the file). */
const HDR_SETUP_SECTS = 0x1f1;
const HDR_BOOT_FLAG = 0x1fe;
const HDR_HEADER = 0x202;
const HDR_VERSION = 0x206;
const HDR_PAYLOAD_OFFSET = 0x248;
const HDR_PAYLOAD_LENGTH = 0x24c;
const HDRS = 0x53726448; // "HdrS"

export class BzImageError extends Error {}

/** Is this a bzImage (boot sector flag 55AAh and the "HdrS" setup header)? */
export function isBzImage(image: Uint8Array): boolean {
  if (image.length < 0x260) return false;
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return dv.getUint16(HDR_BOOT_FLAG, true) === 0xaa55 && dv.getUint32(HDR_HEADER, true) === HDRS;
}

/** The boot protocol version, e.g. 0x020f for 2.15. */
export function bootProtocolVersion(image: Uint8Array): number {
  return new DataView(image.buffer, image.byteOffset, image.byteLength).getUint16(HDR_VERSION, true);
}

/** The vmlinux ELF inside a bzImage, decompressed. */
export function extractVmlinux(image: Uint8Array): Uint8Array {
  if (!isBzImage(image)) throw new BzImageError('not a bzImage (no 55AAh boot flag and "HdrS" setup header)');
  const version = bootProtocolVersion(image);
  if (version < 0x0208)
    throw new BzImageError(
      `boot protocol ${version >> 8}.${version & 0xff} has no payload fields (2.08 and later do): pass the extracted vmlinux instead`,
    );
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const setupSects = image[HDR_SETUP_SECTS] || 4; // 0 means 4 (boot.rst)
  const pmStart = (setupSects + 1) * 512;
  const start = pmStart + dv.getUint32(HDR_PAYLOAD_OFFSET, true);
  const length = dv.getUint32(HDR_PAYLOAD_LENGTH, true);
  if (start + length > image.length || length < 6)
    throw new BzImageError(
      `the payload (0x${start.toString(16)}+0x${length.toString(16)}) is outside the file (${image.length} bytes): truncated?`,
    );
  // Only the payload: xz stops reading at the end of its stream, and more bytes after it (the rest
  // of the bzImage) would meet a closed pipe (EPIPE) when xz exits first.
  const payload = image.subarray(start, start + length);
  let elf: Uint8Array;
  if (payload[0] === 0xfd && payload[1] === 0x37 && payload[2] === 0x7a && payload[3] === 0x58)
    elf = unxz(payload);
  else if (payload[0] === 0x1f && payload[1] === 0x8b) elf = gunzipSync(payload);
  else
    throw new BzImageError(
      `its payload is compressed with a format hvemu does not decompress (magic ${hex(payload.subarray(0, 4))}); extract vmlinux with the kernel's scripts/extract-vmlinux and pass that`,
    );
  if (elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c || elf[3] !== 0x46)
    throw new BzImageError('the decompressed payload is not an ELF file');
  return elf;
}

function unxz(data: Uint8Array): Uint8Array {
  // --single-stream: the stream ends where XZ says; the 4-byte size after it is not XZ data.
  const r = spawnSync('xz', ['-dc', '--single-stream'], { input: data, maxBuffer: 1 << 30 });
  if (r.error !== undefined)
    throw new BzImageError(
      `its payload is XZ-compressed and the xz tool is not available (${r.error.message}): install xz-utils, or pass the extracted vmlinux`,
    );
  if (r.status !== 0)
    throw new BzImageError(`xz could not decompress the payload: ${r.stderr.toString().trim()}`);
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
