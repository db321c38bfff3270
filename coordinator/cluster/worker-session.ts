/**
 * One connected worker, as the coordinator sees it: its capabilities, the attempts it holds, its
 * membership lease, and an ordered, backpressured send queue onto its stream (a chunk's
 * assignment and data parts go out back to back; `write()` false waits for `drain`).
 */
import { once } from 'node:events';

import type * as grpc from '@grpc/grpc-js';

import { toWire, type CoordinatorSend, type Hello } from '../../common/cluster/messages.js';
import { ResultAssembler } from '../../common/cluster/arrow-codec.js';
import { underRoot } from '../../common/cluster/shared-root.js';
import type { WorkerLease } from './etcd.js';

/**
 * Messages in are checked by the server (common/cluster/messages.ts) before the scheduler sees
 * them. Out: a message object for proto-loader, or a Buffer the addon already encoded (proto.ts
 * passes it through).
 */
export type WorkStream = grpc.ServerDuplexStream<unknown, Record<string, unknown> | Buffer>;

export class WorkerSession {
  /** Task ids this worker holds (assigned, not yet answered). */
  readonly attempts = new Map<number, { startedAt: number }>();
  /** Result parts being received, by task id. */
  readonly assemblers = new Map<number, ResultAssembler>();
  /**
   * Calibrated layers whose Hessian this worker has been sent on this stream, each with the
   * generation of the copy sent (a layer is resent when the worker reports it missing).
   */
  readonly layersSent = new Map<string, number>();
  /** The layer generation each assignment relied on, so a report about an older copy is ignored. */
  readonly layerGenOf = new Map<number, number>();
  private layerGenerations = 0;
  draining = false;
  closed = false;
  lease?: WorkerLease;
  chunksDone = 0;
  bytesSent = 0;
  bytesReceived = 0;
  private sendChain: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly hello: Hello,
    readonly stream: WorkStream,
    /** Attempts this worker may hold at once (its kernels' concurrency plus one prefetched). */
    readonly capacity: number,
    readonly peer: string,
  ) {}

  nextLayerGeneration(): number {
    return ++this.layerGenerations;
  }

  /** The worker reports it lacks `key` for `taskId`: forget the copy that assignment relied on. */
  layerMissing(key: string, taskId: number): void {
    const sent = this.layersSent.get(key);
    const relied = this.layerGenOf.get(taskId);
    if (sent !== undefined && (relied === undefined || relied === sent)) this.layersSent.delete(key);
  }

  get free(): number {
    return this.draining || this.closed ? 0 : this.capacity - this.attempts.size;
  }

  /** Whether this worker can read `path` itself (shared storage under its root). */
  canRead(path: string): boolean {
    return underRoot(path, this.hello.sharedRoot) !== undefined;
  }

  /** Queue messages to go out in order; resolves when they have been handed to the stream. */
  send(messages: CoordinatorSend[] | (() => CoordinatorSend[] | Promise<CoordinatorSend[]>)): Promise<void> {
    const run = async () => {
      if (this.closed) return;
      const list = typeof messages === 'function' ? await messages() : messages;
      for (const m of list) {
        if (this.closed) return;
        if (m.kind === 'encoded') this.bytesSent += m.payloadBytes;
        if (m.kind === 'data') this.bytesSent += m.data.arrowIpc.length;
        if (m.kind === 'layerData') this.bytesSent += m.layerData.arrowIpc.length;
        // An encoded message is already protobuf (proto.ts's serializer passes it through).
        if (!this.stream.write(m.kind === 'encoded' ? m.bytes : toWire(m))) {
          await Promise.race([once(this.stream, 'drain'), once(this.stream, 'close'), once(this.stream, 'error')]).catch(() => {});
        }
      }
    };
    const next = this.sendChain.then(run, run);
    this.sendChain = next.catch(() => {});
    return next;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.stream.end();
    } catch {
      // already gone
    }
  }
}
