// Two hot data pages that share a software-TLB slot (src/cpu/tlb.ts) against two that do not, in
// the same process and rounds, under 4-level guest paging and nested paging (as a VM's vCPU runs):
// the ratio says how much a conflict still costs. Before the TLB's second way it was one nested
// page walk per access.
//   npm run build && node dist/bench/tlb-conflict.js [--iters=N] [--reps=N]
import { Cpu, SEG_DB, SEG_G, SEG_L, SEG_P, SEG_S } from '../src/cpu/cpu.js';
import { CR0_PE, CR0_PG, CR4_PAE, CS, DS, EFER_LMA, EFER_LME, ES, FS, GS, SS } from '../src/cpu/regs.js';
import { run } from '../src/cpu/run.js';
import { updateSegCheck } from '../src/cpu/segment-check.js';
import { TLB_BITS, tlbFlushAll, tlbIndex } from '../src/cpu/tlb.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const ITERS = opt('iters', 300_000);
const REPS = opt('reps', 5);

const RAM = 8 << 20;
const GUEST_PML4 = 0x100000;
const NPT_PML4 = 0x700000;
const CODE = 0x10000;
const HOT_A = 0x200000;

/** A processor in 64-bit mode: 4-level guest paging of the first 4 MiB in 4 KiB pages, nested paging on (identity, 1 GiB). */
function machine(): Cpu {
  const buf = new SharedArrayBuffer(RAM);
  const dv = new DataView(buf);
  const q = (a: number, v: number) => dv.setBigUint64(a, BigInt(v), true);
  q(GUEST_PML4, (GUEST_PML4 + 0x1000) | 7);
  q(GUEST_PML4 + 0x1000, (GUEST_PML4 + 0x2000) | 7);
  for (let t = 0; t < 2; t++) {
    const pt = GUEST_PML4 + 0x3000 + t * 0x1000;
    q(GUEST_PML4 + 0x2000 + t * 8, pt | 7);
    for (let i = 0; i < 512; i++) q(pt + i * 8, (t * 512 + i) * 4096 + 7);
  }
  q(NPT_PML4, (NPT_PML4 + 0x1000) | 7);
  q(NPT_PML4 + 0x1000, 0x87); // 1 GiB page at 0, user (nested entries are user accesses)
  const cpu = new Cpu({
    ram: buf,
    io: { portRead: () => 0xffffffff, portWrite: () => {} },
    mmio: { mmioRead: () => 0xffffffff, mmioWrite: () => {} },
  });
  cpu.cr0 = CR0_PE | CR0_PG | 0x10;
  cpu.cr4 = CR4_PAE;
  cpu.cr3 = GUEST_PML4;
  cpu.efer = EFER_LME | EFER_LMA;
  cpu.nptRoot = NPT_PML4;
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
  // mov ecx, ITERS / loop: mov eax, [rsi] / mov eax, [rdi] / dec ecx / jnz loop / hlt
  const code = [
    0xb9,
    ...new Uint8Array(new Uint32Array([ITERS]).buffer),
    0x8b,
    0x06,
    0x8b,
    0x07,
    0xff,
    0xc9,
    0x75,
    0xf8,
    0xf4,
  ];
  new Uint8Array(buf).set(code, CODE);
  return cpu;
}

/** Seconds for the polling loop over HOT_A and `other`. */
function time(cpu: Cpu, other: number): number {
  cpu.rip = CODE;
  cpu.halted = false;
  cpu.r32[6 * 2] = HOT_A; // RSI
  cpu.r32[7 * 2] = other; // RDI
  tlbFlushAll(cpu);
  const t0 = process.hrtime.bigint();
  while (!cpu.halted) run(cpu, 1 << 20);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const lpnA = HOT_A / 4096;
// A page in the same slot as HOT_A, and one in another slot.
let conflict = lpnA + 1;
while (tlbIndex(conflict) !== tlbIndex(lpnA)) conflict++;
let apart = lpnA + 1;
while (tlbIndex(apart) === tlbIndex(lpnA)) apart++;
if (conflict * 4096 >= 4 << 20) throw new Error('no conflicting page inside the mapped 4 MiB');

const cpu = machine();
time(cpu, apart * 4096); // warm-up: decode, compile
const ratios: number[] = [];
for (let r = 0; r < REPS; r++) {
  const a = time(cpu, apart * 4096);
  const c = time(cpu, conflict * 4096);
  ratios.push(c / a);
  console.log(
    `round ${r + 1}: apart ${((ITERS * 4) / a / 1e6).toFixed(1)} MIPS, same slot ${((ITERS * 4) / c / 1e6).toFixed(1)} MIPS, ratio ${(c / a).toFixed(2)}`,
  );
}
ratios.sort((x, y) => x - y);
console.log(
  `TLB (${1 << TLB_BITS} entries per bank): pages 0x${lpnA.toString(16)} and 0x${conflict.toString(16)} share a slot; median time ratio same-slot/apart = ${ratios[ratios.length >> 1].toFixed(2)}`,
);
