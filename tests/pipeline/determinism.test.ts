/**
 * The file depends only on the model and the resolved config: streaming and threaded modes, any
 * thread count and repeated runs give byte-identical files; multi-chunk tensors reassemble.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized } from '../../common/format/reader.js';
import { readHeader } from '../../coordinator/model/safetensors.js';
import { writeSafetensors } from '../../common/safetensors/writer.js';
import { runCli, sha256, synth, tempDir } from '../helpers/cli.js';

test('streaming, threaded and 1-thread runs write the same bytes (diffusers pipeline)', async () => {
  const dir = tempDir('modes');
  await synth('dit', 'diffusers', join(dir, 'dit'));
  const outs = [];
  for (const [name, flags] of [
    ['threaded', ['--mode', 'threaded']],
    ['streaming', ['--mode', 'streaming', '--threads', '1']],
    ['threaded-1', ['--mode', 'threaded', '--threads', '1']],
    ['again', ['--mode', 'threaded']],
  ] as const) {
    const out = join(dir, `${name}.parquet`);
    const r = await runCli(['quantize', join(dir, 'dit'), '-o', out, '--bits', '4', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    outs.push(sha256(out));
  }
  assert.equal(new Set(outs).size, 1, `files differ: ${outs.join(' ')}`);
});

test('sharded model: every tensor of every shard, in model order, same bytes in both modes', async () => {
  const dir = tempDir('shards');
  await synth('dream', 'sharded', join(dir, 'dream'));
  const a = join(dir, 'a.parquet');
  const b = join(dir, 'b.parquet');
  assert.equal((await runCli(['quantize', join(dir, 'dream'), '-o', a, '--mode', 'threaded'])).code, 0);
  assert.equal((await runCli(['quantize', join(dir, 'dream'), '-o', b, '--mode', 'streaming'])).code, 0);
  assert.equal(sha256(a), sha256(b));
  const f = await openQuantized(a);
  const sources = JSON.parse(f.metadata['arrowquant.sources']!) as { file: string; bytes: number }[];
  assert.ok(sources.length >= 2, 'expected several shards');
  // Model order: shards in name order, tensors by data offset inside each (read independently here).
  const expected: string[] = [];
  for (const s of [...sources].sort((x, y) => x.file.localeCompare(y.file))) {
    const h = await readHeader(join(dir, 'dream', s.file));
    expected.push(...h.tensors.map((t) => t.name));
    assert.equal(h.fileBytes, s.bytes);
  }
  assert.deepEqual(f.tensors.map((t) => t.name), expected);
  assert.deepEqual(f.tensors.map((t) => t.index), expected.map((_, i) => i));
});

test('tensors split into many chunks reassemble exactly like one chunk', async () => {
  const dir = tempDir('chunks');
  const model = join(dir, 'model.safetensors');
  // 3000 × 200 f32 = 2.4 MB: three chunks at chunk_mib 1; the row length is not a multiple of 128.
  const fill = (seed: number) => (r0: number, n: number, out: Float32Array) => {
    for (let i = 0; i < out.length; i++) out[i] = Math.sin((r0 * 200 + i) * 0.37 + seed) * (1 + ((r0 + Math.floor(i / 200)) % 7));
  };
  await writeSafetensors(model, [
    { name: 'blocks.0.mlp.fc1.weight', dtype: 'F32', shape: [3000, 200], fill: fill(1) },
    { name: 'blocks.0.mlp.fc2.weight', dtype: 'BF16', shape: [1500, 2, 200], fill: fill(2) },
  ]);
  const small = join(dir, 'small.yaml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(small, 'chunk_mib: 1\n');
  const chunked = join(dir, 'chunked.parquet');
  const whole = join(dir, 'whole.parquet');
  assert.equal((await runCli(['quantize', model, '-o', chunked, '--config', small])).code, 0);
  assert.equal((await runCli(['quantize', model, '-o', whole])).code, 0);
  const fc = await openQuantized(chunked);
  const fw = await openQuantized(whole);
  assert.ok(fc.tensor('blocks.0.mlp.fc1.weight').chunks >= 3);
  assert.equal(fw.tensor('blocks.0.mlp.fc1.weight').chunks, 1);
  for (const name of ['blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc2.weight']) {
    assert.deepEqual(await fc.dequantize(name), await fw.dequantize(name));
    // Quality merged over chunks equals the one-chunk figure (same sums, different grouping).
    assert.ok(Math.abs(fc.tensor(name).quality.cosine - fw.tensor(name).quality.cosine) < 1e-9);
  }
});

test('the reader refuses a name two components share and accepts component/name', async () => {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const dir = tempDir('ambiguous');
  const m = join(dir, 'sdxl-like');
  // SDXL's two text encoders share tensor names; build that shape by hand.
  mkdirSync(m);
  writeFileSync(join(m, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline', text_encoder: ['transformers', 'CLIPTextModel'], text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'] }));
  for (const [component, k] of [['text_encoder', 1], ['text_encoder_2', 2]] as const) {
    mkdirSync(join(m, component));
    writeFileSync(join(m, component, 'config.json'), '{}');
    await writeSafetensors(join(m, component, 'model.safetensors'), [
      { name: 'text_model.encoder.layers.0.mlp.fc1.weight', dtype: 'F32', shape: [64, 96], fill: (r0, _n, out) => out.forEach((_, i) => (out[i] = Math.sin(k * (i + r0 * 96)))) },
    ]);
  }
  const out = join(dir, 'o.parquet');
  const r = await runCli(['quantize', m, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  const f = await openQuantized(out);
  await assert.rejects(f.dequantize('text_model.encoder.layers.0.mlp.fc1.weight'), /is in several components; name one of "text_encoder\/text_model/);
  const a = await f.dequantize('text_encoder/text_model.encoder.layers.0.mlp.fc1.weight');
  const b = await f.dequantize('text_encoder_2/text_model.encoder.layers.0.mlp.fc1.weight');
  assert.notDeepEqual(a, b);
  assert.deepEqual(b, await f.dequantize(f.tensors[1]!));
  await assert.rejects(f.dequantize('no/such.tensor'), /no tensor named "no\/such\.tensor"/);
  const v = await runCli(['verify', out, m]);
  assert.equal(v.code, 0, v.stderr);
});
