/**
 * A tour of the kernels on a built-in example: a synthetic DiT-style linear weight (heavy tails,
 * outlier input channels, a row length that is not a multiple of 128) quantized into every
 * format, with the storage cost and the quality the kernels measured in the same pass.
 *
 *   npm run example
 */
import { cpuFeatures, quantize, type FormatSpec } from '../common/native.js';

/** Deterministic weights: t-like tails from a ratio of uniforms, plus a few loud input channels. */
function ditWeight(rows: number, cols: number, seed: number): Float32Array {
  const w = new Float32Array(rows * cols);
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const scale = 1 / Math.sqrt(cols);
  for (let i = 0; i < w.length; i++) {
    const g = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    w[i] = (scale * g) / Math.sqrt(0.2 + uniform());
  }
  for (const c of [7, 301, 1000]) for (let r = 0; r < rows; r++) w[r * cols + c]! *= 20;
  return w;
}

const rows = 3072, cols = 1152; // a DiT-XL/2 MLP projection: 1152 is not a multiple of 128
const w = ditWeight(rows, cols, 2024);
const bytes = new Uint8Array(w.buffer);
const formats: FormatSpec[] = [
  { name: 'rtn', bits: 8, groupSize: 128 },
  { name: 'rtn', bits: 4, groupSize: 128 },
  { name: 'rtn', bits: 4, groupSize: 64, symmetric: true },
  { name: 'rtn', bits: 2, groupSize: 32 },
  { name: 'int8_channel' },
  { name: 'nf4' },
  { name: 'fp8_e4m3_channel' },
  { name: 'fp8_e5m2' },
  { name: 'q8_0' },
  { name: 'q4_0' },
];

const cpu = cpuFeatures();
console.log(`ArrowQuant kernels on ${cpu.arch} (${cpu.best}); weight ${rows}x${cols} f32, ${(w.byteLength / 2 ** 20).toFixed(1)} MiB`);
console.log('format                 bits/w   ratio   cosine    SQNR dB   max|err|    ms');
for (const f of formats) {
  const t = performance.now();
  const q = await quantize(bytes, 'F32', rows, cols, f, { threads: 0 });
  const ms = performance.now() - t;
  console.log(
    `${q.scheme.padEnd(22)} ${q.bitsPerWeight.toFixed(2).padStart(6)} ${(32 / q.bitsPerWeight).toFixed(2).padStart(6)}x ` +
      `${q.quality.cosine.toFixed(6).padStart(8)} ${q.quality.sqnrDb.toFixed(2).padStart(9)} ${q.quality.maxAbsErr.toExponential(2).padStart(10)} ${ms.toFixed(1).padStart(6)}`,
  );
}
