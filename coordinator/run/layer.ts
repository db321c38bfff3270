/**
 * A calibrated tensor's preparation, before its chunks are dispatched: the spatial-smoothing
 * search (one extra pass over the tensor's chunks, which is also the pass that hashes them), the
 * native `LayerCalibration` (Hessian factored once on first use and shared by every chunk and
 * fallback rung), per-column importance for the GGUF formats (an imatrix entry, or the
 * Hessian's diagonal) and the time-aware activation parameters. Held until the tensor is written.
 */
import type { ResolvedConfig } from '../../common/config/index.js';
import { Hessian, LayerCalibration, SmoothingSearch, SourceFile, hessianDiagonal, type SourceChunk, type TimeGroupJs } from '../../common/native.js';
import { fromNative } from '../../common/errors.js';
import type { CalibrationFile } from '../calibration/file.js';
import { CalibrationError } from '../calibration/errors.js';
import { timeGroupParams } from '../calibration/time-groups.js';
import type { Chunk, LayerUse, TensorPlan } from '../plan/plan.js';
import type { SchemeChoice } from '../plan/schemes.js';
import type { TensorEntry } from '../model/safetensors.js';
import type { LayerSpec } from '../../common/chunk/job.js';

export interface PreparedLayer {
  /** For rungs that use the Hessian (GPTQ), with the smoothing factors when there are any. */
  withHessian?: LayerCalibration;
  /** For rungs without GPTQ: the smoothing factors and/or per-column importance. */
  scalesOnly?: LayerCalibration;
  channelScales?: Float32Array;
  alpha?: number;
  timeGroups?: TimeGroupJs[];
  /** What each native layer was built from (remote executors rebuild it on the worker). */
  withHessianSpec?: LayerSpec;
  scalesOnlySpec?: LayerSpec;
}

/** The description of the layer `layerFor` returns, for executors that rebuild it. */
export function layerSpecFor(p: PreparedLayer | undefined, choice: SchemeChoice): LayerSpec | undefined {
  if (!p) return undefined;
  return choice.calibrated ? p.withHessianSpec : p.scalesOnlySpec;
}

/** The native layer a chunk of `choice` runs with (undefined: a plain chunk). */
export function layerFor(p: PreparedLayer | undefined, choice: SchemeChoice): LayerCalibration | undefined {
  if (!p) return undefined;
  if (choice.calibrated) {
    if (!p.withHessian) throw new Error('internal: a calibrated rung without a prepared Hessian');
    return p.withHessian;
  }
  return p.scalesOnly;
}

export function releaseLayer(p: PreparedLayer | undefined): void {
  p?.withHessian?.release();
  p?.scalesOnly?.release();
}

/** Reads of the calibration file (one handle for the job). */
export class CalibrationReader {
  private readonly file: SourceFile;
  constructor(readonly calib: CalibrationFile) {
    try {
      this.file = SourceFile.open(calib.path);
    } catch (cause) {
      throw new CalibrationError(calib.path, (cause as Error).message, undefined, { cause });
    }
  }

  async chunk(t: TensorEntry): Promise<SourceChunk> {
    try {
      return await this.file.read(t.begin, t.end - t.begin, false);
    } catch (cause) {
      throw new CalibrationError(this.calib.path, (cause as Error).message, t.name, { cause });
    }
  }

  /** A layer's Hessian in the file (nothing read yet: the kernels read it a block at a time). */
  hessian(t: TensorEntry, cols: number): Hessian {
    const expected = 4 * cols * cols;
    if (t.end - t.begin !== expected) throw new CalibrationError(this.calib.path, `the Hessian has ${t.end - t.begin} bytes, ${expected} expected for ${cols} inputs`, t.name);
    try {
      return Hessian.inFile(this.file, t.begin, cols);
    } catch (cause) {
      throw new CalibrationError(this.calib.path, (cause as Error).message, t.name, { cause });
    }
  }

  async floats(t: TensorEntry): Promise<Float32Array> {
    const c = await this.chunk(t);
    const b = c.bytes();
    c.release();
    const out = new Float32Array(b.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(4 * i);
    for (const [i, v] of out.entries()) {
      if (!Number.isFinite(v)) throw new CalibrationError(this.calib.path, `value ${v} at element ${i} is not finite`, t.name);
    }
    return out;
  }
}

/** Per input channel, the largest |x| over every timestep group. */
function channelAbsmax(actAbsmax: Float32Array, groups: number): Float32Array {
  const cols = actAbsmax.length / groups;
  const out = new Float32Array(cols);
  for (let g = 0; g < groups; g++) for (let j = 0; j < cols; j++) out[j] = Math.max(out[j]!, actAbsmax[g * cols + j]!);
  return out;
}

/** Per-column importance of the tensor's inputs, when its plan uses some (see ImportanceUse). */
async function importanceValues(t: TensorPlan, reader: CalibrationReader | undefined): Promise<Float32Array | undefined> {
  if (t.action.kind !== 'quantize' || !t.action.importance) return undefined;
  const imp = t.action.importance;
  if (imp.source === 'imatrix') return imp.values;
  if (imp.source === 'uniform') return new Float32Array(t.cols).fill(1);
  if (!reader || !imp.stats.hessian) throw new Error(`internal: ${t.name} planned with Hessian importance but no calibration is open`);
  const h = reader.hessian(imp.stats.hessian, t.cols);
  try {
    return hessianDiagonal(h);
  } finally {
    h.release();
  }
}

/**
 * A tensor that uses importance but no calibrated layer (an imatrix entry, or a calibration
 * Hessian's diagonal without GPTQ, smoothing or time groups): its importance-only layer.
 */
export async function prepareImportance(t: TensorPlan, reader: CalibrationReader | undefined, config: ResolvedConfig): Promise<PreparedLayer | undefined> {
  const importance = await importanceValues(t, reader);
  if (!importance) return undefined;
  const gptq = { damp: config.gptq_damp, actOrder: config.gptq_act_order };
  return {
    scalesOnly: LayerCalibration.create(t.cols, null, null, gptq, importance),
    scalesOnlySpec: { key: `${t.index}:s`, cols: t.cols, gptq, importance },
  };
}

export async function prepareLayer(
  t: TensorPlan,
  use: LayerUse,
  first: SchemeChoice,
  reader: CalibrationReader,
  /** Reads a chunk of the tensor (hashing it: this is the tensor's first pass when smoothing). */
  readChunk: (c: Chunk) => Promise<SourceChunk>,
  config: ResolvedConfig,
  signal: AbortSignal,
): Promise<PreparedLayer> {
  const { stats } = use;
  const groups = reader.calib.timestepGroups.length;
  const prepared: PreparedLayer = {};
  const hessian = use.hessian || use.smoothing || use.measure ? (stats.hessian ? reader.hessian(stats.hessian, t.cols) : undefined) : undefined;
  try {
    const actAbsmax = stats.act_absmax && (use.smoothing || use.timeAware) ? await reader.floats(stats.act_absmax) : undefined;
    if (use.smoothing && actAbsmax) {
      const search = new SmoothingSearch(t.rows, t.cols);
      for (const c of t.chunks) {
        signal.throwIfAborted();
        const data = await readChunk(c);
        try {
          search.addChunk(data, t.dtype, c.rowStart, c.rowCount);
        } catch (err) {
          throw fromNative(err);
        } finally {
          data.release();
        }
      }
      let choice;
      try {
        choice = search.finish(first.format, channelAbsmax(actAbsmax, groups), hessian ?? null, { threads: config.num_threads });
      } catch (err) {
        throw fromNative(err);
      }
      if (choice.alpha !== null && choice.alpha !== undefined) {
        prepared.alpha = choice.alpha;
        prepared.channelScales = choice.scales;
      }
    }
    const gptq = { damp: config.gptq_damp, actOrder: config.gptq_act_order };
    const importance = await importanceValues(t, reader);
    // Every rung of a layer with a Hessian measures its layer-output figures with it.
    const measure = use.measure && hessian ? t.rows : null;
    if (use.hessian) prepared.withHessian = LayerCalibration.create(t.cols, hessian ?? null, prepared.channelScales ?? null, gptq, null, measure);
    if (prepared.channelScales || importance || measure !== null) {
      prepared.scalesOnly = LayerCalibration.create(t.cols, measure !== null ? hessian! : null, prepared.channelScales ?? null, null, importance ?? null, measure);
    }
    const scales = prepared.channelScales ? { channelScales: prepared.channelScales } : {};
    const h = stats.hessian ? { hessian: { path: reader.calib.path, offset: stats.hessian.begin, length: stats.hessian.end - stats.hessian.begin } } : {};
    const measured = measure !== null ? { measureRows: measure } : {};
    if (use.hessian) prepared.withHessianSpec = { key: `${t.index}:h`, cols: t.cols, ...h, ...scales, gptq, ...measured };
    if (prepared.channelScales || importance || measure !== null) {
      const measuring = measure !== null ? { ...h, measureOnly: true, measureRows: measure } : {};
      prepared.scalesOnlySpec = { key: `${t.index}:s`, cols: t.cols, ...scales, gptq, ...(importance ? { importance } : {}), ...measuring };
    }
    if (use.timeAware) {
      const actRange = stats.act_range ? await reader.floats(stats.act_range) : undefined;
      const tg = timeGroupParams(
        { timestepGroups: reader.calib.timestepGroups, ...(actRange ? { actRange } : {}), ...(actAbsmax ? { actAbsmax } : {}), ...(prepared.channelScales ? { channelScales: prepared.channelScales } : {}) },
        config.num_time_groups,
      );
      if (tg) prepared.timeGroups = tg;
    }
    return prepared;
  } catch (err) {
    releaseLayer(prepared);
    throw err;
  } finally {
    hessian?.release();
  }
}
