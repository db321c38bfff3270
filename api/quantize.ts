/**
 * `quantizeModel`: the whole job from TypeScript, as the CLI's `quantize` runs it, returning the
 * figures the seeds' `quantize_model` returned (compression ratio, cosine similarity, model size)
 * and the rest of what the job knows. Errors are QuantizationError (bad model or calibration,
 * output path, kernel), ValidationError (a tensor below `min_accuracy` with `fail_fast`) or
 * ConfigurationError (a bad config), with `cause` where one exists.
 */
import type { Modality, ResolvedConfig } from '../common/config/index.js';
import { runQuantizeJob, type JobEvent } from '../coordinator/run/job.js';
import { DiffusionQuantConfig, type ConfigValues } from './config.js';

export interface QuantizeModelOptions {
  /** A safetensors file, a model directory, a sharded checkpoint or a diffusers pipeline folder. */
  modelPath: string;
  /** The Parquet file to write (atomically). */
  outputPath: string;
  /** A config object, or plain values over the defaults (no environment is read). */
  config?: DiffusionQuantConfig | ConfigValues;
  /** Stops the job at the next chunk; the promise then rejects and no output is left. */
  signal?: AbortSignal;
  /** Every job event (modality, plan, calibration, each tensor, each fallback). */
  onEvent?: (event: JobEvent) => void;
}

export interface QuantizeModelResult {
  outputPath: string;
  /** Source bytes / output file bytes. */
  compressionRatio: number;
  /** Mean cosine similarity over the quantized tensors (1 when none is quantized). */
  cosineSimilarity: number;
  minCosineSimilarity: number;
  /** Output file size in MiB. */
  modelSizeMb: number;
  sourceSizeMb: number;
  tensors: number;
  quantized: number;
  kept: number;
  fallbacks: { tensor: string; from: string; to: string; cosine: number; threshold: number }[];
  modality: Modality;
  seconds: number;
  /** The configuration the file was written with. */
  config: ResolvedConfig;
}

const MIB = 1024 * 1024;

export async function quantizeModel(options: QuantizeModelOptions): Promise<QuantizeModelResult> {
  const cfg = options.config instanceof DiffusionQuantConfig ? options.config : DiffusionQuantConfig.default().with(options.config ?? {});
  const config = cfg.validate();
  const r = await runQuantizeJob({
    modelPath: options.modelPath,
    outputPath: options.outputPath,
    config,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const fallbacks = r.tensors.flatMap((t) =>
    t.fallbacks.map((f) => ({
      tensor: t.plan.component !== undefined ? `${t.plan.component}/${t.plan.name}` : t.plan.name,
      from: f.fromScheme,
      to: f.toScheme,
      cosine: f.cosine,
      threshold: f.threshold,
    })),
  );
  return {
    outputPath: r.outputPath,
    compressionRatio: r.summary.compressionRatio,
    cosineSimilarity: r.summary.meanCosine,
    minCosineSimilarity: r.summary.minCosine,
    modelSizeMb: r.summary.fileBytes / MIB,
    sourceSizeMb: r.summary.sourceBytes / MIB,
    tensors: r.summary.tensors,
    quantized: r.summary.quantized,
    kept: r.summary.kept,
    fallbacks,
    modality: r.modality,
    seconds: r.seconds,
    config,
  };
}
