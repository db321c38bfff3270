/**
 * Realistic value statistics for synthetic tensors, as `fill` generators.
 *
 * What a quantizer has to cope with in real checkpoints, and so what a linear weight gets here:
 * a heavy-tailed base (unit-variance Student-t₄) with std 1/√in_features; a few loud INPUT
 * channels (columns ×10–50, the activation-outlier channels that break per-row int4); a rank-1 or
 * rank-2 spike (top singular values well above the random bulk); and per-output-row scale spread
 * (lognormal, σ = 0.25). Norm weights are ones plus small noise, biases small, embeddings std 0.02.
 *
 * Every value is a pure function of (seed, tensor name, element index), see random.ts, so a
 * tensor is identical in every layout and whatever the block size. Per-column state (3 f32 per
 * column) is built on first use and kept: about 14 MB over a whole 7B model.
 */
import { deriveSeed, fillFromTable, GOLDEN, normalTable, sampleTable, splitmix32At, SplitMix32, studentT4Table } from '../../common/random.js';
import { rowsOf, type Dtype, type FillFn, type TensorSpec } from '../../common/safetensors/writer.js';

export type TensorKind =
  | 'linear' // [out, in] weight: heavy tails, outlier input channels, low-rank spike, row scales
  | 'adaln' // [k·h, h] adaLN modulation weight: like linear, each of the k chunks scaled apart
  | 'embedding' // [vocab, h]: normal std 0.02, per-token scale spread
  | 'norm' // 1-D norm weight: 1 + N(0, 0.03²)
  | 'bias' // 1-D bias: N(0, 0.01²)
  | 'conv' // [out, in, kh, kw]: normal, std 1/√(in·kh·kw)
  | 'scale_shift' // PixArt-style table [k, h]: N(0, 1/h)
  | 'pos_embed' // [1, grid², h] fixed 2-D sin-cos table (diffusers get_2d_sincos_pos_embed)
  | 'ids'; // int64 arange along the last dim (a position_ids buffer)

export interface TensorDef {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  kind: TensorKind;
  /** adaln: number of modulation chunks along the rows (6 for adaLN-Zero, 2 for a final norm). */
  chunks?: number;
}

/** The writer spec for one tensor; `seed` is the user seed, `stream` names the component. */
export function tensorSpec(def: TensorDef, seed: number, stream = ''): TensorSpec {
  const s = deriveSeed(seed, `${stream}/${def.name}`);
  const { name, dtype, shape } = def;
  if (def.kind === 'ids') {
    if (dtype !== 'I64') throw new RangeError(`${name}: ids are I64`);
    const { rows, cols } = rowsOf(shape);
    const v = new BigInt64Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = BigInt(i % cols);
    return { name, dtype, shape, data: new Uint8Array(v.buffer) };
  }
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16' && dtype !== 'F64') throw new RangeError(`${name}: ${def.kind} needs a float dtype, got ${dtype}`);
  return { name, dtype, shape, fill: makeFill(def, s) };
}

function makeFill(def: TensorDef, s: number): FillFn {
  const { shape } = def;
  const { rows, cols } = rowsOf(shape);
  switch (def.kind) {
    case 'linear':
      return linearFill(rows, cols, s, 1);
    case 'adaln': {
      // Shift / scale / gate chunks of a trained adaLN-Zero projection differ in magnitude.
      const chunkScale = [1.0, 0.6, 0.35, 0.8, 0.5, 0.3];
      return linearFill(rows, cols, s, def.chunks ?? 6, chunkScale, 0.5);
    }
    case 'embedding':
      return rowScaledNormal(cols, s, 0.02, 0.3);
    case 'norm':
      return (r0, _n, out) => fillFromTable(out, s, r0 * cols, normalTable(), 1, 0.03);
    case 'bias':
      return (r0, _n, out) => fillFromTable(out, s, r0 * cols, normalTable(), 0, 0.01);
    case 'scale_shift':
      return (r0, _n, out) => fillFromTable(out, s, r0 * cols, normalTable(), 0, 1 / Math.sqrt(cols));
    case 'conv': {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      return (r0, _n, out) => fillFromTable(out, s, r0 * cols, normalTable(), 0, 1 / Math.sqrt(fanIn));
    }
    case 'pos_embed':
      return sincosFill(shape);
    case 'ids':
      throw new Error('unreachable');
  }
}

/** Normal values with a lognormal per-row scale (token embeddings: some tokens are louder). */
function rowScaledNormal(cols: number, s: number, std: number, rowSigma: number): FillFn {
  const rowSeed = s ^ 0x5bd1e995;
  return (r0, n, out) => {
    const normal = normalTable();
    for (let r = 0; r < n; r++) {
      const rs = std * Math.exp(rowSigma * sampleTable(normal, splitmix32At(rowSeed, r0 + r)) - (rowSigma * rowSigma) / 2);
      fillFromTable(out.subarray(r * cols, (r + 1) * cols), s, (r0 + r) * cols, normal, 0, rs);
    }
  };
}

interface ColumnState {
  colF: Float32Array; // std × outlier scale, per input channel
  v0: Float32Array; // σ_k · v_k: right singular vectors of the spike, scaled
  v1: Float32Array;
}

/**
 * [rows, cols] linear weight. value = (t · colF[c] + a0·v0[c] + a1·v1[c]) · rowScale, where t is
 * Student-t₄ from the element stream and (rowScale, a0, a1) come from a per-row stream.
 */
function linearFill(rows: number, cols: number, s: number, chunks: number, chunkScale: readonly number[] = [1], gain = 1): FillFn {
  let cs: ColumnState | undefined;
  const rowSeed = s ^ 0x27d4eb2f;
  const chunkRows = Math.max(1, Math.floor(rows / chunks));
  return (r0, n, out) => {
    cs ??= columnState(rows, cols, s, gain);
    const { colF, v0, v1 } = cs;
    const tab = studentT4Table();
    const normal = normalTable();
    for (let r = 0; r < n; r++) {
      const row = r0 + r;
      let rs = Math.exp(0.25 * sampleTable(normal, splitmix32At(rowSeed, 3 * row)) - 0.03125);
      rs *= chunkScale[Math.min(chunks - 1, Math.floor(row / chunkRows)) % chunkScale.length]!;
      // u_k[row] ~ N(0, 1/rows): unit-norm left singular vectors.
      const a0 = sampleTable(normal, splitmix32At(rowSeed, 3 * row + 1)) / Math.sqrt(rows);
      const a1 = sampleTable(normal, splitmix32At(rowSeed, 3 * row + 2)) / Math.sqrt(rows);
      // Hot loop: SplitMix32 inlined, element index row·cols + c (wraps past 2^32, harmlessly).
      let z = (s + Math.imul(Math.imul(row, cols), GOLDEN)) | 0;
      const o = r * cols;
      for (let c = 0; c < cols; c++) {
        z = (z + GOLDEN) | 0;
        let h = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
        h ^= h >>> 16;
        const i = (h >>> 15) & 0x1fffe;
        const t = tab[i]! + tab[i + 1]! * (h & 0xffff);
        out[o + c] = (t * colF[c]! + a0 * v0[c]! + a1 * v1[c]!) * rs;
      }
    }
  };
}

function columnState(rows: number, cols: number, s: number, gain: number): ColumnState {
  const rng = new SplitMix32(s ^ 0x165667b1);
  const std = gain / Math.sqrt(cols);
  const colF = new Float32Array(cols).fill(std);
  // A few outlier input channels: 2 + one per 1024 columns, at most 8, each ×10–50.
  const outliers = Math.min(8, 2 + Math.floor(cols / 1024), cols);
  for (let k = 0; k < outliers; k++) colF[rng.nextInt(cols)] = std * (10 + 40 * rng.nextFloat());
  // Spike: σ_k = m_k · std · (√rows + √cols), m = 3 (and 1.5 for rank 2), i.e. a few times the
  // top singular value of the random bulk, whose elementwise share stays small.
  const bulk = std * (Math.sqrt(rows) + Math.sqrt(cols));
  const rank = 1 + (rng.nextU32() & 1);
  const v0 = new Float32Array(cols);
  const v1 = new Float32Array(cols);
  for (let c = 0; c < cols; c++) {
    v0[c] = (3 * bulk * rng.normal()) / Math.sqrt(cols);
    if (rank === 2) v1[c] = (1.5 * bulk * rng.normal()) / Math.sqrt(cols);
  }
  return { colF, v0, v1 };
}

/**
 * diffusers get_2d_sincos_pos_embed for a square grid, shape [1, grid², D]: the first D/2
 * channels encode the column (w) coordinate, the rest the row (h); each half is [sin | cos] of
 * pos·ω_k with ω_k = 10000^(−k/(D/4)).
 */
function sincosFill(shape: readonly number[]): FillFn {
  const { rows, cols: d } = rowsOf(shape);
  const grid = Math.round(Math.sqrt(rows));
  if (grid * grid !== rows || d % 4 !== 0) throw new RangeError(`pos_embed needs [.., grid², 4k], got [${shape.join(', ')}]`);
  const q = d / 4;
  const omega = Float64Array.from({ length: q }, (_, k) => 1 / 10000 ** (k / q));
  return (r0, n, out) => {
    for (let r = 0; r < n; r++) {
      const p = r0 + r;
      const pos = [p % grid, Math.floor(p / grid)] as const;
      for (let c = 0; c < d; c++) {
        const axis = c < 2 * q ? 0 : 1;
        const j = c % (2 * q);
        const x = pos[axis] * omega[j % q]!;
        out[r * d + c] = j < q ? Math.sin(x) : Math.cos(x);
      }
    }
  };
}
