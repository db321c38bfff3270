/**
 * The one interface every executor implements: quantize one chunk. The in-process executor
 * calls the native kernels; the cluster's remote executor (issue 4) ships the same job to a
 * worker. Jobs carry everything needed, so results depend only on the job.
 */
import type { FormatSpec, QualityFigures } from '../../common/native.js';
import type { QuantizableDtype } from '../../coordinator/model/dtypes.js';

export interface ChunkJob {
  tensorIndex: number;
  chunkIndex: number;
  tensorName: string;
  dtype: QuantizableDtype;
  rows: number;
  cols: number;
  format: FormatSpec;
  /** Canonical scheme name (the file's `scheme` column). */
  scheme: string;
  /** First row of the chunk within the tensor (for error positions). */
  rowStart: number;
  /** The chunk's source bytes (little-endian `dtype`). */
  data: Buffer;
}

export interface ChunkOutput {
  codes: Buffer;
  /** Little-endian f32. */
  scales: Buffer;
  zeros: Buffer;
  quality: QualityFigures;
}

export interface Executor {
  readonly description: string;
  run(job: ChunkJob): Promise<ChunkOutput>;
  close(): Promise<void>;
}
