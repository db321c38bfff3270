/**
 * How far the reader may run ahead of the writer. Chunks in flight are bounded by a semaphore;
 * read-ahead is bounded in the bytes that tensors read but not yet written hold: their source
 * bytes and their calibrated layers' Hessians (the tensor at the head may always start, however
 * large). Streaming holds about one chunk; threaded two per thread, so reads overlap the kernels.
 * More read-ahead was slower on the benchmark machine (2 cores: 3 in flight and 6 chunks ahead
 * took 2.1 s where 2 and 4 took 1.4 s for 1.44 GB; benches/RESULTS.md).
 */
import type { ResolvedConfig } from '../../../common/config/index.js';
import type { TensorPlan } from '../../plan/plan.js';
import type { RunMode } from '../events.js';

/**
 * What a tensor holds from its admission until it is written: its source bytes, plus the factor
 * GPTQ makes of its layer's Hessian (`cols²` f32: 90 MiB at 4864 inputs; counting source bytes
 * only, a 16 MiB window would let several such layers be read ahead). The Hessian itself stays
 * in the calibration file (the kernels read it a 4 MiB block at a time).
 */
export function heldBytes(t: TensorPlan): { index: number; bytes: number } {
  const layer = t.action.kind === 'quantize' ? t.action.layer : undefined;
  const h = layer?.stats.hessian;
  if (!layer || !h) return { index: t.index, bytes: t.bytes };
  return { index: t.index, bytes: t.bytes + (layer.hessian ? h.end - h.begin : 0) };
}

export interface Concurrency {
  /** Chunks quantizing at once. */
  inFlight: number;
  /** Bytes held by tensors read ahead of the writer (`heldBytes`). */
  aheadBytes: number;
  /** Chunks of a kept tensor queued between reader and writer. */
  keptQueue: number;
}

/**
 * Streaming: one chunk at a time (the kernel splits it across threads). Threaded: one chunk per
 * thread. An executor that says how many chunks it keeps in flight (the cluster's) sets both.
 */
export function concurrencyFor(executorInFlight: number | undefined, mode: RunMode, threads: number, config: ResolvedConfig): Concurrency {
  const chunkBytes = config.chunk_mib * 1024 * 1024;
  const keptQueue = mode === 'streaming' ? 1 : threads;
  if (executorInFlight !== undefined) return { inFlight: executorInFlight, aheadBytes: 2 * executorInFlight * chunkBytes, keptQueue };
  return mode === 'streaming' ? { inFlight: 1, aheadBytes: chunkBytes, keptQueue } : { inFlight: threads, aheadBytes: 2 * threads * chunkBytes, keptQueue };
}

/** The reader's side waits in `admit`; the writer's `written` lets it go on. */
export class ReadAheadWindow {
  /** Tensors written (their indices are below this). */
  private writtenUpTo = 0;
  private bytesAhead = 0;
  private wake?: () => void;

  constructor(
    private readonly budgetBytes: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Wait until tensor `t` fits in the window, then count it in. */
  async admit(t: { index: number; bytes: number }): Promise<void> {
    while (t.index > this.writtenUpTo && this.bytesAhead + t.bytes > this.budgetBytes) {
      this.signal.throwIfAborted();
      await new Promise<void>((r) => (this.wake = r));
    }
    this.signal.throwIfAborted();
    this.bytesAhead += t.bytes;
  }

  /** Tensor `t` is written: its bytes leave the window. */
  written(t: { index: number; bytes: number }): void {
    this.writtenUpTo = t.index + 1;
    this.bytesAhead -= t.bytes;
    this.wake?.();
  }

  /** Let a waiting reader see the abort. */
  interrupt(): void {
    this.wake?.();
  }

  get ahead(): number {
    return this.bytesAhead;
  }
}
