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
import { CoordinatorService, definition, PART_BYTES, PROTOCOL_VERSION } from '../../common/cluster/proto.js';
import { decodeSourcePart } from '../../common/cluster/arrow-codec.js';
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

describe('bulk messages the addon encodes (crates/wire)', () => {
  const rowsOf = (rows: number, rowBytes: number) => Buffer.from(Array.from({ length: rows * rowBytes }, (_, i) => (i * 131 + 7) % 256));

  test('DataPart messages: proto-loader decodes them, apache-arrow reads their rows, parts cut as the contract says', async () => {
    for (const [rows, rowBytes, partBytes] of [[600, 512, PART_BYTES], [3, 5000, 4096], [40, 64, 640], [1, 24, 1 << 20]] as const) {
      const source = rowsOf(rows, rowBytes);
      const chunk = SourceChunk.fromBytes(source);
      const encoded = await chunk.dataMessages(2 ** 40 + 3, rowBytes, partBytes);
      chunk.release();
      const perPart = Math.max(1, Math.floor(partBytes / rowBytes));
      expect(encoded.length).toBe(Math.ceil(rows / perPart));
      const got: Uint8Array[] = [];
      for (const [i, e] of encoded.entries()) {
        // Through the server's serializer (passed as is) and the worker's deserializer and decoder.
        const wire = work.responseSerialize(e.bytes.subarray(e.start));
        expect(wire.equals(e.bytes.subarray(e.start))).toBe(true);
        const msg = decodeCoordinatorMessage(work.responseDeserialize(wire));
        expect(msg.kind).toBe('data');
        if (msg.kind !== 'data') return;
        expect(msg.data).toMatchObject({ taskId: 2 ** 40 + 3, seq: i, last: i === encoded.length - 1 });
        expect(msg.data.arrowIpc.length).toBe(e.ipcBytes);
        const rowsHere = decodeSourcePart(msg.data.arrowIpc);
        expect(rowsHere.length % rowBytes).toBe(0);
        expect(rowsHere.length <= Math.max(rowBytes, partBytes)).toBe(true);
        got.push(rowsHere);
      }
      expect(Buffer.concat(got).equals(source)).toBe(true);
    }
  });

  test('LayerPart messages carry the key; bad shapes and released chunks are clear errors', async () => {
    const source = rowsOf(32, 32 * 4);
    const chunk = SourceChunk.fromBytes(source);
    const encoded = await chunk.layerMessages('job-7/3:h', 32 * 4, 1024);
    expect(encoded.length).toBe(4);
    const parts = encoded.map((e) => decodeCoordinatorMessage(work.responseDeserialize(work.responseSerialize(e.bytes.subarray(e.start)))));
    expect(parts.map((p) => (p.kind === 'layerData' ? [p.layerData.key, p.layerData.seq, p.layerData.last] : p.kind))).toEqual([
      ['job-7/3:h', 0, false],
      ['job-7/3:h', 1, false],
      ['job-7/3:h', 2, false],
      ['job-7/3:h', 3, true],
    ]);
    expect(Buffer.concat(parts.map((p) => decodeSourcePart(p.kind === 'layerData' ? p.layerData.arrowIpc : Buffer.alloc(0)))).equals(source)).toBe(true);
    await expect(chunk.dataMessages(1, 48, 1024)).rejects.toThrow(/4096 source bytes are not whole rows of 48 bytes/);
    await expect(async () => chunk.dataMessages(1.5, 128, 1024)).rejects.toThrow(/task id 1.5/);
    chunk.release();
    await expect(async () => chunk.dataMessages(1, 128, 1024)).rejects.toThrow(/already released/);
  });
});
