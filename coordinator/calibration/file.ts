/**
 * A calibration file (docs/CALIBRATION.md): a safetensors file of per-layer statistics captured
 * from real forward passes (tools/capture_calibration.py). For a linear weight `<p>.weight`
 * `[out, in]`:
 *
 * - `<p>.hessian` F32 `[in, in]`: H = (1/n)·Σ x xᵀ over the captured input rows;
 * - `<p>.act_absmax` F32 `[G, in]`: per timestep group and input channel, max |x|;
 * - `<p>.act_range` F32 `[G, 2]`: per timestep group, min and max of x;
 * - metadata `timestep_groups` (JSON `[[t_start, t_end], …]`, G entries) and `nsamples`.
 *
 * Everything is validated when the file is opened, before any work: a bad entry names itself.
 */
import { basename } from 'node:path';

import { readHeader, type TensorEntry } from '../model/safetensors.js';
import { ModelFormatError } from '../model/errors.js';
import { CalibrationError } from './errors.js';

export const STATISTICS = ['hessian', 'act_absmax', 'act_range'] as const;
export type Statistic = (typeof STATISTICS)[number];

export interface LayerStats {
  /** `<p>`: the layer's weight is `<p>.weight`. */
  prefix: string;
  /** Input features (the weight's 2-D view columns). */
  inFeatures: number;
  hessian?: TensorEntry;
  act_absmax?: TensorEntry;
  act_range?: TensorEntry;
}

export interface CalibrationFile {
  path: string;
  bytes: number;
  nsamples: number;
  /** Half-open [t_start, t_end) per timestep group, ascending. */
  timestepGroups: [number, number][];
  layers: Map<string, LayerStats>;
}

function parseGroups(path: string, raw: string | undefined): [number, number][] {
  const fail = (detail: string) => new CalibrationError(path, detail, 'timestep_groups');
  if (raw === undefined) throw fail('metadata key missing (a JSON list of [t_start, t_end] per group; one group [0, 1] for models without timesteps)');
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw fail(`is not JSON: ${raw.slice(0, 80)}`);
  }
  if (!Array.isArray(v) || v.length === 0) throw fail('must be a non-empty JSON list of [t_start, t_end]');
  const groups: [number, number][] = [];
  for (const [i, g] of v.entries()) {
    if (!Array.isArray(g) || g.length !== 2 || !g.every((x) => Number.isSafeInteger(x))) throw fail(`group ${i} must be [t_start, t_end] with integers, got ${JSON.stringify(g)}`);
    const [s, e] = g as [number, number];
    if (!(s < e)) throw fail(`group ${i} [${s}, ${e}) is empty`);
    if (i > 0 && s < groups[i - 1]![1]) throw fail(`group ${i} [${s}, ${e}) overlaps or precedes group ${i - 1}`);
    groups.push([s, e]);
  }
  return groups;
}

export async function openCalibration(path: string): Promise<CalibrationFile> {
  let header;
  try {
    header = await readHeader(path);
  } catch (cause) {
    if (cause instanceof ModelFormatError) throw new CalibrationError(path, cause.detail, cause.tensor, { cause });
    throw new CalibrationError(path, (cause as Error).message, undefined, { cause });
  }
  const meta = header.metadata;
  const timestepGroups = parseGroups(path, meta.timestep_groups);
  const nsamples = Number(meta.nsamples);
  if (!(Number.isSafeInteger(nsamples) && nsamples > 0)) throw new CalibrationError(path, `must be a positive integer, got ${JSON.stringify(meta.nsamples)}`, 'nsamples');
  const G = timestepGroups.length;
  const layers = new Map<string, LayerStats>();
  for (const t of header.tensors) {
    const dot = t.name.lastIndexOf('.');
    const stat = t.name.slice(dot + 1) as Statistic;
    const fail = (detail: string) => new CalibrationError(path, detail, t.name);
    if (dot <= 0 || !STATISTICS.includes(stat)) throw fail(`is not a calibration statistic (expected <layer>.hessian, <layer>.act_absmax or <layer>.act_range)`);
    if (t.dtype !== 'F32') throw fail(`must be F32, is ${t.dtype}`);
    const prefix = t.name.slice(0, dot);
    const [a, b] = t.shape;
    let inFeatures: number;
    if (stat === 'hessian') {
      if (t.shape.length !== 2 || a !== b || a === 0) throw fail(`must be a square [in, in] matrix, has shape [${t.shape.join(', ')}]`);
      inFeatures = a!;
    } else if (stat === 'act_absmax') {
      if (t.shape.length !== 2 || a !== G || b === 0) throw fail(`must have shape [${G} timestep groups, in], has [${t.shape.join(', ')}]`);
      inFeatures = b!;
    } else {
      if (t.shape.length !== 2 || a !== G || b !== 2) throw fail(`must have shape [${G} timestep groups, 2], has [${t.shape.join(', ')}]`);
      inFeatures = -1;
    }
    const layer = layers.get(prefix) ?? { prefix, inFeatures: -1 };
    if (inFeatures >= 0) {
      if (layer.inFeatures >= 0 && layer.inFeatures !== inFeatures) throw fail(`has ${inFeatures} input features where the layer's other statistics have ${layer.inFeatures}`);
      layer.inFeatures = inFeatures;
    }
    layer[stat] = t;
    layers.set(prefix, layer);
  }
  return { path, bytes: header.fileBytes, nsamples, timestepGroups, layers };
}

/**
 * The statistics of the layer whose weight is `name` (`<p>.weight`) in `component` (a diffusers
 * pipeline component: `<component>/<p>` is tried first, then `<p>`).
 */
export function layerFor(calib: CalibrationFile, name: string, component: string | undefined): LayerStats | undefined {
  if (!name.endsWith('.weight')) return undefined;
  const prefix = name.slice(0, -'.weight'.length);
  return (component !== undefined ? calib.layers.get(`${component}/${prefix}`) : undefined) ?? calib.layers.get(prefix);
}

/** What the file's footer records about the calibration used (no absolute paths). */
export function calibrationFooter(calib: CalibrationFile, used: number): string {
  return JSON.stringify({ file: basename(calib.path), bytes: calib.bytes, nsamples: calib.nsamples, timestep_groups: calib.timestepGroups, layers: calib.layers.size, layers_used: used });
}
