/** A counting semaphore (FIFO) whose waiters are rejected when the job is aborted. */
export class Semaphore {
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  constructor(
    private free: number,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => {
      for (const w of this.waiters.splice(0)) w.reject(signal.reason);
    });
  }

  async acquire(): Promise<void> {
    this.signal.throwIfAborted();
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.free++;
  }
}
