// Virtual time that behaves like a processor's (vmm/exit-cost.ts): a VM exit moves the guest's
// clock and TSC on by its cost, so a loop of N exits takes about N x the cost, as under KVM; and
// the hypervisor CPUID leaves (vmm/cpuid-hypervisor.ts) report the TSC and APIC-bus frequency the
// guest measures. The guests are real-mode boot sectors run as VMs, reporting on port 0xE9.
import { describe, expect, it } from 'vitest';
import { runBootSectorVm } from '../../src/vm-boot.js';
import { KVM_LIKE_EXIT_COSTS, NO_EXIT_COSTS } from '../../src/vmm/exit-cost.js';
import { VmClock } from '../../src/vmm/vm-clock.js';

/** out 0E9h,al / shr eax,8 (x3): EAX's four bytes, low first (16-bit code). */
const OUT_EAX = [
  0xe6, 0xe9, 0x66, 0xc1, 0xe8, 0x08, 0xe6, 0xe9, 0x66, 0xc1, 0xe8, 0x08, 0xe6, 0xe9, 0x66, 0xc1, 0xe8, 0x08,
  0xe6, 0xe9,
];
const EXIT = [0x30, 0xc0, 0xe6, 0xf4];
const words = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32LE(4 * i));
};

/** rdtsc; mov esi,eax; mov cx,N; l: in al,PORT; loop l; rdtsc; sub eax,esi; report; exit. */
const timedLoop = (port: number, n: number) =>
  Uint8Array.from([
    0x0f,
    0x31,
    0x66,
    0x89,
    0xc6,
    0xb9,
    n & 0xff,
    n >> 8,
    0xe4,
    port,
    0xe2,
    0xfc,
    0x0f,
    0x31,
    0x66,
    0x29,
    0xf0,
    ...OUT_EAX,
    ...EXIT,
  ]);

describe('the exit cost model', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    it(`under ${arch}: 1000 in-kernel port reads (61h) take 1000 exits' worth of TSC cycles`, () => {
      const r = runBootSectorVm(timedLoop(0x61, 1000), { arch });
      expect(r.stop).toBe('exit');
      const [cycles] = words(r.output);
      const perExit = KVM_LIKE_EXIT_COSTS.exit;
      expect(cycles).toBeGreaterThanOrEqual(1000 * perExit);
      expect(cycles).toBeLessThan(1000 * perExit + 1000 * 2 + 100); // two instructions per round
    });
  }

  it('an exit to userspace (the debug console port) costs the userspace round trip too', () => {
    const r = runBootSectorVm(timedLoop(0xe9, 100), { arch: 'svm' });
    const [cycles] = words(r.output.slice(-4)); // the loop's reads print nothing; the report is last
    const { exit, userspace } = KVM_LIKE_EXIT_COSTS;
    expect(cycles).toBeGreaterThanOrEqual(100 * (exit + userspace));
    expect(cycles).toBeLessThan(100 * (exit + userspace) + 100 * 2 + 100);
  });

  it('with no costs, an exit is as long as its instruction (the clock counts instructions only)', () => {
    const r = runBootSectorVm(timedLoop(0x61, 1000), { arch: 'svm', exitCosts: NO_EXIT_COSTS });
    const [cycles] = words(r.output);
    expect(cycles).toBeLessThan(1000 * 2 + 100);
  });

  it("VmClock.charge moves the clock and the running vCPU's TSC offset; the round lasts as long", () => {
    const clock = new VmClock();
    const cpu = { icount: 0, tscOffset: 0 };
    clock.beginTurn(cpu);
    cpu.icount = 10;
    clock.charge(1000);
    expect(clock.now()).toBe(1010);
    expect(cpu.icount + cpu.tscOffset).toBe(1010);
    clock.endRound();
    expect(clock.now()).toBe(1010);
  });
});

describe('the hypervisor CPUID leaves', () => {
  // mov eax,1 / cpuid / mov eax,ecx / report; mov eax,40000000h / cpuid / report eax ebx ecx edx;
  // mov eax,40000010h / cpuid / report eax ebx; exit.
  const movEax = (v: number) => [0x66, 0xb8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const CPUID = [0x0f, 0xa2];
  const from = (reg: number) => [0x66, 0x89, 0xc0 | (reg << 3)]; // mov eax, reg
  const guest = Uint8Array.from([
    ...movEax(1),
    ...CPUID,
    ...from(1),
    ...OUT_EAX,
    ...movEax(0x40000000),
    ...CPUID,
    ...OUT_EAX,
    ...from(3),
    ...OUT_EAX,
    ...from(1),
    ...OUT_EAX,
    ...from(2),
    ...OUT_EAX,
    ...movEax(0x40000010),
    ...CPUID,
    ...OUT_EAX,
    ...from(3),
    ...OUT_EAX,
    ...EXIT,
  ]);

  for (const arch of ['svm', 'vmx'] as const) {
    it(`under ${arch}: CPUID.1:ECX.hypervisor, 40000000h = max leaf and "hvemu", 40000010h = 1 GHz TSC and bus`, () => {
      const r = runBootSectorVm(guest, { arch });
      expect(r.stop).toBe('exit');
      const [ecx1, max, b, c, d, tscKhz, busKhz] = words(r.output);
      expect(ecx1 >>> 31).toBe(1);
      expect(max).toBe(0x40000010);
      const sig = Buffer.alloc(12);
      sig.writeUInt32LE(b, 0);
      sig.writeUInt32LE(c, 4);
      sig.writeUInt32LE(d, 8);
      expect(sig.toString('latin1').replace(/\0+$/, '')).toBe('hvemu');
      expect(tscKhz).toBe(1_000_000);
      expect(busKhz).toBe(1_000_000);
    });
  }

  it('the TSC really runs at the frequency 40000010h reports: 1 ms of PIT time is 1,000,000 kHz x 1 ms', () => {
    // Program PIT channel 2 (port 61h gate) one-shot for 1193 ticks (1 ms at 1.193182 MHz) and
    // count TSC cycles until OUT2 (port 61h bit 5) goes high.
    const g = Uint8Array.from([
      0xe4,
      0x61,
      0x24,
      0xfc,
      0x0c,
      0x01,
      0xe6,
      0x61, // in al,61h; and al,FCh; or al,1; out 61h,al (gate on, speaker off)
      0xb0,
      0xb0,
      0xe6,
      0x43, // mov al,0B0h; out 43h,al: channel 2, lo/hi, mode 0
      0xb0,
      0xa9,
      0xe6,
      0x42,
      0xb0,
      0x04,
      0xe6,
      0x42, // 04A9h = 1193
      0x0f,
      0x31,
      0x66,
      0x89,
      0xc6, // rdtsc; mov esi,eax
      0xe4,
      0x61,
      0xa8,
      0x20,
      0x74,
      0xfa, // w: in al,61h; test al,20h; jz w
      0x0f,
      0x31,
      0x66,
      0x29,
      0xf0, // rdtsc; sub eax,esi
      ...OUT_EAX,
      ...EXIT,
    ]);
    const [cycles] = words(runBootSectorVm(g, { arch: 'svm' }).output);
    const expected = (1193 / 1_193_182) * 1e9; // ns = TSC cycles at 1 GHz
    expect(Math.abs(cycles - expected)).toBeLessThan(expected * 0.01 + 1100); // one poll's exit of slack
  });
});
