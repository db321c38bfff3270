/**
 * The cluster's messages (proto/arrowquant/v1/cluster.proto) as zod schemas, their TypeScript
 * types, and the codec: `decode*` checks a message proto-loader decoded (camelCase fields, 64-bit
 * integers as numbers, bytes as Buffers, `kind` naming the oneof member that is set, unset
 * sub-messages null) before anything uses it, and `toWire` turns a typed message into what the
 * serializer takes. A chunk's assignment is the chunk contract's (common/chunk/wire.ts).
 * tests/cluster/wire.test.ts fails when these schemas and the .proto file disagree.
 */
import { z } from 'zod';

import { AssignmentSchema, wireBytes, wireCount, wireDouble } from '../chunk/wire.js';
import { MalformedMessageError } from './errors.js';

export const QualitySchema = z.object({
  elements: wireDouble(),
  cosine: wireDouble(),
  relMse: wireDouble(),
  sqnrDb: wireDouble(),
  maxAbsErr: wireDouble(),
  sumXx: wireDouble(),
  sumYy: wireDouble(),
  sumXy: wireDouble(),
  sumEe: wireDouble(),
});

export const LayerOutputSchema = z.object({
  rows: wireDouble(),
  cosine: wireDouble(),
  sumWw: wireDouble(),
  sumWe: wireDouble(),
  sumEe: wireDouble(),
});

export const HelloSchema = z.object({
  protocolVersion: wireCount(),
  workerId: z.string().min(1),
  arch: z.string(),
  simd: z.array(z.string()),
  threads: wireCount(),
  memoryBytes: wireCount(),
  mode: z.enum(['streaming', 'threaded']),
  sharedRoot: z.string(),
  version: z.string(),
});

export const ResultPartSchema = z.object({
  taskId: wireCount(),
  seq: wireCount(),
  last: z.boolean(),
  arrowIpc: wireBytes(),
  // Set on the last part only.
  quality: QualitySchema.nullish(),
  sha256: wireBytes().optional(),
  computeSeconds: wireDouble().optional(),
  layerOutput: LayerOutputSchema.nullish(),
});

export const ChunkFailureSchema = z.object({
  taskId: wireCount(),
  message: z.string(),
  retryable: z.boolean(),
  missingLayer: z.string().default(''),
});

const TaskRef = z.object({ taskId: wireCount() });

export const WorkerMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('hello'), hello: HelloSchema }),
  z.object({ kind: z.literal('result'), result: ResultPartSchema }),
  z.object({ kind: z.literal('failure'), failure: ChunkFailureSchema }),
  z.object({ kind: z.literal('heartbeat'), heartbeat: z.object({ inFlight: wireCount() }) }),
  z.object({ kind: z.literal('draining'), draining: z.object({}) }),
  z.object({ kind: z.literal('returned'), returned: TaskRef }),
]);

export const WelcomeSchema = z.object({
  protocolVersion: wireCount(),
  coordinatorId: z.string(),
  maxInFlight: wireCount(),
  heartbeatMs: z.number().int().positive(),
  leaseTtlMs: wireCount(),
});

/** A part of an Arrow IPC stream: a chunk's source bytes (DataPart) or a layer's Hessian (LayerPart). */
const Part = { seq: wireCount(), last: z.boolean(), arrowIpc: wireBytes() };
export const DataPartSchema = z.object({ taskId: wireCount(), ...Part });
export const LayerPartSchema = z.object({ key: z.string().min(1), ...Part });

export const CoordinatorMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('welcome'), welcome: WelcomeSchema }),
  z.object({ kind: z.literal('assign'), assign: AssignmentSchema }),
  z.object({ kind: z.literal('data'), data: DataPartSchema }),
  z.object({ kind: z.literal('cancel'), cancel: TaskRef }),
  z.object({ kind: z.literal('layerData'), layerData: LayerPartSchema }),
]);

export const SubmitRequestSchema = z.object({
  jobId: z.string(),
  modelPath: z.string(),
  outputPath: z.string(),
  configJson: z.string(),
  reportPath: z.string().default(''),
});

export const JobUpdateSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('eventJson'), eventJson: z.string() }),
  z.object({ kind: z.literal('resultJson'), resultJson: z.string() }),
]);

export type QualityMsg = z.output<typeof QualitySchema>;
export type Hello = z.output<typeof HelloSchema>;
export type ResultPart = z.output<typeof ResultPartSchema>;
export type Welcome = z.output<typeof WelcomeSchema>;
export type LayerPart = z.output<typeof LayerPartSchema>;
export type DataPart = z.output<typeof DataPartSchema>;
/** As received (defaults filled in). */
export type WorkerMessage = z.output<typeof WorkerMessageSchema>;
export type CoordinatorMessage = z.output<typeof CoordinatorMessageSchema>;
export type SubmitRequest = z.output<typeof SubmitRequestSchema>;
export type JobUpdate = z.output<typeof JobUpdateSchema>;
/** As sent (fields with a proto default may be left out). */
export type OutgoingWorkerMessage = z.input<typeof WorkerMessageSchema>;
export type OutgoingCoordinatorMessage = z.input<typeof CoordinatorMessageSchema>;
export type OutgoingJobUpdate = z.input<typeof JobUpdateSchema>;

/**
 * A `CoordinatorMessage` the addon already encoded (a chunk's `DataPart`s or a Hessian's
 * `LayerPart`s, written from native memory by crates/wire): its protobuf bytes, handed to the
 * stream as they are.
 */
export interface EncodedCoordinatorMessage {
  kind: 'encoded';
  bytes: Buffer;
  /** The Arrow IPC payload's bytes (what transfer statistics count). */
  payloadBytes: number;
}
/** What the coordinator's send queue takes. */
export type CoordinatorSend = OutgoingCoordinatorMessage | EncodedCoordinatorMessage;

/** The addon's encoded messages as the send queue takes them. */
export function encodedMessages(list: readonly { bytes: Buffer; start: number; ipcBytes: number }[]): EncodedCoordinatorMessage[] {
  return list.map((m) => ({ kind: 'encoded', bytes: m.bytes.subarray(m.start), payloadBytes: m.ipcBytes }));
}

/** The first problem zod found, as one line: `assign.scheme: "q4" is not a canonical format name`. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

function decoder<S extends z.ZodType>(message: string, schema: S): (raw: unknown) => z.output<S> {
  return (raw) => {
    const r = schema.safeParse(raw);
    if (!r.success) throw new MalformedMessageError(message, firstIssue(r.error), raw, { cause: r.error });
    return r.data;
  };
}

export const decodeWorkerMessage = decoder('WorkerMessage', WorkerMessageSchema);
export const decodeCoordinatorMessage = decoder('CoordinatorMessage', CoordinatorMessageSchema);
export const decodeSubmitRequest = decoder('SubmitRequest', SubmitRequestSchema);
export const decodeJobUpdate = decoder('JobUpdate', JobUpdateSchema);

/** What the serializer takes: `{hello: {...}}` for `{kind: 'hello', hello: {...}}`. */
export function toWire(m: { kind: string }): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).filter(([field]) => field === m.kind));
}
