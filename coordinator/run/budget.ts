/**
 * `target_memory_gb`: measure every quantized tensor at 2, 4 and 8 bits (its method's grid, its
 * group size), allocate widths with coordinator/plan/budget.ts, and rewrite the plan: each
 * tensor gets exactly one rung (no min_accuracy fallback: the allocation already weighed
 * quality) or is kept. Costs three extra quantization passes over the model (reads not hashed).
 */
import { ConfigurationError, type ResolvedConfig } from '../../common/config/index.js';
import { DTYPE_BYTES, isQuantizable } from '../../common/format/dtypes.js';
import { mergeQuality } from '../../common/format/quality.js';
import { payloadSize, quantizeChunk, type QualityFigures } from '../../common/native.js';
import { fromNative } from '../../common/errors.js';
import { allocate, BudgetTooSmall, type BudgetItem, type BudgetOption } from '../plan/budget.js';
import type { Plan } from '../plan/plan.js';
import { schemeFor, type ConcreteMethod } from '../plan/schemes.js';
import { FORMAT_FAMILIES } from '../../common/formats.js';
import { storedDtype } from './keep.js';
import type { SourceFiles } from './source-files.js';

/** Methods with a choice of bit widths (from the format registry). */
const BUDGETED: readonly ConcreteMethod[] = FORMAT_FAMILIES.filter((f) => f.bits.length > 1).flatMap((f) => f.methods);
const WIDTHS = [2, 4, 8] as const;

export interface BudgetReport {
  targetBytes: number;
  bytes: number;
  minimumBytes: number;
  /** Tensors per chosen width ("2", "4", "8", "keep") and their stored bytes. */
  allocation: Record<string, { tensors: number; bytes: number }>;
}

export async function applyBudget(plan: Plan, files: SourceFiles, config: ResolvedConfig, signal: AbortSignal): Promise<BudgetReport> {
  const targetBytes = Math.floor(config.target_memory_gb! * 1e9);
  let fixed = 0;
  const items: BudgetItem[] = [];
  for (const t of plan.tensors) {
    if (t.action.kind === 'keep') {
      const dtype = storedDtype(t.dtype, t.action.storeDtype);
      fixed += (t.bytes / DTYPE_BYTES[t.dtype]!) * DTYPE_BYTES[dtype]!;
      continue;
    }
    const first = t.action.ladder[0]!;
    if (!BUDGETED.includes(first.method) || !isQuantizable(t.dtype)) {
      throw new ConfigurationError(
        `target_memory_gb needs a method with a bit width (${BUDGETED.join(', ')}); "${t.name}" is planned with ${first.method}`,
        'target_memory_gb',
        config.target_memory_gb,
        { kind: 'api' },
      );
    }
    const options: BudgetOption[] = [];
    for (const w of WIDTHS) {
      const choice = schemeFor(first.method, w, first.groupSize);
      const parts: QualityFigures[] = [];
      for (const c of t.chunks) {
        signal.throwIfAborted();
        const data = await files.read(t.file.path, c.offset, c.length, false);
        try {
          const q = await quantizeChunk(data, t.dtype, c.rowCount, t.cols, choice.format, { threads: config.num_threads });
          parts.push(q.quality);
          q.release();
        } catch (err) {
          throw fromNative(err);
        } finally {
          data.release();
        }
      }
      const q = mergeQuality(parts);
      const elements = t.rows * t.cols;
      options.push({ width: w, bytes: payloadSize(choice.scheme, t.rows, t.cols), loss: q.sumXx > 0 ? (q.sumEe / q.sumXx) * elements : 0 });
    }
    options.push({ width: 'keep', bytes: t.bytes, loss: 0 });
    options.sort((a, b) => a.bytes - b.bytes);
    items.push({ index: t.index, options });
  }
  let alloc;
  try {
    alloc = allocate(items, fixed, targetBytes);
  } catch (err) {
    if (!(err instanceof BudgetTooSmall)) throw err;
    const gb = (b: number) => `${(b / 1e9).toFixed(3)} GB`;
    throw new ConfigurationError(
      `target_memory_gb = ${config.target_memory_gb}: even the smallest plan needs ${gb(err.minimumBytes)} (every quantizable tensor at its smallest width, ${gb(fixed)} of tensors kept by rules)`,
      'target_memory_gb',
      config.target_memory_gb,
      { kind: 'api' },
    );
  }
  const allocation: BudgetReport['allocation'] = {};
  for (const t of plan.tensors) {
    const o = alloc.chosen.get(t.index);
    if (!o || t.action.kind !== 'quantize') continue;
    const key = String(o.width);
    allocation[key] = { tensors: (allocation[key]?.tensors ?? 0) + 1, bytes: (allocation[key]?.bytes ?? 0) + o.bytes };
    if (o.width === 'keep') {
      t.action = { kind: 'keep', storeDtype: 'source', rule: 'budget', reason: 'target_memory_gb: kept in its source dtype' };
    } else {
      const first = t.action.ladder[0]!;
      const layer = t.action.layer;
      t.action = { kind: 'quantize', ladder: [schemeFor(first.method, o.width, first.groupSize)], requestedBits: o.width, rule: 'budget', reason: `target_memory_gb: ${o.width} bits`, ...(layer ? { layer } : {}) };
    }
  }
  return { targetBytes, bytes: alloc.bytes, minimumBytes: alloc.minimumBytes, allocation };
}
