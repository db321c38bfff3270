/**
 * Merging chunk quality sums into a tensor's figures (same rules as the kernels' QualityAcc):
 * used by the job, by `verify` and by the file reader.
 */
import type { LayerOutputFigures, QualityFigures } from '../native.js';

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

/**
 * The tensor's layer-output figures from its chunks' (docs/FORMAT.md, Quality): the sums added in
 * chunk order, the cosine from them (the formula of `arrowquant_kernels::layer_output`). Undefined
 * unless every chunk was measured.
 */
export function mergeLayerOutput(parts: readonly (LayerOutputFigures | null | undefined)[]): LayerOutputFigures | undefined {
  if (parts.length === 0 || parts.some((p) => p == null)) return undefined;
  let [rows, ww, we, ee] = [0, 0, 0, 0];
  for (const p of parts as LayerOutputFigures[]) {
    rows += p.rows;
    ww += p.sumWw;
    we += p.sumWe;
    ee += p.sumEe;
  }
  return { rows, cosine: layerOutputCosine(ww, we, ee), sumWw: ww, sumWe: we, sumEe: ee };
}

export function layerOutputCosine(ww: number, we: number, ee: number): number {
  if (ee <= 0) return 1;
  const yy = Math.max(0, ww - 2 * we + ee);
  const denom = Math.sqrt(ww * yy);
  if (!(denom > 0)) return 0;
  return Math.min(1, Math.max(-1, (ww - we) / denom));
}

/** Which figure `min_accuracy` was compared with: the layer-output or the weight cosine. */
export type AccuracyBasis = 'layer_output' | 'weight';

/**
 * What `min_accuracy` judges: the lower of the layer-output cosine (where measured) and the
 * weight cosine; the weight cosine alone elsewhere. Both, not the layer-output figure alone:
 * measured on a real encoder (benches/RESULTS.md, "Which figure predicts the damage"), the
 * in-sample layer-output cosine let through layers that broke the model on their own (GPTQ fits
 * the very Hessian it is judged with; outputs dominated by a few massive activation channels hide
 * the errors elsewhere), while the weight cosine ranked the damage better.
 */
export function gatedAccuracy(quality: QualityFigures, layerOutput: LayerOutputFigures | undefined): { basis: AccuracyBasis; cosine: number } {
  return layerOutput && layerOutput.cosine <= quality.cosine ? { basis: 'layer_output', cosine: layerOutput.cosine } : { basis: 'weight', cosine: quality.cosine };
}
