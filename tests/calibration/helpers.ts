/** Reading tensors and calibration statistics back for the calibrated-method tests. */
import { readFileSync } from 'node:fs';

import { bf16BitsToF32, f16BitsToF32 } from '../../common/half.js';
import { readHeader, type TensorEntry } from '../../coordinator/model/safetensors.js';

/** A float tensor's values as f32 (F32, F16, BF16). */
export function valuesOf(path: string, t: TensorEntry): Float32Array {
  const b = readFileSync(path).subarray(t.begin, t.end);
  const n = b.length / (t.dtype === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = t.dtype === 'F32' ? b.readFloatLE(4 * i) : t.dtype === 'F16' ? f16BitsToF32(b.readUInt16LE(2 * i)) : bf16BitsToF32(b.readUInt16LE(2 * i));
  }
  return out;
}

export async function tensorsOf(path: string): Promise<Map<string, { entry: TensorEntry; values: () => Float32Array }>> {
  const h = await readHeader(path);
  return new Map(h.tensors.map((t) => [t.name, { entry: t, values: () => valuesOf(path, t) }]));
}

/** tr(E·H·Eᵀ) / tr(W·H·Wᵀ) with E = W − Ŵ: the layer's output error per unit of output energy. */
export function outputError(w: Float32Array, wq: Float32Array, h: Float32Array, cols: number): number {
  let num = 0;
  let den = 0;
  const rows = w.length / cols;
  const e = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) e[j] = w[r * cols + j]! - wq[r * cols + j]!;
    for (let a = 0; a < cols; a++) {
      let se = 0;
      let sw = 0;
      for (let b = 0; b < cols; b++) {
        const hab = h[a * cols + b]!;
        se += e[b]! * hab;
        sw += w[r * cols + b]! * hab;
      }
      num += e[a]! * se;
      den += w[r * cols + a]! * sw;
    }
  }
  return num / den;
}
