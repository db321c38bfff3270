/**
 * The quality gate judges layer outputs where a layer has a Hessian: the file's `layer_output`
 * figures equal cos(XWᵀ, XŴᵀ) computed from H and the reader's values; `min_accuracy` is compared
 * with that figure (not the weight cosine) and the fallback record carries it; without a
 * calibration file the weight cosine is judged, as before.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized, type TensorInfo } from '../../common/format/reader.js';
import { openCalibration } from '../../coordinator/calibration/file.js';
import { writeSyntheticCalibration } from '../../coordinator/calibration/synthetic-stats.js';
import { runCli, sha256, synth, tempDir } from '../helpers/cli.js';
import { outputError, tensorsOf, valuesOf } from './helpers.js';

const env = { ARROW_QUANT_ENABLE_SPATIAL: 'false', ARROW_QUANT_ENABLE_TIME_AWARE: 'false' };

async function dit() {
  const dir = tempDir('gate');
  const model = join(dir, 'dit');
  await synth('dit', 'single', model);
  const calib = join(dir, 'calib.safetensors');
  await writeSyntheticCalibration({ modelPath: model, outPath: calib, samples: 96, groups: 2, seed: 9 });
  return { dir, model, calib };
}

async function quantize(model: string, out: string, args: string[]) {
  const r = await runCli(['quantize', model, '-o', out, '--method', 'rtn', '--bits', '4', '--group-size', '32', ...args], { env });
  assert.equal(r.code, 0, r.stderr);
  return openQuantized(out);
}

/**
 * cos(XWᵀ, XŴᵀ) directly: with ε = ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖² and r = ‖XŴᵀ‖²/‖XWᵀ‖²,
 * cos = (1 + r − ε) / (2√r).
 */
function outputCosine(w: Float32Array, wq: Float32Array, h: Float32Array, cols: number): number {
  const eps = outputError(w, wq, h, cols);
  const r = energyRatio(w, wq, h, cols);
  return (1 + r - eps) / (2 * Math.sqrt(r));
}

/** tr(ŴHŴᵀ) / tr(WHWᵀ). */
function energyRatio(w: Float32Array, wq: Float32Array, h: Float32Array, cols: number): number {
  const quad = (m: Float32Array) => {
    let s = 0;
    for (let r = 0; r < m.length / cols; r++) {
      for (let a = 0; a < cols; a++) {
        let t = 0;
        for (let b = 0; b < cols; b++) t += h[a * cols + b]! * m[r * cols + b]!;
        s += m[r * cols + a]! * t;
      }
    }
    return s;
  };
  return quad(wq) / quad(w);
}

test('layer_output holds cos(XWᵀ, XŴᵀ) from the Hessian over its measured rows, the same in streaming mode; files without calibration have none', async () => {
  const { dir, model, calib } = await dit();
  const f = await quantize(model, join(dir, 'a.parquet'), ['--calibration', calib, '--min-accuracy', '0']);
  const streaming = join(dir, 's.parquet');
  await quantize(model, streaming, ['--calibration', calib, '--min-accuracy', '0', '--mode', 'streaming', '--threads', '1']);
  assert.equal(sha256(streaming), sha256(join(dir, 'a.parquet')));
  const c = await openCalibration(calib);
  const src = await tensorsOf(join(model, 'diffusion_pytorch_model.safetensors'));
  let checked = 0;
  for (const t of f.tensors.filter((x) => x.method !== 'keep')) {
    const layer = c.layers.get(t.name.replace(/\.weight$/, ''));
    if (!layer?.hessian) {
      assert.equal(t.layerOutput, undefined, t.name);
      assert.equal(t.accuracy.basis, 'weight');
      continue;
    }
    const lo = t.layerOutput;
    assert.ok(lo, `${t.name} has a Hessian, so layer-output figures`);
    assert.deepEqual(t.accuracy, lo.cosine <= t.quality.cosine ? { basis: 'layer_output', cosine: lo.cosine } : { basis: 'weight', cosine: t.quality.cosine });
    const cols = layer.inFeatures;
    // One chunk per tensor here: rows 0, s, 2s, … are measured, s = max(1, ⌊rows / 256⌋).
    const rows = t.shape[0]!;
    const stride = Math.max(1, Math.floor(rows / 256));
    assert.equal(t.chunks, 1, t.name);
    assert.equal(lo.rows, Math.ceil(rows / stride), t.name);
    const pick = (m: Float32Array) => {
      const out = new Float32Array(lo.rows * cols);
      for (let k = 0; k < lo.rows; k++) out.set(m.subarray(k * stride * cols, (k * stride + 1) * cols), k * cols);
      return out;
    };
    const w = pick(src.get(t.name)!.values());
    const wq = pick((await f.dequantize(t)) as Float32Array);
    const h = valuesOf(calib, layer.hessian);
    const want = outputCosine(w, wq, h, cols);
    assert.ok(want < 0.9999 && want > 0.5, `${t.name}: ${want}`);
    assert.ok(Math.abs((1 - lo.cosine) / (1 - want) - 1) < 1e-3, `${t.name}: file ${lo.cosine} vs direct ${want}`);
    assert.ok(Math.abs(lo.sumEe / lo.sumWw / outputError(w, wq, h, cols) - 1) < 1e-4, t.name);
    checked++;
  }
  assert.ok(checked >= 8, `checked ${checked}`);
  assert.ok(f.tensors.some((t) => t.layerOutput && t.layerOutput.rows < t.shape[0]!), 'some tensor is measured on a sample of its rows');
  const plain = await quantize(model, join(dir, 'plain.parquet'), ['--min-accuracy', '0']);
  assert.ok(plain.tensors.every((t) => t.layerOutput === undefined && t.accuracy.cosine === t.quality.cosine));
});

test('min_accuracy judges the lower of the layer-output and weight cosines where there is a Hessian, and the fallback record says so', async () => {
  const { dir, model, calib } = await dit();
  const base = await quantize(model, join(dir, 'base.parquet'), ['--calibration', calib, '--min-accuracy', '0']);
  const measured = base.tensors.filter((t): t is TensorInfo & { layerOutput: NonNullable<TensorInfo['layerOutput']> } => t.layerOutput !== undefined);
  // A tensor whose outputs suffer more than its weights: a threshold between its two cosines
  // passes it on the weight figure and fails it on the layer-output figure.
  const target = measured.filter((t) => t.layerOutput.cosine < t.quality.cosine - 1e-4).sort((a, b) => a.layerOutput.cosine - b.layerOutput.cosine)[0];
  assert.ok(target, 'some layer loses more on its outputs than on its weights (outlier input channels)');
  const tau = (target.layerOutput.cosine + target.quality.cosine) / 2;
  const gated = await quantize(model, join(dir, 'gated.parquet'), ['--calibration', calib, '--min-accuracy', String(tau)]);
  for (const t of gated.tensors.filter((x) => x.method !== 'keep' || x.fallbacks.length > 0)) {
    const before = base.tensors[t.index]!;
    const judged = Math.min(before.layerOutput?.cosine ?? 1, before.quality.cosine);
    if (judged >= tau) {
      assert.equal(t.fallbacks.length, 0, `${t.name} passed at ${judged}`);
      continue;
    }
    assert.ok(t.fallbacks.length >= 1, `${t.name} (judged ${judged} < ${tau}) fell back`);
    assert.equal(t.fallbacks[0]!.cosine, judged, `${t.name}: the record carries the judged figure`);
    assert.equal(t.fallbacks[0]!.fromScheme, 'rtn_int4_g32_asym');
  }
  assert.ok(gated.tensors[target.index]!.fallbacks.length >= 1, `${target.name} fell back`);
  assert.ok(target.quality.cosine >= tau, 'on its weight cosine alone it would have passed');

  // The same threshold without a calibration file judges weights: the target passes.
  const weights = await quantize(model, join(dir, 'weights.parquet'), ['--min-accuracy', String(tau)]);
  assert.equal(weights.tensors[target.index]!.fallbacks.length, 0);

  // fail_fast names the figure.
  const ff = await runCli(['quantize', model, '-o', join(dir, 'ff.parquet'), '--method', 'rtn', '--bits', '4', '--group-size', '32', '--calibration', calib, '--min-accuracy', String(tau), '--fail-fast'], { env });
  assert.equal(ff.code === 0, false);
  assert.match(ff.stderr, /layer-output cosine \(on the calibration inputs\) [\d.]+ with rtn_int4_g32_asym is below min_accuracy/);
});

test('the default gate catches a layer forced to 2 bits and falls back, traced, with and without calibration', async () => {
  const dir = tempDir('broken');
  const model = join(dir, 'dream');
  await synth('dream', 'single', model);
  await writeSyntheticCalibration({ modelPath: model, outPath: join(dir, 'calib.safetensors'), samples: 96, groups: 2, seed: 3 });
  const config = join(dir, 'broken.yaml');
  writeFileSync(config, "overrides:\n  - pattern: 'layers\\.0\\.mlp\\.down_proj\\.weight$'\n    method: rtn\n    bit_width: 2\n");
  for (const calibration of [[], ['--calibration', join(dir, 'calib.safetensors')]] as string[][]) {
    const out = join(dir, `q${calibration.length}.parquet`);
    const r = await runCli(['quantize', model, '-o', out, '--config', config, ...calibration, '--report', `${out}.json`]);
    assert.equal(r.code, 0, r.stderr);
    const f = await openQuantized(out);
    const t = f.tensors.find((x) => x.name === 'model.layers.0.mlp.down_proj.weight')!;
    assert.equal(t.requestedBits, 2);
    assert.ok(t.fallbacks.length >= 1 && t.fallbacks[0]!.fromBits === 2 && t.fallbacks[0]!.threshold === 0.97, JSON.stringify(t.fallbacks));
    assert.ok(t.bits >= 4 && t.accuracy.cosine >= 0.97, `${t.scheme}: ${t.accuracy.cosine}`);
    const report = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { tensors: { name: string; fallbacks: unknown[]; accuracy_basis: string | null }[] };
    const row = report.tensors.find((x) => x.name === t.name)!;
    assert.equal(row.fallbacks.length, t.fallbacks.length);
    assert.equal(row.accuracy_basis, t.accuracy.basis);
  }
});
