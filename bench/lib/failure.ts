// A benchmark that cannot reach the guest state it measures (a wake that never happens, a guest that
// fails its own checks, a trace that does not add up) throws this: the run stops and says why, and
// prints no number for it.
export class BenchFailure extends Error {
  override name = 'BenchFailure';
}
