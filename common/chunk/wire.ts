/**
 * A chunk job's wire form: the `Assignment` message of proto/arrowquant/v1/cluster.proto and the
 * `Layer` it may carry, their zod schemas (what a worker accepts: a decoded message is checked
 * field by field, the scheme against the format registry, before anything runs), and the two
 * conversions, job → assignment on the coordinator and assignment → job on the worker. The
 * format crosses as its canonical scheme name only; the kernels resolve it from that.
 */
import { z } from 'zod';

import { describeFormat } from '../formats.js';
import { QUANTIZABLE_DTYPES } from '../format/dtypes.js';
import type { LayerCalibration, SourceChunk } from '../native.js';
import { chunkHeader, type ChunkHeader, type ChunkJob, type FileRange, type LayerSpec } from './job.js';

/** proto `uint32`/`uint64` (proto-loader decodes 64-bit integers as numbers here). */
export const wireCount = () => z.number().int().nonnegative();
/** proto `double`: any number, Infinity and NaN included (an exact chunk's SQNR is Infinity). */
export const wireDouble = () => z.custom<number>((v) => typeof v === 'number', 'must be a number');
/** proto `bytes`. */
export const wireBytes = () => z.instanceof(Buffer);

/** Whether `name` is a format's canonical name (not a method, not a typo). */
function isCanonicalScheme(name: string): boolean {
  try {
    return describeFormat(name).scheme === name;
  } catch {
    return false;
  }
}

export const ByReferenceSchema = z.object({ path: z.string().min(1), offset: wireCount(), length: wireCount() });
export const ByValueSchema = z.object({ bytes: wireCount(), parts: wireCount() });

export const LayerSchema = z
  .object({
    key: z.string().min(1),
    cols: wireCount(),
    hasHessian: z.boolean(),
    hessianRef: ByReferenceSchema.nullish(),
    hessianBytes: wireCount(),
    channelScales: wireBytes(),
    damp: wireDouble(),
    actOrder: z.boolean(),
    importance: wireBytes(),
    measureOnly: z.boolean().default(false),
    measureRows: wireCount().default(0),
  })
  .refine((l) => l.channelScales.length === 0 || l.channelScales.length === 4 * l.cols, { error: 'channelScales must be empty or cols f32 values', path: ['channelScales'] })
  .refine((l) => l.importance.length === 0 || l.importance.length === 4 * l.cols, { error: 'importance must be empty or cols f32 values', path: ['importance'] })
  .refine((l) => (!l.measureOnly && l.measureRows === 0) || l.hasHessian, { error: 'measuring the layer output needs its Hessian', path: ['measureRows'] });

const AssignmentFields = {
  taskId: wireCount(),
  tensorIndex: wireCount(),
  chunkIndex: wireCount(),
  tensorName: z.string(),
  dtype: z.enum(QUANTIZABLE_DTYPES),
  rows: wireCount(),
  cols: z.number().int().positive(),
  scheme: z.string().refine(isCanonicalScheme, { error: (iss) => `${JSON.stringify(iss.input)} is not a canonical format name` }),
  rowStart: wireCount(),
  layer: LayerSchema.nullish(),
};

/** `source` is proto-loader's name for the oneof member that is set; it is derived when sending. */
export const AssignmentSchema = z.discriminatedUnion('source', [
  z.object({ ...AssignmentFields, source: z.literal('byValue').optional(), byValue: ByValueSchema }),
  z.object({ ...AssignmentFields, source: z.literal('byReference').optional(), byReference: ByReferenceSchema }),
]);

export type LayerMsg = z.infer<typeof LayerSchema>;
export type Assignment = z.infer<typeof AssignmentSchema>;
/** How the chunk's bytes reach the worker: in DataParts after the assignment, or read from shared storage. */
export type Delivery = { byValue: z.infer<typeof ByValueSchema> } | { byReference: FileRange };

/** The assignment of `job` as task `taskId` (coordinator side). */
export function assignmentOf(taskId: number, job: ChunkHeader, delivery: Delivery, layer?: LayerMsg): Assignment {
  return { taskId, ...chunkHeader(job), ...delivery, ...(layer ? { layer } : {}) };
}

/**
 * The Layer message of a job's layer. `key` is unique per worker stream (the job's tag and the
 * spec's key); `hessianReadable`: the worker reads the calibration file itself, so the Hessian
 * goes by reference instead of in LayerParts.
 */
export function layerMessageOf(spec: LayerSpec, key: string, hessianReadable: boolean): LayerMsg {
  const scales = spec.channelScales;
  return {
    key,
    cols: spec.cols,
    hasHessian: spec.hessian !== undefined,
    ...(spec.hessian && hessianReadable ? { hessianRef: spec.hessian } : {}),
    hessianBytes: spec.hessian?.length ?? 0,
    channelScales: scales ? Buffer.from(scales.buffer, scales.byteOffset, scales.byteLength) : Buffer.alloc(0),
    damp: spec.gptq.damp,
    actOrder: spec.gptq.actOrder,
    importance: spec.importance ? Buffer.from(spec.importance.buffer, spec.importance.byteOffset, spec.importance.byteLength) : Buffer.alloc(0),
    measureOnly: spec.measureOnly === true,
    measureRows: spec.measureRows ?? 0,
  };
}

/** The job an assignment describes, with its bytes and its layer as the worker holds them. */
export function chunkJobOf(a: Assignment, data: SourceChunk, layer?: LayerCalibration): ChunkJob {
  return { ...chunkHeader(a), data, ...(layer ? { layer } : {}) };
}

/** f32 values of a bytes field (null: empty). */
function floatsOf(b: Buffer): Float32Array | null {
  return b.length > 0 ? new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) : null;
}

/** The smoothing factors a Layer message carries (null: none). */
export function channelScalesOf(l: LayerMsg): Float32Array | null {
  return floatsOf(l.channelScales);
}

/** The per-column importance a Layer message carries (null: none). */
export function importanceOf(l: LayerMsg): Float32Array | null {
  return floatsOf(l.importance);
}
