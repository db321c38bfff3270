/**
 * Seeded random numbers: the synthetic model generator's weights (tools/synth/) and the
 * synthetic calibration statistics the quantizer falls back on (coordinator/calibration/), which is
 * why this lives in common/ rather than beside the generator.
 *
 * Counter-based on purpose: SplitMix32 (a Weyl sequence `seed + i·γ` through murmur3's fmix32
 * finalizer) makes value i a pure function of (seed, i). A tensor can then be generated in any
 * block size or order and come out byte-identical, and a test can regenerate one row on its own.
 * It costs two multiplies per value and carries no state between values, so V8 keeps the hot loop
 * in registers. Not cryptographic; plenty for weights.
 *
 * Fast samplers are inverse-CDF tables: 2^16 knots of the quantile function, linearly interpolated
 * with the low 16 bits of the same u32. One hash, one table read and one multiply-add per value
 * (well over 100 M values/s), where Box–Muller would pay a log, a sqrt and a cos. The tails are cut
 * at p = 2^-18 (normal ±4.6σ, Student-t₄ ±17σ after scaling to unit variance); the loud values in a
 * synthetic weight come from its outlier channels, not from the base distribution.
 */

/** The golden-ratio Weyl increment of SplitMix32, as an int32. */
export const GOLDEN = 0x9e3779b9 | 0;

/** murmur3 fmix32: a bijective avalanche of a 32-bit integer. Returns an unsigned u32. */
export function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Output `index` (0-based) of the SplitMix32 stream `seed`: mix32(seed + (index+1)·γ). */
export function splitmix32At(seed: number, index: number): number {
  return mix32((seed + Math.imul(index + 1, GOLDEN)) | 0);
}

/** FNV-1a over the UTF-16 code units of a string (names are ASCII), as an unsigned u32. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A 32-bit seed for one named stream under a user seed (any safe integer, both halves used). */
export function deriveSeed(seed: number, name: string): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return mix32(mix32(lo ^ mix32(hi + GOLDEN)) ^ hashString(name));
}

/** A u32 as a uniform double strictly inside (0, 1). */
export const unitOpen = (u: number): number => (u + 0.5) / 4294967296;

/** Sequential SplitMix32 for the few draws that are not per-element (picks, per-column factors). */
export class SplitMix32 {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0;
  }
  nextU32(): number {
    this.state = (this.state + GOLDEN) | 0;
    return mix32(this.state);
  }
  /** Uniform in (0, 1). */
  nextFloat(): number {
    return unitOpen(this.nextU32());
  }
  /** Uniform integer in [0, n), n ≤ 2^32 (multiply-shift; bias < n/2^32, irrelevant here). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
  /** Exact standard normal (Box–Muller, one of the pair). */
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.nextFloat())) * Math.cos(2 * Math.PI * this.nextFloat());
  }
  /** Exact Student-t with 4 degrees of freedom, scaled to unit variance (closed-form quantile). */
  studentT4(): number {
    return studentT4Quantile(this.nextFloat()) / Math.SQRT2;
  }
}

/** Standard normal quantile, Acklam's rational approximation (relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const tail = (q: number) => (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

/**
 * Student-t quantile for ν = 4, closed form: α = 4p(1−p), q = cos(⅓·acos√α)/√α,
 * t = sign(p−½)·2·√(q−1). Variance is ν/(ν−2) = 2.
 */
export function studentT4Quantile(p: number): number {
  const alpha = 4 * p * (1 - p);
  const s = Math.sqrt(alpha);
  const q = Math.cos(Math.acos(Math.min(1, s)) / 3) / s;
  return Math.sign(p - 0.5) * 2 * Math.sqrt(Math.max(0, q - 1));
}

const TABLE_BITS = 16;
const KNOTS = 1 << TABLE_BITS;

/**
 * An inverse-CDF table: interleaved [knot_i, slope_i] pairs (one cache line per lookup), scaled so
 * the piecewise-uniform distribution it samples has exactly zero mean and unit variance.
 */
export function buildQuantileTable(quantile: (p: number) => number): Float32Array {
  const eps = 0.25 / KNOTS; // tail cut at p = 2^-18
  const k = new Float64Array(KNOTS + 1);
  for (let i = 0; i <= KNOTS; i++) k[i] = quantile(Math.min(1 - eps, Math.max(eps, i / KNOTS)));
  // Each bin is uniform on [k_i, k_i+1] with mass 1/KNOTS: E[x²] = (a² + ab + b²)/3 per bin.
  let m2 = 0;
  for (let i = 0; i < KNOTS; i++) {
    const a = k[i]!, b = k[i + 1]!;
    m2 += (a * a + a * b + b * b) / 3;
  }
  const scale = 1 / Math.sqrt(m2 / KNOTS);
  const t = new Float32Array(2 * KNOTS);
  for (let i = 0; i < KNOTS; i++) {
    t[2 * i] = k[i]! * scale;
    t[2 * i + 1] = ((k[i + 1]! - k[i]!) * scale) / KNOTS;
  }
  return t;
}

// The tables are built on first use, not at import: each is 65,537 quantiles (~25 ms), and every
// CLI command imports this module (seeds, SplitMix32) while only the generator samples tables.
let normal: Float32Array | undefined;
let studentT4: Float32Array | undefined;
/** Unit-variance standard normal table. */
export function normalTable(): Float32Array {
  return (normal ??= buildQuantileTable(normalQuantile));
}
/** Unit-variance Student-t₄ table (heavy tails: kurtosis is unbounded for ν = 4). */
export function studentT4Table(): Float32Array {
  return (studentT4 ??= buildQuantileTable(studentT4Quantile));
}

/** One sample from a table for a u32 `u`: knot at the high 16 bits, interpolated by the low 16. */
export function sampleTable(table: Float32Array, u: number): number {
  const i = (u >>> 15) & 0x1fffe;
  return table[i]! + table[i + 1]! * (u & 0xffff);
}

/**
 * out[j] = mean + std · sample(seed, firstIndex + j) for j < out.length: the bulk sampler the
 * simple tensor kinds use. Element i of stream `seed` is the same whichever call produces it.
 */
export function fillFromTable(out: Float32Array, seed: number, firstIndex: number, table: Float32Array, mean: number, std: number): void {
  let z = (seed + Math.imul(firstIndex, GOLDEN)) | 0;
  for (let j = 0; j < out.length; j++) {
    z = (z + GOLDEN) | 0;
    let h = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    const i = (h >>> 15) & 0x1fffe;
    out[j] = mean + std * (table[i]! + table[i + 1]! * (h & 0xffff));
  }
}
