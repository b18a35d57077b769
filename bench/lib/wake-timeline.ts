// Host-side timeline of AP wakes, built from the VMM's trace lines as they happen (the trace callback
// runs synchronously at each event, so a host timestamp taken there is the moment of the event):
//
//   apic  "APIC 0x0: IPI INIT, ... -> APIC 0x1"         INIT reaches vCPU 1
//   exits "vcpu 0: #VMEXIT ..."                          the BSP's exit that carries its ICR write
//   apic  "APIC 0x0: IPI Start Up vector 0x08, ... -> APIC 0x1"   the SIPI leaves: a wake starts
//   mp    "vcpu 1: SIPI ..." / "vcpu 1: first SIPI ..."  vCPU 1 takes it (at its turn: KVM's
//                                                         accept-events before entry)
//   mp    "vcpu 1: mp_state INIT_RECEIVED -> RUNNABLE"
//   turn                                                 vCPU 1's turn begins (the scheduler's
//                                                         onTurn; absent if it has none)
//   exits "vcpu 1: ..."                                  vCPU 1's first exit after that: the guest's
//                                                         arrival mark (it must match `isMark`)
//
// A wake opens at the first SIPI after an INIT to its target (the second SIPI of a pair, dropped by
// the VMM, opens nothing) and closes at the arrival mark. An INIT to a target whose wake has not
// arrived, an unexpected first exit, or a wake still open at the end is a BenchFailure.
import { BenchFailure } from './failure.js';

/** A moment: host ns (performance.now() scale) and the VM's virtual clock (ns). */
export interface Stamp {
  host: number;
  vm: number;
}

export interface WakeSample {
  target: number;
  init: Stamp;
  /** The sender's last exit before the SIPI left (the ICR write's exit), if it had one. */
  icrExit: Stamp | null;
  sipi: Stamp;
  accept: Stamp;
  runnable: Stamp;
  /** The target's first turn after it became runnable (null: the scheduler reports no turns). */
  turn: Stamp | null;
  arrive: Stamp;
}

interface Open {
  target: number;
  init: Stamp;
  icrExit: Stamp | null;
  sipi: Stamp;
  accept: Stamp | null;
  runnable: Stamp | null;
  turn: Stamp | null;
}

const IPI = /^APIC 0x([0-9a-f]+): IPI (INIT|Start Up)(?! Level)[^>]*-> APIC ((?:0x[0-9a-f]+ ?)+)/;
const VCPU = /^vcpu (\d+): (.*)$/;

export class WakeTimeline {
  readonly samples: WakeSample[] = [];
  private readonly open = new Map<number, Open>();
  private readonly pendingInit = new Map<number, Stamp>();
  private readonly lastExit = new Map<number, Stamp>();
  private vmNow: () => number = () => Number.NaN;

  /** `isMark`: is this exit line the guest's arrival mark? */
  constructor(private readonly isMark: (line: string) => boolean) {}

  attach(vmNow: (() => number) | null): void {
    if (vmNow) this.vmNow = vmNow;
  }

  /** One trace line, at host time `host` (ns). */
  onTrace(category: string, line: string, host: number): void {
    if (category === 'apic') this.ipi(line, host);
    else if (category === 'exits') this.exit(line, host);
    else if (category === 'mp') this.mp(line, host);
  }

  /** vCPU `vcpu`'s turn begins, at host time `host` (ns). */
  onTurn(vcpu: number, host: number): void {
    const o = this.open.get(vcpu);
    if (o?.runnable && o.turn === null) o.turn = this.stamp(host);
  }

  /** Every wake must have arrived. */
  finish(): void {
    for (const o of this.open.values())
      throw new BenchFailure(
        `the wake of vcpu ${o.target} (SIPI sent at host ${(o.sipi.host / 1e6).toFixed(3)} ms) never reached its target: ${o.accept ? (o.runnable ? 'runnable but no arrival exit' : 'SIPI taken but never runnable') : 'SIPI never taken'}`,
      );
  }

  private stamp(host: number): Stamp {
    return { host, vm: this.vmNow() };
  }

  private ipi(line: string, host: number): void {
    const m = IPI.exec(line);
    if (!m) return;
    const from = Number.parseInt(m[1], 16);
    const targets = m[3]
      .trim()
      .split(' ')
      .map((x) => Number.parseInt(x, 16));
    for (const t of targets) {
      if (m[2] === 'INIT') {
        const o = this.open.get(t);
        if (o) this.lost(o, 'an INIT came before it arrived');
        this.pendingInit.set(t, this.stamp(host));
      } else {
        const init = this.pendingInit.get(t);
        if (init === undefined) continue; // a second SIPI: no INIT before it
        this.pendingInit.delete(t);
        this.open.set(t, {
          target: t,
          init,
          icrExit: this.lastExit.get(from) ?? null,
          sipi: this.stamp(host),
          accept: null,
          runnable: null,
          turn: null,
        });
      }
    }
  }

  private exit(line: string, host: number): void {
    const m = VCPU.exec(line);
    if (!m) return;
    const v = Number(m[1]);
    const o = this.open.get(v);
    if (o?.runnable) {
      if (!this.isMark(line)) this.lost(o, `its first exit was not the arrival mark: '${line}'`);
      this.open.delete(v);
      const { accept, runnable } = o;
      this.samples.push({ ...o, accept: accept as Stamp, runnable, arrive: this.stamp(host) });
      return;
    }
    this.lastExit.set(v, this.stamp(host));
  }

  private mp(line: string, host: number): void {
    const m = VCPU.exec(line);
    if (!m) return;
    const o = this.open.get(Number(m[1]));
    if (!o) return;
    const what = m[2];
    if (o.accept === null && (what.startsWith('SIPI') || what.startsWith('first SIPI')))
      o.accept = this.stamp(host);
    else if (o.accept !== null && o.runnable === null && what.endsWith('-> RUNNABLE'))
      o.runnable = this.stamp(host);
  }

  private lost(o: Open, why: string): never {
    throw new BenchFailure(`the wake of vcpu ${o.target} never reached its target: ${why}`);
  }
}
