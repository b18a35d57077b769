// One raw processor on its own thread over a RAM that other threads share (the built core,
// dist/src, as `npm run build` makes it). It enters 64-bit mode with the identity map the main
// thread wrote, waits for the start word, runs the routine at `entry` until HLT and reports.
import { parentPort, workerData } from 'node:worker_threads';

const { ram, bus, start, entry, tid, iterations, threads, results, pml4, dist } = workerData;
const { Cpu, SEG_DB, SEG_G, SEG_L, SEG_P, SEG_S } = await import(`${dist}/cpu/cpu.js`);
const { run } = await import(`${dist}/cpu/run.js`);
const { BusLock } = await import(`${dist}/cpu/bus-lock.js`);
const { updateSegCheck } = await import(`${dist}/cpu/segment-check.js`);
const { tlbFlushAll } = await import(`${dist}/cpu/tlb.js`);

const cpu = new Cpu({
  ram,
  io: { portRead: () => 0xffffffff, portWrite: () => {} },
  mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
});
if (bus !== null) {
  cpu.busLock = BusLock.fromBuffer(bus);
  cpu.busSlot = cpu.busLock.allocSlot();
}
// 64-bit mode, CPL 0, flat segments (the values exec64's tests use).
cpu.cr0 = 0x80000031 | 0; // PG NE ET PE, as the core keeps CR0 (a signed int32)
cpu.cr4 = 0x220; // PAE OSFXSR
cpu.cr3 = pml4;
cpu.efer = (1 << 8) | (1 << 10) | (1 << 11); // LME LMA NXE
for (const s of [0, 2, 3, 4, 5]) {
  cpu.segSel[s] = 0x10;
  cpu.segBase[s] = 0;
  cpu.segLimit[s] = 0xffffffff;
  cpu.segAttr[s] = 0x93 | SEG_DB | SEG_G; // present read/write data, accessed
}
cpu.segSel[1] = 0x08;
cpu.segBase[1] = 0;
cpu.segLimit[1] = 0xffffffff;
cpu.segAttr[1] = SEG_P | SEG_S | 0xb | SEG_L | SEG_G; // 64-bit code
cpu.cpl = 0;
cpu.updateMode();
for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
tlbFlushAll(cpu);

// A spin loop's PAUSE spins on for a while (two threads that both run meet within it), then
// sleeps briefly: with more threads than free cores, the thread it waits for needs the core.
const PAUSE = 20; // InterceptKind.PAUSE
const nap = new Int32Array(new SharedArrayBuffer(4));
let spins = 0;
let lastPause = -1;
cpu.intercept = {
  intercept(kind) {
    if (kind !== PAUSE) return false;
    spins = cpu.icount - lastPause < 16 ? spins + 1 : 0;
    lastPause = cpu.icount;
    if (spins > 2000) Atomics.wait(nap, 0, 0, 0.05);
    return false;
  },
};
cpu.interceptMask = 1 << PAUSE;

const code = new DataView(ram);
cpu.rip = 0x100000 + code.getUint32(0x100000 + 4 * entry, true);
cpu.r64[7] = 0x200000n; // RDI: the shared data
cpu.r64[6] = BigInt(tid); // RSI
cpu.r64[1] = BigInt(iterations); // RCX
cpu.r64[8] = BigInt(threads); // R8
cpu.r64[13] = BigInt(results); // R13
cpu.r64[4] = BigInt(0x380000 + tid * 0x1000); // RSP (unused by the routines)

// Everyone starts together: count in, then sleep until the main thread opens the gate.
const gate = new Int32Array(start);
Atomics.add(gate, 1, 1);
Atomics.notify(gate, 1);
Atomics.wait(gate, 0, 0);
let stop = 0;
do stop = run(cpu, 5_000_000);
while (stop === 0);
parentPort.postMessage({ tid, stop, icount: cpu.icount, rip: cpu.rip, history: cpu.excHistory.slice(-3) });
