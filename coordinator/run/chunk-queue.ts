/** A bounded hand-off between the reader and the writer, so kept chunks stream through. */
export class ChunkQueue<T> {
  private items: T[] = [];
  private takers: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  private putters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  private readonly onAbort = () => {
    for (const w of [...this.takers.splice(0), ...this.putters.splice(0)]) w.reject(this.signal.reason);
  };

  constructor(
    private readonly capacity: number,
    private readonly signal: AbortSignal,
  ) {
    // One listener for the queue's lifetime (not one per wait), removed by `dispose`.
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The tensor is done: stop listening for aborts. */
  dispose(): void {
    this.signal.removeEventListener('abort', this.onAbort);
  }

  async put(item: T): Promise<void> {
    for (;;) {
      this.signal.throwIfAborted();
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
    this.signal.throwIfAborted();
    if (this.items.length > 0) {
      const item = this.items.shift()!;
      this.putters.shift()?.resolve();
      return item;
    }
    return new Promise<T>((resolve, reject) => this.takers.push({ resolve, reject }));
  }
}
