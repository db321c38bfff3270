/**
 * One tensor from chunk results to file rows: merge the chunks' quality, walk the fallback ladder
 * while the gated accuracy is below `min_accuracy` (or stop, with `fail_fast`), and report when
 * every rung failed so the caller keeps the tensor exactly. Every step taken is recorded on the
 * rows. The gated accuracy is the lower of the layer-output cosine cos(XWᵀ, XŴᵀ) (where the
 * chunks were measured with the layer's Hessian) and the weight cosine (common/format/quality.ts
 * says why both).
 */
import type { PreserveDtype, ResolvedConfig } from '../../common/config/index.js';
import type { ChunkRowJs, FallbackStepJs, LayerOutputFigures, ParquetSink, QualityFigures, SourceChunk, TimeGroupJs } from '../../common/native.js';
import { releaseOutput, type ChunkOutput, type ChunkPayload } from '../../common/chunk/job.js';
import { DTYPE_BYTES } from '../../common/format/dtypes.js';
import type { SchemeChoice } from '../plan/schemes.js';
import type { TensorPlan } from '../plan/plan.js';
import { QualityThresholdError } from './errors.js';
import { keepChunk, storedDtype } from './keep.js';
import { exactQuality, gatedAccuracy, mergeLayerOutput, mergeQuality, type AccuracyBasis } from '../../common/format/quality.js';

/** What a calibrated tensor stores besides its codes (the same on every chunk row). */
export interface LayerExtras {
  /** Spatial-smoothing factors s (f32, one per column) and the α that chose them. */
  channelScales?: Float32Array;
  alpha?: number;
  timeGroups?: TimeGroupJs[];
}

export interface TensorOutcome {
  plan: TensorPlan;
  method: string;
  scheme: string;
  bits: number;
  requestedBits: number;
  quality: QualityFigures;
  /** The tensor's layer-output figures, when its chunks were measured with the layer's Hessian. */
  layerOutput?: LayerOutputFigures;
  /** Which figure `min_accuracy` judged. */
  accuracyBasis?: AccuracyBasis;
  fallbacks: FallbackStepJs[];
  payloadBytes: number;
  /** Seconds from the tensor's first read to its rows written (set by the job). */
  seconds?: number;
  /** Smoothing α (when the tensor is stored smoothed) and number of time groups stored. */
  alpha?: number;
  timeGroups?: number;
}

/** A row ready for the writer: its columns, and where its payload is. */
export interface PendingRow {
  row: ChunkRowJs;
  payload: ChunkPayload | { kind: 'kept'; chunk: SourceChunk };
  bytes: number;
}

export async function pushRow(sink: ParquetSink, p: PendingRow): Promise<void> {
  switch (p.payload.kind) {
    case 'native':
      return sink.pushQuantized(p.row, p.payload.chunk);
    case 'kept':
      return sink.pushKept(p.row, p.payload.chunk);
    case 'bytes':
      return sink.push({ ...p.row, codes: p.payload.codes, scales: p.payload.scales, zeros: p.payload.zeros });
  }
}

/** Runs the tensor's chunks with one scheme (reading them again). */
export type RunRung = (choice: SchemeChoice) => Promise<ChunkOutput[]>;

function baseRow(plan: TensorPlan, chunkIndex: number) {
  const c = plan.chunks[chunkIndex]!;
  return {
    tensorIndex: plan.index,
    name: plan.name,
    component: plan.component,
    shape: plan.shape,
    sourceDtype: plan.dtype,
    chunkIndex,
    chunkCount: plan.chunks.length,
    rowStart: c.rowStart,
    rowCount: c.rowCount,
  };
}

const EMPTY = Buffer.alloc(0);

/** One kept chunk's row: bit-exact (the bytes move straight to the writer) or converted. */
export async function keptRow(
  plan: TensorPlan,
  chunkIndex: number,
  data: SourceChunk,
  preserve: PreserveDtype,
  fallbacks: FallbackStepJs[],
  requestedBits: number,
): Promise<PendingRow> {
  const dtype = storedDtype(plan.dtype, preserve);
  const meta = { ...baseRow(plan, chunkIndex), method: 'keep', scheme: `keep_${dtype}`, bits: 8 * DTYPE_BYTES[dtype]!, groupSize: 0, requestedBits, fallbacks };
  if (dtype === plan.dtype) {
    const quality = exactQuality(data.length / DTYPE_BYTES[dtype]!);
    return { row: { ...meta, quality }, payload: { kind: 'kept', chunk: data }, bytes: data.length };
  }
  const bytes = data.bytes();
  data.release();
  const kept = await keepChunk(bytes, plan.dtype, preserve, plan.cols);
  return { row: { ...meta, quality: kept.quality }, payload: { kind: 'bytes', codes: kept.payload, scales: EMPTY, zeros: EMPTY }, bytes: kept.payload.length };
}

export function keptOutcome(plan: TensorPlan, preserve: PreserveDtype, qualities: QualityFigures[], fallbacks: FallbackStepJs[], requestedBits: number, payloadBytes: number): TensorOutcome {
  const dtype = storedDtype(plan.dtype, preserve);
  return { plan, method: 'keep', scheme: `keep_${dtype}`, bits: 8 * DTYPE_BYTES[dtype]!, requestedBits, quality: mergeQuality(qualities), fallbacks, payloadBytes };
}

function payloadBytes(o: ChunkOutput): number {
  return o.payload.kind === 'native' ? o.payload.chunk.payloadBytes : o.payload.codes.length + o.payload.scales.length + o.payload.zeros.length;
}

/**
 * Quantized tensors: returns the accepted rows, or `keep: true` with the fallback record when
 * every rung failed (the caller then streams the tensor's kept rows).
 */
export async function finishTensor(
  plan: TensorPlan,
  ladder: SchemeChoice[],
  requestedBits: number,
  config: ResolvedConfig,
  first: Promise<ChunkOutput[]>,
  runRung: RunRung,
  extras: LayerExtras = {},
): Promise<{ keep: false; outcome: TensorOutcome; rows: PendingRow[] } | { keep: true; fallbacks: FallbackStepJs[] }> {
  const fallbacks: FallbackStepJs[] = [];
  for (let rung = 0; rung < ladder.length; rung++) {
    const choice = ladder[rung]!;
    const outputs = rung === 0 ? await first : await runRung(choice);
    const quality = mergeQuality(outputs.map((o) => o.quality));
    const layerOutput = mergeLayerOutput(outputs.map((o) => o.layerOutput));
    const gate = gatedAccuracy(quality, layerOutput);
    if (gate.cosine >= config.min_accuracy) {
      const channelScales = extras.channelScales ? Buffer.from(extras.channelScales.buffer, extras.channelScales.byteOffset, extras.channelScales.byteLength) : undefined;
      const layerColumns = { ...(channelScales ? { channelScales } : {}), ...(extras.timeGroups ? { timeGroups: extras.timeGroups } : {}) };
      const rows: PendingRow[] = outputs.map((o, i) => ({
        row: {
          ...baseRow(plan, i),
          method: choice.method,
          scheme: choice.scheme,
          bits: choice.bits,
          groupSize: choice.groupSize,
          requestedBits,
          quality: o.quality,
          fallbacks,
          ...layerColumns,
          ...(o.layerOutput ? { layerOutput: o.layerOutput } : {}),
        },
        payload: o.payload,
        bytes: payloadBytes(o),
      }));
      const total = rows.reduce((s, r) => s + r.bytes, 0);
      const layerFigures = { ...(extras.alpha !== undefined ? { alpha: extras.alpha } : {}), ...(extras.timeGroups ? { timeGroups: extras.timeGroups.length } : {}) };
      const measured = layerOutput ? { layerOutput } : {};
      return { keep: false, rows, outcome: { plan, method: choice.method, scheme: choice.scheme, bits: choice.bits, requestedBits, quality, ...measured, accuracyBasis: gate.basis, fallbacks, payloadBytes: total, ...layerFigures } };
    }
    outputs.forEach(releaseOutput);
    if (config.fail_fast) throw new QualityThresholdError(plan.name, choice.scheme, gate.cosine, config.min_accuracy, gate.basis);
    const next = ladder[rung + 1];
    fallbacks.push({
      fromScheme: choice.scheme,
      toScheme: next ? next.scheme : `keep_${plan.dtype}`,
      fromBits: choice.bits,
      toBits: next ? next.bits : 8 * DTYPE_BYTES[plan.dtype]!,
      cosine: gate.cosine,
      threshold: config.min_accuracy,
    });
  }
  return { keep: true, fallbacks };
}
