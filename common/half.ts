/**
 * f32 ↔ f16/bf16 bit conversions with round-to-nearest-even, for the few places that convert in
 * TypeScript (preserve-as-float16 rules, the synthetic model generator). Node 20 has no
 * Float16Array; these were checked against numpy/ml_dtypes on ~6 M bit patterns.
 */
// Both work on the f32 bit pattern, so the input is exactly the Math.fround value a Float32Array
// holds. f16: NaN stays NaN (quiet bit set, top payload bits kept), overflow (≥ 65520 after
// rounding) goes to ±inf, magnitudes below 2^-14 become subnormals (rounded at the 2^-24 step),
// below 2^-25 (or exactly 2^-25, a tie to the even 0) become ±0. bf16 is the top half of the f32
// after adding 0x7fff + lsb, which rounds to nearest even and carries into the exponent, so the
// f32 max rounds to inf and f32 subnormals round like any other value; NaN is forced quiet so the
// carry can never turn it into inf.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits of the f32 with bit pattern `b`. */
export function f32BitsToF16Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rem = full & ((1 << shift) - 1);
    let h = full >>> shift;
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h; // may carry into the smallest normal, which is correct
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // carry may reach inf: correct
  return sign | h;
}

/** bf16 bits of the f32 with bit pattern `b`. */
export function f32BitsToBf16Bits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b >>> 0) + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

/** f16 bits of Math.fround(x). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  return f32BitsToF16Bits(u32[0]!);
}
/** bf16 bits of Math.fround(x). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  return f32BitsToBf16Bits(u32[0]!);
}
/** The exact f32 value of f16 bits. */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
/** The exact f32 value of bf16 bits. */
export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

