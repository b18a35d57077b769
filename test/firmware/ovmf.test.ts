// Debian's OVMF (package ovmf) as QEMU's pc machine runs it: the pflash pair OVMF_CODE.fd +
// OVMF_VARS.fd (/usr/share/OVMF), and the single image OVMF.fd (/usr/share/ovmf) as an SEV-ES guest. The firmware decompresses its main volume (about 450 million
// instructions), PlatformPei programs the PIIX4 PM block and times MpInitLib's INIT-to-SIPI delay
// with the ACPI PM timer, and MpInitLib wakes every AP. Debian's build is RELEASE: it prints no
// DEBUG text on port 0x402, so the APIC and MP-state traces are the evidence. Each run stops as
// soon as the point is proved (the checkpoint), not at a fixed count.
// - Plain, under SVM: every AP gets INIT, then a Start-up IPI at least 10 ms of virtual time later
//   (edk2's PcdCpuInitIpiDelayInMicroSeconds, measured on the PM timer), runs MpInitLib's AP code
//   and halts. On AMD MpInitLib sends one SIPI (SendInitSipiSipiAllExcludingSelf skips the second).
// - As an SEV-ES guest: every AP starts at the image's SEV-ES reset block, runs, and parks itself
//   with AP Reset Hold (a VMGEXIT), which the VMM sees as mp_state AP_RESET_HOLD.
// Skipped, saying why, without /usr/share/OVMF (.ci/run installs the ovmf package).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createFirmwareVm } from '../../src/firmware-boot.js';
import { createSevEsVm } from '../../src/sev-boot.js';
import { runPcVm } from '../../src/vm-boot.js';
import { PIIX4_PMREGMISC } from '../../src/vmm/pci/i440fx.js';

const CODE = '/usr/share/OVMF/OVMF_CODE.fd';
const VARS = '/usr/share/OVMF/OVMF_VARS.fd';
/** The single image: the variable store and the code in one (what the pair splits), launched whole. */
const WHOLE = '/usr/share/ovmf/OVMF.fd';
const have = existsSync(CODE) && existsSync(VARS);
const skip = have ? null : 'no /usr/share/OVMF/OVMF_CODE.fd and OVMF_VARS.fd: install Debian package ovmf';
const skipWhole = existsSync(WHOLE) ? null : 'no /usr/share/ovmf/OVMF.fd: install Debian package ovmf';
const CPUS = 4;
/** edk2 PcdCpuInitIpiDelayInMicroSeconds: MpInitLib's wait between INIT and the Start-up IPI. */
const INIT_SIPI_DELAY_NS = 10_000_000;
/** OVMF's PcdAcpiPmBaseAddress: where PlatformPei puts the PIIX4 PM block. */
const OVMF_PM_BASE = 0xb000;

interface ApLog {
  init: number[];
  sipi: number[];
  halted: boolean;
  resetHold: boolean;
}

/** Wall and CPU seconds since t0 (the machine may be shared: CPU time is the cost). */
function timing(t0: number, cpu0: NodeJS.CpuUsage): string {
  const c = process.cpuUsage(cpu0);
  return `${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${((c.user + c.system) / 1e6).toFixed(1)} s CPU`;
}

/** Follow each AP through the mp trace, with the virtual time of each event. */
function apTracker(now: () => number) {
  const aps = new Map<number, ApLog>();
  const ap = (id: number) => {
    let a = aps.get(id);
    if (a === undefined) {
      a = { init: [], sipi: [], halted: false, resetHold: false };
      aps.set(id, a);
    }
    return a;
  };
  const trace = (cat: string, line: string) => {
    if (cat !== 'mp') return;
    const m = /^vcpu (\d+): (.*)$/.exec(line);
    if (m === null || m[1] === '0') return;
    const a = ap(Number(m[1]));
    if (/-> INIT_RECEIVED$/.test(m[2])) a.init.push(now());
    else if (/^SIPI/.test(m[2])) a.sipi.push(now());
    else if (/RUNNABLE -> HALTED$/.test(m[2]) && a.sipi.length > 0) a.halted = true;
    else if (/-> AP_RESET_HOLD$/.test(m[2]) && a.sipi.length > 0) a.resetHold = true;
  };
  return { aps, trace };
}

describe("Debian's OVMF", () => {
  it(`as the pflash pair, boots plain under SVM past PEI's PM-timer delay to MpInitLib, which starts all ${CPUS - 1} APs`, (ctx) => {
    ctx.skip(skip !== null, skip ?? undefined);
    let clockNow: () => number = () => 0;
    const { aps, trace } = apTracker(() => clockNow());
    const pc = createFirmwareVm(
      {
        code: { name: CODE, bytes: readFileSync(CODE) },
        vars: { name: VARS, bytes: readFileSync(VARS) },
      },
      { arch: 'svm', cpus: CPUS, memoryBytes: 128 * 2 ** 20, trace, traceTopics: new Set(['mp'] as const) },
    );
    clockNow = () => pc.platform.clock.now();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = runPcVm(pc, {
      maxInstructions: 1_500_000_000,
      checkpoint: () => aps.size === CPUS - 1 && [...aps.values()].every((a) => a.halted),
    });
    console.log(`OVMF plain SVM: ${r.instructions} instructions, ${timing(t0, cpu0)}, ${r.stop}`);
    expect(r.stop).toBe('interrupted'); // the checkpoint: every AP woke and halted
    // PlatformPei found the PIIX4 PM function through the host bridge and enabled its block.
    expect(pc.platform.chipset.pmBase()).toBe(OVMF_PM_BASE);
    expect(pc.platform.chipset.pm.config[PIIX4_PMREGMISC] & 1).toBe(1);
    for (let id = 1; id < CPUS; id++) {
      const a = aps.get(id);
      expect(a, `AP ${id}`).toBeDefined();
      expect(a!.sipi.length).toBeGreaterThan(0);
      expect(a!.sipi[0] - a!.init[0]).toBeGreaterThanOrEqual(INIT_SIPI_DELAY_NS);
      expect(pc.vm.vcpus[id].backend.clock.icount, `AP ${id} ran`).toBeGreaterThan(0);
    }
  }, 900_000);

  // The single image (QEMU -bios): its variable store is launched (encrypted) with the code, so PEI
  // reads it with the C-bit set as on QEMU+KVM. (With the pair, QEMU leaves unit 1 in the clear.)
  it(`OVMF.fd as an SEV-ES guest: MpInitLib's ${CPUS - 1} APs start at the reset block and park in AP Reset Hold`, (ctx) => {
    ctx.skip(skipWhole !== null, skipWhole ?? undefined);
    let clockNow: () => number = () => 0;
    const { aps, trace } = apTracker(() => clockNow());
    const holds: string[] = [];
    const s = createSevEsVm(readFileSync(WHOLE), {
      cpus: CPUS,
      memoryBytes: 128 * 2 ** 20,
      traceTopics: new Set(['mp', 'exits'] as const),
      trace: (cat, line) => {
        trace(cat, line);
        if (cat === 'exits' && /AP_HLT_LOOP|ap-reset-hold|AP reset hold/i.test(line)) holds.push(line);
      },
    });
    clockNow = () => s.pc.platform.clock.now();
    expect(s.measurementVerified).toBe(true);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = runPcVm(s.pc, {
      maxInstructions: 2_000_000_000,
      checkpoint: () => aps.size === CPUS - 1 && [...aps.values()].every((a) => a.resetHold),
    });
    console.log(`OVMF SEV-ES: ${r.instructions} instructions, ${timing(t0, cpu0)}, ${r.stop}`);
    console.log(holds.slice(0, 3).join('\n'));
    expect(r.stop, r.message).toBe('interrupted');
    for (let id = 1; id < CPUS; id++) {
      const a = aps.get(id)!;
      expect(a.resetHold, `AP ${id} in AP Reset Hold`).toBe(true);
      expect(s.vm.vcpus[id].backend.clock.icount, `AP ${id} ran`).toBeGreaterThan(0);
    }
    expect(holds.length).toBeGreaterThanOrEqual(CPUS - 1);
  }, 900_000);
});
