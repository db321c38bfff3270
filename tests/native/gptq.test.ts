/** The GPTQ binding: decodes as RTN, beats RTN on the layer output, typed errors. */
import assert from 'node:assert/strict';
import { test } from 'vitest';

import { InvalidParameterError, NonFiniteError } from '../../common/errors.js';
import { dequantize, gptqQuantize, quantize } from '../../common/native.js';

/** A seeded normal generator (Box-Muller over a 32-bit LCG), enough for a test layer. */
function normals(seed: number) {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function layer(rows: number, cols: number, n: number) {
  const g = normals(42);
  const w = Float32Array.from({ length: rows * cols }, () => g() / Math.sqrt(cols));
  const x = new Float32Array(n * cols);
  for (let r = 0; r < n; r++) {
    const common = g();
    for (let c = 0; c < cols; c++) x[r * cols + c] = (c % 37 === 5 ? 15 : 1) * (g() + 0.6 * common);
  }
  const h = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++)
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += x[r * cols + i]! * x[r * cols + j]!;
      h[i * cols + j] = s / n;
    }
  return { w, x, h };
}

function outputError(x: Float32Array, w: Float32Array, wq: Float32Array, n: number, rows: number, cols: number): number {
  let [num, den] = [0, 0];
  for (let r = 0; r < n; r++)
    for (let o = 0; o < rows; o++) {
      let [a, b] = [0, 0];
      for (let c = 0; c < cols; c++) {
        a += x[r * cols + c]! * w[o * cols + c]!;
        b += x[r * cols + c]! * wq[o * cols + c]!;
      }
      num += (a - b) ** 2;
      den += a * a;
    }
  return Math.sqrt(num / den);
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const f32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

test('GPTQ output decodes as the RTN scheme and has a lower layer-output error than RTN', async () => {
  const [rows, cols, n] = [24, 160, 240];
  const { w, x, h } = layer(rows, cols, n);
  const format = { name: 'rtn', bits: 4, groupSize: 32, symmetric: false };
  const g = await gptqQuantize(bytes(w), 'F32', rows, cols, h, format, { threads: 2 });
  const wg = await dequantize({ name: 'rtn_int4_g32_asym' }, rows, cols, g.codes(), f32(g.scales()), g.zeros());
  const r = await quantize(bytes(w), 'F32', rows, cols, format);
  const wr = await dequantize(format, rows, cols, r.codes, r.scales, r.zeros);
  const [eg, er] = [outputError(x, w, wg, n, rows, cols), outputError(x, w, wr, n, rows, cols)];
  assert.ok(eg < er, `gptq ${eg} vs rtn ${er}`);
  assert.ok(g.quality.cosine > 0.95 && g.quality.cosine < 1);
  assert.equal(g.payloadBytes, g.codes().length + g.scales().length + g.zeros().length);
});

test('GPTQ refuses formats without a grid and non-finite Hessians with typed errors', async () => {
  const { w, h } = layer(8, 64, 80);
  await assert.rejects(gptqQuantize(bytes(w), 'F32', 8, 64, h, { name: 'q4_0' }), InvalidParameterError);
  const bad = h.slice();
  bad[10] = Number.NaN;
  // A bad Hessian is not a bad weight: an InvalidParameter naming the hessian, not NonFinite.
  await assert.rejects(gptqQuantize(bytes(w), 'F32', 8, 64, bad, { name: 'rtn', bits: 4, groupSize: 32 }), (e: unknown) => {
    assert.ok(e instanceof InvalidParameterError && !(e instanceof NonFiniteError));
    assert.match(e.message, /invalid hessian: NaN at row 0, column 10/);
    return true;
  });
  const wn = w.slice();
  wn[70] = Number.NaN;
  await assert.rejects(gptqQuantize(bytes(wn), 'F32', 8, 64, h, { name: 'rtn', bits: 4, groupSize: 32 }), NonFiniteError);
});

test('GPTQ onto the R2Q and HQQ grids decodes as those schemes and beats them on the layer output', async () => {
  const [rows, cols, n] = [48, 128, 400];
  const { w, x, h } = layer(rows, cols, n);
  for (const [format, scheme] of [
    [{ name: 'r2q', groupSize: 32 }, 'r2q_g32'],
    [{ name: 'hqq', bits: 2, groupSize: 64 }, 'hqq_int2_g64'],
  ] as const) {
    const g = await gptqQuantize(bytes(w), 'F32', rows, cols, h, format, { threads: 2 });
    const wg = await dequantize({ name: scheme }, rows, cols, g.codes(), f32(g.scales()), g.zeros());
    const r = await quantize(bytes(w), 'F32', rows, cols, format);
    assert.equal(r.scheme, scheme);
    const wr = await dequantize({ name: scheme }, rows, cols, r.codes, r.scales, r.zeros);
    const [eg, er] = [outputError(x, w, wg, n, rows, cols), outputError(x, w, wr, n, rows, cols)];
    assert.ok(eg < er, `${scheme}: gptq ${eg} vs plain ${er}`);
  }
});
