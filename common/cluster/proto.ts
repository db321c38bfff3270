/**
 * The cluster's wire contract (proto/arrowquant/v1/cluster.proto), loaded at run time with
 * proto-loader, and the TypeScript shapes of its messages as proto-loader decodes them
 * (camelCase fields, uint64 as numbers, bytes as Buffers, `kind`/`source` naming the oneof).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTOCOL_VERSION = 1;

/** Bulk bytes are cut into parts of this size (the 1-4 MiB band). */
export const PART_BYTES = 2 << 20;
/** Receive limit: a part plus headroom (a single tensor row can exceed a part; see arrow-codec). */
export const MAX_MESSAGE_BYTES = 64 << 20;

function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'proto', 'arrowquant', 'v1', 'cluster.proto'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find proto/arrowquant/v1/cluster.proto above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return join(dir, 'proto');
}

const definition = protoLoader.loadSync('arrowquant/v1/cluster.proto', {
  includeDirs: [protoDir()],
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  arrowquant: { v1: { Coordinator: grpc.ServiceClientConstructor } };
};

export const CoordinatorService = pkg.arrowquant.v1.Coordinator.service;
export const CoordinatorClient = pkg.arrowquant.v1.Coordinator;

export interface QualityMsg {
  elements: number;
  cosine: number;
  relMse: number;
  sqnrDb: number;
  maxAbsErr: number;
  sumXx: number;
  sumYy: number;
  sumXy: number;
  sumEe: number;
}

export interface Hello {
  protocolVersion: number;
  workerId: string;
  arch: string;
  simd: string[];
  threads: number;
  memoryBytes: number;
  mode: 'streaming' | 'threaded';
  sharedRoot: string;
  version: string;
}

export interface ResultPart {
  taskId: number;
  seq: number;
  last: boolean;
  arrowIpc: Buffer;
  quality?: QualityMsg | null;
  sha256?: Buffer;
  computeSeconds?: number;
}

export type WorkerMessage =
  | { kind: 'hello'; hello: Hello }
  | { kind: 'result'; result: ResultPart }
  | { kind: 'failure'; failure: { taskId: number; message: string; retryable: boolean; missingLayer: string } }
  | { kind: 'heartbeat'; heartbeat: { inFlight: number } }
  | { kind: 'draining'; draining: Record<string, never> }
  | { kind: 'returned'; returned: { taskId: number } };

export interface Assignment {
  taskId: number;
  tensorIndex: number;
  chunkIndex: number;
  tensorName: string;
  dtype: 'F32' | 'F16' | 'BF16';
  rows: number;
  cols: number;
  scheme: string;
  formatJson: string;
  rowStart: number;
  source?: 'byValue' | 'byReference';
  byValue?: { bytes: number; parts: number } | null;
  byReference?: { path: string; offset: number; length: number } | null;
  layer?: LayerMsg | null;
}

export interface LayerMsg {
  key: string;
  cols: number;
  hasHessian: boolean;
  hessianRef?: { path: string; offset: number; length: number } | null;
  hessianBytes: number;
  channelScales: Buffer;
  damp: number;
  actOrder: boolean;
}

export interface LayerPart {
  key: string;
  seq: number;
  last: boolean;
  arrowIpc: Buffer;
}

export interface DataPart {
  taskId: number;
  seq: number;
  last: boolean;
  arrowIpc: Buffer;
}

export interface Welcome {
  protocolVersion: number;
  coordinatorId: string;
  maxInFlight: number;
  heartbeatMs: number;
  leaseTtlMs: number;
}

export type CoordinatorMessage =
  | { kind: 'welcome'; welcome: Welcome }
  | { kind: 'assign'; assign: Assignment }
  | { kind: 'data'; data: DataPart }
  | { kind: 'cancel'; cancel: { taskId: number } }
  | { kind: 'layerData'; layerData: LayerPart };

export interface SubmitRequest {
  jobId: string;
  modelPath: string;
  outputPath: string;
  configJson: string;
  reportPath: string;
}

export type JobUpdate = { kind: 'eventJson'; eventJson: string } | { kind: 'resultJson'; resultJson: string };

/** Channel options both sides use: large enough receive limit, keepalive to notice dead peers. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.max_pings_without_data': 0,
  // The worker (a client) receives the bulk bytes: a 16 MiB HTTP/2 window instead of 64 KiB
  // keeps several parts in flight. grpc-js applies this on the client side only (DESIGN.md).
  'grpc-node.flow_control_window': 16 << 20,
};
