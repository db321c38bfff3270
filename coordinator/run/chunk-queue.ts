/** A one-slot hand-off between the reader and the writer, so kept chunks stream through. */
export class ChunkQueue<T> {
  private items: T[] = [];
  private takers: ((v: T) => void)[] = [];
  private putters: (() => void)[] = [];
  constructor(
    private readonly capacity: number,
    private readonly signal: AbortSignal,
  ) {}

  private wait(list: (() => void)[]): Promise<void> {
    this.signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      list.push(resolve);
      this.signal.addEventListener('abort', () => reject(this.signal.reason), { once: true });
    });
  }

  async put(item: T): Promise<void> {
    for (;;) {
      const taker = this.takers.shift();
      if (taker) return taker(item);
      if (this.items.length < this.capacity) {
        this.items.push(item);
        return;
      }
      await this.wait(this.putters);
    }
  }

  async take(): Promise<T> {
    this.signal.throwIfAborted();
    const item = this.items.shift();
    if (item !== undefined) {
      this.putters.shift()?.();
      return item;
    }
    return new Promise<T>((resolve, reject) => {
      this.takers.push(resolve);
      this.signal.addEventListener('abort', () => reject(this.signal.reason), { once: true });
    });
  }
}
