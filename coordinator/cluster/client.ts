/**
 * Submitting a job to a coordinator and following it: `arrowquant quantize ... --coordinator`.
 * The job id is derived from (model, output, configuration), so when the stream breaks (the
 * coordinator restarted or failed over) the client submits again and re-attaches to the same
 * job, which the new leader resumes from its checkpoints.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import * as grpc from '@grpc/grpc-js';

import type { ResolvedConfig } from '../../common/config/index.js';
import { channelCredentials, type TlsMaterial } from '../../common/cluster/tls.js';
import { CHANNEL_OPTIONS, CoordinatorClient } from '../../common/cluster/proto.js';
import { decodeJobUpdate, type SubmitRequest } from '../../common/cluster/messages.js';
import { ClusterError, MalformedMessageError } from '../../common/cluster/errors.js';
import { QuantizationError } from '../../common/errors.js';
import { fileConfig, type JobEvent } from '../run/job.js';
import { decodeJobEvent, decodeJobResult, type RemoteJobResult } from './updates.js';

export interface SubmitOptions {
  coordinator: string;
  tls: TlsMaterial;
  modelPath: string;
  outputPath: string;
  config: ResolvedConfig;
  onEvent?: (e: JobEvent) => void;
  /** How long to keep re-attaching once the job has started (default 120 s). */
  reconnectSeconds?: number;
  /** How long to keep trying when the coordinator was never reached (default 15 s). */
  connectSeconds?: number;
  signal?: AbortSignal;
  onReconnect?: (reason: string, attempt: number) => void;
}

export type { RemoteJobResult };

export function jobIdFor(modelPath: string, outputPath: string, config: ResolvedConfig): string {
  return createHash('sha256').update(JSON.stringify([modelPath, outputPath, fileConfig(config)])).digest('hex').slice(0, 24);
}

/** Follow one Submit stream to its end. */
function follow(client: grpc.Client, req: SubmitRequest, onEvent: (e: JobEvent) => void, onAttached: () => void, signal?: AbortSignal): Promise<RemoteJobResult> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { Submit(r: SubmitRequest): grpc.ClientReadableStream<unknown> }).Submit(req);
    let result: RemoteJobResult | undefined;
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    call.on('data', (raw: unknown) => {
      onAttached();
      let event: JobEvent | undefined;
      try {
        const u = decodeJobUpdate(raw);
        if (u.kind === 'resultJson') result = decodeJobResult(u.resultJson);
        else event = decodeJobEvent(u.eventJson);
      } catch (err) {
        call.cancel();
        reject(err);
        return;
      }
      if (event) onEvent(event);
    });
    call.on('error', (err: grpc.ServiceError) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    call.on('end', () => {
      signal?.removeEventListener('abort', onAbort);
      if (result) resolve(result);
      else reject(Object.assign(new Error('the coordinator ended the job stream without a result'), { code: grpc.status.UNAVAILABLE }));
    });
  });
}

export async function submitJob(o: SubmitOptions): Promise<RemoteJobResult> {
  const req: SubmitRequest = {
    jobId: jobIdFor(o.modelPath, o.outputPath, o.config),
    modelPath: o.modelPath,
    outputPath: o.outputPath,
    configJson: JSON.stringify(o.config),
    reportPath: '',
  };
  const client = new CoordinatorClient(o.coordinator, channelCredentials(o.tls), CHANNEL_OPTIONS);
  const started = Date.now();
  let attachedAt: number | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await follow(client, req, o.onEvent ?? (() => {}), () => (attachedAt = Date.now()), o.signal);
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (o.signal?.aborted) throw new QuantizationError('interrupted', { cause: o.signal.reason });
        // A coordinator of another build: asking again gets the same answer.
        if (err instanceof MalformedMessageError) throw err;
        // The job itself failed: the coordinator's message, as a local run would print it.
        if (e.code === grpc.status.ABORTED || e.code === grpc.status.INVALID_ARGUMENT) throw new QuantizationError(e.details || e.message, { cause: err });
        // Retrying cannot change what the coordinator thinks of this certificate.
        if (e.code === grpc.status.PERMISSION_DENIED) throw new ClusterError(`coordinator ${o.coordinator}: ${e.details || e.message}`, { cause: err });
        // A job that started gets time for a coordinator restart or failover; a coordinator never
        // reached (a wrong address, a rejected certificate) fails fast.
        const deadline = attachedAt !== undefined ? attachedAt + (o.reconnectSeconds ?? 120) * 1000 : started + (o.connectSeconds ?? 15) * 1000;
        if (Date.now() > deadline) throw new ClusterError(`coordinator ${o.coordinator}: ${e.details || e.message}`, { cause: err });
        o.onReconnect?.(e.details || e.message, attempt);
        await sleep(Math.min(250 * 2 ** Math.min(attempt, 4), 3000));
      }
    }
  } finally {
    client.close();
  }
}
