/**
 * Synthetic calibration for a model: the file tools/capture_calibration.py would write
 * (docs/CALIBRATION.md), with activations drawn instead of captured. For tests and benchmarks of
 * the calibrated methods on synthetic models, and as ArrowQuant's last resort when a calibrated
 * method runs without a captured file (it knows nothing of the model's real inputs: GPTQ with it
 * adapts to made-up activations; docs/CALIBRATION.md says what to expect).
 *
 * Per linear layer `<p>.weight` (2-D view `[out, in]`; pipeline components as `<component>/<p>`),
 * `samples` input rows x, sample i in timestep group i mod G, with the statistics DiT activations
 * have: per-channel scales d_j = exp(0.5·N(0,1)), about in/128 outlier channels ×20-60, a rank-4
 * shared component (correlated channels), and a drift with the timestep: group g scales x by
 * τ_g = exp(1.2·(g/(G−1) − ½)) and shifts it by μ_g·d_j, μ_g = 0.6·(g/(G−1) − ½).
 */
import { view2d } from '../../common/format/view.js';
import { isQuantizable } from '../../common/format/dtypes.js';
import { discoverModel } from '../model/discover.js';
import { readHeader } from '../model/safetensors.js';
import { deriveSeed, SplitMix32 } from '../../common/random.js';
import { writeSafetensors, type FloatTensorSpec } from '../../common/safetensors/writer.js';

export interface SyntheticCalibrationOptions {
  modelPath: string;
  outPath: string;
  samples: number;
  groups: number;
  seed: number;
  /** Diffusion timesteps (groups split [0, T) evenly). */
  timesteps?: number;
  /** Layers with more input features are skipped (their Hessian alone would be in² × 4 bytes). */
  maxInFeatures?: number;
}

interface Layer {
  key: string;
  cols: number;
}

/** The layers a calibration covers: float weights `<p>.weight` with a 2-D view of > 1024 elements. */
async function linearLayers(modelPath: string, maxIn: number): Promise<Layer[]> {
  const layout = await discoverModel(modelPath);
  const layers: Layer[] = [];
  for (const file of layout.files) {
    const header = await readHeader(file.path);
    for (const t of header.tensors) {
      if (!t.name.endsWith('.weight') || t.shape.length < 2 || !isQuantizable(t.dtype)) continue;
      const { rows, cols } = view2d(t.shape);
      if (rows * cols <= 1024 || cols > maxIn) continue;
      const p = t.name.slice(0, -'.weight'.length);
      layers.push({ key: file.component !== undefined ? `${file.component}/${p}` : p, cols });
    }
  }
  return layers;
}

interface LayerStats {
  hessian: Float32Array;
  absmax: Float32Array;
  range: Float32Array;
}

export function sampleLayerStats(key: string, cols: number, samples: number, groups: number, seed: number): LayerStats {
  const rng = new SplitMix32(deriveSeed(seed, `calibration/${key}`));
  const d = Float64Array.from({ length: cols }, () => Math.exp(0.5 * rng.normal()));
  for (let k = 0; k < Math.max(1, Math.floor(cols / 128)); k++) d[rng.nextInt(cols)]! *= 20 + 40 * rng.nextFloat();
  const RANK = 4;
  const L = Float64Array.from({ length: cols * RANK }, () => 0.5 * rng.normal());
  const h = new Float64Array(cols * cols);
  const absmax = new Float32Array(groups * cols);
  const range = new Float32Array(groups * 2);
  for (let g = 0; g < groups; g++) {
    range[2 * g] = Infinity;
    range[2 * g + 1] = -Infinity;
  }
  const x = new Float64Array(cols);
  const u = new Float64Array(RANK);
  for (let i = 0; i < samples; i++) {
    const g = i % groups;
    const pos = groups > 1 ? g / (groups - 1) - 0.5 : 0;
    const tau = Math.exp(1.2 * pos);
    const mu = 0.6 * pos;
    for (let k = 0; k < RANK; k++) u[k] = rng.normal();
    for (let j = 0; j < cols; j++) {
      let shared = 0;
      for (let k = 0; k < RANK; k++) shared += L[j * RANK + k]! * u[k]!;
      const v = Math.fround(d[j]! * (tau * (rng.normal() + shared) + mu));
      x[j] = v;
      absmax[g * cols + j] = Math.max(absmax[g * cols + j]!, Math.abs(v));
      range[2 * g] = Math.min(range[2 * g]!, v);
      range[2 * g + 1] = Math.max(range[2 * g + 1]!, v);
    }
    // Upper triangle of Σ x xᵀ; mirrored below.
    for (let a = 0; a < cols; a++) {
      const xa = x[a]!;
      const row = a * cols;
      for (let b = a; b < cols; b++) h[row + b]! += xa * x[b]!;
    }
  }
  for (let g = 0; g < groups; g++) {
    if (range[2 * g] === Infinity) range.fill(0, 2 * g, 2 * g + 2);
  }
  const hessian = new Float32Array(cols * cols);
  for (let a = 0; a < cols; a++) {
    for (let b = a; b < cols; b++) {
      const v = h[a * cols + b]! / samples;
      hessian[a * cols + b] = v;
      hessian[b * cols + a] = v;
    }
  }
  return { hessian, absmax, range };
}

export function timestepGroups(groups: number, timesteps: number): [number, number][] {
  // The bounds tools/capture_calibration.py writes: group g holds the integer timesteps t with
  // floor(t·G/T) = g, i.e. [ceil(g·T/G), ceil((g+1)·T/G)).

  return Array.from({ length: groups }, (_, g) => [Math.ceil((g * timesteps) / groups), Math.ceil(((g + 1) * timesteps) / groups)] as [number, number]);
}

export async function writeSyntheticCalibration(o: SyntheticCalibrationOptions): Promise<{ layers: number; bytes: number }> {
  const layers = await linearLayers(o.modelPath, o.maxInFeatures ?? 8192);
  let current: { key: string; stats: LayerStats } | undefined;
  const stats = (l: Layer) => {
    if (current?.key !== l.key) current = { key: l.key, stats: sampleLayerStats(l.key, l.cols, o.samples, o.groups, o.seed) };
    return current.stats;
  };
  const copy = (src: () => Float32Array, cols: number) => (rowStart: number, rowCount: number, out: Float32Array) => out.set(src().subarray(rowStart * cols, (rowStart + rowCount) * cols));
  const tensors: FloatTensorSpec[] = layers.flatMap((l) => [
    { name: `${l.key}.hessian`, dtype: 'F32' as const, shape: [l.cols, l.cols], fill: copy(() => stats(l).hessian, l.cols) },
    { name: `${l.key}.act_absmax`, dtype: 'F32' as const, shape: [o.groups, l.cols], fill: copy(() => stats(l).absmax, l.cols) },
    { name: `${l.key}.act_range`, dtype: 'F32' as const, shape: [o.groups, 2], fill: copy(() => stats(l).range, 2) },
  ]);
  const metadata = {
    format: 'arrowquant-calibration',
    version: '1',
    source: 'synthetic',
    timestep_groups: JSON.stringify(timestepGroups(o.groups, o.timesteps ?? 1000)),
    nsamples: String(o.samples),
  };
  const r = await writeSafetensors(o.outPath, tensors, metadata);
  return { layers: layers.length, bytes: r.bytes };
}
