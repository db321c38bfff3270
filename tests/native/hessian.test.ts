/**
 * A layer's Hessian where it lives: read a block of rows at a time from the calibration file, or
 * held in memory (a worker's copy). Both give the same GPTQ codes and the same layer-output
 * figures; bad sizes and a file that shrank are clear errors, not crashes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, test } from 'vitest';

import { KernelError } from '../../common/errors.js';
import { Hessian, LayerCalibration, SourceChunk, SourceFile, quantizeLayerChunk } from '../../common/native.js';

const dir = mkdtempSync(join(tmpdir(), 'aq-hessian-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 32-bit LCG's uniform values in [-0.5, 0.5). */
function uniforms(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
}

/** 1100 inputs: two of the kernels' 4 MiB row blocks. H = XᵀX/n + I/100, X with outlier channels. */
const [rows, cols, n] = [24, 1100, 48];
const u = uniforms(7);
const x = Float32Array.from({ length: n * cols }, (_, k) => u() * (k % cols === 3 ? 25 : 1));
const h = new Float32Array(cols * cols);
for (let i = 0; i < cols; i++)
  for (let j = i; j < cols; j++) {
    let s = 0;
    for (let r = 0; r < n; r++) s += x[r * cols + i]! * x[r * cols + j]!;
    h[i * cols + j] = h[j * cols + i] = s / n + (i === j ? 0.01 : 0);
  }
const w = Float32Array.from({ length: rows * cols }, () => u() / 10);
const hBytes = Buffer.from(h.buffer);
const offset = 100; // not a multiple of 4: the file's bytes are not f32-aligned
const path = join(dir, 'calib.bin');
writeFileSync(path, Buffer.concat([Buffer.alloc(offset, 7), hBytes]));

async function quantizeWith(hessian: Hessian) {
  const layer = LayerCalibration.create(cols, hessian, null, { damp: 0.01 }, null, rows);
  hessian.release(); // the layer keeps its own reference
  const chunk = SourceChunk.fromBytes(Buffer.from(w.buffer));
  try {
    const q = await quantizeLayerChunk(chunk, 'F32', rows, cols, { name: 'rtn_int4_g128_asym' }, layer);
    return { codes: q.codes(), scales: q.scales(), output: q.layerOutput };
  } finally {
    chunk.release();
    layer.release();
  }
}

test('a Hessian read from the file and one held in memory give the same codes and figures', async () => {
  const inFile = await quantizeWith(Hessian.inFile(SourceFile.open(path), offset, cols));
  const held = await quantizeWith(Hessian.held(SourceChunk.fromBytes(hBytes), cols));
  assert.deepEqual(inFile.codes, held.codes);
  assert.deepEqual(inFile.scales, held.scales);
  assert.deepEqual(inFile.output, held.output);
  // The figures are the layer's: Σ w·H·w over every row (stride 1 at 24 rows), computed here.
  let ww = 0;
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < cols; i++) {
      let hw = 0;
      for (let j = 0; j < cols; j++) hw += h[i * cols + j]! * w[r * cols + j]!;
      ww += w[r * cols + i]! * hw;
    }
  assert.equal(inFile.output?.rows, rows);
  assert.ok(Math.abs(inFile.output!.sumWw - ww) <= 1e-4 * ww, `${inFile.output!.sumWw} vs ${ww}`);
  assert.ok(inFile.output!.cosine > 0.9 && inFile.output!.cosine < 1);
});

test('wrong sizes and a file that shrank are errors that say so', async () => {
  const file = SourceFile.open(path);
  assert.throws(() => Hessian.inFile(file, offset + 4, cols), (e: Error) => e.message.includes(path) && e.message.includes('after the file'));
  assert.throws(() => Hessian.held(SourceChunk.fromBytes(hBytes.subarray(4)), cols), /hessian bytes/);
  assert.throws(() => LayerCalibration.create(cols + 1, Hessian.held(SourceChunk.fromBytes(hBytes), cols), null, { damp: 0.01 }, null, null), /hessian columns/);

  const shrinking = join(dir, 'shrinking.bin');
  writeFileSync(shrinking, hBytes);
  const hessian = Hessian.inFile(SourceFile.open(shrinking), 0, cols);
  truncateSync(shrinking, hBytes.length / 2);
  const second = Hessian.held(SourceChunk.fromBytes(hBytes), cols);
  second.release();
  assert.throws(() => LayerCalibration.create(cols, second, null, null, null, rows), /already released/);
  await assert.rejects(quantizeWith(hessian), (e: unknown) => e instanceof KernelError && e.kind === 'Read' && e.message.includes(shrinking));
});
