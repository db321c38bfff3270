/**
 * Kept tensors: stored bit-exactly in their source dtype, or converted to the dtype a `preserve`
 * rule names (float32 exactly; float16/bfloat16 rounded to nearest even, with the quality of that
 * rounding measured like any other reconstruction).
 */
import type { PreserveDtype } from '../../common/config/index.js';
import { bf16BitsToF32, f16BitsToF32, f32BitsToBf16Bits, f32BitsToF16Bits } from '../../common/half.js';
import { compareQuality, type QualityFigures } from '../../common/native.js';
import { DTYPE_BYTES, isQuantizable, type QuantizableDtype } from '../../common/format/dtypes.js';
import { exactQuality } from '../../common/format/quality.js';

const STORE_DTYPE: Record<Exclude<PreserveDtype, 'source'>, QuantizableDtype> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

export function storedDtype(source: string, preserve: PreserveDtype): string {
  return preserve === 'source' || !isQuantizable(source) ? source : STORE_DTYPE[preserve];
}

/** Widen raw little-endian floats to f32 (exact for F16/BF16/F32). */
export function widen(data: Buffer, dtype: QuantizableDtype): Float32Array {
  if (dtype === 'F32') {
    const out = new Float32Array(data.length / 4);
    new Uint8Array(out.buffer).set(data);
    return out;
  }
  const n = data.length / 2;
  const out = new Float32Array(n);
  const conv = dtype === 'F16' ? f16BitsToF32 : bf16BitsToF32;
  for (let i = 0; i < n; i++) out[i] = conv(data.readUInt16LE(2 * i));
  return out;
}

function narrow(values: Float32Array, dtype: QuantizableDtype): Buffer {
  if (dtype === 'F32') return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * 2);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const conv = dtype === 'F16' ? f32BitsToF16Bits : f32BitsToBf16Bits;
  for (let i = 0; i < values.length; i++) out.writeUInt16LE(conv(bits[i]!), 2 * i);
  return out;
}

export interface KeptChunk {
  payload: Buffer;
  dtype: string;
  quality: QualityFigures;
}

export async function keepChunk(data: Buffer, source: string, preserve: PreserveDtype, cols: number): Promise<KeptChunk> {
  const target = storedDtype(source, preserve);
  const elements = data.length / DTYPE_BYTES[source]!;
  if (target === source || !isQuantizable(source)) return { payload: data, dtype: source, quality: exactQuality(elements) };
  const stored = narrow(widen(data, source), target as QuantizableDtype);
  const recon = widen(stored, target as QuantizableDtype);
  const quality = await compareQuality(data, source, cols, recon);
  return { payload: stored, dtype: target, quality };
}
