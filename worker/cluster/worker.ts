/**
 * The worker service and its lifecycle: connecting (dial the coordinator: the leader etcd names,
 * else the configured coordinator address) → running (one Work stream: Hello, then assignments in,
 * results out, a heartbeat every `heartbeatMs`) → draining (SIGTERM: health NOT_SERVING, tell
 * the coordinator, return assignments not started, finish and send the ones running) → stopped.
 * A stream that breaks (coordinator restart or failover) is redialled with backoff; anything
 * held is dropped, since the coordinator re-queues it.
 */
import { arch, freemem, totalmem } from 'node:os';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import * as grpc from '@grpc/grpc-js';

import { cpuFeatures } from '../../common/native.js';
import { channelCredentials } from '../../common/cluster/tls.js';
import type { WorkerOptions } from '../../common/cluster/settings/index.js';
import { CHANNEL_OPTIONS, CoordinatorClient, PROTOCOL_VERSION } from '../../common/cluster/proto.js';
import { decodeCoordinatorMessage, toWire, type CoordinatorMessage, type OutgoingWorkerMessage } from '../../common/cluster/messages.js';
import { MalformedMessageError, ProtocolVersionError } from '../../common/cluster/errors.js';
import { encodeResultParts } from '../../common/cluster/arrow-codec.js';
import { resultChecksum } from '../../common/cluster/checksum.js';
import { parseFailpoints, type Failpoints } from '../../common/cluster/failpoints.js';
import { Health } from '../../common/cluster/health.js';
import type { Logger } from '../../common/cluster/log.js';
import { readLeader } from '../../common/cluster/etcd.js';
import { NoCoordinatorError } from '../../common/cluster/errors.js';
import { LocalExecutor } from '../executor/local.js';
import { isRetryable, WorkerTask } from './task.js';
import { LayerMissingError, WorkerLayers } from './layers.js';

export type { WorkerOptions };

export type WorkerState = 'connecting' | 'running' | 'draining' | 'stopped';

type WorkCall = grpc.ClientDuplexStream<Record<string, unknown>, unknown>;

export class Worker {
  state: WorkerState = 'connecting';
  readonly id: string;
  readonly health = new Health('arrowquant.v1.Worker');
  private readonly executor: LocalExecutor;
  private readonly concurrency: number;
  private readonly failpoints: Failpoints;
  private corrupted = 0;
  private call?: WorkCall;
  private readonly tasks = new Map<number, WorkerTask>();
  private readonly layers = new WorkerLayers();
  private queue: WorkerTask[] = [];
  private running = 0;
  chunksDone = 0;
  private stopRequested = false;
  private lastActivity = Date.now();
  private idleTimer?: NodeJS.Timeout;
  private stopped!: () => void;
  readonly done = new Promise<void>((r) => (this.stopped = r));

  constructor(private readonly options: WorkerOptions, private readonly log: Logger) {
    this.id = options.id;
    const threads = options.threads;
    // Streaming: one chunk at a time across all threads. Threaded: one chunk per thread.
    this.concurrency = options.mode === 'streaming' ? 1 : threads;
    this.executor = new LocalExecutor(options.mode === 'streaming' ? threads : 1);
    this.failpoints = parseFailpoints();
  }

  async start(): Promise<void> {
    if (this.options.healthListen) {
      const port = await this.health.listen(this.options.healthListen);
      this.log.info({ port }, 'health listening (plaintext, health only)');
    }
    const idle = this.options.exitWhenIdleSeconds;
    if (idle !== undefined) {
      this.idleTimer = setInterval(() => {
        const quiet = this.running === 0 && this.queue.length === 0 && Date.now() - this.lastActivity > idle * 1000;
        if (quiet) void this.stop(`idle for ${idle} s`);
      }, 500);
      this.idleTimer.unref();
    }
    void this.loop();
  }

  private async coordinatorAddress(): Promise<string> {
    if (this.options.etcd) {
      try {
        const leader = await readLeader(this.options.etcd);
        if (leader) return leader;
      } catch (err) {
        this.log.warn({ error: (err as Error).message }, 'cannot read the leader from etcd');
      }
    }
    if (this.options.coordinator) return this.options.coordinator;
    throw new NoCoordinatorError();
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.stopRequested) {
      let address: string | undefined;
      try {
        address = await this.coordinatorAddress();
        const welcomed = await this.session(address);
        if (welcomed) backoff = 250;
      } catch (err) {
        this.log.warn({ coordinator: address, error: (err as Error).message }, 'coordinator unreachable');
      }
      this.dropAll();
      if (this.stopRequested) break;
      this.state = 'connecting';
      this.health.set('NOT_SERVING');
      await sleep(backoff + Math.random() * backoff);
      backoff = Math.min(backoff * 2, 5000);
    }
    this.finishStop();
  }

  /** One stream's life. Resolves when it ends; true when it got as far as a Welcome. */
  private async session(address: string): Promise<boolean> {
    const client = new CoordinatorClient(address, channelCredentials(this.options.tls), CHANNEL_OPTIONS);
    const call = (client as unknown as { Work(): WorkCall }).Work();
    this.call = call;
    let welcomed = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve, reject) => {
      call.on('end', () => resolve());
      call.on('error', (err: Error) => (welcomed ? resolve() : reject(err)));
    });
    ended.catch(() => {});
    call.on('data', (raw: unknown) => {
      const msg = this.decode(raw, address);
      if (!msg) return;
      switch (msg.kind) {
        case 'welcome':
          if (msg.welcome.protocolVersion !== PROTOCOL_VERSION) {
            const err = new ProtocolVersionError(`coordinator ${msg.welcome.coordinatorId}`, msg.welcome.protocolVersion, PROTOCOL_VERSION);
            this.log.error({ coordinator: address, error: err.message }, 'coordinator refused');
            call.cancel();
            return;
          }
          welcomed = true;
          this.state = this.stopRequested ? 'draining' : 'running';
          if (!this.stopRequested) this.health.set('SERVING');
          this.log.info({ coordinator: address, coordinatorId: msg.welcome.coordinatorId, maxInFlight: msg.welcome.maxInFlight }, 'connected');
          heartbeat = setInterval(() => this.send({ kind: 'heartbeat', heartbeat: { inFlight: this.running } }), msg.welcome.heartbeatMs);
          return;
        case 'assign': {
          this.lastActivity = Date.now();
          const { taskId } = msg.assign;
          if (this.state === 'draining') {
            this.send({ kind: 'returned', returned: { taskId } });
            return;
          }
          let t: WorkerTask;
          try {
            t = new WorkerTask(msg.assign, this.layers);
          } catch (err) {
            if (!(err instanceof LayerMissingError)) throw err;
            this.log.info({ task: taskId, layer: err.key }, 'layer not held here; asking for it again');
            this.send({ kind: 'failure', failure: { taskId, message: err.message, retryable: true, missingLayer: err.key } });
            return;
          }
          this.tasks.set(taskId, t);
          this.queue.push(t);
          this.pump();
          return;
        }
        case 'data': {
          const t = this.tasks.get(msg.data.taskId);
          try {
            t?.addPart(msg.data.seq, msg.data.arrowIpc, msg.data.last);
          } catch (err) {
            t?.abort(err as Error);
          }
          return;
        }
        case 'layerData':
          try {
            this.layers.addPart(msg.layerData.key, msg.layerData.seq, msg.layerData.arrowIpc, msg.layerData.last);
          } catch (err) {
            this.log.warn({ layer: msg.layerData.key, error: (err as Error).message }, 'undecodable layer part');
          }
          return;
        case 'cancel': {
          const t = this.tasks.get(msg.cancel.taskId);
          if (t) {
            t.cancelled = true;
            this.tasks.delete(msg.cancel.taskId);
            if (this.queue.includes(t)) {
              this.queue = this.queue.filter((q) => q !== t);
              t.releaseLayer();
            }
          }
          return;
        }
      }
    });
    this.send({
      kind: 'hello',
      hello: {
        protocolVersion: PROTOCOL_VERSION,
        workerId: this.id,
        arch: arch(),
        simd: cpuFeatures().available,
        threads: this.options.threads,
        memoryBytes: Math.min(totalmem(), Math.max(freemem(), 1 << 30)),
        mode: this.options.mode,
        sharedRoot: this.options.sharedRoot ?? '',
        version: this.options.version,
      },
    });
    try {
      await ended;
    } finally {
      clearInterval(heartbeat);
      this.call = undefined;
      client.close();
      if (welcomed) this.log.warn({ coordinator: address }, 'stream to the coordinator ended');
    }
    return welcomed;
  }

  /**
   * A coordinator message checked against the wire contract. A malformed assignment fails its
   * task for good (another worker of this build would misread it too); any other malformed
   * message ends the stream, and the loop redials.
   */
  private decode(raw: unknown, address: string): CoordinatorMessage | undefined {
    try {
      return decodeCoordinatorMessage(raw);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      const taskId = assignedTaskId(raw);
      this.log.warn({ coordinator: address, task: taskId, error: err.message }, 'malformed message from the coordinator');
      if (taskId !== undefined) this.send({ kind: 'failure', failure: { taskId, message: err.message, retryable: false } });
      else this.call?.cancel();
      return undefined;
    }
  }

  /** Write with backpressure (a result's parts wait for `drain`). */
  private async sendAsync(msg: OutgoingWorkerMessage): Promise<void> {
    const call = this.call;
    if (!call) throw new Error('no stream');
    if (!call.write(toWire(msg))) await Promise.race([once(call, 'drain'), once(call, 'close')]);
  }

  private send(msg: OutgoingWorkerMessage): void {
    try {
      this.call?.write(toWire(msg));
    } catch {
      // the stream is gone; the loop redials
    }
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const t = this.queue.shift()!;
      this.running++;
      void this.execute(t).finally(() => {
        this.running--;
        this.lastActivity = Date.now();
        // A reassigned task id (a later attempt on this worker) is a different object.
        if (this.tasks.get(t.a.taskId) === t) this.tasks.delete(t.a.taskId);
        t.releaseLayer();
        this.pump();
        if (this.state === 'draining' && this.running === 0) this.call?.end();
      });
    }
  }

  private async execute(t: WorkerTask): Promise<void> {
    const { taskId } = t.a;
    const call = this.call;
    try {
      await t.ready;
      if (this.failpoints.delayChunkMs > 0) await sleep(this.failpoints.delayChunkMs);
      if (t.cancelled) return;
      const started = performance.now();
      const { bytes, quality, layerOutput } = await t.run(this.executor, this.options.sharedRoot ?? '');
      if (t.cancelled || this.call !== call) return;
      const sha256 = resultChecksum(bytes);
      if (this.corrupted < this.failpoints.corruptResults && bytes.codes.length > 0) {
        this.corrupted++;
        bytes.codes[0] = bytes.codes[0]! ^ 0xff;
        this.log.warn({ task: taskId }, 'failpoint corrupt-result: sending a damaged result');
      }
      const parts = encodeResultParts(bytes);
      for (const [i, p] of parts.entries()) {
        const last = i === parts.length - 1;
        await this.sendAsync({ kind: 'result', result: { taskId, seq: i, last, arrowIpc: p, ...(last ? { quality, sha256, computeSeconds: (performance.now() - started) / 1000, ...(layerOutput ? { layerOutput } : {}) } : {}) } });
      }
      this.chunksDone++;
    } catch (err) {
      if (this.call !== call) return;
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ task: taskId, tensor: t.a.tensorName, error: message }, 'chunk failed');
      this.send({ kind: 'failure', failure: { taskId, message, retryable: isRetryable(err), ...(err instanceof LayerMissingError ? { missingLayer: err.key } : {}) } });
    }
  }

  private dropAll(): void {
    for (const t of this.tasks.values()) {
      t.cancelled = true;
      t.abort(new Error('stream ended'));
    }
    for (const t of this.queue) t.releaseLayer();
    this.tasks.clear();
    this.queue = [];
    this.layers.clear();
  }

  /** SIGTERM: drain (see the file comment). */
  async stop(reason: string): Promise<void> {
    if (this.stopRequested) return this.done;
    this.stopRequested = true;
    this.state = 'draining';
    this.health.set('NOT_SERVING');
    this.log.info({ reason, running: this.running, queued: this.queue.length }, 'draining');
    if (this.call) {
      this.send({ kind: 'draining', draining: {} });
      for (const t of this.queue) {
        this.tasks.delete(t.a.taskId);
        t.releaseLayer();
        this.send({ kind: 'returned', returned: { taskId: t.a.taskId } });
      }
      this.queue = [];
      if (this.running === 0) this.call.end();
    }
    return this.done;
  }

  private finishStop(): void {
    clearInterval(this.idleTimer);
    this.state = 'stopped';
    this.health.close();
    this.log.info({ chunksDone: this.chunksDone }, 'stopped');
    this.stopped();
  }
}

/** The task id of a malformed assignment, when that much of it is readable. */
function assignedTaskId(raw: unknown): number | undefined {
  if (typeof raw !== 'object' || raw === null || !('assign' in raw)) return undefined;
  const a = raw.assign;
  const id = typeof a === 'object' && a !== null && 'taskId' in a ? a.taskId : undefined;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined;
}
