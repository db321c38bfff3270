/** What a job tells its caller while it runs (the CLI's progress, the cluster client's stream). */
import type { Modality } from '../../common/config/index.js';
import type { BudgetReport } from './budget.js';
import type { TensorOutcome } from './tensor.js';

export type RunMode = 'streaming' | 'threaded';

export type JobEvent =
  | { type: 'modality'; modality: Modality; reason: string; detected: boolean }
  | {
      type: 'plan';
      tensors: number;
      quantize: number;
      keep: number;
      sourceBytes: number;
      chunks: number;
      mode: RunMode;
      formats: Record<string, number>;
      /** `method: auto`: the strategy-table rows used (e.g. "auto (text, 4-bit, calibrated): gptq→q4_k; …") and their tensors. */
      auto?: Record<string, number>;
    }
  | { type: 'tensor'; outcome: TensorOutcome; done: number; bytesDone: number }
  | { type: 'fallback'; tensor: string; from: string; to: string; cosine: number; threshold: number }
  | { type: 'budget'; report: BudgetReport }
  | { type: 'calibration'; file?: string; synthetic?: { path: string; cached: boolean }; layers: number; used: number; warnings: { tensor: string; message: string }[] };

export type Emit = (e: JobEvent) => void;
