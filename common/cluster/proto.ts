/**
 * The cluster's wire contract (proto/arrowquant/v1/cluster.proto), loaded at run time with
 * proto-loader, and the settings both ends of a stream share. The messages' TypeScript types and
 * the codec that checks them are in ./messages.ts (and a chunk's assignment in
 * common/chunk/wire.ts).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * Sent in Hello and Welcome; a coordinator refuses a worker of another version. Bumped on any
 * change an older peer would misread: 2 dropped Assignment.format_json (the scheme alone names
 * the format) and added Layer.importance (which a version-1 worker would silently ignore); 3 added
 * Layer.measure_only/measure_rows (a version-2 worker would run GPTQ with a measuring-only Hessian)
 * and ResultPart.layer_output.
 */
export const PROTOCOL_VERSION = 3;

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

/** The loaded definition (tests compare it with the schemas in ./messages.ts). */
export const definition = protoLoader.loadSync('arrowquant/v1/cluster.proto', {
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

const service = pkg.arrowquant.v1.Coordinator.service;
const work = service['Work']!;
/**
 * The service as the coordinator serves it: `Work`'s outgoing serializer passes a Buffer through
 * as it is — a message the addon encoded (crates/wire: a chunk's data parts, built from native
 * memory) — and serializes everything else with proto-loader as before.
 */
export const CoordinatorService: grpc.ServiceDefinition = {
  ...service,
  Work: { ...work, responseSerialize: (m: unknown) => (Buffer.isBuffer(m) ? m : work.responseSerialize(m)) },
};
export const CoordinatorClient = pkg.arrowquant.v1.Coordinator;

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
