// --perfetto FILE: the run as Chrome trace-event JSON (the "JSON Array/Object Format" that
// ui.perfetto.dev and chrome://tracing open). One process, the VM; one thread (track) per vCPU,
// holding its MP states as slices, its KVM_RUN turns nested in RUNNABLE, and the VMM's time on
// its exits nested in those; VM exits and IPIs as instants; each IPI as a flow from the sender to
// every APIC that accepted it; each AP Reset Hold as a flow from the hold to its release.
// Events come from the exits, apic and mp trace lines (docs/tracing.md gives their format), so the
// timeline and the trace always agree. Written as the run goes: nothing is held but open slices.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Timeline } from '../vm-boot.js';
import type { TraceTopic } from '../vmm/trace.js';

const PID = 1;
/** Trace-event timestamps are microseconds; the VM's clock counts nanoseconds. */
const us = (ns: number): number => ns / 1000;

const MP_LINE = /^vcpu (\d+): mp_state (\S+) -> (\S+)/;
/** The SIPI that completes an AP Reset Hold (sev-es/ap-boot.ts): the hold's release. */
const RELEASE_LINE = /^vcpu (\d+): SIPI .*AP Reset Hold .*completed/;
const EXIT_LINE = /^vcpu (\d+): (?:#VMEXIT|VM exit) (.*)$/;
const IPI_LINE =
  /^APIC 0x([0-9a-f]+): IPI ([^,]+?)(?: vector 0x[0-9a-f]+)?(?: level-triggered)?, .* -> (.*)$/;

interface VcpuTrack {
  state: string;
  since: number;
  /** Open AP Reset Hold flow id, or 0. */
  hold: number;
  /**
   * The latest time used on this track. The VM's clock is shared and never goes back, but a vCPU's
   * own charges may land under time another vCPU already reached; events on one track are kept in
   * order (and slices nested, as the format asks) by never placing one before this.
   */
  cursor: number;
  lastTurnEnd: number;
}

export class PerfettoWriter implements Timeline {
  private readonly fd: number;
  private buf = '';
  private first = true;
  private readonly tracks: VcpuTrack[] = [];
  private nextFlow = 1;
  private last = 0;
  /** Counts of what was written, for the summary and the tests. */
  readonly counts = { ipis: 0, ipiFlows: 0, holds: 0, exits: 0 };

  constructor(
    file: string,
    cpus: number,
    private readonly title: string,
  ) {
    this.fd = openSync(file, 'w');
    this.raw('{"displayTimeUnit":"ns","traceEvents":[\n');
    this.event({ ph: 'M', pid: PID, tid: 0, name: 'process_name', args: { name: title } });
    for (let i = 0; i < cpus; i++) {
      this.event({ ph: 'M', pid: PID, tid: i, name: 'thread_name', args: { name: `vCPU ${i}` } });
      this.event({ ph: 'M', pid: PID, tid: i, name: 'thread_sort_index', args: { sort_index: i } });
      // kvm_arch_vcpu_create: the BSP starts RUNNABLE, an AP UNINITIALIZED (waiting for INIT).
      this.tracks.push({
        state: i === 0 ? 'RUNNABLE' : 'UNINITIALIZED',
        since: 0,
        hold: 0,
        cursor: 0,
        lastTurnEnd: 0,
      });
    }
  }

  private raw(text: string): void {
    this.buf += text;
    if (this.buf.length > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf);
    this.buf = '';
  }

  private event(e: Record<string, unknown>): void {
    this.raw(`${this.first ? '' : ',\n'}${JSON.stringify(e)}`);
    this.first = false;
  }

  /** A complete event; MP states are kept even at zero length (INIT and SIPI taken in one acceptance). */
  private slice(tid: number, name: string, cat: string, start: number, end: number, args?: object): void {
    if (end < start || (end === start && cat !== 'mp_state')) return;
    this.event({
      ph: 'X',
      pid: PID,
      tid,
      name,
      cat,
      ts: us(start),
      dur: us(end - start),
      ...(args ? { args } : {}),
    });
  }

  private instant(tid: number, name: string, cat: string, ns: number, args?: object): void {
    this.event({ ph: 'i', s: 't', pid: PID, tid, name, cat, ts: us(ns), ...(args ? { args } : {}) });
  }

  /** A flow step: 's' starts it, 'f' ends it (bound to the slice that encloses it: bp "e"). */
  private flow(ph: 's' | 'f', tid: number, id: number, name: string, cat: string, ns: number): void {
    this.event({ ph, pid: PID, tid, id, name, cat, ts: us(ns), ...(ph === 'f' ? { bp: 'e' } : {}) });
  }

  /** `ns` on vCPU `vcpu`'s track: not before what the track already shows. */
  private at(vcpu: number, ns: number): number {
    const t = this.tracks[vcpu];
    if (t === undefined) return ns;
    if (ns < t.cursor) return t.cursor;
    t.cursor = ns;
    return ns;
  }

  line(topic: TraceTopic, line: string, ns: number): void {
    if (ns > this.last) this.last = ns;
    if (topic === 'mp') {
      const m = MP_LINE.exec(line);
      if (m !== null) this.mpState(Number(m[1]), m[3], this.at(Number(m[1]), ns));
      const r = RELEASE_LINE.exec(line);
      const t = r === null ? undefined : this.tracks[Number(r[1])];
      if (t !== undefined && t.hold !== 0) {
        this.flow('f', Number(r?.[1]), t.hold, 'AP Reset Hold', 'ap-reset-hold', this.at(Number(r?.[1]), ns));
        t.hold = 0;
      }
    } else if (topic === 'exits') {
      const m = EXIT_LINE.exec(line);
      if (m === null) return;
      // The exit's name: the words before its first "field=value".
      const name = m[2].split(' ').filter((_w, i, all) => !all.slice(0, i + 1).some((x) => x.includes('=')));
      this.counts.exits++;
      const vcpu = Number(m[1]);
      this.instant(vcpu, name.join(' ') || m[2], 'exit', this.at(vcpu, ns), { trace: line });
    } else if (topic === 'apic') {
      const m = IPI_LINE.exec(line);
      if (m === null) return;
      const from = Number.parseInt(m[1], 16);
      const name = `IPI ${m[2]}`;
      this.counts.ipis++;
      const sent = this.at(from, ns);
      this.instant(from, name, 'ipi', sent, { trace: line });
      const targets = m[3].startsWith('APIC ') ? m[3].slice(5).split(';')[0].trim().split(' ') : [];
      for (const t of targets) {
        const to = Number.parseInt(t, 16);
        if (!(to < this.tracks.length)) continue;
        const id = this.nextFlow++;
        const received = this.at(to, sent);
        this.flow('s', from, id, name, 'ipi', sent);
        this.flow('f', to, id, name, 'ipi', received);
        this.instant(to, `${name} received`, 'ipi', received, { from: `APIC 0x${from.toString(16)}` });
        this.counts.ipiFlows++;
      }
    }
  }

  private mpState(vcpu: number, state: string, ns: number): void {
    const t = this.tracks[vcpu];
    if (t === undefined) return;
    this.slice(vcpu, t.state, 'mp_state', t.since, ns);
    // A hold ends at the SIPI that completes it (INIT first takes the vCPU to INIT_RECEIVED), or
    // when anything else wakes it (the guest sees "not released" and asks again).
    if (t.hold !== 0 && state === 'RUNNABLE') {
      this.flow('f', vcpu, t.hold, 'AP Reset Hold (woken, not released)', 'ap-reset-hold', ns);
      t.hold = 0;
    }
    t.state = state;
    t.since = ns;
    if (state === 'AP_RESET_HOLD') {
      t.hold = this.nextFlow++;
      this.counts.holds++;
      this.flow('s', vcpu, t.hold, 'AP Reset Hold', 'ap-reset-hold', ns);
    }
  }

  turn(vcpu: number, start: number, end: number): void {
    if (end > this.last) this.last = end;
    const t = this.tracks[vcpu];
    if (t === undefined) return;
    // Inside the MP-state slice: a turn that ended in HLT or AP Reset Hold stops where RUNNABLE did.
    const s = Math.max(start, t.lastTurnEnd, t.state === 'RUNNABLE' ? t.since : 0);
    const e = t.state === 'RUNNABLE' ? this.at(vcpu, end) : t.since;
    this.slice(vcpu, 'KVM_RUN', 'guest', s, e);
    if (e > t.lastTurnEnd) t.lastTurnEnd = e;
  }

  host(vcpu: number, start: number, ns: number): void {
    const s = this.at(vcpu, start);
    this.slice(vcpu, 'VMM (exit handling)', 'host', s, this.at(vcpu, s + ns));
  }

  /** Close the open MP-state slices at the end of the run and the file. */
  close(endNs = this.last): void {
    for (let i = 0; i < this.tracks.length; i++) {
      const t = this.tracks[i];
      this.slice(i, t.state, 'mp_state', t.since, Math.max(endNs, t.since + 1));
    }
    this.raw(`\n],"otherData":${JSON.stringify({ producer: 'hvemu', title: this.title })}}\n`);
    this.flush();
    closeSync(this.fd);
  }
}
