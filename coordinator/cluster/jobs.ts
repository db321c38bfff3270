/**
 * Jobs submitted to the coordinator. A job id names (model, output, configuration); submitting
 * it again attaches to the running job, or replays the result of a finished one, so a client
 * that lost its stream (or its coordinator) simply submits again. A job is recorded in etcd
 * before it starts, so a new leader resumes every job still marked running, restoring its
 * committed chunks from the spool instead of recomputing them.
 */
import type { Logger } from '../../common/cluster/log.js';
import type { SubmitRequest } from '../../common/cluster/messages.js';
import { runQuantizeJob, type JobEvent, type JobResult } from '../run/job.js';
import { RemoteExecutor } from './remote-executor.js';
import { submittedConfig } from './submission.js';
import type { ClusterStore } from './etcd.js';
import type { Scheduler } from './scheduler.js';
import type { Spool } from './spool.js';
import { encodeJson } from '../../common/cluster/json.js';
import { outputStamp, sourceFingerprint } from './fingerprint.js';
import { CoordinatorStoppingError, isLeadershipLost } from '../../common/cluster/errors.js';

export type JobListener = {
  event: (json: string) => void;
  done: (resultJson: string) => void;
  /** `interrupted`: the coordinator is stepping down; the job goes on under the next leader. */
  failed: (err: Error, interrupted: boolean) => void;
};

interface LiveJob {
  id: string;
  listeners: Set<JobListener>;
  controller: AbortController;
  promise: Promise<void>;
}

export interface JobsOptions {
  inFlight: number;
  /** etcd refused a job write: another coordinator leads now (this one must step down). */
  onLeadershipLost?: (err: Error) => void;
}

export class Jobs {
  private readonly live = new Map<string, LiveJob>();
  /** The tail of each job id's queue of submit/resume calls. */
  private readonly locks = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(
    private readonly store: ClusterStore,
    private readonly spool: Spool,
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
    private readonly options: JobsOptions,
  ) {}

  get running(): number {
    return this.live.size;
  }

  /**
   * Start or attach; the listener hears every later event and the end. Calls for one job id run
   * one at a time, so two clients submitting the same job at once share one run.
   */
  submit(req: SubmitRequest, listener: JobListener): Promise<() => void> {
    return this.serially(req.jobId, () => this.submitNow(req, listener));
  }

  private async submitNow(req: SubmitRequest, listener: JobListener): Promise<() => void> {
    this.throwIfStopping();
    const live = this.live.get(req.jobId);
    if (live) {
      live.listeners.add(listener);
      this.log.info({ job: req.jobId }, 'client attached to a running job');
      return () => live.listeners.delete(listener);
    }
    const state = await this.store.jobState(req.jobId);
    if (state?.state === 'done' && state.output !== undefined && state.output === (await outputStamp(req.outputPath)) && state.sources === (await this.fingerprint(req))) {
      // Finished while the client was away, and neither the output nor the model has changed
      // since: replay the result instead of quantizing again.
      listener.done(state.result);
      return () => {};
    }
    this.throwIfStopping();
    await this.store.putJobSpec(req.jobId, req);
    return this.start(req, listener);
  }

  /** After `interruptAll` nothing new starts here: the next leader runs it. */
  private throwIfStopping(): void {
    if (this.stopping) throw new CoordinatorStoppingError();
  }

  private serially<T>(id: string, f: () => Promise<T>): Promise<T> {
    const prior = this.locks.get(id) ?? Promise.resolve();
    const mine = prior.then(f, f);
    const tail = mine.then(
      () => {},
      () => {},
    );
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return mine;
  }

  /** For the replay check, before any run has resolved the request's configuration. */
  private async fingerprint(req: SubmitRequest): Promise<string> {
    const config = submittedConfig(req.configJson);
    return sourceFingerprint(req.modelPath, config.calibration ?? undefined);
  }

  /** Resume every job etcd says was running (called once leadership is won). */
  async resumeUnfinished(): Promise<string[]> {
    const ids = await this.store.unfinishedJobs();
    for (const id of ids) {
      if (this.stopping) break;
      await this.serially(id, async () => {
        if (this.stopping || this.live.has(id)) return;
        const spec = await this.store.jobSpec(id);
        if (!spec) return;
        this.log.info({ job: id, model: spec.modelPath, output: spec.outputPath }, 'resuming job');
        await this.start(spec);
      }).catch((err: unknown) => {
        // Stopping meanwhile, or etcd refused: the job stays `running` for the next leader.
        this.log.warn({ job: id, error: (err as Error).message }, 'job not resumed');
      });
    }
    return ids;
  }

  private async start(req: SubmitRequest, listener?: JobListener): Promise<() => void> {
    this.throwIfStopping();
    const listeners = new Set<JobListener>(listener ? [listener] : []);
    const controller = new AbortController();
    const job: LiveJob = { id: req.jobId, listeners, controller, promise: Promise.resolve() };
    this.live.set(req.jobId, job);
    // execute() reports its own errors to the listeners and etcd; nothing is left to throw.
    job.promise = this.execute(req, job)
      .catch((err: unknown) => this.log.error({ job: req.jobId, error: String(err) }, 'job ended with an unexpected error'))
      .finally(() => this.live.delete(req.jobId));
    return () => listeners.delete(listener!);
  }

  private async execute(req: SubmitRequest, job: LiveJob): Promise<void> {
    const { id } = job;
    const log = this.log.child({ job: id });
    const broadcast = (f: (l: JobListener) => void) => job.listeners.forEach((l) => f(l));
    let executor: RemoteExecutor | undefined;
    // The sources the job's commits are computed from, as they were when it started.
    let sources: string | undefined;
    try {
      const config = submittedConfig(req.configJson);
      sources = await sourceFingerprint(req.modelPath, config.calibration ?? undefined);
      const previous = await this.store.jobState(id);
      const committed = await this.store.commits(id);
      if (committed.size > 0 && previous?.sources !== sources) {
        // The model or calibration changed since these chunks were computed.
        log.warn({ commits: committed.size }, 'sources changed since the checkpoint; recomputing every chunk');
        await this.store.dropCommits(id);
        await this.spool.removeJob(id);
        committed.clear();
      }
      await this.store.setJobState(id, { state: 'running', startedAt: new Date().toISOString(), sources });
      executor = new RemoteExecutor(id, this.scheduler, this.store, this.spool, committed, log, this.options.inFlight, job.controller.signal);
      log.info({ model: req.modelPath, output: req.outputPath, committed: committed.size }, committed.size > 0 ? 'job resumed' : 'job started');
      const result = await runQuantizeJob({
        modelPath: req.modelPath,
        outputPath: req.outputPath,
        config,
        executor,
        signal: job.controller.signal,
        onEvent: (e: JobEvent) => {
          const json = encodeJson(e);
          broadcast((l) => l.event(json));
        },
      });
      const resultJson = encodeJson(wireResult(result, executor));
      await this.store.setJobState(id, { state: 'done', result: resultJson, sources, output: await outputStamp(result.outputPath) });
      await this.store.dropCommits(id);
      await this.spool.removeJob(id);
      log.info({ output: result.outputPath, seconds: result.seconds, ...executor.checkpoints, ...this.scheduler.stats }, 'job done');
      broadcast((l) => l.done(resultJson));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      let deposed = isLeadershipLost(e);
      if (job.controller.signal.aborted || deposed) {
        // Stepping down or draining: the job stays `running` in etcd for the next leader.
        log.warn({ error: e.message }, 'job interrupted; left for the next leader');
      } else {
        try {
          await this.store.setJobState(id, { state: 'failed', error: `${e.name}: ${e.message}`, ...(sources ? { sources } : {}) });
          log.error({ error: e.message, name: e.name }, 'job failed');
        } catch (write) {
          // Deposed meanwhile: the new leader runs this job; its clients go there.
          if (isLeadershipLost(write)) deposed = true;
          log.warn({ error: e.message, write: String(write) }, deposed ? 'job failed here after this coordinator was deposed; left for the new leader' : 'job failed; its state could not be recorded');
        }
      }
      if (deposed && !this.stopping) this.options.onLeadershipLost?.(e);
      const interrupted = job.controller.signal.aborted || deposed;
      broadcast((l) => l.failed(e, interrupted));
    } finally {
      await executor?.close();
    }
  }

  /**
   * Stop every job without marking it failed (the next leader resumes it). Aborting drops the
   * jobs' chunks from the scheduler at once; a job still not unwound after `graceMs` is left.
   */
  async interruptAll(reason: string, graceMs = 30_000): Promise<void> {
    this.stopping = true;
    for (const j of this.live.values()) j.controller.abort(new Error(reason));
    const all = Promise.allSettled([...this.live.values()].map((j) => j.promise));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
    if ((await Promise.race([all, late])) === 'late') this.log.warn({ jobs: [...this.live.keys()] }, 'jobs still unwinding; stopping anyway');
    clearTimeout(timer);
  }
}

/** What the client gets back: the local run's result, with where each chunk ran. */
function wireResult(result: JobResult, executor: RemoteExecutor) {
  return { ...result, cluster: { checkpoints: executor.checkpoints } };
}
