/**
 * The coordinator service and its lifecycle: standby (campaigning in etcd) → running (leader:
 * serving workers and clients) → draining (SIGTERM: health NOT_SERVING, no new jobs, jobs
 * interrupted and left `running` in etcd with their commits, workers released, leadership
 * resigned) → stopped. Losing leadership (etcd says so) stops the process's work at once; the
 * new leader resumes from etcd and the spool.
 */
import * as grpc from '@grpc/grpc-js';

import { serverCredentials } from '../../common/cluster/tls.js';
import { CHANNEL_OPTIONS, CoordinatorService, PROTOCOL_VERSION } from '../../common/cluster/proto.js';
import { decodeSubmitRequest, decodeWorkerMessage, toWire, type Hello, type OutgoingJobUpdate, type SubmitRequest, type WorkerMessage } from '../../common/cluster/messages.js';
import { Health } from '../../common/cluster/health.js';
import type { Logger } from '../../common/cluster/log.js';
import { ClusterError, CoordinatorStoppingError, isLeadershipLost, ProtocolVersionError } from '../../common/cluster/errors.js';
import { acceptSubmission, InvalidSubmissionError } from './submission.js';
import { connectEtcd } from '../../common/cluster/etcd.js';
import type { CoordinatorOptions } from '../../common/cluster/settings/index.js';
import { ClusterStore } from './etcd.js';
import { Jobs } from './jobs.js';
import { Scheduler } from './scheduler.js';
import { Spool } from './spool.js';
import { WorkerSession, type WorkStream } from './worker-session.js';
import type { Campaign, Watcher } from 'etcd3';


export type { CoordinatorOptions };

type SubmitCall = grpc.ServerWritableStream<unknown, Record<string, unknown>>;

export type CoordinatorState = 'starting' | 'standby' | 'running' | 'draining' | 'stopped';

/** Chunks a worker may hold: its concurrency plus one prefetched, bounded by its memory. */
function capacityOf(h: Hello): number {
  const concurrency = h.mode === 'streaming' ? 1 : Math.max(1, h.threads);
  const byMemory = h.memoryBytes > 0 ? Math.max(1, Math.floor(h.memoryBytes / (256 << 20))) : concurrency + 1;
  return Math.max(1, Math.min(concurrency + 1, byMemory));
}

export class Coordinator {
  state: CoordinatorState = 'starting';
  readonly id: string;
  readonly health = new Health('arrowquant.v1.Coordinator');
  private readonly store: ClusterStore;
  private readonly scheduler: Scheduler;
  private readonly jobs: Jobs;
  private server?: grpc.Server;
  private campaign?: Campaign;
  private watcher?: Watcher;
  private port = 0;
  private readonly leaseTtl: number;
  private readonly heartbeatMs: number;
  private stopped!: () => void;
  /** Resolves when the coordinator has stopped (drained, or lost leadership). */
  readonly done = new Promise<void>((r) => (this.stopped = r));

  constructor(private readonly options: CoordinatorOptions, private readonly log: Logger) {
    this.id = options.id;
    this.store = new ClusterStore(connectEtcd(options.etcd), options.etcd.namespace);
    this.scheduler = new Scheduler(log, { maxFailures: options.maxFailures, stealAfterMs: options.stealAfterMs });
    this.jobs = new Jobs(this.store, new Spool(options.spool), this.scheduler, log, {
      inFlight: options.inFlight,
      onLeadershipLost: (err) => {
        this.log.error({ error: err.message }, 'lost leadership; stopping');
        void this.stop('lost leadership');
      },
    });
    this.leaseTtl = options.leaseTtlSeconds;
    this.heartbeatMs = options.heartbeatMs;
  }

  get boundPort(): number {
    return this.port;
  }

  /** Campaign, then serve. Resolves once this coordinator leads and listens. */
  async start(): Promise<void> {
    if (this.options.healthListen) {
      const p = await this.health.listen(this.options.healthListen);
      this.log.info({ port: p }, 'health listening (plaintext, health only)');
    }
    this.state = 'standby';
    const { advertise } = this.options;
    this.log.info({ etcd: this.options.etcd.endpoints, advertise }, 'campaigning for leadership');
    try {
      this.campaign = await this.store.campaign(advertise, (err) => {
        if (this.state !== 'running') return; // before election the rejection below reports it
        this.log.error({ error: err.message }, 'lost leadership; stopping');
        void this.stop('lost leadership');
      });
    } catch (cause) {
      const err = new ClusterError(`etcd ${this.options.etcd.endpoints.join(',')}: cannot campaign for leadership: ${(cause as Error).message}`, { cause });
      this.log.error({ error: err.message }, 'campaign failed; stopping');
      await this.stop('campaign failed');
      throw err;
    }
    if (this.state !== 'standby') return;
    this.log.info({}, 'elected leader');
    await this.store.fenceWith(this.campaign);
    // stop() may run during any await below: it then owns the shutdown, and start() backs out.
    if (this.state !== 'standby') return;
    await this.serve();
    if (this.state !== 'standby') return this.server?.forceShutdown();
    this.watcher = await this.store.watchWorkers((id, revision) => {
      const s = this.scheduler.workers.get(id);
      if (s?.lease && revision > s.lease.revision) this.scheduler.removeWorker(s, 'membership lease expired');
    });
    if (this.state !== 'standby') {
      await this.watcher.cancel().catch(() => {});
      return;
    }
    this.state = 'running';
    this.health.set('SERVING');
    const resumed = await this.jobs.resumeUnfinished();
    if (resumed.length) this.log.info({ jobs: resumed }, 'resumed unfinished jobs');
  }

  private async serve(): Promise<void> {
    const server = new grpc.Server(CHANNEL_OPTIONS);
    server.addService(CoordinatorService, {
      Work: (stream: WorkStream) => this.onWork(stream),
      Submit: (call: SubmitCall) => void this.onSubmit(call),
    });
    this.health.impl.addToServer(server);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.options.listen, serverCredentials(this.options.tls), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    this.log.info({ listen: this.options.listen, port: this.port, tls: !this.options.tls.insecure }, 'serving');
  }

  /** Undefined when the peer's certificate CN is in `allowed` (or TLS is off); otherwise why not. */
  private checkRole(call: { getAuthContext(): { sslPeerCertificate?: { subject?: { CN?: string | string[] } } } | null }, allowed: string[], setting: string, what: string): string | undefined {
    if (this.options.tls.insecure) return undefined;
    const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
    if (cn !== undefined && allowed.includes(String(cn))) return undefined;
    return `certificate CN=${cn ?? '(none)'} may not ${what} (allowed: ${allowed.join(', ')}; the coordinator's ${setting} setting)`;
  }

  private onWork(stream: WorkStream): void {
    const peer = stream.getPeer();
    const refused = this.checkRole(stream, this.options.workerNames, 'worker_cn', 'serve as a worker');
    if (refused) {
      this.log.warn({ peer, error: refused }, 'worker refused');
      stream.emit('error', { code: grpc.status.PERMISSION_DENIED, details: refused });
      return;
    }
    let session: WorkerSession | undefined;
    let hello = false;
    let ended = false;
    const timer = setTimeout(() => {
      if (!hello) {
        this.log.warn({ peer }, 'no hello within 10 s; closing');
        stream.end();
      }
    }, 10_000);
    stream.on('data', (raw: unknown) => {
      const msg = this.decodeFromWorker(stream, raw, peer);
      if (!msg) return;
      if (session) return this.scheduler.onMessage(session, msg);
      if (hello || msg.kind !== 'hello') return; // nothing counts before the welcome
      hello = true;
      clearTimeout(timer);
      this.welcome(stream, msg.hello, peer, () => ended).then(
        (s) => (session = s),
        (err: Error) => {
          this.log.warn({ peer, worker: msg.hello.workerId, error: err.message }, 'cannot register the worker');
          stream.emit('error', { code: grpc.status.UNAVAILABLE, details: `cannot register the worker: ${err.message}` });
        },
      );
    });
    const gone = (reason: string) => () => {
      ended = true;
      clearTimeout(timer);
      if (session) this.scheduler.removeWorker(session, reason);
    };
    stream.on('end', gone('stream ended'));
    stream.on('error', (err: Error) => gone(`stream error: ${err.message}`)());
    stream.on('cancelled', gone('stream cancelled'));
  }

  /** Workers may join while this coordinator leads or waits to (re-read after every await). */
  private accepting(): boolean {
    return this.state === 'running' || this.state === 'standby';
  }

  private async welcome(stream: WorkStream, hello: Hello, peer: string, ended: () => boolean): Promise<WorkerSession | undefined> {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      const err = new ProtocolVersionError(`worker ${hello.workerId}`, hello.protocolVersion, PROTOCOL_VERSION);
      this.log.warn({ peer, error: err.message }, 'worker refused');
      stream.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: err.message });
      return undefined;
    }
    if (!this.accepting()) {
      stream.emit('error', { code: grpc.status.UNAVAILABLE, details: `coordinator is ${this.state}` });
      return undefined;
    }
    const previous = this.scheduler.workers.get(hello.workerId);
    if (previous) this.scheduler.removeWorker(previous, 'reconnected');
    const session = new WorkerSession(hello.workerId, hello, stream, capacityOf(hello), peer);
    session.lease = await this.store.registerWorker(hello.workerId, { ...hello, peer, coordinator: this.id, since: new Date().toISOString() }, this.leaseTtl, () => {
      this.scheduler.removeWorker(session, 'membership lease lost');
    });
    // The stream may close (or we may begin stopping) during either await: then back out.
    const abandoned = async () => {
      if (!ended() && this.accepting()) return false;
      await session.lease?.revoke();
      session.close();
      return true;
    };
    if (await abandoned()) return undefined;
    await session.send([{ kind: 'welcome', welcome: { protocolVersion: PROTOCOL_VERSION, coordinatorId: this.id, maxInFlight: session.capacity, heartbeatMs: this.heartbeatMs, leaseTtlMs: this.leaseTtl * 1000 } }]);
    if (await abandoned()) return undefined;
    this.scheduler.addWorker(session);
    return session;
  }

  /**
   * A worker message checked against the wire contract; a malformed one ends the stream (the
   * worker is of another build, or broken): its chunks go back to the queue.
   */
  private decodeFromWorker(stream: WorkStream, raw: unknown, peer: string): WorkerMessage | undefined {
    try {
      return decodeWorkerMessage(raw);
    } catch (err) {
      this.log.warn({ peer, error: (err as Error).message }, 'malformed message from a worker; closing its stream');
      stream.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
      return undefined;
    }
  }

  private async onSubmit(call: SubmitCall): Promise<void> {
    if (this.state !== 'running') {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: `coordinator is ${this.state}` });
      return;
    }
    const refused = this.checkRole(call, this.options.clientNames, 'client_cn', 'submit jobs');
    if (refused) {
      this.log.warn({ peer: call.getPeer(), error: refused }, 'submit refused');
      call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: refused });
      return;
    }
    let req: SubmitRequest;
    try {
      ({ req } = acceptSubmission(call.request));
    } catch (err) {
      if (!(err instanceof InvalidSubmissionError)) throw err;
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    this.log.info({ job: req.jobId, model: req.modelPath, output: req.outputPath, peer: call.getPeer() }, 'job submitted');
    const write = (u: OutgoingJobUpdate) => {
      if (!call.writable || call.destroyed) return;
      call.write(toWire(u));
    };
    try {
      const detach = await this.jobs.submit(req, {
        event: (json) => write({ kind: 'eventJson', eventJson: json }),
        done: (json) => {
          write({ kind: 'resultJson', resultJson: json });
          call.end();
        },
        // An interrupted job is not over: UNAVAILABLE sends the client to the next leader.
        failed: (err, interrupted) =>
          call.emit('error', interrupted ? { code: grpc.status.UNAVAILABLE, details: `coordinator stepping down: ${err.message}` } : { code: grpc.status.ABORTED, details: `${err.name}: ${err.message}` }),
      });
      call.on('cancelled', detach);
    } catch (err) {
      const deposed = isLeadershipLost(err);
      if (deposed) void this.stop('lost leadership');
      const code = deposed || err instanceof CoordinatorStoppingError ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL;
      call.emit('error', { code, details: (err as Error).message });
    }
  }

  /** Graceful stop (SIGTERM): see the file comment. */
  async stop(reason: string): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') return this.done;
    const wasLeader = this.state === 'running';
    this.state = 'draining';
    this.health.set('NOT_SERVING');
    this.log.info({ reason, jobs: this.jobs.running }, 'draining');
    const interrupted = this.jobs.interruptAll(reason);
    for (const s of [...this.scheduler.workers.values()]) this.scheduler.removeWorker(s, 'coordinator stopping');
    await interrupted;
    if (wasLeader) await this.campaign?.resign().catch(() => {});
    // In-flight calls get a few seconds to end on their own, then are cut.
    await Promise.race([new Promise<void>((r) => (this.server ? this.server.tryShutdown(() => r()) : r())), new Promise((r) => setTimeout(r, 5000).unref())]);
    this.server?.forceShutdown();
    this.health.close();
    await this.watcher?.cancel().catch(() => {});
    this.store.close();
    this.state = 'stopped';
    this.log.info({}, 'stopped');
    this.stopped();
  }
}
