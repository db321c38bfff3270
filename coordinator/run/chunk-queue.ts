/** A bounded hand-off between the reader and the writer, so kept chunks stream through. */
export class ChunkQueue<T> {
  private items: T[] = [];
  private takers: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  private putters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private failure: { reason: unknown } | undefined;

  constructor(private readonly capacity: number) {}

  /** Reject every waiter and every later call (the job was aborted). */
  fail(reason: unknown): void {
    this.failure = { reason };
    for (const w of [...this.takers.splice(0), ...this.putters.splice(0)]) w.reject(reason);
  }

  private check(): void {
    if (this.failure) throw this.failure.reason;
  }

  async put(item: T): Promise<void> {
    for (;;) {
      this.check();
      const taker = this.takers.shift();
      if (taker) return taker.resolve(item);
      if (this.items.length < this.capacity) {
        this.items.push(item);
        return;
      }
      await new Promise<void>((resolve, reject) => this.putters.push({ resolve, reject }));
    }
  }

  async take(): Promise<T> {
    this.check();
    if (this.items.length > 0) {
      const item = this.items.shift()!;
      this.putters.shift()?.resolve();
      return item;
    }
    return new Promise<T>((resolve, reject) => this.takers.push({ resolve, reject }));
  }
}
