/**
 * The first pass over the model, in model order: each tensor is read chunk by chunk (hashing
 * each file as it goes), within the read-ahead window. Quantized chunks are dispatched as they
 * are read; kept chunks go to the writer through a small queue. Every tensor's first pass is
 * announced to the writer through the handoff.
 */
import type { ChunkOutput } from '../../../common/chunk/job.js';
import type { ResolvedConfig } from '../../../common/config/index.js';
import type { SourceChunk } from '../../../common/native.js';
import type { Plan, TensorPlan } from '../../plan/plan.js';
import type { CalibrationReader } from '../layer.js';
import type { SourceFiles } from '../source-files.js';
import type { JobTelemetry } from '../telemetry.js';
import type { ChunkRunner } from './execute.js';
import type { Handoff } from './handoff.js';
import { heldBytes, type ReadAheadWindow } from './read-ahead.js';

export interface ReaderParts {
  plan: Plan;
  files: SourceFiles;
  runner: ChunkRunner;
  window: ReadAheadWindow;
  handoff: Handoff;
  telemetry: JobTelemetry;
  calibration: CalibrationReader | undefined;
  config: ResolvedConfig;
  /** Chunks of a kept tensor queued for the writer. */
  keptQueue: number;
}

export class FirstPassReader {
  constructor(private readonly p: ReaderParts) {}

  async run(): Promise<void> {
    for (const t of this.p.plan.tensors) {
      await this.p.window.admit(heldBytes(t));
      this.p.telemetry.tensorStart(t);
      this.p.handoff.begin(t.index);
      if (t.action.kind === 'keep') await this.readKept(t);
      else await this.dispatch(t);
    }
  }

  private async readKept(t: TensorPlan): Promise<void> {
    const queue = this.p.handoff.keptQueue(this.p.keptQueue);
    this.p.handoff.announce(t.index, { kind: 'keep', queue });
    for (const c of t.chunks) await queue.put(await this.p.files.read(t.file.path, c.offset, c.length, true));
  }

  /** A quantized tensor: its layer first (when calibrated), then every chunk to the runner. */
  private async dispatch(t: TensorPlan): Promise<void> {
    if (t.action.kind !== 'quantize') return;
    const { runner, files } = this.p;
    const hashed = await runner.prepare(t, this.p.calibration, this.p.config);
    const first = t.action.ladder[0]!;
    const parts: Promise<ChunkOutput>[] = [];
    for (const c of t.chunks) {
      await runner.slots.acquire();
      let data: SourceChunk;
      try {
        data = await files.read(t.file.path, c.offset, c.length, !hashed);
      } catch (err) {
        runner.slots.release();
        throw err;
      }
      const part = runner.quantize(t, c.chunkIndex, first, data).finally(() => runner.slots.release());
      // Observed by the writer through Promise.all below; until then a failure (a NaN in this
      // chunk) must not count as an unhandled rejection while later chunks are still read.
      part.catch(() => {});
      parts.push(part);
    }
    const results = Promise.all(parts);
    results.catch(() => {});
    this.p.handoff.announce(t.index, { kind: 'quantize', results });
  }
}
