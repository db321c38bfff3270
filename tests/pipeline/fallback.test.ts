/** Fallback INT2 → INT4 → INT8 (→ keep), recorded in the file and the report; fail_fast stops. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized } from '../../common/format/reader.js';
import { runCli, synth, tempDir } from '../helpers/cli.js';

test('tensors below min_accuracy fall back to more bits, never fewer, and it is recorded', async () => {
  const dir = tempDir('fallback');
  await synth('dream', 'single', join(dir, 'm'));
  const out = join(dir, 'out.parquet');
  const report = join(dir, 'report.json');
  const r = await runCli(['quantize', join(dir, 'm'), '-o', out, '--bits', '2', '--min-accuracy', '0.99', '--report', report]);
  assert.equal(r.code, 0, r.stderr);
  const f = await openQuantized(out);
  const quantized = f.tensors.filter((t) => t.requestedBits === 2);
  assert.ok(quantized.length > 0);
  for (const t of quantized) {
    // INT2 cannot reach 0.99 on these weights, so every one moved up.
    assert.ok(t.fallbacks.length >= 1, `${t.name} did not fall back`);
    assert.equal(t.fallbacks[0]!.fromBits, 2);
    assert.ok(t.fallbacks[0]!.cosine < 0.99);
    assert.ok(t.bits > 2, `${t.name} stayed at ${t.bits} bits`);
    assert.ok(t.quality.cosine >= 0.99, `${t.name} accepted at cosine ${t.quality.cosine}`);
    for (const s of t.fallbacks) assert.ok(s.toBits > s.fromBits);
  }
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { fallbacks: number }; tensors: { fallbacks: unknown[] }[] };
  assert.equal(rep.summary.fallbacks, quantized.reduce((s, t) => s + t.fallbacks.length, 0));
  assert.ok(r.stderr.includes('"event":"fallback"'));
});

test('a threshold no grid can meet ends with the tensor kept exactly', async () => {
  const dir = tempDir('keep');
  await synth('dream', 'single', join(dir, 'm'));
  const out = join(dir, 'out.parquet');
  const r = await runCli(['quantize', join(dir, 'm'), '-o', out, '--method', 'rtn', '--bits', '4', '--min-accuracy', '1']);
  assert.equal(r.code, 0, r.stderr);
  const f = await openQuantized(out);
  const t = f.tensor('model.layers.0.mlp.down_proj.weight');
  assert.equal(t.method, 'keep');
  assert.deepEqual(t.fallbacks.map((s) => s.toScheme), ['rtn_int8_g128_asym', 'keep_BF16']);
});

test('fail_fast stops at the first tensor below the threshold, names it, writes nothing', async () => {
  const dir = tempDir('failfast');
  await synth('dream', 'single', join(dir, 'm'));
  const out = join(dir, 'out.parquet');
  const r = await runCli(['quantize', join(dir, 'm'), '-o', out, '--method', 'rtn', '--bits', '2', '--min-accuracy', '0.99', '--fail-fast']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /QualityThresholdError: tensor "model\.layers\.0\.[^"]+": cosine similarity 0\.\d+ with rtn_int2_g128_asym is below min_accuracy 0\.99/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir).sort(), ['m']);
});
