/**
 * The one interface every executor implements: quantize one chunk. The in-process executor
 * calls the native kernels on bytes that stay in Rust; the cluster's remote executor (issue 4)
 * ships the same job to a worker and gets bytes back. Jobs carry everything needed, so results
 * depend only on the job.
 */
import type { FormatSpec, LayerCalibration, QualityFigures, QuantizedChunk, SourceChunk } from '../../common/native.js';
import type { QuantizableDtype } from '../../common/format/dtypes.js';

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
  /** The chunk's source bytes (little-endian `dtype`), held natively; `data.bytes()` copies them out. */
  data: SourceChunk;
  /**
   * The layer's calibration (GPTQ Hessian, smoothing factors), shared by all of the tensor's
   * chunks; absent for a plain chunk. A remote executor sends the layer's calibration slice with
   * the first chunk a worker gets of the tensor.
   */
  layer?: LayerCalibration;
  /**
   * What `layer` was built from, for executors that rebuild it elsewhere (a remote worker):
   * the Hessian's place in the calibration file, the smoothing factors and GPTQ's options.
   */
  layerSpec?: LayerSpec;
  /** Where the bytes are in the model (a worker on shared storage reads them itself). */
  source?: { path: string; offset: number; length: number };
}

export interface LayerSpec {
  /** Unique within the job: the tensor index and which of its layers (with or without H). */
  key: string;
  cols: number;
  hessian?: { path: string; offset: number; length: number };
  channelScales?: Float32Array;
  gptq: { damp: number; actOrder: boolean };
}

/** A result either stays native (local executor) or arrives as bytes (remote executors). */
export type ChunkPayload =
  | { kind: 'native'; chunk: QuantizedChunk }
  | { kind: 'bytes'; codes: Buffer; /** little-endian f32 */ scales: Buffer; zeros: Buffer };

export interface ChunkOutput {
  quality: QualityFigures;
  payload: ChunkPayload;
  /** Where it ran, when not here: a worker id, or `checkpoint` for a result restored from the spool. */
  worker?: string;
}

export interface Executor {
  readonly description: string;
  /** Chunks the job may keep in flight (default: the kernel threads). */
  readonly inFlight?: number;
  run(job: ChunkJob): Promise<ChunkOutput>;
  close(): Promise<void>;
}

/** Free a result that will not be written (a rejected fallback rung). */
export function releaseOutput(o: ChunkOutput): void {
  if (o.payload.kind === 'native') o.payload.chunk.release();
}
