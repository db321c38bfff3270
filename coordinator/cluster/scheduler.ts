/**
 * Chunk scheduling across the connected workers.
 *
 * - Pending chunks go out in model order (the writer waits for the head tensor first), each to
 *   the worker with the most free slots; a worker's slots come from its Hello (see `capacity`).
 * - Bytes by value, or by reference to a worker that can read the model file itself.
 * - A result is accepted once: its SHA-256 must match, and the first valid copy of a task wins
 *   (later copies are dropped; other attempts are cancelled). Keys are tasks, and a task is one
 *   (tensor, chunk, scheme), so a retry can never be written twice.
 * - A worker that leaves (stream closed, lease expired in etcd, drained) hands its chunks back;
 *   they go to the front of the queue.
 * - Work stealing: an idle worker with nothing pending takes a copy of the oldest chunk that has
 *   run longer than 3× the median chunk time (and at least `stealAfterMs`), MapReduce's backup
 *   tasks. Whichever copy finishes first is committed.
 */
import type { ResultBytes } from '../../common/cluster/arrow-codec.js';
import { resultChecksum } from '../../common/cluster/checksum.js';
import { ChunkAttemptsError, ClusterError } from '../../common/cluster/errors.js';
import type { Logger } from '../../common/cluster/log.js';
import { encodedMessages, type EncodedCoordinatorMessage, type QualityMsg, type ResultPart, type WorkerMessage } from '../../common/cluster/messages.js';
import { PART_BYTES } from '../../common/cluster/proto.js';
import { DTYPE_BYTES } from '../../common/format/dtypes.js';
import { SourceFile, type LayerOutputFigures, type QualityFigures } from '../../common/native.js';
import type { ChunkJob } from '../../common/chunk/job.js';
import { assignmentOf, layerMessageOf } from '../../common/chunk/wire.js';
import { ResultAssembler } from '../../common/cluster/arrow-codec.js';
import type { WorkerSession } from './worker-session.js';

const payloadBytes = (parts: readonly EncodedCoordinatorMessage[]) => parts.reduce((n, p) => n + p.payloadBytes, 0);

/** Resends of a missing layer a chunk gets before they count as its failures (a loop guard). */
const MISSING_LAYER_RETRIES = 8;

export interface RemoteResult {
  bytes: ResultBytes;
  /** SHA-256 of the bytes (checked). */
  sha256: Buffer;
  quality: QualityFigures;
  layerOutput?: LayerOutputFigures;
  worker: string;
}

interface Task {
  id: number;
  /** `<tensor>/<chunk>/<scheme>`: the commit key. */
  key: string;
  tag: string;
  job: ChunkJob;
  attempts: Set<string>;
  failures: number;
  /** Retries because a worker lacked the chunk's layer (not failures of the chunk). */
  missingLayer: number;
  lastError: string;
  done: boolean;
  queuedAt: number;
  resolve: (r: RemoteResult) => void;
  reject: (e: unknown) => void;
}

export interface SchedulerOptions {
  maxFailures: number;
  stealAfterMs: number;
}

export interface SchedulerStats {
  dispatched: number;
  byReference: number;
  stolen: number;
  requeued: number;
  checksumFailures: number;
  bytesSent: number;
  bytesReceived: number;
}

function qualityFrom(q: QualityMsg): QualityFigures {
  return { elements: q.elements, cosine: q.cosine, relMse: q.relMse, sqnrDb: q.sqnrDb, maxAbsErr: q.maxAbsErr, sumXx: q.sumXx, sumYy: q.sumYy, sumXy: q.sumXy, sumEe: q.sumEe };
}

export class Scheduler {
  readonly workers = new Map<string, WorkerSession>();
  private pending: Task[] = [];
  private readonly tasks = new Map<number, Task>();
  private nextId = 1;
  private readonly recent: number[] = [];
  readonly stats: SchedulerStats = { dispatched: 0, byReference: 0, stolen: 0, requeued: 0, checksumFailures: 0, bytesSent: 0, bytesReceived: 0 };
  private waitingLogged = 0;

  constructor(private readonly log: Logger, private readonly options: SchedulerOptions) {}

  /** Queue a chunk; resolves with the first valid result. */
  run(tag: string, key: string, job: ChunkJob): Promise<RemoteResult> {
    return new Promise<RemoteResult>((resolve, reject) => {
      const task: Task = { id: this.nextId++, key, tag, job, attempts: new Set(), failures: 0, missingLayer: 0, lastError: '', done: false, queuedAt: Date.now(), resolve, reject };
      this.tasks.set(task.id, task);
      this.pending.push(task);
      this.pump();
    });
  }

  /** Fail every task of a job (it was aborted); running attempts are cancelled. */
  dropJob(tag: string, reason: unknown): void {
    for (const t of [...this.tasks.values()]) {
      if (t.tag !== tag) continue;
      this.finish(t);
      t.reject(reason);
    }
    this.pending = this.pending.filter((t) => t.tag !== tag);
  }

  addWorker(s: WorkerSession): void {
    this.workers.set(s.id, s);
    this.log.info({ worker: s.id, peer: s.peer, arch: s.hello.arch, simd: s.hello.simd, threads: s.hello.threads, mode: s.hello.mode, capacity: s.capacity, sharedRoot: s.hello.sharedRoot || undefined }, 'worker joined');
    this.pump();
  }

  /** The worker's session is over: hand back what it held. A replaced session is left alone. */
  removeWorker(s: WorkerSession, reason: string): void {
    const { id } = s;
    if (this.workers.get(id) !== s) return;
    this.workers.delete(id);
    s.close();
    s.lease?.revoke().catch(() => {});
    const handedBack = [];
    for (const taskId of s.attempts.keys()) {
      const t = this.tasks.get(taskId);
      if (!t) continue;
      t.attempts.delete(id);
      if (!t.done && t.attempts.size === 0) {
        this.requeue(t);
        handedBack.push(t.key);
      }
    }
    s.attempts.clear();
    this.log.warn({ worker: id, reason, requeued: handedBack.length, chunksDone: s.chunksDone }, 'worker left');
    this.pump();
  }

  setDraining(s: WorkerSession): void {
    s.draining = true;
    this.log.info({ worker: s.id, holding: s.attempts.size }, 'worker draining');
  }

  onMessage(s: WorkerSession, msg: WorkerMessage): void {
    // Any message shows the worker is alive (a busy worker's results can delay its heartbeats).
    s.lease?.touch();
    switch (msg.kind) {
      case 'heartbeat':
        return;
      case 'draining':
        this.setDraining(s);
        return;
      case 'returned': {
        s.layerGenOf.delete(msg.returned.taskId);
        if (!s.attempts.has(msg.returned.taskId)) return; // not (or no longer) this worker's
        const t = this.tasks.get(msg.returned.taskId);
        s.attempts.delete(msg.returned.taskId);
        if (t) {
          t.attempts.delete(s.id);
          if (!t.done && t.attempts.size === 0) this.requeue(t);
        }
        this.pump();
        return;
      }
      case 'failure':
        // The worker no longer holds the layer's Hessian: send it again with the retry. (Also
        // for a chunk cancelled meanwhile: the worker's copy is gone either way.)
        if (msg.failure.missingLayer) s.layerMissing(msg.failure.missingLayer, msg.failure.taskId);
        s.layerGenOf.delete(msg.failure.taskId);
        if (!s.attempts.has(msg.failure.taskId)) return;
        this.onFailure(s, msg.failure.taskId, msg.failure.message, msg.failure.retryable, msg.failure.missingLayer !== '');
        return;
      case 'result':
        this.onResultPart(s, msg.result);
        return;
      case 'hello':
        this.log.warn({ worker: s.id }, 'second hello on a stream; ignored');
        return;
    }
  }

  private requeue(t: Task): void {
    this.stats.requeued++;
    // Back in id order (model order), ahead of later chunks.
    const at = this.pending.findIndex((p) => p.id > t.id);
    if (at < 0) this.pending.push(t);
    else this.pending.splice(at, 0, t);
  }

  private onResultPart(s: WorkerSession, part: ResultPart): void {
    if (part.last) s.layerGenOf.delete(part.taskId);
    const t = this.tasks.get(part.taskId);
    if (!t || !s.attempts.has(part.taskId)) {
      s.assemblers.delete(part.taskId);
      return; // cancelled or already committed elsewhere
    }
    let asm = s.assemblers.get(part.taskId);
    if (!asm) s.assemblers.set(part.taskId, (asm = new ResultAssembler()));
    try {
      asm.add(part.arrowIpc);
    } catch (err) {
      s.assemblers.delete(part.taskId);
      this.onFailure(s, part.taskId, `undecodable result part: ${(err as Error).message}`, true);
      return;
    }
    if (!part.last) return;
    s.assemblers.delete(part.taskId);
    const bytes = asm.finish();
    s.bytesReceived += asm.bytes;
    this.stats.bytesReceived += asm.bytes;
    const started = s.attempts.get(part.taskId)!.startedAt;
    s.attempts.delete(part.taskId);
    t.attempts.delete(s.id);
    const sum = resultChecksum(bytes);
    if (!part.sha256 || !part.quality || !sum.equals(part.sha256)) {
      this.stats.checksumFailures++;
      t.failures++;
      t.lastError = `result from worker ${s.id} does not match its checksum`;
      this.log.warn({ worker: s.id, task: t.key, failures: t.failures }, 'checksum mismatch; recomputing the chunk');
      this.retryOrFail(t);
      this.pump();
      return;
    }
    this.recent.push(Date.now() - started);
    if (this.recent.length > 64) this.recent.shift();
    s.chunksDone++;
    if (t.done) return; // a stolen copy finished second
    this.finish(t);
    const measured = part.layerOutput ? { layerOutput: { ...part.layerOutput } } : {};
    t.resolve({ bytes, sha256: sum, quality: qualityFrom(part.quality), ...measured, worker: s.id });
    this.pump();
  }

  /** `missingLayer`: the worker lacked the chunk's layer; a resend fixes that, so it counts as a failure only past MISSING_LAYER_RETRIES. */
  private onFailure(s: WorkerSession, taskId: number, message: string, retryable: boolean, missingLayer = false): void {
    const t = this.tasks.get(taskId);
    s.attempts.delete(taskId);
    s.assemblers.delete(taskId);
    if (!t || t.done) return this.pump();
    t.attempts.delete(s.id);
    t.lastError = message;
    if (!retryable) {
      this.finish(t);
      t.reject(new ChunkAttemptsError(t.key, t.failures + 1, message));
      return this.pump();
    }
    if (missingLayer && ++t.missingLayer <= MISSING_LAYER_RETRIES) {
      this.log.debug({ worker: s.id, task: t.key }, 'worker lacks the layer; resending it');
      this.requeue(t);
      return this.pump();
    }
    t.failures++;
    this.log.warn({ worker: s.id, task: t.key, failures: t.failures, error: message }, 'chunk failed on a worker; retrying');
    this.retryOrFail(t);
    this.pump();
  }

  private retryOrFail(t: Task): void {
    if (t.done || t.attempts.size > 0) return;
    if (t.failures >= this.options.maxFailures) {
      this.finish(t);
      t.reject(new ChunkAttemptsError(t.key, t.failures, t.lastError));
      return;
    }
    this.requeue(t);
  }

  /** Mark done, forget it, cancel copies still running elsewhere. */
  private finish(t: Task): void {
    t.done = true;
    this.tasks.delete(t.id);
    for (const w of t.attempts) {
      const s = this.workers.get(w);
      if (!s) continue;
      s.attempts.delete(t.id);
      s.assemblers.delete(t.id);
      void s.send([{ kind: 'cancel', cancel: { taskId: t.id } }]);
    }
    t.attempts.clear();
  }

  private median(): number {
    if (this.recent.length === 0) return 0;
    const s = [...this.recent].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  }

  /** The oldest running chunk worth a backup copy on `s`. */
  private stealFor(s: WorkerSession): Task | undefined {
    const threshold = Math.max(this.options.stealAfterMs, 3 * this.median());
    const now = Date.now();
    let best: { t: Task; started: number } | undefined;
    for (const w of this.workers.values()) {
      if (w === s) continue;
      for (const [id, a] of w.attempts) {
        const t = this.tasks.get(id);
        if (!t || t.done || t.attempts.size !== 1 || now - a.startedAt < threshold) continue;
        if (!best || a.startedAt < best.started) best = { t, started: a.startedAt };
      }
    }
    return best?.t;
  }

  /** Hand out work while any worker has a free slot. */
  pump(): void {
    for (;;) {
      const ready = [...this.workers.values()].filter((w) => w.free > 0).sort((a, b) => b.free - a.free);
      if (ready.length === 0) break;
      let progressed = false;
      for (const w of ready) {
        let t = this.pending.shift();
        while (t?.done) t = this.pending.shift();
        let stolen = false;
        if (!t) {
          t = this.stealFor(w);
          stolen = t !== undefined;
        }
        if (!t) continue;
        if (stolen) {
          this.stats.stolen++;
          this.log.info({ task: t.key, from: [...t.attempts], to: w.id }, 'stealing a slow chunk');
        }
        this.dispatch(w, t);
        progressed = true;
      }
      if (!progressed) break;
    }
    if (this.pending.length > 0 && this.workers.size === 0 && Date.now() - this.waitingLogged > 10_000) {
      this.waitingLogged = Date.now();
      this.log.warn({ pending: this.pending.length }, 'chunks are waiting: no worker connected');
    }
  }

  private dispatch(w: WorkerSession, t: Task): void {
    const { job } = t;
    w.attempts.set(t.id, { startedAt: Date.now() });
    t.attempts.add(w.id);
    this.stats.dispatched++;
    const spec = job.layerSpec;
    const layerKey = spec ? `${t.tag}/${spec.key}` : '';
    const layer = spec && layerMessageOf(spec, layerKey, spec.hessian !== undefined && w.canRead(spec.hessian.path));
    // A calibrated layer's Hessian goes to a worker once, ahead of its first chunk of the layer.
    // Recorded as sent only once its parts are built, right before they are handed to the stream.
    // The Hessian's parts are encoded by the addon from the read buffer (no JS copy).
    const layerParts = async (): Promise<EncodedCoordinatorMessage[]> => {
      if (!spec?.hessian || layer?.hessianRef) return [];
      const sent = w.layersSent.get(layerKey);
      if (sent !== undefined) {
        w.layerGenOf.set(t.id, sent);
        return [];
      }
      const file = SourceFile.open(spec.hessian.path);
      const chunk = await file.read(spec.hessian.offset, spec.hessian.length, false);
      let parts: EncodedCoordinatorMessage[];
      try {
        parts = encodedMessages(await chunk.layerMessages(layerKey, spec.cols * 4, PART_BYTES));
      } finally {
        chunk.release();
      }
      this.stats.bytesSent += payloadBytes(parts);
      const generation = w.nextLayerGeneration();
      w.layersSent.set(layerKey, generation);
      w.layerGenOf.set(t.id, generation);
      return parts;
    };
    const failed = (err: unknown) => {
      if (t.done) return [];
      this.finish(t);
      t.reject(new ClusterError(`${t.key}: cannot send the chunk (${(err as Error).message})`, { cause: err }));
      return [];
    };
    if (job.source && w.canRead(job.source.path)) {
      this.stats.byReference++;
      void w.send(async () => {
        if (t.done || !w.attempts.has(t.id)) return [];
        try {
          const { path, offset, length } = job.source!;
          return [...(await layerParts()), { kind: 'assign', assign: assignmentOf(t.id, job, { byReference: { path, offset, length } }, layer) }];
        } catch (err) {
          return failed(err);
        }
      });
      return;
    }
    // Built when the send queue reaches it, so queued chunks hold no encoded copies; the addon
    // writes the DataPart messages straight from the chunk's native buffer (a retry encodes
    // them again from it: nothing is kept on the JS heap).
    void w.send(async () => {
      if (t.done || !w.attempts.has(t.id)) return [];
      let parts: EncodedCoordinatorMessage[];
      try {
        parts = encodedMessages(await job.data.dataMessages(t.id, job.cols * DTYPE_BYTES[job.dtype]!, PART_BYTES));
      } catch (err) {
        this.finish(t);
        t.reject(new ClusterError(`${t.key}: cannot encode the source bytes (${(err as Error).message})`, { cause: err }));
        return [];
      }
      // Last: nothing below can fail, so a layer recorded as sent really goes out.
      let layerMessages: EncodedCoordinatorMessage[];
      try {
        layerMessages = await layerParts();
      } catch (err) {
        return failed(err);
      }
      this.stats.bytesSent += payloadBytes(parts);
      return [...layerMessages, { kind: 'assign', assign: assignmentOf(t.id, job, { byValue: { bytes: job.data.length, parts: parts.length } }, layer) }, ...parts];
    });
  }
}
