/**
 * Stage 3, plan: what happens to every tensor (keep or quantize, the fallback ladder, the
 * calibrated layer it uses) and how it is cut into chunks (coordinator/plan/), with the events
 * that announce it.
 */
import { availableParallelism } from 'node:os';

import type { ResolvedConfig } from '../../../common/config/index.js';
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

export function planJob(model: InspectedModel, calibration: JobCalibration, config: ResolvedConfig): PlannedJob {
  const plan = planModel(model.headers, config, { modality: model.modality, ...(calibration.file ? { calibration: calibration.file } : {}) });
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
  });
  return events;
}
