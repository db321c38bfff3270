/**
 * The wire contract: the zod schemas (common/cluster/messages.ts, common/chunk/wire.ts) name
 * exactly the fields proto/arrowquant/v1/cluster.proto declares, messages survive the real
 * serializer and the decoder, and a decoder refuses what the contract does not allow, naming the
 * field. No etcd, no sockets.
 */
import { describe, expect, test } from 'vitest';
import type { z } from 'zod';

import { MalformedMessageError } from '../../common/cluster/errors.js';
import {
  ChunkFailureSchema,
  CoordinatorMessageSchema,
  DataPartSchema,
  decodeCoordinatorMessage,
  decodeJobUpdate,
  decodeSubmitRequest,
  decodeWorkerMessage,
  HelloSchema,
  JobUpdateSchema,
  LayerPartSchema,
  QualitySchema,
  ResultPartSchema,
  SubmitRequestSchema,
  toWire,
  WelcomeSchema,
  WorkerMessageSchema,
  type OutgoingCoordinatorMessage,
  type OutgoingWorkerMessage,
} from '../../common/cluster/messages.js';
import { CoordinatorService, definition, PROTOCOL_VERSION } from '../../common/cluster/proto.js';
import type { ChunkJob, LayerSpec } from '../../common/chunk/job.js';
import { AssignmentSchema, ByReferenceSchema, ByValueSchema, assignmentOf, chunkJobOf, layerMessageOf, LayerSchema, channelScalesOf } from '../../common/chunk/wire.js';
import { SourceChunk } from '../../common/native.js';

interface Field {
  name: string;
}
const protoFields = (message: string): string[] => {
  const d = definition[`arrowquant.v1.${message}`] as unknown as { type: { field: Field[] } } | undefined;
  if (!d) throw new Error(`the proto has no message ${message}`);
  return d.type.field.map((f) => f.name).sort();
};
const keys = (s: { shape: Record<string, unknown> }, except: string[] = []) => Object.keys(s.shape).filter((k) => !except.includes(k)).sort();
type Union = { options: readonly { shape: Record<string, unknown> }[] };
const unionKinds = (s: Union, tag: string) => s.options.map((o) => (o.shape[tag] as z.ZodLiteral<string>).value).sort();

describe('schemas and proto agree', () => {
  test.each([
    ['Hello', HelloSchema],
    ['ResultPart', ResultPartSchema],
    ['Quality', QualitySchema],
    ['ChunkFailure', ChunkFailureSchema],
    ['Welcome', WelcomeSchema],
    ['Layer', LayerSchema],
    ['LayerPart', LayerPartSchema],
    ['DataPart', DataPartSchema],
    ['ByValue', ByValueSchema],
    ['ByReference', ByReferenceSchema],
    ['SubmitRequest', SubmitRequestSchema],
  ] as const)('%s', (message, schema) => {
    expect(keys(schema)).toEqual(protoFields(message));
  });

  test('Assignment: every field of both deliveries, `source` being the oneof proto-loader names', () => {
    const fields = new Set(AssignmentSchema.options.flatMap((o) => keys(o, ['source'])));
    expect([...fields].sort()).toEqual(protoFields('Assignment'));
    expect(protoFields('Assignment')).not.toContain('formatJson');
  });

  test('the oneof envelopes: one kind per member', () => {
    expect(unionKinds(WorkerMessageSchema, 'kind')).toEqual(protoFields('WorkerMessage'));
    expect(unionKinds(CoordinatorMessageSchema, 'kind')).toEqual(protoFields('CoordinatorMessage'));
    expect(unionKinds(JobUpdateSchema, 'kind')).toEqual(protoFields('JobUpdate'));
    const inner = (s: Union, kind: string) => keys(s.options.find((o) => (o.shape['kind'] as z.ZodLiteral<string>).value === kind)!.shape[kind] as { shape: Record<string, unknown> });
    expect(inner(WorkerMessageSchema, 'heartbeat')).toEqual(protoFields('Heartbeat'));
    expect(inner(WorkerMessageSchema, 'returned')).toEqual(protoFields('ReturnAssignment'));
    expect(inner(WorkerMessageSchema, 'draining')).toEqual(protoFields('Draining'));
    expect(inner(CoordinatorMessageSchema, 'cancel')).toEqual(protoFields('Cancel'));
  });
});

const job = (scheme = 'rtn_int4_g128_asym'): ChunkJob => ({
  tensorIndex: 7,
  chunkIndex: 2,
  tensorName: 'blocks.0.attn.qkv.weight',
  dtype: 'BF16',
  rows: 64,
  cols: 256,
  scheme,
  rowStart: 128,
  data: SourceChunk.fromBytes(Buffer.alloc(64 * 256 * 2)),
});

const spec: LayerSpec = { key: '7:h', cols: 256, hessian: { path: '/calib.safetensors', offset: 8, length: 256 * 256 * 4 }, channelScales: new Float32Array(256).fill(1.5), gptq: { damp: 0.01, actOrder: true } };

/** Through the serializer grpc uses, as the worker receives it. */
const work = CoordinatorService['Work']!;
const toWorker = (m: OutgoingCoordinatorMessage) => work.responseDeserialize(work.responseSerialize(toWire(m)));
const toCoordinator = (m: OutgoingWorkerMessage) => work.requestDeserialize(work.requestSerialize(toWire(m)));

describe('the chunk contract over the wire', () => {
  test('a job becomes an assignment and comes back as the same job, by value and by reference', () => {
    const j = job();
    const layer = layerMessageOf(spec, 'job/7:h', false);
    for (const delivery of [{ byValue: { bytes: j.data.length, parts: 1 } }, { byReference: { path: '/models/x.safetensors', offset: 4096, length: j.data.length } }]) {
      const msg = decodeCoordinatorMessage(toWorker({ kind: 'assign', assign: assignmentOf(42, j, delivery, layer) }));
      expect(msg.kind).toBe('assign');
      if (msg.kind !== 'assign') return;
      expect(msg.assign).toMatchObject({ taskId: 42, ...delivery, source: Object.keys(delivery)[0] });
      const back = chunkJobOf(msg.assign, j.data);
      const { data: _a, ...header } = back;
      const { data: _b, ...want } = j;
      expect(header).toEqual(want);
      expect(msg.assign.layer).toMatchObject({ key: 'job/7:h', cols: 256, hasHessian: true, hessianBytes: 256 * 256 * 4, damp: 0.01, actOrder: true });
      expect(msg.assign.layer?.hessianRef).toBeNull();
      expect(channelScalesOf(msg.assign.layer!)).toEqual(spec.channelScales);
    }
    const byRef = decodeCoordinatorMessage(toWorker({ kind: 'assign', assign: assignmentOf(1, j, { byValue: { bytes: 1, parts: 1 } }, layerMessageOf(spec, 'k', true)) }));
    expect(byRef.kind === 'assign' && byRef.assign.layer?.hessianRef).toEqual(spec.hessian);
  });

  test('the worker refuses an assignment the contract does not allow, naming the field', () => {
    const wire = (patch: Record<string, unknown>) => ({ kind: 'assign', assign: { ...toWorker({ kind: 'assign', assign: assignmentOf(3, job(), { byValue: { bytes: 1, parts: 1 } }) })['assign'], ...patch } });
    const refused = (patch: Record<string, unknown>, field: RegExp) => {
      let err: unknown;
      try {
        decodeCoordinatorMessage(wire(patch));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MalformedMessageError);
      expect((err as Error).message).toMatch(field);
    };
    refused({ scheme: 'rtn' }, /assign\.scheme: "rtn" is not a canonical format name/);
    refused({ scheme: 'q4' }, /assign\.scheme/);
    refused({ dtype: 'I8' }, /assign\.dtype/);
    refused({ cols: 0 }, /assign\.cols/);
    refused({ taskId: -1 }, /assign\.taskId/);
    refused({ layer: { ...layerMessageOf(spec, 'k', false), channelScales: Buffer.alloc(12) } }, /assign\.layer\.channelScales/);
    refused({ byValue: undefined, source: undefined }, /assign/);
    expect(() => decodeCoordinatorMessage({ kind: 'bogus' })).toThrow(MalformedMessageError);
  });

  test('every other message survives the serializer and the decoder', () => {
    const quality = { elements: 16384, cosine: 0.999, relMse: 0.002, sqnrDb: Infinity, maxAbsErr: 0.01, sumXx: 1, sumYy: 1, sumXy: 1, sumEe: 0 };
    const fromWorker: OutgoingWorkerMessage[] = [
      { kind: 'hello', hello: { protocolVersion: PROTOCOL_VERSION, workerId: 'w', arch: 'x64', simd: ['avx2'], threads: 2, memoryBytes: 1 << 30, mode: 'streaming', sharedRoot: '', version: '0.1.0' } },
      { kind: 'result', result: { taskId: 5, seq: 0, last: false, arrowIpc: Buffer.from([1, 2, 3]) } },
      { kind: 'result', result: { taskId: 5, seq: 1, last: true, arrowIpc: Buffer.from([4]), quality, sha256: Buffer.alloc(32, 7), computeSeconds: 0.5 } },
      { kind: 'failure', failure: { taskId: 5, message: 'nan', retryable: false } },
      { kind: 'heartbeat', heartbeat: { inFlight: 1 } },
      { kind: 'draining', draining: {} },
      { kind: 'returned', returned: { taskId: 9 } },
    ];
    for (const m of fromWorker) expect(decodeWorkerMessage(toCoordinator(m))).toMatchObject(m);
    const failure = decodeWorkerMessage(toCoordinator(fromWorker[3]!));
    expect(failure.kind === 'failure' && failure.failure.missingLayer).toBe('');
    const fromCoordinator: OutgoingCoordinatorMessage[] = [
      { kind: 'welcome', welcome: { protocolVersion: PROTOCOL_VERSION, coordinatorId: 'c', maxInFlight: 3, heartbeatMs: 1000, leaseTtlMs: 5000 } },
      { kind: 'data', data: { taskId: 5, seq: 0, last: true, arrowIpc: Buffer.from([9]) } },
      { kind: 'cancel', cancel: { taskId: 5 } },
      { kind: 'layerData', layerData: { key: 'j/1:h', seq: 0, last: true, arrowIpc: Buffer.from([8]) } },
    ];
    for (const m of fromCoordinator) expect(decodeCoordinatorMessage(toWorker(m))).toMatchObject(m);
    expect(decodeSubmitRequest({ jobId: 'a', modelPath: 'm', outputPath: 'o', configJson: '{}' }).reportPath).toBe('');
    expect(decodeJobUpdate({ kind: 'eventJson', eventJson: '{}' })).toEqual({ kind: 'eventJson', eventJson: '{}' });
    const hello = decodeWorkerMessage(toCoordinator(fromWorker[0]!));
    expect(() => decodeWorkerMessage({ ...hello, hello: { ...(hello.kind === 'hello' ? hello.hello : {}), mode: 'turbo' } })).toThrow(/hello\.mode/);
  });
});
