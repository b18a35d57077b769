// Tier 2's counters, for `hvemu run --stats` (which sets HVEMU_TIER2_STATS=1): what was compiled,
// at what cost, how often regions ran and why they left, and which instructions inside them went
// to the interpreter. Counting in generated code is emitted only when the counters are on, so a run
// without --stats runs the same code as before.

/** Why a region returned to the dispatcher (`exits` index). */
export const enum RegionExit {
  /** A backward edge found the budget, cpu.attention or an invalidated region. */
  CHECK = 0,
  /** A branch, fall-through or CALL to code outside the region. */
  BRANCH = 1,
  /** A RET (or handler-ended block) to a target that is not a member. */
  DYNAMIC = 2,
  /** A handler asked for attention after it ran (ATT_SMC, an interrupt window, a VM exit). */
  ATTENTION = 3,
  /** A fault inside the region. */
  FAULT = 4,
}
const EXIT_NAMES = ['backward-edge check', 'static branch out', 'dynamic target out', 'attention', 'fault'];

export const tier2Stats = {
  enabled: process.env.HVEMU_TIER2_STATS === '1',
  compiled: 0,
  /** Hot blocks that entered an existing region at their own member index instead of compiling. */
  shared: 0,
  /** Compiles refused because the region would be mostly handler calls. */
  declined: 0,
  compileMs: 0,
  blocks: 0,
  insns: 0,
  /** Instructions compiled as handler calls. */
  handlerInsns: 0,
  /** Calls of a compiled region (whether it ran or declined at its entry check). */
  entries: 0,
  /** Instructions retired inside regions, handler calls included (exits without a fault). */
  ran: 0,
  /** Entries refused by the region's own check (budget, CS limit, invalid). */
  refused: 0,
  exits: new Float64Array(5),
  /** Handler calls made from inside regions, by the interpreter's handler id (Op). */
  handlerCalls: new Float64Array(1024),
  /** An opcode spelling per handler id, for the report. */
  handlerNames: new Map<number, string>(),
};

/** The report --stats prints: a few lines, the top handler fallbacks by count. */
export function tier2Report(): string {
  const s = tier2Stats;
  const lines = [
    `tier 2: ${s.compiled} regions compiled (${s.blocks} blocks, ${s.insns} instructions, ${s.handlerInsns} as handler calls), ${s.shared} hot blocks entering an existing region, ${s.declined} declined, ${s.compileMs.toFixed(0)} ms compiling`,
    `tier 2: ${s.entries} region entries (${s.refused} refused at entry), ${s.ran} instructions retired in regions (${(s.ran / Math.max(1, s.entries - s.refused)).toFixed(1)} per entry); exits: ${EXIT_NAMES.map((n, i) => `${n} ${s.exits[i]}`).join(', ')}`,
  ];
  const top = [...s.handlerCalls.entries()]
    .filter(([, c]) => c > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12);
  if (top.length > 0)
    lines.push(
      `tier 2: handler calls inside regions: ${top.map(([op, c]) => `${s.handlerNames.get(op) ?? `op ${op}`} ${c}`).join(', ')}`,
    );
  return lines.join('\n');
}
