// The schedulers a measurement can run under: every result row carries the scheduler's name, so a
// threaded scheduler (a later issue) is one more entry here and one more column value, not a rework.
// A scheduler runs a created, loaded VM to its end; it is async so that one whose vCPUs live on
// worker threads fits the same shape.
import { type PcVm, runPcVm, type VmBootOptions } from '../../src/vm-boot.js';
import type { BootSectorRunResult } from '../../src/vmm/bare-metal.js';

export interface Scheduler {
  readonly name: string;
  run(pc: PcVm, opts: VmBootOptions): Promise<BootSectorRunResult>;
}

/** src/vm-boot.ts runPcVm: one thread, round robin, 16K-instruction quanta, the same every run. */
export const DETERMINISTIC: Scheduler = {
  name: 'deterministic',
  run: async (pc, opts) => runPcVm(pc, opts),
};

export const SCHEDULERS: readonly Scheduler[] = [DETERMINISTIC];

export function schedulerByName(name: string): Scheduler {
  const s = SCHEDULERS.find((x) => x.name === name);
  if (!s) throw new Error(`no scheduler '${name}' (have: ${SCHEDULERS.map((x) => x.name).join(', ')})`);
  return s;
}
