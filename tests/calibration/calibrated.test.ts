/**
 * Calibrated methods end to end, on synthetic models with synthetic calibration files (the same
 * format tools/capture_calibration.py writes): GPTQ beats RTN on every calibrated layer's output,
 * layers without calibration fall back with a warning, time groups and smoothing factors are
 * stored and read back, the modality table picks the method, and bad calibration files are clear
 * errors that leave no output behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized } from '../../common/format/reader.js';
import { openCalibration } from '../../coordinator/calibration/file.js';
import { timeGroupParams } from '../../coordinator/calibration/time-groups.js';
import { sampleLayerStats, timestepGroups, writeSyntheticCalibration } from '../../coordinator/calibration/synthetic-stats.js';
import { writeSafetensors, type FloatTensorSpec } from '../../common/safetensors/writer.js';
import { jsonLines, runCli, sha256, synth, tempDir } from '../helpers/cli.js';
import { outputError, tensorsOf, valuesOf } from './helpers.js';

async function ditWithCalibration(groups = 4): Promise<{ dir: string; model: string; calib: string }> {
  const dir = tempDir('calib');
  const model = join(dir, 'dit');
  await synth('dit', 'single', model);
  const calib = join(dir, 'calib.safetensors');
  await writeSyntheticCalibration({ modelPath: model, outPath: calib, samples: 96, groups, seed: 5 });
  return { dir, model, calib };
}

test('gptq with a calibration file beats rtn on every calibrated layer, verifies, and is the same in both modes', async () => {
  const { dir, model, calib } = await ditWithCalibration();
  const env = { ARROW_QUANT_ENABLE_SPATIAL: 'false', ARROW_QUANT_ENABLE_TIME_AWARE: 'false' };
  const g = join(dir, 'gptq.parquet');
  const r = join(dir, 'rtn.parquet');
  const run = await runCli(['quantize', model, '-o', g, '--method', 'gptq', '--calibration', calib, '--bits', '4', '--group-size', '32', '--min-accuracy', '0'], { env });
  assert.equal(run.code, 0, run.stderr);
  assert.equal((await runCli(['quantize', model, '-o', r, '--method', 'rtn', '--bits', '4', '--group-size', '32', '--min-accuracy', '0'], { env })).code, 0);
  const streaming = join(dir, 'gptq-streaming.parquet');
  assert.equal((await runCli(['quantize', model, '-o', streaming, '--method', 'gptq', '--calibration', calib, '--bits', '4', '--group-size', '32', '--min-accuracy', '0', '--mode', 'streaming', '--threads', '1'], { env })).code, 0);
  assert.equal(sha256(streaming), sha256(g), 'calibrated files depend on the model and config only');

  const c = await openCalibration(calib);
  const fg = await openQuantized(g);
  const fr = await openQuantized(r);
  const src = await tensorsOf(join(model, 'diffusion_pytorch_model.safetensors'));
  let compared = 0;
  for (const t of fg.tensors.filter((x) => x.method !== 'keep')) {
    const layer = c.layers.get(t.name.replace(/\.weight$/, ''));
    assert.ok(layer?.hessian, `${t.name} is quantized and calibrated`);
    assert.equal(t.method, 'gptq', t.name);
    assert.equal(t.scheme, 'rtn_int4_g32_asym', t.name);
    const cols = layer.inFeatures;
    const w = src.get(t.name)!.values();
    const h = valuesOf(calib, layer.hessian);
    const eg = outputError(w, (await fg.dequantize(t)) as Float32Array, h, cols);
    const er = outputError(w, (await fr.dequantize(t.name)) as Float32Array, h, cols);
    assert.ok(eg < er, `${t.name}: gptq output error ${eg} vs rtn ${er}`);
    compared++;
  }
  assert.ok(compared >= 8, `compared ${compared} layers`);
  const footer = JSON.parse(fg.metadata['arrowquant.calibration']!) as { file: string; nsamples: number; layers_used: number };
  assert.deepEqual([footer.file, footer.nsamples, footer.layers_used], ['calib.safetensors', 96, compared]);
  assert.equal(fg.metadata['arrowquant.format_version'], '3');
  const verify = await runCli(['verify', g, model]);
  assert.equal(verify.code, 0, verify.stderr);
});

test('layers missing from the calibration file use rtn, and one warning names them', async () => {
  const { dir, model, calib } = await ditWithCalibration();
  const c = await openCalibration(calib);
  // A file with every layer but the first two of the transformer blocks (which are quantized).
  const blocks = [...c.layers.values()].filter((l) => /\.(attn|ff)\./.test(l.prefix));
  const keep = [...c.layers.values()].filter((l) => !blocks.slice(0, 2).includes(l));
  const partial = join(dir, 'partial.safetensors');
  const specs: FloatTensorSpec[] = keep.flatMap((l) => {
    const s = sampleLayerStats(l.prefix, l.inFeatures, 32, 4, 1);
    const copy = (a: Float32Array, cols: number) => (r0: number, n: number, out: Float32Array) => out.set(a.subarray(r0 * cols, (r0 + n) * cols));
    return [
      { name: `${l.prefix}.hessian`, dtype: 'F32', shape: [l.inFeatures, l.inFeatures], fill: copy(s.hessian, l.inFeatures) },
      { name: `${l.prefix}.act_range`, dtype: 'F32', shape: [4, 2], fill: copy(s.range, 2) },
    ] as FloatTensorSpec[];
  });
  await writeSafetensors(partial, specs, { timestep_groups: JSON.stringify(timestepGroups(4, 1000)), nsamples: '32' });
  const out = join(dir, 'out.parquet');
  const run = await runCli(['quantize', model, '-o', out, '--method', 'gptq', '--calibration', partial]);
  assert.equal(run.code, 0, run.stderr);
  const warning = jsonLines(run.stderr).find((e) => e.event === 'calibration_warning');
  assert.ok(warning, run.stderr);
  const missing = blocks.slice(0, 2).map((l) => `${l.prefix}.weight`);
  assert.deepEqual((warning.warnings as { tensor: string }[]).map((w) => w.tensor), missing);
  const f = await openQuantized(out);
  for (const name of missing) assert.equal(f.tensor(name).method, 'rtn');
  assert.ok(f.tensors.filter((t) => t.method === 'gptq').length >= 6);
});

test('time-aware groups are merged to num_time_groups, stored per tensor and looked up by timestep', async () => {
  const { dir, model, calib } = await ditWithCalibration(4);
  const out = join(dir, 'tg.parquet');
  const env = { ARROW_QUANT_ENABLE_SPATIAL: 'false', ARROW_QUANT_NUM_TIME_GROUPS: '2' };
  const run = await runCli(['quantize', model, '-o', out, '--method', 'hqq', '--calibration', calib], { env });
  assert.equal(run.code, 0, run.stderr);
  const c = await openCalibration(calib);
  const f = await openQuantized(out);
  let checked = 0;
  for (const t of f.tensors.filter((x) => x.method !== 'keep')) {
    const layer = c.layers.get(t.name.replace(/\.weight$/, ''))!;
    const range = valuesOf(calib, layer.act_range!);
    const expected = timeGroupParams({ timestepGroups: c.timestepGroups, actRange: range }, 2)!;
    assert.deepEqual(expected.map((g) => [g.tStart, g.tEnd]), [[0, 500], [500, 1000]]);
    // Group 0 covers calibration groups 0-1: its range is their union.
    const lo = Math.min(0, range[0]!, range[2]!);
    const hi = Math.max(0, range[1]!, range[3]!);
    assert.equal(expected[0]!.scale, Math.fround((hi - lo) / 255));
    for (const [t0, g] of [[0, 0], [499, 0], [500, 1], [999, 1]] as const) {
      assert.deepEqual(await f.activationParams(t, t0), { scale: expected[g]!.scale, zeroPoint: expected[g]!.zeroPoint }, `${t.name} t=${t0}`);
    }
    await assert.rejects(f.activationParams(t, 1000), /timestep 1000 is in no time group/);
    assert.equal(await f.channelScales(t), undefined);
    checked++;
  }
  assert.ok(checked >= 8);
  // Later timesteps have wider activations (the synthetic drift): the later group's scale is larger.
  const any = f.tensors.find((x) => x.method !== 'keep')!;
  assert.ok((await f.activationParams(any, 900))!.scale > (await f.activationParams(any, 100))!.scale);
});

test('spatial smoothing stores W·diag(s) with its factors; readers return W', async () => {
  const { dir, model, calib } = await ditWithCalibration();
  const out = join(dir, 'smooth.parquet');
  const run = await runCli(['quantize', model, '-o', out, '--method', 'rtn', '--bits', '8', '--calibration', calib], { env: { ARROW_QUANT_ENABLE_TIME_AWARE: 'false' } });
  assert.equal(run.code, 0, run.stderr);
  const f = await openQuantized(out);
  const src = await tensorsOf(join(model, 'diffusion_pytorch_model.safetensors'));
  let smoothed = 0;
  for (const t of f.tensors.filter((x) => x.method !== 'keep')) {
    const s = await f.channelScales(t);
    if (!s) continue;
    smoothed++;
    assert.ok(s.some((v) => Math.abs(v - 1) > 0.01), `${t.name}: factors are not all 1`);
    const w = src.get(t.name)!.values();
    const x = (await f.dequantize(t)) as Float32Array;
    let dot = 0;
    let nw = 0;
    let nx = 0;
    for (let i = 0; i < w.length; i++) {
      dot += w[i]! * x[i]!;
      nw += w[i]! ** 2;
      nx += x[i]! ** 2;
    }
    const cosine = dot / Math.sqrt(nw * nx);
    assert.ok(cosine > 0.999, `${t.name}: dequantized INT8 is the original weight (cosine ${cosine})`);
    assert.ok(Math.abs(cosine - t.quality.cosine) < 1e-5, `${t.name}: stored quality ${t.quality.cosine} is what a reader sees (${cosine})`);
  }
  assert.ok(smoothed >= 4, `smoothed ${smoothed} tensors`);
  assert.equal((await runCli(['verify', out, model])).code, 0);
});

test('auto follows the strategy table at the bit width: text → r2q at 2 bits (GPTQ onto its grid where calibrated), GPTQ onto Q4_K/HQQ at 4; image → gptq', async () => {
  const dir = tempDir('auto');
  await synth('dream', 'single', join(dir, 'dream'));
  const calib = join(dir, 'dream.calib.safetensors');
  await writeSyntheticCalibration({ modelPath: join(dir, 'dream'), outPath: calib, samples: 64, groups: 2, seed: 2 });
  const out = join(dir, 'dream.parquet');
  const run = await runCli(['quantize', join(dir, 'dream'), '-o', out, '--method', 'auto', '--bits', '2', '--calibration', calib, '--min-accuracy', '0']);
  assert.equal(run.code, 0, run.stderr);
  const f = await openQuantized(out);
  const quantized = f.tensors.filter((t) => t.method !== 'keep');
  assert.ok(quantized.length > 0 && quantized.every((t) => t.scheme === 'r2q_g128' && t.method === 'gptq'), JSON.stringify(quantized.map((t) => [t.name, t.method, t.scheme])));
  const uncal = join(dir, 'dream-uncal.parquet');
  assert.equal((await runCli(['quantize', join(dir, 'dream'), '-o', uncal, '--method', 'auto', '--bits', '2', '--min-accuracy', '0'])).code, 0);
  assert.ok((await openQuantized(uncal)).tensors.filter((t) => t.method !== 'keep').every((t) => t.method === 'r2q' && t.scheme === 'r2q_g128'));
  // At the local profile's 4 bits (the default method): GPTQ onto Q4_K, or onto HQQ INT4 g128
  // for rows that are not whole 256s (this model's 128 and 352), never 2-bit.
  const four = join(dir, 'dream-4.parquet');
  const run4 = await runCli(['quantize', join(dir, 'dream'), '-o', four, '--calibration', calib, '--min-accuracy', '0', '--report', join(dir, 'dream-4.json')]);
  assert.equal(run4.code, 0, run4.stderr);
  const q4 = (await openQuantized(four)).tensors.filter((t) => t.method !== 'keep');
  assert.ok(q4.length > 0 && q4.every((t) => t.method === 'gptq' && ['q4_k', 'hqq_int4_g128'].includes(t.scheme) && t.bits >= 4), JSON.stringify(q4.map((t) => [t.name, t.method, t.scheme])));
  const report = JSON.parse(readFileSync(join(dir, 'dream-4.json'), 'utf8')) as { tensors: { method: string; reason: string }[] };
  assert.ok(report.tensors.filter((t) => t.method !== 'keep').every((t) => t.reason.includes('auto (text, 4-bit, calibrated): gptq→q4_k; rows not /256: gptq→hqq_int4_g128')));
  assert.match(run4.stderr, /auto \(text, 4-bit, calibrated\): gptq→q4_k; rows not \/256: gptq→hqq_int4_g128 \(\d+ tensors\)/);

  const { model, calib: dcal, dir: d2 } = await ditWithCalibration();
  const image = join(d2, 'dit.parquet');
  assert.equal((await runCli(['quantize', model, '-o', image, '--method', 'auto', '--calibration', dcal])).code, 0);
  assert.ok((await openQuantized(image)).tensors.filter((t) => t.method !== 'keep').every((t) => t.method === 'gptq'));
});

test('bad calibration files are named errors, before any output is written', async () => {
  const { dir, model, calib } = await ditWithCalibration();
  const c = await openCalibration(calib);
  const first = [...c.layers.values()].find((l) => /\.(attn|ff)\./.test(l.prefix))!;
  const n = first.inFeatures;
  const fill = (v: number) => (_r: number, _n: number, out: Float32Array) => out.fill(v);
  const meta = { timestep_groups: '[[0, 1000]]', nsamples: '8' };
  const cases: [string, FloatTensorSpec[], Record<string, string>, RegExp][] = [
    ['wrong width', [{ name: `${first.prefix}.hessian`, dtype: 'F32', shape: [n + 1, n + 1], fill: fill(1) }], meta, new RegExp(`"${first.prefix}": has ${n + 1} input features but the model's "${first.prefix}.weight" has ${n}`)],
    ['not square', [{ name: `${first.prefix}.hessian`, dtype: 'F32', shape: [n, 2], fill: fill(1) }], meta, /must be a square \[in, in\] matrix/],
    ['f16', [{ name: `${first.prefix}.hessian`, dtype: 'F16', shape: [n, n], fill: fill(1) }], meta, /must be F32, is F16/],
    ['no groups', [{ name: `${first.prefix}.hessian`, dtype: 'F32', shape: [n, n], fill: fill(1) }], { nsamples: '8' }, /"timestep_groups": metadata key missing/],
    ['overlapping groups', [{ name: `${first.prefix}.hessian`, dtype: 'F32', shape: [n, n], fill: fill(1) }], { ...meta, timestep_groups: '[[0, 600], [500, 1000]]' }, /group 1 \[500, 1000\) overlaps/],
    ['unknown statistic', [{ name: `${first.prefix}.hessain`, dtype: 'F32', shape: [n, n], fill: fill(1) }], meta, /"[^"]+\.hessain": is not a calibration statistic/],
    ['absmax groups', [{ name: `${first.prefix}.act_absmax`, dtype: 'F32', shape: [3, n], fill: fill(1) }], meta, /must have shape \[1 timestep groups, in\]/],
    ['nan hessian', [{ name: `${first.prefix}.hessian`, dtype: 'F32', shape: [n, n], fill: fill(Number.NaN) }], meta, new RegExp(`tensor "${first.prefix}\\.weight": invalid hessian: NaN at row 0, column 0`)],
  ];
  for (const [what, tensors, metadata, message] of cases) {
    const bad = join(dir, `${what.replace(/ /g, '-')}.safetensors`);
    await writeSafetensors(bad, tensors, metadata);
    const out = join(dir, `${what.replace(/ /g, '-')}.parquet`);
    const run = await runCli(['quantize', model, '-o', out, '--method', 'gptq', '--calibration', bad]);
    assert.equal(run.code, 1, `${what}: ${run.stderr}`);
    assert.match(run.stderr, message, what);
    assert.ok(!existsSync(out), `${what}: no output`);
    assert.deepEqual(readdirSync(dir).filter((x) => x.includes('.partial')), [], `${what}: no temporary file`);
  }
  const missing = await runCli(['quantize', model, '-o', join(dir, 'x.parquet'), '--calibration', join(dir, 'nope.safetensors')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.safetensors/);
  writeFileSync(join(dir, 'junk.safetensors'), 'not a safetensors file');
  const junk = await runCli(['quantize', model, '-o', join(dir, 'y.parquet'), '--calibration', join(dir, 'junk.safetensors')]);
  assert.equal(junk.code, 1);
  assert.match(junk.stderr, /calibration .*junk\.safetensors/);
});

test('gptq without a calibration file uses synthetic statistics, cached by model headers and settings', async () => {
  const dir = tempDir('synthetic');
  await synth('dit', 'single', join(dir, 'dit'));
  const cache = join(dir, 'cache');
  const env = { ARROW_QUANT_CACHE_DIR: cache };
  const first = await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'a.parquet'), '--method', 'gptq'], { env });
  assert.equal(first.code, 0, first.stderr);
  const w1 = jsonLines(first.stderr).find((e) => e.event === 'calibration_synthetic');
  assert.ok(w1 && w1.cached === false && String(w1.path).startsWith(join(cache, 'calibration')), first.stderr);
  assert.match(String(w1.message), /expect about RTN's quality/);
  const second = await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'b.parquet'), '--method', 'gptq'], { env });
  const w2 = jsonLines(second.stderr).find((e) => e.event === 'calibration_synthetic')!;
  assert.deepEqual([w2.cached, w2.path], [true, w1.path]);
  assert.equal(sha256(join(dir, 'a.parquet')), sha256(join(dir, 'b.parquet')));
  assert.ok((await openQuantized(join(dir, 'a.parquet'))).tensors.filter((t) => t.method !== 'keep').every((t) => t.method === 'gptq'));
  // Other settings, another entry.
  const third = await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'c.parquet'), '--method', 'gptq'], { env: { ...env, ARROW_QUANT_CALIBRATION_SAMPLES: '16' } });
  const w3 = jsonLines(third.stderr).find((e) => e.event === 'calibration_synthetic')!;
  assert.equal(w3.cached, false);
  assert.notEqual(w3.path, w1.path);
  assert.equal(readdirSync(join(cache, 'calibration')).filter((f) => f.endsWith('.safetensors')).length, 2);
  // rtn (or any calibration-free method) never generates anything.
  const plain = await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'd.parquet')], { env: { ARROW_QUANT_CACHE_DIR: join(dir, 'cache2') } });
  assert.equal(plain.code, 0);
  assert.ok(!existsSync(join(dir, 'cache2')));
});
