/**
 * Stages 5 and 6 together: the first-pass reader and the tensor writer run side by side, joined by
 * the handoff and the read-ahead window, over the same chunk runner. `run` resolves when every
 * tensor is written; after a failure, the caller aborts the job's signal and awaits `settled` so
 * nothing touches the files or the output after it returns.
 */
import type { Executor } from '../../../common/chunk/job.js';
import type { ResolvedConfig } from '../../../common/config/index.js';
import type { Plan } from '../../plan/plan.js';
import type { Emit } from '../events.js';
import type { CalibrationReader } from '../layer.js';
import type { SourceFiles } from '../source-files.js';
import type { JobTelemetry } from '../telemetry.js';
import type { TensorOutcome } from '../tensor.js';
import { ChunkRunner } from './execute.js';
import { Handoff } from './handoff.js';
import type { OutputFile } from './output.js';
import type { PlannedJob } from './plan.js';
import { FirstPassReader } from './read.js';
import { concurrencyFor, ReadAheadWindow } from './read-ahead.js';
import { TensorWriter } from './write.js';

export interface PipelineParts {
  planned: PlannedJob;
  /** The plan as the budget left it. */
  plan: Plan;
  files: SourceFiles;
  executor: Executor;
  output: OutputFile;
  telemetry: JobTelemetry;
  calibration: CalibrationReader | undefined;
  config: ResolvedConfig;
  acceptance: ResolvedConfig;
  emit: Emit;
  signal: AbortSignal;
}

export class TensorPipeline {
  private readonly runner: ChunkRunner;
  private readonly window: ReadAheadWindow;
  private readonly handoff: Handoff;
  private readonly reader: FirstPassReader;
  private readonly writer: TensorWriter;
  private running: Promise<unknown>[] = [];
  private readonly onAbort: () => void;

  constructor(private readonly p: PipelineParts) {
    const c = concurrencyFor(p.executor.inFlight, p.planned.mode, p.planned.threads, p.config);
    this.runner = new ChunkRunner(p.executor, p.files, p.telemetry, c.inFlight, p.signal);
    this.window = new ReadAheadWindow(c.aheadBytes, p.signal);
    this.handoff = new Handoff(p.plan.tensors.length);
    const shared = { plan: p.plan, files: p.files, runner: this.runner, window: this.window, handoff: this.handoff, telemetry: p.telemetry };
    this.reader = new FirstPassReader({ ...shared, calibration: p.calibration, config: p.config, keptQueue: c.keptQueue });
    this.writer = new TensorWriter({ ...shared, output: p.output, acceptance: p.acceptance, emit: p.emit, signal: p.signal });
    this.onAbort = () => {
      this.window.interrupt();
      this.handoff.fail(p.signal.reason);
    };
    p.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Every tensor read, quantized and written, in model order. */
  async run(): Promise<TensorOutcome[]> {
    const reader = this.reader.run();
    this.handoff.watch(reader);
    const writer = this.writer.run();
    writer.catch(() => {});
    this.running = [reader, writer];
    await Promise.all(this.running);
    return this.writer.outcomes;
  }

  /** Both sides have stopped (call after aborting the signal). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.running);
  }

  /** Free what is still held (native layers) and stop listening to the signal. */
  dispose(): void {
    this.runner.releaseAll();
    this.p.signal.removeEventListener('abort', this.onAbort);
  }
}
