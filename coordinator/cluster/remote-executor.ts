/**
 * The cluster's executor: the same interface as the in-process one, so the job (planner, reader,
 * fallbacks, writer) is literally the local run's. A chunk already committed for this job (a
 * resumed job) comes back from the spool without being recomputed; any other goes to the
 * scheduler, and its accepted result is committed (spool file, then the etcd record) before the
 * job sees it.
 */
import type { Logger } from '../../common/cluster/log.js';
import { CheckpointError } from '../../common/cluster/errors.js';
import type { ChunkJob, ChunkOutput, Executor } from '../../common/chunk/job.js';
import { ChunkError } from '../../common/chunk/errors.js';
import { LocalExecutor } from '../../worker/executor/local.js';
import type { ClusterStore, CommitRecord } from './etcd.js';
import { layerOutputOfRecord, qualityOfRecord, storedQuality } from './records.js';
import type { Scheduler } from './scheduler.js';
import type { Spool } from './spool.js';

export interface CheckpointStats {
  restored: number;
  committed: number;
  unusable: number;
}

export class RemoteExecutor implements Executor {
  readonly description = 'cluster';
  /** Chunks in flight across the fleet (the job's read-ahead follows it). */
  readonly inFlight: number;
  readonly checkpoints: CheckpointStats = { restored: 0, committed: 0, unusable: 0 };
  private readonly local = new LocalExecutor(0);
  private warnedLocal = false;

  constructor(
    private readonly jobId: string,
    private readonly scheduler: Scheduler,
    private readonly store: ClusterStore,
    private readonly spool: Spool,
    private readonly committed: Map<string, CommitRecord>,
    private readonly log: Logger,
    inFlight: number,
    private readonly signal?: AbortSignal,
  ) {
    this.inFlight = inFlight;
    // An interrupted job's chunks leave the queue at once (they may be waiting for a worker
    // that will never come), so the job unwinds without waiting for them.
    signal?.addEventListener('abort', () => this.scheduler.dropJob(this.jobId, signal.reason), { once: true });
  }

  async run(job: ChunkJob): Promise<ChunkOutput> {
    // A calibrated chunk goes to a worker with the description of its layer; one without that
    // description (a caller that built the native layer itself) can only run here.
    if (job.layer && !job.layerSpec) {
      if (!this.warnedLocal) this.log.warn({ job: this.jobId }, 'a calibrated chunk without a layer description runs on the coordinator');
      this.warnedLocal = true;
      return this.local.run(job);
    }
    // The same scheme may run plain, smoothed or with GPTQ on different rungs: the layer's kind
    // is part of the commit key.
    const variant = job.layerSpec ? `@${job.layerSpec.key.split(':')[1]}` : '';
    const key = `${job.tensorIndex}/${job.chunkIndex}/${job.scheme}${variant}`;
    const record = this.committed.get(key);
    if (record) {
      try {
        const bytes = await this.spool.read(key, record);
        this.checkpoints.restored++;
        return { quality: qualityOfRecord(record), ...layerOutputOfRecord(record), payload: { kind: 'bytes', ...bytes }, worker: 'checkpoint' };
      } catch (err) {
        this.checkpoints.unusable++;
        this.log.warn({ job: this.jobId, chunk: key, error: err instanceof CheckpointError ? err.message : String(err) }, 'checkpoint unusable; recomputing');
      }
    }
    let result;
    try {
      this.signal?.throwIfAborted();
      result = await this.scheduler.run(this.jobId, key, job);
    } catch (cause) {
      throw new ChunkError(job.tensorName, job.chunkIndex, cause, job.rowStart);
    }
    const { file, sha256 } = await this.spool.write(this.jobId, key, result.bytes, result.sha256);
    await this.store.commit(this.jobId, key, {
      file,
      sha256,
      bytes: result.bytes.codes.length + result.bytes.scales.length + result.bytes.zeros.length,
      codes: result.bytes.codes.length,
      scales: result.bytes.scales.length,
      zeros: result.bytes.zeros.length,
      quality: storedQuality(result.quality),
      ...(result.layerOutput ? { layerOutput: result.layerOutput } : {}),
      worker: result.worker,
    });
    this.checkpoints.committed++;
    this.log.debug({ chunk: key, worker: result.worker }, 'chunk committed');
    return { quality: result.quality, ...(result.layerOutput ? { layerOutput: result.layerOutput } : {}), payload: { kind: 'bytes', ...result.bytes }, worker: result.worker };
  }

  async close(): Promise<void> {
    this.scheduler.dropJob(this.jobId, new Error('job closed'));
  }
}
