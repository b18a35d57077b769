// A progress bar on stderr: redrawn in place on a terminal, one line per finished step otherwise
// (so a log or CI output stays readable). Steps carry weights: their expected share of the time.

export class Progress {
  private done = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly t0 = performance.now();

  constructor(private readonly total: number) {}

  /** Starting a step of `weight` units called `label`. */
  start(label: string): void {
    if (this.tty) this.draw(label);
  }

  /** The step of `weight` units finished. */
  finish(label: string, weight: number): void {
    this.done += weight;
    if (this.tty) this.draw(label);
    else process.stderr.write(`${this.bar()} ${label}\n`);
  }

  end(): void {
    if (this.tty) process.stderr.write('\n');
  }

  private bar(): string {
    const f = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const n = Math.round(f * 30);
    const secs = ((performance.now() - this.t0) / 1e3).toFixed(0);
    return `[${'#'.repeat(n)}${'.'.repeat(30 - n)}] ${(f * 100).toFixed(0).padStart(3)}% ${secs.padStart(4)} s`;
  }

  private draw(label: string): void {
    const cols = process.stderr.columns ?? 100;
    process.stderr.write(`\r${`${this.bar()} ${label}`.slice(0, cols - 1).padEnd(cols - 1)}`);
  }
}
