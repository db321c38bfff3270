/** What a job returns, and the figures its file's footer records. */
import type { Modality } from '../../common/config/index.js';
import type { ModelLayout } from '../model/discover.js';
import type { Plan } from '../plan/plan.js';
import type { RunMode } from './events.js';
import type { SourceHash } from './source-files.js';
import type { TensorOutcome } from './tensor.js';

export interface JobSummary {
  tensors: number;
  quantized: number;
  kept: number;
  sourceBytes: number;
  payloadBytes: number;
  fileBytes: number;
  compressionRatio: number;
  minCosine: number;
  meanCosine: number;
  /** Quantized tensors measured on their layer outputs, and the lowest layer-output cosine (1 if none). */
  measured: number;
  minOutputCosine: number;
  fallbacks: number;
  rowGroups: number;
}

export interface JobResult {
  outputPath: string;
  modality: Modality;
  modalityReason: string;
  summary: JobSummary;
  tensors: TensorOutcome[];
  sources: SourceHash[];
  layout: ModelLayout;
  mode: RunMode;
  seconds: number;
}

/** The figures known before the file is closed (the footer's); size and row groups come after. */
export type FileFigures = Omit<JobSummary, 'fileBytes' | 'compressionRatio' | 'rowGroups'>;

export function summarize(outcomes: TensorOutcome[], plan: Plan): FileFigures {
  const quantized = outcomes.filter((o) => o.method !== 'keep');
  const cos = quantized.map((o) => o.quality.cosine);
  const out = quantized.flatMap((o) => (o.layerOutput ? [o.layerOutput.cosine] : []));
  return {
    tensors: outcomes.length,
    quantized: quantized.length,
    kept: outcomes.length - quantized.length,
    sourceBytes: plan.sourceBytes,
    payloadBytes: outcomes.reduce((s, o) => s + o.payloadBytes, 0),
    minCosine: cos.length ? Math.min(...cos) : 1,
    meanCosine: cos.length ? cos.reduce((a, b) => a + b, 0) / cos.length : 1,
    measured: out.length,
    minOutputCosine: out.length ? Math.min(...out) : 1,
    fallbacks: outcomes.reduce((s, o) => s + o.fallbacks.length, 0),
  };
}

export function completeSummary(figures: FileFigures, written: { bytes: number; rowGroups: number }): JobSummary {
  return { ...figures, fileBytes: written.bytes, compressionRatio: written.bytes > 0 ? figures.sourceBytes / written.bytes : 0, rowGroups: written.rowGroups };
}
