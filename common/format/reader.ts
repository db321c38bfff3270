/**
 * The TypeScript reader of ArrowQuant files (docs/FORMAT.md): list tensors, merge their chunk
 * figures, and dequantize any tensor back to its original shape. Kept float tensors come back as
 * exact f32 (F64 as f64); kept integer/bool tensors come back as their own typed values.
 */
import { dequantize, ParquetSource, payloadSize, type ChunkPayloadJs, type IndexRowJs, type LayerOutputFigures } from '../native.js';
import { fromNative, ArrowQuantError } from '../errors.js';
import { bf16BitsToF32, f16BitsToF32 } from '../half.js';
import { DTYPE_BYTES } from './dtypes.js';
import { gatedAccuracy, mergeLayerOutput, mergeQuality, type AccuracyBasis } from './quality.js';
import { view2d } from './view.js';

export interface TensorInfo {
  index: number;
  name: string;
  component?: string;
  shape: number[];
  sourceDtype: string;
  method: string;
  scheme: string;
  bits: number;
  groupSize: number;
  requestedBits: number;
  chunks: number;
  elements: number;
  /** Payload bytes stored for the tensor (codes + scales + zero-points, or the kept bytes). */
  storedBytes: number;
  quality: { cosine: number; sqnrDb: number; relMse: number; maxAbsErr: number };
  /** Layer-output figures (merged over chunks), when the tensor was measured with its layer's Hessian. */
  layerOutput?: LayerOutputFigures;
  /** The figure `min_accuracy` judged: the layer-output cosine where measured, else the weight cosine. */
  accuracy: { basis: AccuracyBasis; cosine: number };
  fallbacks: IndexRowJs['fallbacks'];
}

export type TensorValues = Float32Array | Float64Array | BigInt64Array | BigUint64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

const INT_VIEWS: Record<string, (b: ArrayBuffer) => TensorValues> = {
  I64: (b) => new BigInt64Array(b),
  U64: (b) => new BigUint64Array(b),
  I32: (b) => new Int32Array(b),
  U32: (b) => new Uint32Array(b),
  I16: (b) => new Int16Array(b),
  U16: (b) => new Uint16Array(b),
  I8: (b) => new Int8Array(b),
  U8: (b) => new Uint8Array(b),
  BOOL: (b) => new Uint8Array(b),
  F8_E4M3: (b) => new Uint8Array(b),
  F8_E5M2: (b) => new Uint8Array(b),
  F64: (b) => new Float64Array(b),
};

function keptValues(dtype: string, bytes: Buffer): TensorValues {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (dtype === 'F32') return new Float32Array(copy.buffer);
  if (dtype === 'F16' || dtype === 'BF16') {
    const out = new Float32Array(bytes.length / 2);
    const conv = dtype === 'F16' ? f16BitsToF32 : bf16BitsToF32;
    for (let i = 0; i < out.length; i++) out[i] = conv(bytes.readUInt16LE(2 * i));
    return out;
  }
  const view = INT_VIEWS[dtype];
  if (!view) throw new ArrowQuantError(`kept dtype ${dtype} is not known to this reader`);
  return view(copy.buffer);
}

/** A chunk's payload bytes, from its scheme's layout (no payload read). */
function chunkPayloadBytes(r: IndexRowJs): number {
  const { cols } = view2d(r.shape);
  if (r.method === 'keep') return r.rowCount * cols * (DTYPE_BYTES[r.scheme.replace(/^keep_/, '')] ?? 0);
  return payloadSize(r.scheme, r.rowCount, cols);
}

function f32s(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** A chunk's spatial-smoothing factors (FORMAT.md: one f32 per column), or undefined. */
function smoothingOf(path: string, t: TensorInfo, c: ChunkPayloadJs, cols: number): Float32Array | undefined {
  if (c.channelScales == null) return undefined;
  if (c.channelScales.length !== 4 * cols) throw new ArrowQuantError(`${path}: tensor "${t.name}" chunk ${c.chunkIndex}: channel_scales holds ${c.channelScales.length} bytes, ${cols} columns need ${4 * cols}`);
  return f32s(c.channelScales);
}

/** Decode one stored chunk: dequantized f32 (divided by the smoothing factors), or a kept chunk's values. */
async function decodeChunk(path: string, t: TensorInfo, c: ChunkPayloadJs, cols: number): Promise<TensorValues> {
  if (t.method === 'keep') return keptValues(c.scheme.replace(/^keep_/, ''), c.codes);
  const values = await dequantize({ name: c.scheme }, c.rowCount, cols, c.codes, f32s(c.scales), c.zeros);
  const s = smoothingOf(path, t, c, cols);
  if (s) {
    // The codes encode W·diag(s): x = decoded / s_j, a float32 division (fround of the exact
    // double quotient of two floats is the correctly rounded float quotient).
    for (let i = 0; i < values.length; i++) values[i] = Math.fround(values[i]! / s[i % cols]!);
  }
  return values;
}

function measured(rows: IndexRowJs[]): Pick<TensorInfo, 'layerOutput' | 'accuracy'> {
  const layerOutput = mergeLayerOutput(rows.map((r) => r.layerOutput));
  const accuracy = gatedAccuracy(mergeQuality(rows.map((r) => r.quality)), layerOutput);
  return { ...(layerOutput ? { layerOutput } : {}), accuracy };
}

export class QuantizedFile {
  private constructor(
    readonly path: string,
    private readonly source: ParquetSource,
    readonly tensors: TensorInfo[],
  ) {}

  static async open(path: string): Promise<QuantizedFile> {
    let source: ParquetSource;
    try {
      source = await ParquetSource.open(path);
    } catch (err) {
      throw fromNative(err);
    }
    const byTensor = new Map<number, IndexRowJs[]>();
    for (const r of source.index()) {
      const list = byTensor.get(r.tensorIndex) ?? [];
      list.push(r);
      byTensor.set(r.tensorIndex, list);
    }
    const tensors: TensorInfo[] = [...byTensor.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, rows]) => {
        const r0 = rows[0]!;
        return {
          index,
          name: r0.name,
          ...(r0.component != null ? { component: r0.component } : {}),
          shape: r0.shape,
          sourceDtype: r0.sourceDtype,
          method: r0.method,
          scheme: r0.scheme,
          bits: r0.bits,
          groupSize: r0.groupSize,
          requestedBits: r0.requestedBits,
          chunks: rows.length,
          elements: r0.shape.reduce((a, b) => a * b, 1),
          storedBytes: rows.reduce((s, r) => s + chunkPayloadBytes(r), 0),
          quality: mergeQuality(rows.map((r) => r.quality)),
          ...measured(rows),
          fallbacks: r0.fallbacks,
        };
      });
    return new QuantizedFile(path, source, tensors);
  }

  get metadata(): Record<string, string> {
    return this.source.metadata;
  }

  get fileBytes(): number {
    return this.source.fileBytes;
  }

  /**
   * A tensor by name, or by `component/name` when a diffusers pipeline has the same name in
   * several components (SDXL's two text encoders share `text_model.*`).
   */
  tensor(name: string): TensorInfo {
    let matches = this.tensors.filter((x) => x.name === name);
    if (matches.length === 0) matches = this.tensors.filter((x) => x.component !== undefined && `${x.component}/${x.name}` === name);
    if (matches.length === 0) throw new ArrowQuantError(`${this.path}: no tensor named "${name}"`);
    if (matches.length > 1) {
      const options = matches.map((x) => `"${x.component ?? ''}/${x.name}"`).join(', ');
      throw new ArrowQuantError(`${this.path}: "${name}" is in several components; name one of ${options}`);
    }
    return matches[0]!;
  }

  /** The tensor's values in its original (row-major) shape, flattened. */
  async dequantize(which: string | TensorInfo): Promise<TensorValues> {
    const t = typeof which === 'string' ? this.tensor(which) : which;
    const name = t.name;
    const chunks = await this.source.tensorChunks(t.index).catch((e: unknown) => Promise.reject(fromNative(e)));
    const { rows, cols } = view2d(t.shape);
    // The chunks must tile the tensor's rows exactly, in order.
    let next = 0;
    for (const c of chunks) {
      if (c.rowStart !== next) throw new ArrowQuantError(`${this.path}: tensor "${name}": chunk ${c.chunkIndex} starts at row ${c.rowStart}, expected ${next}`);
      next += c.rowCount;
    }
    if (next !== rows) throw new ArrowQuantError(`${this.path}: tensor "${name}": chunks cover ${next} of ${rows} rows`);
    if (t.method === 'keep') {
      const dtype = t.scheme.replace(/^keep_/, '');
      return keptValues(dtype, Buffer.concat(chunks.map((c) => c.codes)));
    }
    const out = new Float32Array(t.elements);
    for (const c of chunks) out.set((await decodeChunk(this.path, t, c, cols)) as Float32Array, c.rowStart * cols);
    return out;
  }

  /**
   * One stored chunk: its first row and row count, the raw row, and its values (f32 for quantized
   * chunks; as `dequantize` returns them for kept ones). Reads only that chunk's row group.
   */
  async chunk(t: TensorInfo, chunkIndex: number): Promise<{ rowStart: number; rowCount: number; raw: ChunkPayloadJs; values: TensorValues }> {
    const rows = await this.source.tensorChunk(t.index, chunkIndex).catch((e: unknown) => Promise.reject(fromNative(e)));
    const raw = rows[0];
    if (!raw) throw new ArrowQuantError(`${this.path}: tensor "${t.name}" has no chunk ${chunkIndex}`);
    const { cols } = view2d(t.shape);
    return { rowStart: raw.rowStart, rowCount: raw.rowCount, raw, values: await decodeChunk(this.path, t, raw, cols) };
  }

  /** Spatial-smoothing factors s of a tensor (its codes encode W·diag(s)), or undefined. */
  async channelScales(which: string | TensorInfo): Promise<Float32Array | undefined> {
    const t = typeof which === 'string' ? this.tensor(which) : which;
    const { raw } = await this.chunk(t, 0);
    return smoothingOf(this.path, t, raw, view2d(t.shape).cols);
  }

  /**
   * Time-aware parameters of the tensor's 8-bit input activations at `timestep` (FORMAT.md, Time
   * groups): the group with t_start ≤ timestep < t_end; undefined when the tensor has none.
   */
  async activationParams(which: string | TensorInfo, timestep: number): Promise<{ scale: number; zeroPoint: number } | undefined> {
    const t = typeof which === 'string' ? this.tensor(which) : which;
    const rows = await this.source.tensorChunk(t.index, 0).catch((e: unknown) => Promise.reject(fromNative(e)));
    const groups = rows[0]?.timeGroups;
    if (groups == null) return undefined;
    const g = groups.find((x) => x.tStart <= timestep && timestep < x.tEnd);
    if (!g) throw new ArrowQuantError(`${this.path}: tensor "${t.name}": timestep ${timestep} is in no time group (${groups.map((x) => `[${x.tStart}, ${x.tEnd})`).join(', ')})`);
    return { scale: g.scale, zeroPoint: g.zeroPoint };
  }

  /** The raw (undequantized) chunk rows of a tensor. */
  chunks(which: string | TensorInfo) {
    return this.source.tensorChunks((typeof which === 'string' ? this.tensor(which) : which).index);
  }
}

export function openQuantized(path: string): Promise<QuantizedFile> {
  return QuantizedFile.open(path);
}
