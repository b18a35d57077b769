// MMIO that no VMM device claims goes to userspace as KVM_EXIT_MMIO, one access at a time. The
// backend's instruction emulator runs the faulting instruction with this as the fallback bus:
//   - writes are recorded and the instruction completes; exits report them afterwards;
//   - a read userspace has not answered yet is recorded, the attempt is undone by the backend
//     (guest state restored), and after KVM_EXIT_MMIO the instruction runs again from the start,
//     getting the answers in order (an instruction may read more than once).

export interface MmioAccess {
  gpa: number;
  size: number;
  isWrite: boolean;
  data: number;
}

export class UserspaceMmio {
  /** The first read of this attempt that userspace has not answered, or null. */
  unansweredRead: MmioAccess | null = null;
  /** The writes of this attempt, in order. */
  readonly writes: MmioAccess[] = [];
  private readonly answers: number[] = [];
  private nextAnswer = 0;

  /** A new attempt at the instruction: answers given so far are replayed from the first. */
  beginAttempt(): void {
    this.unansweredRead = null;
    this.writes.length = 0;
    this.nextAnswer = 0;
  }

  read(gpa: number, size: number): number {
    if (this.nextAnswer < this.answers.length) return this.answers[this.nextAnswer++];
    this.unansweredRead ??= { gpa, size, isWrite: false, data: 0 };
    return 0;
  }

  write(gpa: number, size: number, value: number): void {
    this.writes.push({ gpa, size, isWrite: true, data: value });
  }

  /** Userspace answered the unanswered read. */
  answer(data: number): void {
    this.answers.push(data);
  }

  /** The instruction is done: forget its answers. */
  finish(): void {
    this.answers.length = 0;
    this.nextAnswer = 0;
    this.unansweredRead = null;
  }
}
