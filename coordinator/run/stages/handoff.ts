/**
 * From reader to writer, per tensor in model order: its first pass, announced when the reader has
 * started it. A quantized tensor's is the promise of its chunks' results (dispatched as they are
 * read); a kept tensor's is a small queue the reader fills chunk by chunk, so a huge kept
 * embedding never sits in memory whole.
 */
import type { ChunkOutput } from '../../../common/chunk/job.js';
import type { SourceChunk } from '../../../common/native.js';
import { ChunkQueue } from '../chunk-queue.js';

export type FirstPass = { kind: 'quantize'; results: Promise<ChunkOutput[]> } | { kind: 'keep'; queue: ChunkQueue<SourceChunk> };

interface Slot {
  announced: Promise<void>;
  announce: () => void;
  pass?: FirstPass;
  /** When the reader started the tensor (performance.now()). */
  startedAt?: number;
}

export class Handoff {
  private readonly slots: Slot[];
  private readonly queues = new Set<ChunkQueue<SourceChunk>>();
  /** Rejects when the reader fails, so a writer waiting for an announcement stops too. */
  private readerFailed: Promise<never> = new Promise<never>(() => {});

  constructor(tensors: number) {
    this.slots = Array.from({ length: tensors }, () => {
      let announce!: () => void;
      const announced = new Promise<void>((r) => (announce = r));
      return { announced, announce };
    });
  }

  /** The reader starts tensor `index`. */
  begin(index: number): void {
    this.slots[index]!.startedAt = performance.now();
  }

  /** A queue for a kept tensor's chunks, failed with the others on `fail`. */
  keptQueue(capacity: number): ChunkQueue<SourceChunk> {
    const queue = new ChunkQueue<SourceChunk>(capacity);
    this.queues.add(queue);
    return queue;
  }

  announce(index: number, pass: FirstPass): void {
    const slot = this.slots[index]!;
    slot.pass = pass;
    slot.announce();
  }

  /** Watch the reader: once it fails, `next` rejects instead of waiting for announcements. */
  watch(reader: Promise<void>): void {
    this.readerFailed = reader.then(
      () => new Promise<never>(() => {}),
      (err: unknown) => Promise.reject(err),
    );
    this.readerFailed.catch(() => {});
  }

  /** Tensor `index`'s first pass, once announced. */
  async next(index: number): Promise<FirstPass> {
    const slot = this.slots[index]!;
    await Promise.race([slot.announced, this.readerFailed]);
    return slot.pass!;
  }

  /** Seconds since the reader started tensor `index`. */
  secondsSince(index: number): number {
    return (performance.now() - this.slots[index]!.startedAt!) / 1000;
  }

  /** The writer is done with tensor `index`: drop what the reader handed over. */
  done(index: number): void {
    const slot = this.slots[index]!;
    if (slot.pass?.kind === 'keep') this.queues.delete(slot.pass.queue);
    slot.pass = undefined;
  }

  /** The job is aborted: wake everyone blocked on a kept tensor's queue. */
  fail(reason: unknown): void {
    for (const q of this.queues) q.fail(reason);
  }
}
