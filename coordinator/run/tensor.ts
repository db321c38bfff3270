/**
 * One tensor from chunk results to file rows: merge the chunks' quality, walk the fallback ladder
 * while the cosine is below `min_accuracy` (or stop, with `fail_fast`), and as a last resort keep
 * the tensor exactly. Every step taken is recorded on the rows.
 */
import type { PreserveDtype, ResolvedConfig } from '../../common/config/index.js';
import type { ChunkRowJs, FallbackStepJs, QualityFigures } from '../../common/native.js';
import type { ChunkOutput } from '../../worker/executor/executor.js';
import { DTYPE_BYTES } from '../model/dtypes.js';
import type { SchemeChoice } from '../plan/schemes.js';
import type { TensorPlan } from '../plan/plan.js';
import { QualityThresholdError } from './errors.js';
import { keepChunk, storedDtype } from './keep.js';
import { mergeQuality } from './quality.js';

export interface TensorOutcome {
  plan: TensorPlan;
  rows: ChunkRowJs[];
  method: string;
  scheme: string;
  bits: number;
  requestedBits: number;
  quality: QualityFigures;
  fallbacks: FallbackStepJs[];
  payloadBytes: number;
}

/** Runs the tensor's chunks with one scheme (reading them again if needed). */
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

/** One kept chunk's row (bit-exact, or converted per a preserve rule). */
export async function keptRow(
  plan: TensorPlan,
  chunkIndex: number,
  data: Buffer,
  preserve: PreserveDtype,
  fallbacks: FallbackStepJs[],
  requestedBits: number,
): Promise<ChunkRowJs> {
  const kept = await keepChunk(data, plan.dtype, preserve, plan.cols);
  return {
    ...baseRow(plan, chunkIndex),
    method: 'keep',
    scheme: `keep_${kept.dtype}`,
    bits: 8 * DTYPE_BYTES[kept.dtype]!,
    groupSize: 0,
    requestedBits,
    codes: kept.payload,
    scales: EMPTY,
    zeros: EMPTY,
    quality: kept.quality,
    fallbacks,
  };
}

/** What a kept tensor's outcome looks like once its rows are written (rows streamed separately). */
export function keptOutcome(plan: TensorPlan, preserve: PreserveDtype, rows: ChunkRowJs[], fallbacks: FallbackStepJs[], requestedBits: number): TensorOutcome {
  const dtype = storedDtype(plan.dtype, preserve);
  return {
    plan,
    rows: [],
    method: 'keep',
    scheme: `keep_${dtype}`,
    bits: 8 * DTYPE_BYTES[dtype]!,
    requestedBits,
    quality: mergeQuality(rows.map((r) => r.quality)),
    fallbacks,
    payloadBytes: payload(rows),
  };
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
): Promise<{ outcome: TensorOutcome; keep: false } | { keep: true; fallbacks: FallbackStepJs[] }> {
  const fallbacks: FallbackStepJs[] = [];
  for (let rung = 0; rung < ladder.length; rung++) {
    const choice = ladder[rung]!;
    const outputs = rung === 0 ? await first : await runRung(choice);
    const quality = mergeQuality(outputs.map((o) => o.quality));
    if (quality.cosine >= config.min_accuracy) {
      const rows: ChunkRowJs[] = outputs.map((o, i) => ({
        ...baseRow(plan, i),
        method: choice.method,
        scheme: choice.scheme,
        bits: choice.bits,
        groupSize: choice.groupSize,
        requestedBits,
        codes: o.codes,
        scales: o.scales,
        zeros: o.zeros,
        quality: o.quality,
        fallbacks,
      }));
      return { keep: false, outcome: { plan, rows, method: choice.method, scheme: choice.scheme, bits: choice.bits, requestedBits, quality, fallbacks, payloadBytes: payload(rows) } };
    }
    if (config.fail_fast) throw new QualityThresholdError(plan.name, choice.scheme, quality.cosine, config.min_accuracy);
    const next = ladder[rung + 1];
    fallbacks.push({
      fromScheme: choice.scheme,
      toScheme: next ? next.scheme : `keep_${plan.dtype}`,
      fromBits: choice.bits,
      toBits: next ? next.bits : 8 * DTYPE_BYTES[plan.dtype]!,
      cosine: quality.cosine,
      threshold: config.min_accuracy,
    });
  }
  return { keep: true, fallbacks };
}

function payload(rows: ChunkRowJs[]): number {
  return rows.reduce((s, r) => s + r.codes.length + r.scales.length + r.zeros.length, 0);
}
