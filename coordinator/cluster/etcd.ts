/**
 * The coordinator's view of etcd, the source of truth for membership, leadership and which
 * chunks are committed (never for the weights: those live in the spool).
 *
 * Keys (under a namespace, default `/arrowquant/`; the connection, the namespace and the election's
 * name are common/cluster/etcd.ts's, shared with the worker's leader lookup):
 * - `leader` election (etcd3's election recipe): the value is the leader's advertised address.
 * - `workers/<id>`: a worker's capabilities, on a lease the coordinator keeps alive only while
 *   the worker's heartbeats arrive; when they stop, etcd expires the key and the watch re-queues
 *   the worker's chunks.
 * - `jobs/<job>/spec`, `jobs/<job>/state`: what was submitted, and running | done | failed.
 * - `jobs/<job>/commits/<tensor>/<chunk>/<scheme>`: a committed chunk (spool file and checksum).
 *
 * Fencing: once elected, every job write is a transaction conditioned on this coordinator's
 * election key still standing on its own lease. A leader that was deposed (its lease expired
 * during a long GC pause or a partition) and has not heard of it yet cannot overwrite what the
 * new leader writes: its write fails with `LeadershipLostError` and it steps down.
 */
import type { Etcd3, Lease, Namespace, Watcher, Campaign, Election, PutBuilder, DeleteBuilder } from 'etcd3';

import { DEFAULT_ETCD_PREFIX, LEADER_ELECTION } from '../../common/cluster/etcd.js';
import { CheckpointError, LeadershipLostError } from '../../common/cluster/errors.js';
import { decodeSubmitRequest, type SubmitRequest } from '../../common/cluster/messages.js';
import { CommitRecordSchema, JobStateSchema, type CommitRecord, type JobState } from './records.js';

export type { CommitRecord, JobState };

export class ClusterStore {
  readonly ns: Namespace;
  private readonly election: Election;
  private fence?: { key: string; lease: string };

  constructor(readonly client: Etcd3, namespace = DEFAULT_ETCD_PREFIX) {
    this.ns = client.namespace(namespace);
    this.election = this.ns.election(LEADER_ELECTION, 5);
  }

  /** Campaign for leadership; resolves once elected. */
  async campaign(address: string, onLost: (err: Error) => void): Promise<Campaign> {
    const campaign = this.election.campaign(address);
    await new Promise<void>((resolve, reject) => {
      campaign.once('elected', () => resolve());
      campaign.on('error', (err: Error) => {
        reject(err);
        onLost(err);
      });
    });
    return campaign;
  }

  /** From now on, job writes land only while `campaign`'s election key stands (see the file comment). */
  async fenceWith(campaign: Campaign): Promise<void> {
    const key = await campaign.getCampaignKey();
    this.fence = { key, lease: key.slice(key.lastIndexOf('/') + 1) };
  }

  private async write(op: PutBuilder | DeleteBuilder, what: string): Promise<void> {
    if (!this.fence) {
      await op.exec();
      return;
    }
    const r = await this.client.if(this.fence.key, 'Lease', '==', this.fence.lease).then(op).commit();
    if (!r.succeeded) throw new LeadershipLostError(what);
  }

  async leader(): Promise<string | undefined> {
    return this.election.leader();
  }

  // ---- membership ----

  /** Register a worker on a lease that lives only as long as `touch` is called. */
  async registerWorker(id: string, info: object, ttlSeconds: number, onExpired: () => void): Promise<WorkerLease> {
    const lease = this.ns.lease(ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', () => onExpired());
    const put = await lease.put(`workers/${id}`).value(JSON.stringify(info));
    return new WorkerLease(lease, ttlSeconds, BigInt(put.header.revision));
  }

  /**
   * Deletes of worker records, with the revision of each delete: a delete older than a
   * session's registration belongs to an earlier session of the same worker id.
   */
  watchWorkers(onDelete: (id: string, revision: bigint) => void): Promise<Watcher> {
    return this.ns
      .watch()
      .prefix('workers/')
      .create()
      .then((w) => w.on('delete', (kv) => onDelete(kv.key.toString().slice('workers/'.length), BigInt(kv.mod_revision))));
  }

  async workers(): Promise<Record<string, string>> {
    const all = await this.ns.getAll().prefix('workers/').strings();
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k.slice('workers/'.length), v]));
  }

  // ---- jobs and checkpoints ----

  async putJobSpec(job: string, spec: SubmitRequest): Promise<void> {
    await this.write(this.ns.put(`jobs/${job}/spec`).value(JSON.stringify(spec)), `job ${job}: spec`);
  }

  /** Throws `MalformedMessageError` for a spec that is not a SubmitRequest. */
  async jobSpec(job: string): Promise<SubmitRequest | undefined> {
    const v = await this.ns.get(`jobs/${job}/spec`).string();
    return v === null ? undefined : decodeSubmitRequest(JSON.parse(v));
  }

  async setJobState(job: string, state: JobState): Promise<void> {
    await this.write(this.ns.put(`jobs/${job}/state`).value(JSON.stringify(state)), `job ${job}: state ${state.state}`);
  }

  /** Throws `CheckpointError` for a record that is not a job state. */
  async jobState(job: string): Promise<JobState | undefined> {
    const v = await this.ns.get(`jobs/${job}/state`).string();
    if (v === null) return undefined;
    const r = JobStateSchema.safeParse(parseJson(v));
    if (!r.success) throw new CheckpointError(`jobs/${job}/state`, `not a job state (${r.error.issues[0]?.message ?? 'invalid'})`, { cause: r.error });
    return r.data;
  }

  /** Jobs whose last recorded state is `running` (a coordinator died or stepped down mid-job). */
  async unfinishedJobs(): Promise<string[]> {
    const all = await this.ns.getAll().prefix('jobs/').keys();
    const jobs = all.filter((k) => k.endsWith('/state')).map((k) => k.slice('jobs/'.length, -'/state'.length));
    const out = [];
    // A state record that cannot be read names no job to resume.
    for (const j of jobs) if ((await this.jobState(j).catch(() => undefined))?.state === 'running') out.push(j);
    return out;
  }

  async commit(job: string, key: string, record: CommitRecord): Promise<void> {
    await this.write(this.ns.put(`jobs/${job}/commits/${key}`).value(JSON.stringify(record)), `job ${job}: commit ${key}`);
  }

  /** The job's commit records; one that does not parse is left out (its chunk is recomputed and committed again). */
  async commits(job: string): Promise<Map<string, CommitRecord>> {
    const prefix = `jobs/${job}/commits/`;
    const all = await this.ns.getAll().prefix(prefix).strings();
    const out = new Map<string, CommitRecord>();
    for (const [k, v] of Object.entries(all)) {
      const r = CommitRecordSchema.safeParse(parseJson(v));
      if (r.success) out.set(k.slice(prefix.length), r.data);
    }
    return out;
  }

  async dropCommits(job: string): Promise<void> {
    await this.write(this.ns.delete().prefix(`jobs/${job}/commits/`), `job ${job}: dropping commits`);
  }

  close(): void {
    this.client.close();
  }
}

/** JSON text as a value to check (undefined when it is not JSON at all). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A worker's membership lease, refreshed by its heartbeats (at most every third of the TTL). */
export class WorkerLease {
  private lastKeepalive = Date.now();
  constructor(
    private readonly lease: Lease,
    private readonly ttlSeconds: number,
    /** The etcd revision at which this session's record was written. */
    readonly revision: bigint,
  ) {}

  touch(): void {
    const now = Date.now();
    if (now - this.lastKeepalive < (this.ttlSeconds * 1000) / 3) return;
    this.lastKeepalive = now;
    this.lease.keepaliveOnce().catch(() => {});
  }

  async revoke(): Promise<void> {
    await this.lease.revoke().catch(() => {});
  }
}
