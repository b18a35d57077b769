// An initramfs for Debian's kernel, made here: a newc cpio archive (the format the kernel unpacks,
// Documentation/driver-api/early-userspace/buffer-format.rst) holding a static busybox and an /init
// script. The script mounts proc, sysfs and devtmpfs, prints how many CPUs are online, takes CPU 1
// offline and online again through sysfs, and powers off; each step prints a line the tests look for.

const enc = new TextEncoder();

interface Entry {
  name: string;
  mode: number;
  data: Uint8Array;
}

/** A newc ("070701") archive of `entries`, ended by the TRAILER!!! entry. */
export function cpioNewc(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const pad = (n: number) => (4 - (n % 4)) % 4;
  const hex8 = (v: number) => v.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0, data: new Uint8Array(0) }]) {
    const name = enc.encode(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, e.data.length, 0, 0, 0, 0, name.length, 0];
    const header = enc.encode(`070701${fields.map(hex8).join('')}`);
    parts.push(
      header,
      name,
      new Uint8Array(pad(header.length + name.length)),
      e.data,
      new Uint8Array(pad(e.data.length)),
    );
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** The markers /init prints, in order. */
export const INIT_MARKERS = {
  started: 'hvemu-init: userspace started',
  online: 'hvemu-init: online CPUs',
  offline: 'hvemu-init: cpu1 offline',
  onlineAgain: 'hvemu-init: cpu1 online again',
  done: 'hvemu-init: done',
} as const;

export function buildInitramfs(busybox: Uint8Array, opts: { hotplug: boolean }): Uint8Array {
  const bb = '/bin/busybox';
  const script = [
    `#!${bb} sh`,
    `${bb} mkdir -p /proc /sys /dev`,
    `${bb} mount -t proc proc /proc`,
    `${bb} mount -t sysfs sysfs /sys`,
    `${bb} mount -t devtmpfs devtmpfs /dev`,
    `echo "${INIT_MARKERS.started}"`,
    `echo "${INIT_MARKERS.online} $(${bb} cat /sys/devices/system/cpu/online)"`,
    ...(opts.hotplug
      ? [
          `echo 0 > /sys/devices/system/cpu/cpu1/online && echo "${INIT_MARKERS.offline} ($(${bb} cat /sys/devices/system/cpu/online))"`,
          `echo 1 > /sys/devices/system/cpu/cpu1/online && echo "${INIT_MARKERS.onlineAgain} ($(${bb} cat /sys/devices/system/cpu/online))"`,
        ]
      : []),
    `echo "${INIT_MARKERS.done}"`,
    `${bb} poweroff -f`,
    '',
  ].join('\n');
  return cpioNewc([
    { name: 'bin', mode: S_IFDIR | 0o755, data: new Uint8Array(0) },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: busybox },
    { name: 'init', mode: S_IFREG | 0o755, data: enc.encode(script) },
  ]);
}
