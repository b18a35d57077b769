// PAUSE-loop exiting (Intel SDM vol 3C 25.1.3, "PAUSE"; fields PLE_Gap and PLE_Window, 24.6.13; 2016
// numbering): with the secondary control set and "PAUSE exiting" clear, a PAUSE at CPL 0 starts a new
// loop when more than PLE_Gap TSC ticks passed since the previous PAUSE at CPL 0 (and the first PAUSE
// after a VM entry always does); otherwise, once more than PLE_Window ticks passed since the PAUSE that
// started the loop, the PAUSE causes a VM exit (basic reason 40). Time here is the processor's TSC
// rate: one tick per instruction, counted at the start of the PAUSE's block (as RDTSC sees it).

export class PauseLoopDetector {
  /** PLE_Gap and PLE_Window of the current VM entry. */
  gap = 0;
  window = 0;
  /** TSC of the previous PAUSE at CPL 0, and of the PAUSE that began the current loop; -1: none yet. */
  private last = -1;
  private loopStart = 0;

  /** VM entry: load the fields; the next PAUSE at CPL 0 is the first of a loop. */
  enter(gap: number, window: number): void {
    this.gap = gap >>> 0;
    this.window = window >>> 0;
    this.last = -1;
  }

  /** A PAUSE at CPL 0 at time `now`: does it cause a VM exit? */
  pause(now: number): boolean {
    const first = this.last < 0 || now - this.last > this.gap;
    this.last = now;
    if (first) {
      this.loopStart = now;
      return false;
    }
    return now - this.loopStart > this.window;
  }
}
