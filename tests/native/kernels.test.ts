/**
 * The native binding from TypeScript: buffers in and out, dtypes, threads, ISA choice, typed
 * errors, and the event loop staying free while a kernel runs.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';

import { cpuFeatures, dequantize, quantize } from '../../common/native.js';
import { InvalidParameterError, NonFiniteError, RowLengthError, SizeMismatchError } from '../../common/errors.js';

/** Deterministic heavy-ish tailed weights (a cubic of a uniform LCG stream). */
function weights(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32 - 0.5;
    out[i] = u * u * u * 8 + u * 0.1;
  }
  return out;
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** bf16 by truncation of the f32 bits, and the exactly widened f32 of those bf16 values. */
function toBf16(a: Float32Array): { bf16: Uint8Array; widened: Float32Array } {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const halves = new Uint16Array(a.length);
  const widened = new Float32Array(a.length);
  const wb = new Uint32Array(widened.buffer);
  for (let i = 0; i < a.length; i++) {
    halves[i] = bits[i]! >>> 16;
    wb[i] = (bits[i]! >>> 16) << 16;
  }
  return { bf16: new Uint8Array(halves.buffer), widened };
}

test('cpuFeatures lists the scalar reference and a best ISA', () => {
  const f = cpuFeatures();
  assert.ok(f.available.includes('scalar'));
  assert.ok(f.available.includes(f.best));
  assert.equal(typeof f.arch, 'string');
});

test('q8_0 and rtn int4 round-trip with sizes and quality from the kernels', async () => {
  const rows = 8, cols = 256;
  const w = weights(rows * cols);
  const q8 = await quantize(bytesOf(w), 'F32', rows, cols, { name: 'q8_0' });
  assert.equal(q8.scheme, 'q8_0');
  assert.equal(q8.codes.length, rows * (cols / 32) * 34);
  assert.equal(q8.bitsPerWeight, 8.5);
  assert.ok(q8.quality.cosine > 0.9999, `cosine ${q8.quality.cosine}`);

  const spec = { name: 'rtn', bits: 4, groupSize: 64, symmetric: false };
  const q4 = await quantize(bytesOf(w), 'F32', rows, cols, spec);
  assert.equal(q4.scheme, 'rtn_int4_g64_asym');
  assert.equal(q4.codes.length, (rows * cols) / 2);
  assert.equal(q4.scales.length, (rows * cols) / 64);
  assert.equal(q4.zeros.length, (rows * cols) / 64);
  const back = await dequantize(spec, rows, cols, q4.codes, q4.scales, q4.zeros);
  let num = 0, xx = 0, yy = 0;
  for (let i = 0; i < w.length; i++) {
    num += w[i]! * back[i]!;
    xx += w[i]! * w[i]!;
    yy += back[i]! * back[i]!;
  }
  const cosine = num / Math.sqrt(xx * yy);
  assert.ok(Math.abs(cosine - q4.quality.cosine) < 1e-6, `${cosine} vs ${q4.quality.cosine}`);
});

test('bf16 input equals its f32 widening; unaligned views equal aligned ones', async () => {
  const rows = 4, cols = 512;
  const { bf16, widened } = toBf16(weights(rows * cols, 5));
  const fmt = { name: 'q4_0' };
  const a = await quantize(bf16, 'BF16', rows, cols, fmt);
  const b = await quantize(bytesOf(widened), 'F32', rows, cols, fmt);
  assert.deepEqual(a.codes, b.codes);

  const shifted = new Uint8Array(widened.byteLength + 1);
  shifted.set(bytesOf(widened), 1);
  const c = await quantize(shifted.subarray(1), 'F32', rows, cols, fmt);
  assert.deepEqual(c.codes, b.codes);
});

test('results do not depend on thread count or ISA', async () => {
  const rows = 200, cols = 1024;
  const w = bytesOf(weights(rows * cols, 9));
  const fmt = { name: 'rtn', bits: 2, groupSize: 32, symmetric: true };
  const base = await quantize(w, 'F32', rows, cols, fmt, { threads: 1, isa: 'scalar' });
  for (const isa of cpuFeatures().available) {
    for (const threads of [1, 2, 0]) {
      const r = await quantize(w, 'F32', rows, cols, fmt, { threads, isa });
      assert.deepEqual(r.codes, base.codes, `${isa} x${threads}`);
      assert.deepEqual(r.scales, base.scales, `${isa} x${threads}`);
    }
  }
});

test('a NaN is a NonFiniteError naming row and column', async () => {
  const rows = 6, cols = 128;
  const w = weights(rows * cols);
  w[4 * cols + 77] = Number.NaN;
  await assert.rejects(quantize(bytesOf(w), 'F32', rows, cols, { name: 'nf4' }, { threads: 2 }), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError, String(e));
    assert.equal(e.row, 4);
    assert.equal(e.col, 77);
    assert.equal(e.index, 4 * cols + 77);
    assert.match(e.message, /row 4, column 77/);
    assert.ok(e.cause, 'keeps the native error as cause');
    return true;
  });
});

test('bad parameters and shapes are typed errors', async () => {
  const w = bytesOf(weights(64));
  await assert.rejects(quantize(w, 'F32', 2, 32, { name: 'rtn', bits: 3 }), (e: unknown) => e instanceof InvalidParameterError && e.field === 'bits');
  await assert.rejects(quantize(w, 'F32', 2, 32, { name: 'int3' }), (e: unknown) => e instanceof InvalidParameterError && e.field === 'format');
  await assert.rejects(quantize(w, 'F64' as 'F32', 2, 32, { name: 'q8_0' }), (e: unknown) => e instanceof InvalidParameterError && e.field === 'dtype');
  await assert.rejects(quantize(w, 'F32', 3, 32, { name: 'q8_0' }), (e: unknown) => e instanceof SizeMismatchError && e.expected === 96 && e.actual === 64);
  await assert.rejects(quantize(w, 'F32', 4, 16, { name: 'q4_0' }), (e: unknown) => e instanceof RowLengthError && e.multiple === 32);
  await assert.rejects(quantize(w, 'F32', 2, 32, { name: 'q8_0' }, { isa: 'sse9' }), (e: unknown) => e instanceof InvalidParameterError && e.field === 'isa');
  await assert.rejects(
    dequantize({ name: 'q8_0' }, 2, 32, new Uint8Array(3), new Float32Array(0), new Uint8Array(0)),
    (e: unknown) => e instanceof SizeMismatchError && e.expected === 68,
  );
});

test('the event loop keeps running while a large tensor is quantized', async () => {
  const rows = 4096, cols = 4096; // 64 MiB of f32 through the slow scalar NF4 path
  const w = bytesOf(weights(rows * cols, 3));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const started = performance.now();
  const r = await quantize(w, 'F32', rows, cols, { name: 'nf4' }, { threads: 1, isa: 'scalar' });
  const elapsed = performance.now() - started;
  clearInterval(timer);
  assert.equal(r.quality.elements, rows * cols);
  // A blocked loop would see no ticks at all until the promise settled.
  assert.ok(elapsed < 40 || ticks >= Math.floor(elapsed / 20), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
});
