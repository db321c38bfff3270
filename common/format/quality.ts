/**
 * Merging chunk quality sums into a tensor's figures (same rules as the kernels' QualityAcc):
 * used by the job, by `verify` and by the file reader.
 */
import type { QualityFigures } from '../native.js';

export type Sums = Pick<QualityFigures, 'elements' | 'sumXx' | 'sumYy' | 'sumXy' | 'sumEe' | 'maxAbsErr'>;

export function mergeQuality(parts: readonly Sums[]): QualityFigures {
  let [n, xx, yy, xy, ee, max] = [0, 0, 0, 0, 0, 0];
  for (const p of parts) {
    n += p.elements;
    xx += p.sumXx;
    yy += p.sumYy;
    xy += p.sumXy;
    ee += p.sumEe;
    max = Math.max(max, p.maxAbsErr);
  }
  const denom = Math.sqrt(xx * yy);
  const cosine = denom > 0 ? Math.min(1, Math.max(-1, xy / denom)) : ee === 0 ? 1 : 0;
  const relMse = xx > 0 ? ee / xx : ee === 0 ? 0 : Infinity;
  const sqnrDb = ee === 0 ? Infinity : 10 * Math.log10(xx / ee);
  return { elements: n, cosine, relMse, sqnrDb, maxAbsErr: max, sumXx: xx, sumYy: yy, sumXy: xy, sumEe: ee };
}

/** An exact reconstruction (bit-exact kept chunk): sums are not computed and are 0 by definition. */
export function exactQuality(elements: number): QualityFigures {
  return { elements, cosine: 1, relMse: 0, sqnrDb: Infinity, maxAbsErr: 0, sumXx: 0, sumYy: 0, sumXy: 0, sumEe: 0 };
}
