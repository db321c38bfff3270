/**
 * A job's updates as the client receives them (JobUpdate's event_json and result_json): checked
 * before the CLI prints or reports them. The schemas name every field the client reads; the rest
 * of an event or result (which the coordinator, a build of this package, wrote with the same
 * types) passes through. An event type this client does not know is skipped, so a newer
 * coordinator's extra events do not break an older client.
 */
import { z } from 'zod';

import { decodeJson } from '../../common/cluster/json.js';
import { MalformedMessageError } from '../../common/cluster/errors.js';
import type { JobEvent, JobResult } from '../run/job.js';

/** JSON numbers, and the non-finite ones common/cluster/json.ts restores. */
const num = () => z.custom<number>((v) => typeof v === 'number', 'must be a number');
const count = () => z.number().int().nonnegative();
const Quality = z.looseObject({ elements: num(), cosine: num(), relMse: num(), sqnrDb: num(), maxAbsErr: num() });
const Fallback = z.looseObject({ fromScheme: z.string(), toScheme: z.string(), fromBits: count(), toBits: count(), cosine: num(), threshold: num() });
const Outcome = z.looseObject({
  plan: z.looseObject({ index: count(), name: z.string(), shape: z.array(count()), dtype: z.string(), action: z.looseObject({ rule: z.string(), reason: z.string() }) }),
  method: z.string(),
  scheme: z.string(),
  bits: count(),
  requestedBits: count(),
  quality: Quality,
  fallbacks: z.array(Fallback),
  payloadBytes: count(),
});

const EVENTS = {
  modality: z.looseObject({ type: z.literal('modality'), modality: z.string(), reason: z.string(), detected: z.boolean() }),
  plan: z.looseObject({ type: z.literal('plan'), tensors: count(), quantize: count(), keep: count(), sourceBytes: count(), chunks: count(), mode: z.enum(['streaming', 'threaded']) }),
  tensor: z.looseObject({ type: z.literal('tensor'), outcome: Outcome, done: count(), bytesDone: count() }),
  fallback: z.looseObject({ type: z.literal('fallback'), tensor: z.string(), from: z.string(), to: z.string(), cosine: num(), threshold: num() }),
  budget: z.looseObject({ type: z.literal('budget'), report: z.looseObject({ targetBytes: count(), bytes: count(), minimumBytes: count(), allocation: z.record(z.string(), z.looseObject({ tensors: count(), bytes: count() })) }) }),
  calibration: z.looseObject({
    type: z.literal('calibration'),
    file: z.string().optional(),
    synthetic: z.looseObject({ path: z.string(), cached: z.boolean() }).optional(),
    layers: count(),
    used: count(),
    warnings: z.array(z.looseObject({ tensor: z.string(), message: z.string() })),
  }),
} as const;

const Summary = z.looseObject(Object.fromEntries(['tensors', 'quantized', 'kept', 'sourceBytes', 'payloadBytes', 'fileBytes', 'compressionRatio', 'minCosine', 'meanCosine', 'fallbacks', 'rowGroups'].map((k) => [k, num()])));

const ResultSchema = z.looseObject({
  outputPath: z.string(),
  modality: z.string(),
  modalityReason: z.string(),
  summary: Summary,
  tensors: z.array(Outcome),
  sources: z.array(z.looseObject({ file: z.string(), bytes: count(), blake3: z.string() })),
  layout: z.looseObject({ root: z.string(), kind: z.string() }),
  mode: z.enum(['streaming', 'threaded']),
  seconds: num(),
  cluster: z.looseObject({ checkpoints: z.looseObject({ restored: count(), committed: count(), unusable: count() }) }).optional(),
});

export type RemoteJobResult = JobResult & { cluster?: { checkpoints: { restored: number; committed: number; unusable: number } } };

function check<S extends z.ZodType>(what: string, schema: S, value: unknown): void {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new MalformedMessageError(what, `${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`, value, { cause: r.error });
  }
}

/** A job event, or undefined for a type this client does not know. */
export function decodeJobEvent(json: string): JobEvent | undefined {
  const value = decodeJson<unknown>(json);
  const type = typeof value === 'object' && value !== null && 'type' in value ? value.type : undefined;
  if (typeof type !== 'string' || !(type in EVENTS)) return undefined;
  check(`job event "${type}"`, EVENTS[type as keyof typeof EVENTS], value);
  // Checked above, field by field where the client reads them.
  return value as JobEvent;
}

export function decodeJobResult(json: string): RemoteJobResult {
  const value = decodeJson<unknown>(json);
  check('job result', ResultSchema, value);
  // Checked above, field by field where the client and its reports read them.
  return value as RemoteJobResult;
}
