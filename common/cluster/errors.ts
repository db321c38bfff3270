/** Errors of the cluster: each names the worker, task or peer it is about. */
import { ArrowQuantError, QuantizationError } from '../errors.js';

/** A job could not be run on the cluster (no coordinator, a lost stream that did not come back). */
export class ClusterError extends QuantizationError {
  override name = 'ClusterError';
}

/** A result whose bytes do not match the checksum the worker sent. */
export class ChecksumMismatchError extends ClusterError {
  override name = 'ChecksumMismatchError';
  constructor(readonly worker: string, readonly task: string, options?: { cause?: unknown }) {
    super(`worker ${worker}: result of ${task} does not match its checksum`, options);
  }
}

/** A chunk failed on every attempt (or with an input error no retry can fix). */
export class ChunkAttemptsError extends ClusterError {
  override name = 'ChunkAttemptsError';
  constructor(readonly task: string, readonly attempts: number, readonly lastError: string, options?: { cause?: unknown }) {
    super(`${task} failed after ${attempts} attempt(s): ${lastError}`, options);
  }
}

/** The other side speaks a protocol version we do not. */
export class ProtocolVersionError extends ArrowQuantError {
  override name = 'ProtocolVersionError';
  constructor(readonly peer: string, readonly theirs: number, readonly ours: number) {
    super(`${peer} speaks protocol version ${theirs}; this build speaks ${ours}`);
  }
}

/** A checkpoint in etcd or the spool that cannot be used (not fatal: the chunk is recomputed). */
export class CheckpointError extends ArrowQuantError {
  override name = 'CheckpointError';
  constructor(readonly key: string, message: string, options?: { cause?: unknown }) {
    super(`checkpoint ${key}: ${message}`, options);
  }
}

/** The coordinator is stepping down: nothing new starts; clients go to the next leader. */
export class CoordinatorStoppingError extends ClusterError {
  override name = 'CoordinatorStoppingError';
  constructor() {
    super('the coordinator is stepping down');
  }
}

/** A job write refused by etcd: this coordinator is no longer the leader (another one is). */
export class LeadershipLostError extends ClusterError {
  override name = 'LeadershipLostError';
  constructor(readonly write: string) {
    super(`${write}: refused, this coordinator is no longer the leader`);
  }
}

export function isLeadershipLost(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof LeadershipLostError) return true;
  return false;
}

/**
 * A message that does not match the wire contract (proto/arrowquant/v1/cluster.proto and the
 * schemas in common/cluster/messages.ts): a peer of another build, or a bug. `raw` is the message
 * as it was decoded.
 */
export class MalformedMessageError extends ClusterError {
  override name = 'MalformedMessageError';
  constructor(readonly messageType: string, readonly problem: string, readonly raw: unknown, options?: { cause?: unknown }) {
    super(`malformed ${messageType}: ${problem}`, options);
  }
}

/** A worker has nowhere to dial: etcd names no leader (yet) and no coordinator address is configured. */
export class NoCoordinatorError extends ClusterError {
  override name = 'NoCoordinatorError';
  constructor() {
    super('no coordinator: etcd names no leader yet and no coordinator address is configured');
  }
}
