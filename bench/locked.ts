// The cost of a locked instruction on one processor (no contention): a guest loop of
// LOCK INC / LOCK XADD / LOCK CMPXCHG on an aligned dword, and LOCK INC across a cache line (the
// bus lock), against the same loop with a plain INC, with and without a bus lock attached. Figures
// are host ns per loop turn (three instructions), and ratios to the plain loop in the same run.
//   node dist/bench/locked.js [--turns=N] [--reps=N]
import { BusLock } from '../src/cpu/bus-lock.js';
import { Cpu, SEG_DB, SEG_G, SEG_L, SEG_P, SEG_S } from '../src/cpu/cpu.js';
import {
  CR0_NE,
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  CS,
  DS,
  EFER_LMA,
  EFER_LME,
  ES,
  FS,
  GS,
  SS,
} from '../src/cpu/regs.js';
import { run } from '../src/cpu/run.js';
import { updateSegCheck } from '../src/cpu/segment-check.js';
import { tlbFlushAll } from '../src/cpu/tlb.js';

const CODE = 0x100000;
const DATA = 0x200000;
const PML4 = 0x300000;

/** Each: the loop body on [rdi] (ECX counts down; DEC ECX; JNZ; then HLT). */
const LOOPS: [string, number[]][] = [
  ['inc m32 (plain)', [0xff, 0x07]],
  ['lock inc m32', [0xf0, 0xff, 0x07]],
  ['lock xadd m32, eax', [0xf0, 0x0f, 0xc1, 0x07]],
  ['lock cmpxchg m32, eax', [0xf0, 0x0f, 0xb1, 0x07]],
  ['lock inc m32 across a line', [0xf0, 0xff, 0x47, 0x3e]],
];

function machine(body: number[], bus: boolean): Cpu {
  const buf = new SharedArrayBuffer(8 << 20);
  const dv = new DataView(buf);
  const ram = new Uint8Array(buf);
  dv.setUint32(PML4, PML4 + 0x1000 + 3, true);
  dv.setUint32(PML4 + 0x1000, PML4 + 0x2000 + 3, true);
  for (let i = 0; i < 512; i++) dv.setUint32(PML4 + 0x2000 + i * 8, i * 0x200000 + 0x83, true);
  // body; dec ecx; jnz body; hlt
  const code = [...body, 0xff, 0xc9, 0x75, (-(body.length + 4) & 0xff) >>> 0, 0xf4];
  ram.set(code, CODE);
  const cpu = new Cpu({
    ram: buf,
    io: { portRead: () => 0xffffffff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  if (bus) {
    cpu.busLock = BusLock.create(1);
    cpu.busSlot = cpu.busLock.allocSlot();
  }
  cpu.cr0 = CR0_PE | CR0_PG | CR0_NE | 0x10;
  cpu.cr4 = CR4_PAE;
  cpu.cr3 = PML4;
  cpu.efer = EFER_LME | EFER_LMA;
  for (const s of [ES, SS, DS, FS, GS]) {
    cpu.segSel[s] = 0x10;
    cpu.segLimit[s] = 0xffffffff;
    cpu.segAttr[s] = 0x93 | SEG_DB | SEG_G;
  }
  cpu.segSel[CS] = 0x08;
  cpu.segLimit[CS] = 0xffffffff;
  cpu.segAttr[CS] = SEG_P | SEG_S | 0xb | SEG_L | SEG_G;
  cpu.updateMode();
  for (let s = 0; s < 6; s++) updateSegCheck(cpu, s);
  tlbFlushAll(cpu);
  return cpu;
}

/** ns per loop turn. */
function time(body: number[], bus: boolean, turns: number): number {
  const cpu = machine(body, bus);
  cpu.rip = CODE;
  cpu.r32[14] = DATA; // RDI
  cpu.r32[2] = turns; // ECX
  cpu.r32[0] = 0;
  const t0 = process.hrtime.bigint();
  while (run(cpu, 10_000_000) === 0);
  return Number(process.hrtime.bigint() - t0) / turns;
}

const args = process.argv.slice(2);
const num = (name: string, dflt: number) =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const turns = num('turns', 2_000_000);
const reps = num('reps', 5);
console.log(
  `locked instructions, one processor, ${turns} turns x ${reps} reps (median ns per turn; HVEMU_TIER2=${process.env.HVEMU_TIER2 ?? 'on'})`,
);
// Warm up: the interpreter and tier 2 compiled for every loop before anything is timed.
for (const bus of [false, true]) for (const [, body] of LOOPS) time(body, bus, turns >> 2);
for (const bus of [false, true]) {
  const med: number[] = [];
  for (const [, body] of LOOPS) {
    const t: number[] = [];
    for (let r = 0; r < reps; r++) t.push(time(body, bus, turns));
    t.sort((a, b) => a - b);
    med.push(t[reps >> 1]);
  }
  console.log(bus ? 'with a bus lock attached (as HostMachine processors have):' : 'without a bus lock:');
  LOOPS.forEach(([name], i) => {
    console.log(
      `  ${name.padEnd(28)} ${med[i].toFixed(1).padStart(7)} ns  ${(med[i] / med[0]).toFixed(2)}x plain`,
    );
  });
}
