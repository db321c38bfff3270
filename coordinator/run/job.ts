/**
 * The quantization job: model directory in, one ArrowQuant Parquet file out, as named stages
 * (./stages/): read the model (inspect) → calibration → plan → open the sources → budget →
 * execute and write side by side (pipeline) → footer. Everything is validated before any work.
 * Any error or abort deletes the temporary output; an existing file at the output path is
 * replaced only by a complete new one. The local run and the cluster's coordinator run this same
 * job; only the executor differs (in-process kernels, or workers).
 */
import { resolve } from 'node:path';

import type { Executor } from '../../common/chunk/job.js';
import type { ResolvedConfig } from '../../common/config/index.js';
import { fromNative } from '../../common/errors.js';
import { LocalExecutor } from '../../worker/executor/local.js';
import { calibrationFooter } from '../calibration/file.js';
import { JobAbortedError } from './errors.js';
import type { Emit, JobEvent } from './events.js';
import { CalibrationReader } from './layer.js';
import { completeSummary, summarize, type JobResult } from './result.js';
import { SourceFiles } from './source-files.js';
import { fitBudget } from './stages/budget.js';
import { openJobCalibration, type JobCalibration } from './stages/calibrate.js';
import { inspectModel, modalityEvent, type InspectedModel } from './stages/inspect.js';
import { fileConfig, OutputFile } from './stages/output.js';
import { TensorPipeline } from './stages/pipeline.js';
import { planEvents, planJob, type PlannedJob } from './stages/plan.js';
import { JobTelemetry } from './telemetry.js';

export type { JobEvent } from './events.js';
export type { JobResult, JobSummary } from './result.js';
export { fileConfig } from './stages/output.js';

export interface JobOptions {
  modelPath: string;
  outputPath: string;
  config: ResolvedConfig;
  /** Default: the in-process kernels with `config.num_threads` threads. */
  executor?: Executor;
  signal?: AbortSignal;
  onEvent?: (e: JobEvent) => void;
}

export async function runQuantizeJob(opts: JobOptions): Promise<JobResult> {
  const started = performance.now();
  const { config } = opts;
  const emit: Emit = opts.onEvent ?? (() => {});
  const model = await inspectModel(opts.modelPath, opts.outputPath, config);
  emit(modalityEvent(model));
  const calibration = await openJobCalibration(opts.modelPath, model.headers, config);
  const planned = planJob(model, calibration, config);
  planEvents(planned, calibration).forEach(emit);
  const executor = opts.executor ?? new LocalExecutor(config.num_threads);
  try {
    const written = await writeJob({ opts, model, calibration, planned, executor, emit });
    return {
      outputPath: resolve(opts.outputPath),
      modality: model.modality,
      modalityReason: model.modalityReason,
      ...written,
      layout: model.layout,
      mode: planned.mode,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (!opts.executor) await executor.close();
  }
}

interface Staged {
  opts: JobOptions;
  model: InspectedModel;
  calibration: JobCalibration;
  planned: PlannedJob;
  executor: Executor;
  emit: Emit;
}

/** From the plan to the file: sources opened, budget, output, pipeline, footer. */
async function writeJob(s: Staged): Promise<Pick<JobResult, 'summary' | 'tensors' | 'sources'>> {
  const { opts, model, planned, emit } = s;
  const { config } = opts;
  const { plan } = planned;
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const telemetry = new JobTelemetry(telemetryAttributes(s), s.executor.description);
  const calibReader = s.calibration.file ? new CalibrationReader(s.calibration.file) : undefined;
  const files = await SourceFiles.open(model.headers.map((h) => ({ path: h.file.path, rel: h.file.rel, header: h.header })));
  let output: OutputFile;
  let acceptance: ResolvedConfig;
  try {
    ({ acceptance } = await fitBudget(plan, files, config, signal, emit));
    output = OutputFile.create(opts.outputPath, { 'arrowquant.config': fileConfig(config), 'arrowquant.modality': model.modality, 'arrowquant.modality_reason': model.modalityReason });
  } catch (err) {
    await files.close();
    throw err;
  }
  const pipeline = new TensorPipeline({ planned, plan, files, executor: s.executor, output, telemetry, calibration: calibReader, config, acceptance, emit, signal });
  try {
    const tensors = await pipeline.run();
    const sources = files.hashes();
    const figures = summarize(tensors, plan);
    const calib = s.calibration.file;
    const written = await output.finish({
      'arrowquant.sources': JSON.stringify(sources),
      'arrowquant.summary': JSON.stringify(figures),
      ...(calib ? { 'arrowquant.calibration': calibrationFooter(calib, planned.calibratedTensors) } : {}),
    });
    telemetry.end();
    return { summary: completeSummary(figures, written), tensors, sources };
  } catch (err) {
    telemetry.end(err);
    controller.abort(err);
    output.abort();
    // Both sides stop before the files close: nothing touches the output or the files after this.
    await pipeline.settled();
    if (opts.signal?.aborted && err === opts.signal.reason) throw new JobAbortedError(err);
    throw fromNative(err);
  } finally {
    output.close();
    pipeline.dispose();
    await files.close();
  }
}

function telemetryAttributes({ opts, model, planned }: Staged): Record<string, string | number> {
  return {
    'arrowquant.model': resolve(opts.modelPath),
    'arrowquant.output': resolve(opts.outputPath),
    'arrowquant.modality': model.modality,
    'arrowquant.mode': planned.mode,
    'arrowquant.tensors': planned.plan.tensors.length,
    'arrowquant.source_bytes': planned.plan.sourceBytes,
  };
}
