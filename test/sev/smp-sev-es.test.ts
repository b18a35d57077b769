// The SEV-ES multi-core guest (guests/smp-sev-es, and smp-sev-es-msr which parks with the MSR
// protocol): every AP boots once from its launch VMSA, parks in AP Reset Hold, and is woken K = 3
// times by INIT-SIPI-SIPI through the AP jump table, with 1 to 64 vCPUs. The hypervisor's side is
// checked in the trace: each AP enters KVM_MP_STATE_AP_RESET_HOLD K + 1 times and is released K times.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSevEsVm, runSevEsVm } from '../../src/sev-boot.js';
import { runPcVm } from '../../src/vm-boot.js';
import { KVM_EXIT_AP_RESET_HOLD } from '../../src/vmm/kvm-abi.js';

const WAKES = 3;
const image = (name: string) => readFileSync(new URL(`../../guests/${name}/${name}.img`, import.meta.url));
const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');

function run(name: string, cpus: number) {
  const mp: string[] = [];
  const r = runSevEsVm(image(name), { cpus, trace: (c, l) => c === 'mp' && mp.push(l) });
  return { ...r, mp };
}

for (const [name, form] of [
  ['smp-sev-es', 'GHCB event'],
  ['smp-sev-es-msr', 'MSR protocol'],
] as const) {
  describe(`${name}: APs parked with AP Reset Hold (${form}) and woken ${WAKES} times`, () => {
    for (const cpus of [1, 2, 4, 16, 64]) {
      it(`${cpus} vCPU(s)`, () => {
        const r = run(name, cpus);
        expect(r.stop, r.message).toBe('exit');
        expect(r.exitStatus).toBe(1);
        expect(r.measurementVerified).toBe(true);
        const lines = r.output.split('\n');
        const aps = `${cpus - 1} AP${cpus === 2 ? '' : 's'}`;
        expect(lines).toContain(
          `SEV-ES SMP: done: BSP + ${aps}, each AP woken ${WAKES} times through the AP jump table`,
        );
        if (cpus > 1) expect(lines).toContain(`BSP: ${aps} online and parked in AP Reset Hold (${form})`);
        for (let id = 1; id < cpus; id++) {
          expect(lines.filter((l) => l === `AP ${hex2(id)} online`)).toHaveLength(1);
          for (let k = 1; k <= WAKES; k++)
            expect(lines.filter((l) => l === `AP ${hex2(id)} wake ${k}`)).toHaveLength(1);
          const mine = r.mp.filter((l) => l.startsWith(`vcpu ${id}: `));
          expect(mine.filter((l) => l.endsWith('-> AP_RESET_HOLD'))).toHaveLength(WAKES + 1);
          expect(mine.filter((l) => /first SIPI/.test(l))).toHaveLength(1);
          expect(mine.filter((l) => /AP Reset Hold .*completed/.test(l))).toHaveLength(WAKES);
        }
      });
    }
  });
}

describe('smp-sev-es with 4 vCPUs', () => {
  it('prints exactly its expected output, the same on every run', () => {
    const expected = readFileSync(new URL('../../guests/smp-sev-es/expected.txt', import.meta.url), 'latin1');
    const a = run('smp-sev-es', 4);
    const b = run('smp-sev-es', 4);
    expect(a.output).toBe(expected);
    expect(b.output).toBe(a.output);
    expect(b.mp).toEqual(a.mp);
  });
});

describe('KVM_EXIT_AP_RESET_HOLD (opt-in)', () => {
  it('is reported to userspace once per hold when a vCPU asks for it, and the run is unchanged', () => {
    const expected = readFileSync(new URL('../../guests/smp-sev-es/expected.txt', import.meta.url), 'latin1');
    const s = createSevEsVm(image('smp-sev-es'), { cpus: 4 });
    const seen: number[] = [];
    for (const v of s.vm.vcpus.slice(1)) {
      v.exitOnApResetHold = true;
      const kvmRun = v.kvmRun.bind(v);
      v.kvmRun = (budget: number) => {
        const reason = kvmRun(budget);
        if (reason === KVM_EXIT_AP_RESET_HOLD) seen.push(v.id);
        return reason;
      };
    }
    const r = runPcVm(s.pc);
    expect(r.output).toBe(expected);
    for (const id of [1, 2, 3]) expect(seen.filter((x) => x === id)).toHaveLength(WAKES + 1);
  });
});
