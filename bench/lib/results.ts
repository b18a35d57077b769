// The shape of one bench run's results (written as JSON, read by the reports).
import type { ExitCostRow } from '../exit-cost.js';
import type { FloorResult } from '../floor.js';
import type { ScaleResult } from '../scaling.js';
import type { BreakdownResult } from '../wake-breakdown.js';
import type { WakeResult } from '../wake-latency.js';
import type { MachineInfo } from './machine.js';

export interface BenchSettings {
  mode: 'quick' | 'full';
  suites: string[];
  schedulers: string[];
  exitIters: number;
  exitReps: number;
  wakeCpus: number;
  wakesPerRun: number;
  /** Round trips of the floor's ping-pong. */
  floorRounds?: number;
  wakeReps: number;
  breakdownWakes: number;
  scaleCounts: number[];
  scaleBeyond: number[];
}

export interface BenchResults {
  command: string;
  machine: MachineInfo;
  settings: BenchSettings;
  exitCost: ExitCostRow[] | null;
  wakes: WakeResult[] | null;
  /** The Atomics.wait/notify hand-off between two workers (the floor of a threaded wake). */
  floor?: FloorResult | null;
  breakdown: BreakdownResult[] | null;
  scaling: ScaleResult[] | null;
  /** A suite that failed: its message (no numbers for it). */
  failure: string | null;
  loadEnd: number[];
  seconds: number;
  /** dist/src changed while the bench ran: the figures mix two builds. */
  distChanged: boolean;
}
