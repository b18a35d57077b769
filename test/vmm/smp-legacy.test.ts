// guests/smp-legacy: a Multiboot kernel whose BSP enters long mode, finds the CPUs in the MADT,
// and starts every AP with INIT-SIPI-SIPI the MP specification's way (CMOS shutdown code 0Ah and
// the warm-reset vector, waits timed by the PIT through the I/O APIC); the APs enter long mode,
// count themselves in with LOCK XADD, print in APIC-ID order and take one fixed IPI each. Its
// output does not depend on the order the APs run in, so hvemu (SVM and VMX, 1 to 64 vCPUs) and
// QEMU -smp must print exactly the same text.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUESTS_DIR } from '../../guests/guest-list.js';
import { createPcVm, loadMultibootKernel, runMultibootVm, runPcVm } from '../../src/vm-boot.js';

const DIR = join(GUESTS_DIR, 'smp-legacy');
const IMAGE_PATH = join(DIR, 'smp-legacy.img');
const IMAGE = new Uint8Array(readFileSync(IMAGE_PATH));
const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');

/** What the guest prints with `cpus` CPUs (APIC IDs 0..cpus-1); expected.txt anchors it to QEMU. */
function expectedText(cpus: number): string {
  const aps = Array.from({ length: cpus - 1 }, (_, i) => hex2(i + 1));
  const n = cpus - 1;
  const lines = [
    'smp-legacy: the BSP is in long mode',
    'BSP: Multiboot magic 2BADB002, mem_lower 639 KiB',
    'BSP: I/O APIC version register 00170020',
    `BSP: the MADT lists ${cpus} CPUs; the BSP's APIC ID is 00`,
    `BSP: the MP table lists ${cpus} CPUs`,
    `BSP: starting ${n} APs with INIT-SIPI-SIPI`,
    ...aps.map((id) => `AP ${id} online`),
    `BSP: ${n} APs online, the LOCK XADD counter says ${n}`,
    ...aps.map((id) => `AP ${id} got the fixed IPI`),
    `BSP: ${n} fixed IPIs taken`,
    'SMP: done',
  ];
  return `${lines.join('\n')}\n`;
}

describe('smp-legacy', () => {
  it('the expected text for 4 CPUs is what QEMU -smp 4 printed (expected.txt)', () => {
    expect(expectedText(4)).toBe(readFileSync(join(DIR, 'expected.txt'), 'latin1'));
  });

  for (const arch of ['svm', 'vmx'] as const) {
    for (const cpus of [1, 2, 4, 16, 64]) {
      it(`${cpus} vCPU(s) under ${arch}: every AP online once, one IPI each, exit status 1`, {
        timeout: 120_000,
      }, () => {
        const r = runMultibootVm(IMAGE, { arch, cpus, maxInstructions: 50_000_000 });
        expect({ output: r.output, stop: r.stop, exitStatus: r.exitStatus }).toEqual({
          output: expectedText(cpus),
          stop: 'exit',
          exitStatus: 1,
        });
      });
    }
  }

  it('runs the same way twice (deterministic scheduling and virtual time)', () => {
    const a = runMultibootVm(IMAGE, { cpus: 4 });
    const b = runMultibootVm(IMAGE, { cpus: 4 });
    expect(a.output).toBe(b.output);
    expect(a.instructions).toBe(b.instructions);
  });

  it('leaves the warm-reset vector at 40:67 pointing at the trampoline and the shutdown code reset', () => {
    const pc = createPcVm({ cpus: 2 });
    loadMultibootKernel(pc, IMAGE, '');
    expect(runPcVm(pc).exitStatus).toBe(1);
    const ram = pc.vm.memory.read(0, 0x1000);
    const dv = new DataView(ram.buffer, ram.byteOffset);
    expect([dv.getUint16(0x469, true), dv.getUint16(0x467, true)]).toEqual([0x0800, 0]); // 0800:0000
    expect(pc.platform.rtc.readRegister(0x0f)).toBe(0); // the BSP set 0Ah, then 0 once the APs were up
  });

  it('starts each AP from the trampoline (SIPI vector 08h); the second SIPI finds it running', () => {
    const lines: string[] = [];
    runMultibootVm(IMAGE, { cpus: 3, trace: (cat, line) => cat === 'mp' && lines.push(line) });
    for (const id of [1, 2]) {
      expect(lines).toContain(`vcpu ${id}: mp_state UNINITIALIZED -> INIT_RECEIVED`);
      expect(lines).toContain(`vcpu ${id}: SIPI vector 0x8: CS:IP = 800:0000`);
      expect(lines.filter((l) => l.startsWith(`vcpu ${id}: SIPI dropped`))).toHaveLength(1);
    }
  });

  const qemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
  for (const cpus of [1, 2, 4, 16]) {
    it.skipIf(!qemu)(
      qemu
        ? `QEMU -smp ${cpus} -kernel prints the same text as hvemu`
        : `QEMU not installed: the QEMU -smp ${cpus} comparison was skipped`,
      { timeout: 120_000 },
      () => {
        const q = spawnSync('bash', [join(GUESTS_DIR, 'qemu-kernel-run.sh'), IMAGE_PATH, String(cpus)], {
          encoding: 'latin1',
          env: { ...process.env, QEMU_TIMEOUT: '100' },
        });
        expect({ output: q.stdout, status: q.status }).toEqual({ output: expectedText(cpus), status: 1 });
        expect(runMultibootVm(IMAGE, { cpus }).output).toBe(q.stdout);
      },
    );
  }
});

describe('smp-legacy beyond 255 vCPUs', () => {
  // vCPU 255 has x2APIC ID 255: the MADT lists it as a Processor Local x2APIC entry (there is no MP
  // table above 255 CPUs). This xAPIC guest cannot start it, and says so instead of running 255.
  it('--cpus 256: the guest names the x2APIC CPU it does not start', () => {
    const r = runMultibootVm(IMAGE, { cpus: 256, maxInstructions: 600_000 });
    expect(r.output).toContain(
      "BSP: the MADT lists 255 CPUs; the BSP's APIC ID is 00\n" +
        'BSP: the MADT also lists 1 CPUs with x2APIC IDs (255 and up), which this xAPIC guest does not start\n' +
        'BSP: the MP table lists 0 CPUs\n' +
        'BSP: starting 254 APs with INIT-SIPI-SIPI\n',
    );
  });
});
