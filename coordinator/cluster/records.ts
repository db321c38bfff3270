/**
 * The coordinator's records in etcd (coordinator/cluster/etcd.ts) and their schemas: a record is
 * checked when read back, since a record written by another build, or by hand, must not be taken
 * on trust. A job's spec is its SubmitRequest (common/cluster/messages.ts).
 */
import { z } from 'zod';

import type { LayerOutputFigures, QualityFigures } from '../../common/native.js';

const count = () => z.number().int().nonnegative();

/** Quality figures as JSON holds them: non-finite ones (an exact chunk's SQNR) as strings. */
const StoredQualitySchema = z.record(z.string(), z.union([z.number(), z.string()]));

/** A committed chunk: its spool file (codes ‖ scales ‖ zeros), their lengths and checksum. */
export const CommitRecordSchema = z.object({
  file: z.string(),
  sha256: z.string(),
  bytes: count(),
  codes: count(),
  scales: count(),
  zeros: count(),
  quality: StoredQualitySchema,
  layerOutput: z.object({ rows: z.number(), cosine: z.number(), sumWw: z.number(), sumWe: z.number(), sumEe: z.number() }).optional(),
  worker: z.string(),
});

/** `sources`: the fingerprint of the model and calibration the job's commits were computed from; `output`: the written file's size and mtime. */
export const JobStateSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('running'), startedAt: z.string(), sources: z.string().optional() }),
  z.object({ state: z.literal('done'), result: z.string(), sources: z.string().optional(), output: z.string().optional() }),
  z.object({ state: z.literal('failed'), error: z.string(), sources: z.string().optional() }),
]);

export type CommitRecord = z.infer<typeof CommitRecordSchema>;
export type JobState = z.infer<typeof JobStateSchema>;

const QUALITY_KEYS = ['elements', 'cosine', 'relMse', 'sqnrDb', 'maxAbsErr', 'sumXx', 'sumYy', 'sumXy', 'sumEe'] as const satisfies readonly (keyof QualityFigures)[];

export function storedQuality(q: QualityFigures): CommitRecord['quality'] {
  return Object.fromEntries(QUALITY_KEYS.map((k) => [k, Number.isFinite(q[k]) ? q[k] : String(q[k])]));
}

export function qualityOfRecord(r: CommitRecord): QualityFigures {
  const at = (k: (typeof QUALITY_KEYS)[number]) => Number(r.quality[k]);
  return { elements: at('elements'), cosine: at('cosine'), relMse: at('relMse'), sqnrDb: at('sqnrDb'), maxAbsErr: at('maxAbsErr'), sumXx: at('sumXx'), sumYy: at('sumYy'), sumXy: at('sumXy'), sumEe: at('sumEe') };
}

export function layerOutputOfRecord(r: CommitRecord): { layerOutput?: LayerOutputFigures } {
  return r.layerOutput ? { layerOutput: { ...r.layerOutput } } : {};
}
