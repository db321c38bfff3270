/**
 * What the cluster client accepts from the coordinator's JobUpdates: every event and the result of
 * a real job survive encoding and the client's checks unchanged; a malformed one is refused, an
 * event type the client does not know is skipped.
 */
import { join } from 'node:path';

import { expect, test } from 'vitest';

import { MalformedMessageError } from '../../common/cluster/errors.js';
import { decodeJson, encodeJson } from '../../common/cluster/json.js';
import { decodeJobEvent, decodeJobResult } from '../../coordinator/cluster/updates.js';
import { runQuantizeJob, type JobEvent } from '../../coordinator/run/job.js';
import { config, tinyModel } from '../run/model.js';

test('a real job\'s events and result pass the client\'s checks unchanged', async () => {
  const { dir, model } = await tinyModel('dit');
  const events: JobEvent[] = [];
  const result = await runQuantizeJob({ modelPath: model, outputPath: join(dir, 'o.parquet'), config: config({ min_accuracy: 0.9999, bit_width: 2 }), onEvent: (e) => events.push(e) });
  expect(new Set(events.map((e) => e.type))).toEqual(new Set(['modality', 'plan', 'tensor', 'fallback']));
  // The wire's JSON keeps non-finite numbers (an exact tensor's SQNR), so compare decoded with decoded.
  for (const e of events) expect(decodeJobEvent(encodeJson(e))).toEqual(decodeJson(encodeJson(e)));
  const wire = encodeJson({ ...result, cluster: { checkpoints: { restored: 0, committed: 3, unusable: 0 } } });
  expect(decodeJobResult(wire)).toEqual(decodeJson(wire));
});

test('malformed updates are refused, naming the field; unknown event types are skipped', () => {
  expect(() => decodeJobEvent(JSON.stringify({ type: 'plan', tensors: 3, quantize: 1, keep: 2, sourceBytes: -1, chunks: 3, mode: 'threaded' }))).toThrow(MalformedMessageError);
  expect(() => decodeJobEvent(JSON.stringify({ type: 'tensor', done: 1, bytesDone: 5 }))).toThrow(/job event "tensor": outcome/);
  expect(() => decodeJobResult(JSON.stringify({ outputPath: '/x' }))).toThrow(/malformed job result: modality/);
  expect(decodeJobEvent(JSON.stringify({ type: 'from-a-newer-coordinator', x: 1 }))).toBeUndefined();
});
