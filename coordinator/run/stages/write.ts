/**
 * Stage 6, write: tensors strictly in model order. A quantized tensor's results go through the
 * quality gate (the fallback ladder, ../tensor.ts) and its accepted rows to the file; a kept
 * tensor streams from the reader's queue; a tensor whose every rung failed is read again and kept
 * exactly. Each written tensor leaves the read-ahead window and is reported.
 */
import type { ChunkOutput } from '../../../common/chunk/job.js';
import type { PreserveDtype, ResolvedConfig } from '../../../common/config/index.js';
import { DTYPE_BYTES } from '../../../common/format/dtypes.js';
import type { FallbackStepJs, SourceChunk } from '../../../common/native.js';
import type { Plan, TensorPlan } from '../../plan/plan.js';
import type { Emit } from '../events.js';
import type { SourceFiles } from '../source-files.js';
import type { JobTelemetry } from '../telemetry.js';
import { finishTensor, keptOutcome, keptRow, type LayerExtras, type TensorOutcome } from '../tensor.js';
import type { ChunkRunner } from './execute.js';
import type { FirstPass, Handoff } from './handoff.js';
import type { OutputFile } from './output.js';
import { heldBytes, type ReadAheadWindow } from './read-ahead.js';

export interface WriterParts {
  plan: Plan;
  files: SourceFiles;
  runner: ChunkRunner;
  window: ReadAheadWindow;
  handoff: Handoff;
  output: OutputFile;
  telemetry: JobTelemetry;
  /** The quality gate's thresholds (none under a memory budget). */
  acceptance: ResolvedConfig;
  emit: Emit;
  signal: AbortSignal;
}

export class TensorWriter {
  readonly outcomes: TensorOutcome[] = [];
  private bytesDone = 0;

  constructor(private readonly p: WriterParts) {}

  async run(): Promise<void> {
    for (const t of this.p.plan.tensors) {
      const first = await this.p.handoff.next(t.index);
      this.p.signal.throwIfAborted();
      const outcome = await this.write(t, first);
      this.p.handoff.done(t.index);
      this.finished(t, outcome);
    }
  }

  private async write(t: TensorPlan, first: FirstPass): Promise<TensorOutcome> {
    if (first.kind === 'keep' && t.action.kind === 'keep') return this.streamKept(t, t.action.storeDtype, [], 8 * DTYPE_BYTES[t.dtype]!, () => first.queue.take());
    if (first.kind === 'quantize' && t.action.kind === 'quantize') return this.writeQuantized(t, first.results);
    throw new Error(`internal: ${t.name} first pass does not match its plan`);
  }

  private async writeQuantized(t: TensorPlan, results: Promise<ChunkOutput[]>): Promise<TensorOutcome> {
    if (t.action.kind !== 'quantize') throw new Error(`internal: ${t.name} is not quantized`);
    const { runner } = this.p;
    const done = await finishTensor(t, t.action.ladder, t.action.requestedBits, this.p.acceptance, results, runner.rung(t), extrasOf(runner, t));
    runner.release(t);
    if (done.keep) {
      // Every rung failed: the tensor is kept exactly, read again.
      let next = 0;
      return this.streamKept(t, 'source', done.fallbacks, t.action.requestedBits, () => {
        const c = t.chunks[next++]!;
        return this.p.files.read(t.file.path, c.offset, c.length, false);
      });
    }
    for (const row of done.rows) {
      this.p.signal.throwIfAborted();
      await this.p.output.push(row);
    }
    return done.outcome;
  }

  /** Write a kept tensor chunk by chunk; only the figures stay in memory. */
  private async streamKept(t: TensorPlan, preserve: PreserveDtype, fallbacks: FallbackStepJs[], requestedBits: number, nextChunk: () => Promise<SourceChunk>): Promise<TensorOutcome> {
    const figures = [];
    let payload = 0;
    for (const c of t.chunks) {
      const pending = await keptRow(t, c.chunkIndex, await nextChunk(), preserve, fallbacks, requestedBits);
      await this.p.output.push(pending);
      payload += pending.bytes;
      figures.push(pending.row.quality);
    }
    return keptOutcome(t, preserve, figures, fallbacks, requestedBits, payload);
  }

  /** Timing, telemetry, events; the tensor leaves the read-ahead window. */
  private finished(t: TensorPlan, outcome: TensorOutcome): void {
    const { emit } = this.p;
    outcome.seconds = this.p.handoff.secondsSince(t.index);
    this.p.telemetry.tensorEnd(t, outcome, t.action.kind === 'quantize' ? t.action.ladder : undefined);
    for (const f of outcome.fallbacks) emit({ type: 'fallback', tensor: t.name, from: f.fromScheme, to: f.toScheme, cosine: f.cosine, threshold: f.threshold });
    this.outcomes.push(outcome);
    this.p.window.written(heldBytes(t));
    this.bytesDone += t.bytes;
    emit({ type: 'tensor', outcome, done: t.index + 1, bytesDone: this.bytesDone });
  }
}

/** What a calibrated tensor stores besides its codes (the same on every chunk row). */
function extrasOf(runner: ChunkRunner, t: TensorPlan): LayerExtras {
  const p = runner.layer(t);
  return { ...(p?.channelScales ? { channelScales: p.channelScales, alpha: p.alpha! } : {}), ...(p?.timeGroups ? { timeGroups: p.timeGroups } : {}) };
}
