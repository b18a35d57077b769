// Sizes on the command line as QEMU writes them (`-m 64M`, `2G`): a whole number with an optional
// suffix K, M, G or T (powers of 1024, case-insensitive, an optional trailing "B" or "iB"). A plain
// number is in MiB, as QEMU's -m and hvemu's --memory have always taken it.

const UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes for `text`, or a message saying what is wrong with it. */
export function parseSize(text: string): number | { error: string } {
  const m = /^(\d+)(?:([kmgt])(?:i?b)?)?$/i.exec(text.trim());
  if (m === null)
    return {
      error: `'${text}' is not a size: a whole number of MiB, or with a suffix K, M, G or T (64M, 2G)`,
    };
  const n = Number(m[1]);
  const bytes = n * (m[2] ? UNITS[m[2].toLowerCase()] : UNITS.m);
  if (!Number.isSafeInteger(bytes)) return { error: `'${text}' is too large` };
  return bytes;
}

/** "64 MiB", "2 GiB", "640 KiB", "1536 MiB" */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const)
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  return `${bytes} bytes`;
}
