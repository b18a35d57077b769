// Where --trace lines go: stderr, or a file (--trace-file), keeping only the vCPUs asked for
// (--trace-cpus). Each line starts with the vCPU it is about ("vcpu N:"), or the APIC ("APIC 0xN:",
// whose ID is the vCPU's index in hvemu's VMs); lines about the whole machine are always kept.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { TraceTopic } from '../vmm/trace.js';

const VCPU_PREFIX = /^(?:vcpu (\d+)|APIC 0x([0-9a-f]+)):/;

/** The vCPU a trace line is about, or -1 for a line about the machine. */
export function traceLineVcpu(line: string): number {
  const m = VCPU_PREFIX.exec(line);
  if (m === null) return -1;
  return m[1] !== undefined ? Number(m[1]) : Number.parseInt(m[2], 16);
}

/** "0,2-3" -> {0, 2, 3}; an error message for anything else. */
export function parseCpuList(text: string, cpus: number): Set<number> | { error: string } {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) return { error: `'${part}' is not a vCPU number or range (like 0,2 or 1-3)` };
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) return { error: `'${part}' runs backwards` };
    if (last >= cpus) return { error: `vCPU ${last} does not exist: the VM has vCPUs 0 to ${cpus - 1}` };
    for (let i = first; i <= last; i++) out.add(i);
  }
  return out;
}

export class TraceOutput {
  private readonly fd: number;
  private readonly buffered: boolean;
  private buf = '';
  private readonly enc = new TextEncoder();

  /** `file` null: stderr, line by line (interleaved with the console); a file is written in blocks. */
  constructor(
    file: string | null,
    private readonly cpus: ReadonlySet<number> | null,
    private readonly write: (fd: number, bytes: Uint8Array) => void = (fd, b) => {
      writeSync(fd, b);
    },
  ) {
    this.fd = file === null ? 2 : openSync(file, 'w');
    this.buffered = file !== null;
  }

  /** Keep the line if it is about a vCPU asked for (or about no vCPU). */
  wants(line: string): boolean {
    if (this.cpus === null) return true;
    const v = traceLineVcpu(line);
    return v < 0 || this.cpus.has(v);
  }

  line(_topic: TraceTopic, line: string): void {
    if (!this.wants(line)) return;
    if (!this.buffered) {
      this.write(this.fd, this.enc.encode(`${line}\n`));
      return;
    }
    this.buf += `${line}\n`;
    if (this.buf.length > 1 << 16) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    this.write(this.fd, this.enc.encode(this.buf));
    this.buf = '';
  }

  close(): void {
    this.flush();
    if (this.fd !== 2) closeSync(this.fd);
  }
}
