/**
 * The chunk job: the unit of work every executor runs, whichever side of the wire it is on. The
 * in-process executor (worker/executor/local.ts) runs the native kernels on bytes that stay in
 * Rust; the cluster's remote executor (coordinator/cluster/remote-executor.ts) ships the same job
 * to a worker, whose in-process executor runs it there. A job carries everything its result
 * depends on, so the result depends only on the job. Its wire form is ./wire.ts.
 */
import type { LayerCalibration, LayerOutputFigures, QualityFigures, QuantizedChunk, SourceChunk } from '../native.js';
import type { QuantizableDtype } from '../format/dtypes.js';

/** What names a chunk and its format: the part of a job that crosses the wire as is. */
export interface ChunkHeader {
  tensorIndex: number;
  chunkIndex: number;
  tensorName: string;
  dtype: QuantizableDtype;
  rows: number;
  cols: number;
  /**
   * The format's canonical name (the file's `scheme` column). It is all the kernels need: the
   * planner resolves methods and parameters to a canonical name before a chunk is made.
   */
  scheme: string;
  /** First row of the chunk within the tensor (for error positions). */
  rowStart: number;
}

export interface ChunkJob extends ChunkHeader {
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
  source?: FileRange;
}

export interface FileRange {
  path: string;
  offset: number;
  length: number;
}

export interface LayerSpec {
  /** Unique within the job: the tensor index and which of its layers (with or without H). */
  key: string;
  cols: number;
  hessian?: FileRange;
  channelScales?: Float32Array;
  gptq: { damp: number; actOrder: boolean };
  /** Per-column importance (imatrix or the Hessian's diagonal), for formats that weigh by it. */
  importance?: Float32Array;
  /** `hessian` is only there to measure the layer-output figures: no GPTQ. */
  measureOnly?: boolean;
  /** The tensor's rows, when its chunks measure layer-output figures with `hessian`. */
  measureRows?: number;
}

/** The header fields of a job (what a worker needs besides the bytes and the layer). */
export function chunkHeader(job: ChunkHeader): ChunkHeader {
  const { tensorIndex, chunkIndex, tensorName, dtype, rows, cols, scheme, rowStart } = job;
  return { tensorIndex, chunkIndex, tensorName, dtype, rows, cols, scheme, rowStart };
}

/** A result either stays native (local executor) or arrives as bytes (remote executors). */
export type ChunkPayload =
  | { kind: 'native'; chunk: QuantizedChunk }
  | { kind: 'bytes'; codes: Buffer; /** little-endian f32 */ scales: Buffer; zeros: Buffer };

export interface ChunkOutput {
  quality: QualityFigures;
  /** Layer-output figures, when the chunk's layer was measured with its Hessian. */
  layerOutput?: LayerOutputFigures;
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
