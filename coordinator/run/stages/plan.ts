/**
 * Stage 3, plan: what happens to every tensor (keep or quantize, the fallback ladder, the
 * calibrated layer it uses) and how it is cut into chunks (coordinator/plan/), with the events
 * that announce it.
 */
import { availableParallelism } from 'node:os';

import type { ResolvedConfig } from '../../../common/config/index.js';
import { checkImatrixFits } from '../../calibration/imatrix.js';
import { describeFormat } from '../../../common/formats.js';
import { view2d } from '../../../common/format/view.js';
import { isQuantizable } from '../../../common/format/dtypes.js';
import { planModel, type Plan } from '../../plan/plan.js';
import type { JobEvent, RunMode } from '../events.js';
import type { JobCalibration } from './calibrate.js';
import type { InspectedModel } from './inspect.js';

export interface PlannedJob {
  plan: Plan;
  /** Quantized tensors that use a calibrated layer. */
  calibratedTensors: number;
  mode: RunMode;
  /** Kernel threads (0 in the configuration: every core). */
  threads: number;
}

/**
 * The GQA factor (attention heads per key/value head) of a text model, from its config.json, for
 * the K-quant mixes (1 when the model does not say).
 */
export function gqaFactor(model: InspectedModel): number {
  for (const { json } of model.layout.configs) {
    const c = json as { num_attention_heads?: unknown; num_key_value_heads?: unknown; n_heads?: unknown; n_kv_heads?: unknown };
    const heads = Number(c.num_attention_heads ?? c.n_heads);
    const kv = Number(c.num_key_value_heads ?? c.n_kv_heads ?? heads);
    if (Number.isInteger(heads) && Number.isInteger(kv) && heads > 0 && kv > 0) return Math.trunc(heads / kv);
  }
  return 1;
}

export function planJob(model: InspectedModel, calibration: JobCalibration, config: ResolvedConfig): PlannedJob {
  const imatrix = calibration.imatrix;
  let missing: string[] = [];
  if (imatrix) {
    // An importance matrix of another model is refused before anything runs.
    const matrices = model.headers.flatMap(({ header }) => header.tensors.filter((t) => isQuantizable(t.dtype) && t.shape.length >= 2).map((t) => ({ name: t.name, cols: view2d(t.shape).cols })));
    missing = checkImatrixFits(imatrix, matrices).missing;
  }
  const plan = planModel(model.headers, config, {
    modality: model.modality,
    mix: { nGqa: gqaFactor(model) },
    ...(calibration.file ? { calibration: calibration.file } : {}),
    ...(imatrix ? { imatrix } : {}),
  });
  if (imatrix) {
    const without = new Set(missing);
    for (const t of plan.tensors) {
      if (t.action.kind === 'quantize' && without.has(t.name) && t.action.ladder.some((c) => describeFormat(c.scheme).importance)) {
        plan.calibrationWarnings.push({ tensor: t.component !== undefined ? `${t.component}/${t.name}` : t.name, message: `no entry in the importance matrix ${imatrix.path}; quantized ${t.action.importance?.source === 'uniform' ? 'with uniform importance' : 'without importance'}` });
      }
    }
  }
  return {
    plan,
    calibratedTensors: plan.tensors.filter((t) => t.action.kind === 'quantize' && t.action.layer).length,
    mode: config.enable_streaming ? 'streaming' : 'threaded',
    threads: config.num_threads === 0 ? availableParallelism() : config.num_threads,
  };
}

/** The calibration event (when a file is used or the planner has warnings about one), then the plan's. */
export function planEvents(p: PlannedJob, calibration: JobCalibration): JobEvent[] {
  const { plan } = p;
  const events: JobEvent[] = [];
  const calib = calibration.file;
  if (calib || plan.calibrationWarnings.length > 0) {
    events.push({
      type: 'calibration',
      ...(calib ? { file: calib.path } : {}),
      ...(calibration.synthetic ? { synthetic: calibration.synthetic } : {}),
      layers: calib?.layers.size ?? 0,
      used: p.calibratedTensors,
      warnings: plan.calibrationWarnings,
    });
  }
  events.push({
    type: 'plan',
    tensors: plan.tensors.length,
    quantize: plan.tensors.filter((t) => t.action.kind === 'quantize').length,
    keep: plan.tensors.filter((t) => t.action.kind === 'keep').length,
    sourceBytes: plan.sourceBytes,
    chunks: plan.tensors.reduce((s, t) => s + t.chunks.length, 0),
    mode: p.mode,
    formats: formatCounts(plan),
    ...(Object.keys(plan.autoRows).length > 0 ? { auto: plan.autoRows } : {}),
  });
  return events;
}

/** How many tensors each format (first rung) or kept dtype gets: the plan in one line. */
export function formatCounts(plan: Plan): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of plan.tensors) {
    const key = t.action.kind === 'quantize' ? t.action.ladder[0]!.scheme : `keep`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
