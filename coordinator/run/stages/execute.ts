/**
 * Stage 5, execute: chunks to the executor (in-process kernels, or the cluster), at most
 * `inFlight` at once, each inside its telemetry span, with the tensor's calibrated layer when it
 * has one. The layers are prepared here before a tensor's chunks go out and released once the
 * tensor is written. Fallback rungs read the tensor again (not hashed: the first pass did).
 */
import { resolve } from 'node:path';

import type { ChunkOutput, Executor } from '../../../common/chunk/job.js';
import type { ResolvedConfig } from '../../../common/config/index.js';
import { isQuantizable } from '../../../common/format/dtypes.js';
import type { SourceChunk } from '../../../common/native.js';
import type { TensorPlan } from '../../plan/plan.js';
import type { SchemeChoice } from '../../plan/schemes.js';
import { layerFor, layerSpecFor, prepareImportance, prepareLayer, releaseLayer, type CalibrationReader, type PreparedLayer } from '../layer.js';
import { Semaphore } from '../semaphore.js';
import type { SourceFiles } from '../source-files.js';
import type { JobTelemetry } from '../telemetry.js';
import type { RunRung } from '../tensor.js';

export class ChunkRunner {
  /** Chunks in flight: the reader takes a slot before it reads a chunk; the result frees it. */
  readonly slots: Semaphore;
  private readonly prepared: (PreparedLayer | undefined)[] = [];

  constructor(
    private readonly executor: Executor,
    private readonly files: SourceFiles,
    private readonly telemetry: JobTelemetry,
    inFlight: number,
    private readonly signal: AbortSignal,
  ) {
    this.slots = new Semaphore(inFlight, signal);
  }

  /** Quantize one chunk of `t` with `choice`; frees `data` when the kernel is done with it. */
  async quantize(t: TensorPlan, chunkIndex: number, choice: SchemeChoice, data: SourceChunk): Promise<ChunkOutput> {
    const c = t.chunks[chunkIndex]!;
    if (!isQuantizable(t.dtype)) throw new Error(`internal: ${t.name} (${t.dtype}) planned for quantization`);
    const layer = layerFor(this.prepared[t.index], choice);
    const layerSpec = layerSpecFor(this.prepared[t.index], choice);
    const job = {
      tensorIndex: t.index,
      chunkIndex,
      tensorName: t.name,
      dtype: t.dtype,
      rows: c.rowCount,
      cols: t.cols,
      scheme: choice.scheme,
      rowStart: c.rowStart,
      data,
      source: { path: resolve(t.file.path), offset: c.offset, length: c.length },
      ...(layer ? { layer } : {}),
      ...(layerSpec ? { layerSpec } : {}),
    };
    // The kernel is done with the source bytes: free them now, not at the next GC.
    return this.telemetry.chunk(t, chunkIndex, choice, c.length, () => this.executor.run(job)).finally(() => data.release());
  }

  /** Runs every chunk of `t` again with another rung, each in a slot. */
  rung(t: TensorPlan): RunRung {
    return (choice) =>
      Promise.all(
        t.chunks.map(async (c) => {
          await this.slots.acquire();
          try {
            return await this.quantize(t, c.chunkIndex, choice, await this.files.read(t.file.path, c.offset, c.length, false));
          } finally {
            this.slots.release();
          }
        }),
      );
  }

  /**
   * Prepare `t`'s calibrated layer before its chunks go out. True when that read (and hashed)
   * the tensor already: smoothing passes over its chunks once.
   */
  async prepare(t: TensorPlan, reader: CalibrationReader | undefined, config: ResolvedConfig): Promise<boolean> {
    if (t.action.kind !== 'quantize') return false;
    if (!t.action.layer) {
      // Importance alone (an imatrix entry, or a Hessian's diagonal without GPTQ or smoothing).
      if (t.action.importance) this.prepared[t.index] = await prepareImportance(t, reader, config);
      return false;
    }
    if (!reader) throw new Error(`internal: ${t.name} planned with calibration but none is open`);
    const use = t.action.layer;
    this.prepared[t.index] = await prepareLayer(t, use, t.action.ladder[0]!, reader, (c) => this.files.read(t.file.path, c.offset, c.length, true), config, this.signal);
    return use.smoothing;
  }

  /** What `t`'s layer stores besides its codes (smoothing factors, time groups). */
  layer(t: TensorPlan): PreparedLayer | undefined {
    return this.prepared[t.index];
  }

  /** `t` is written (or dropped): free its native layer. */
  release(t: TensorPlan): void {
    releaseLayer(this.prepared[t.index]);
    this.prepared[t.index] = undefined;
  }

  releaseAll(): void {
    this.prepared.forEach(releaseLayer);
  }
}
