// Tier 2's switches: when a hot block is compiled (with the region around it), and whether at all.

/**
 * How many times a block runs in the interpreter before its region is compiled. V8 optimizes
 * every region that gets hot, on its own threads, at tens of milliseconds each: at 50, Debian's
 * kernel boot compiled 9,883 regions and ran at 0.6x the interpreter alone; at 5,000 it compiles
 * 779 and runs faster than the interpreter (bench/RESULTS.md). A hot loop waits 5,000 iterations.
 */
export let JIT_THRESHOLD = Number(process.env.HVEMU_TIER2_THRESHOLD ?? 5000);
/** HVEMU_TIER2=off disables tier 2; =eager compiles every block on first use. */
const MODE = process.env.HVEMU_TIER2 ?? 'on';
if (MODE === 'eager') JIT_THRESHOLD = 0;
export let JIT_ENABLED = MODE !== 'off';
/** HVEMU_DUMP_REGIONS=1 (`hvemu run --dump-regions`) prints every compiled region's JavaScript to stderr. */
export function dumpRegions(): boolean {
  return process.env.HVEMU_DUMP_REGIONS === '1';
}

/**
 * Switch tier 2 in this process (tests that compare the tiers on one input): off, or on with
 * regions compiled once a block has run `threshold` times. Returns the previous setting.
 */
export function setTier2(
  enabled: boolean,
  threshold = JIT_THRESHOLD,
): { enabled: boolean; threshold: number } {
  const prev = { enabled: JIT_ENABLED, threshold: JIT_THRESHOLD };
  JIT_ENABLED = enabled;
  JIT_THRESHOLD = threshold;
  return prev;
}
