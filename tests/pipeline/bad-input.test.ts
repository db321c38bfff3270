/**
 * Bad input: each case gets a clear error naming the file, tensor or field, a non-zero exit, no
 * output (and no temporary file) left behind, and the inputs unchanged.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';

import { encodeHeader, writeSafetensors } from '../../common/safetensors/writer.js';
import { runCli, synth, tempDir, treeHashes } from '../helpers/cli.js';

/** Run a quantize that must fail; check exit code, message, no output, inputs untouched. */
async function mustFail(model: string, out: string, code: number, pattern: RegExp, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const before = treeHashes(model.endsWith('.safetensors') ? join(model, '..') : model);
  const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
  const outDirBefore = isDir(join(out, '..')) ? readdirSync(join(out, '..')).sort() : [];
  const r = await runCli(['quantize', model, '-o', out, ...extra], { env });
  assert.equal(r.code, code, `exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'a stack trace leaked without --verbose');
  assert.deepEqual(treeHashes(model.endsWith('.safetensors') ? join(model, '..') : model), before, 'inputs changed');
  if (isDir(join(out, '..'))) assert.deepEqual(readdirSync(join(out, '..')).sort(), outDirBefore, 'output directory changed');
  return r;
}

/** A valid one-file model whose header we can then break. */
function raw(header: Record<string, unknown>, data: Buffer, opts: { declaredLength?: number } = {}): Buffer {
  return Buffer.concat([Buffer.from(encodeHeader(header, opts)), data]);
}

const W = { dtype: 'F32', shape: [4, 64], data_offsets: [0, 1024] };

test('truncated file names the file and the tensor', async () => {
  const dir = tempDir('trunc');
  const m = join(dir, 'model.safetensors');
  writeFileSync(m, raw({ 'a.weight': W }, Buffer.alloc(1024)).subarray(0, 600));
  await mustFail(m, join(dir, 'out', 'o.parquet'), 1, /model\.safetensors: tensor "a\.weight": data_offsets \[0, 1024\] run past the end/, [], {});
});

test('header length past the end of the file', async () => {
  const dir = tempDir('hdr');
  const m = join(dir, 'model.safetensors');
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE(10_000n, 0);
  writeFileSync(m, b);
  await mustFail(m, join(dir, 'o.parquet'), 1, /model\.safetensors: header length 10000 runs past the end/);
});

test('offsets outside the data, overlapping tensors, a hole, a length/shape mismatch, an unknown dtype', async () => {
  const dir = tempDir('offsets');
  const cases: [string, Record<string, unknown>, number, RegExp][] = [
    ['outside', { 'a.weight': { ...W, data_offsets: [0, 4096] } }, 1024, /"a\.weight": data_offsets \[0, 4096\] run past the end/],
    ['overlap', { 'a.weight': W, 'b.weight': { ...W, data_offsets: [512, 1536] } }, 1536, /"b\.weight": overlaps the previous tensor/],
    ['hole', { 'a.weight': W, 'b.weight': { ...W, data_offsets: [1100, 2124] } }, 2124, /"b\.weight": a hole of 76 bytes/],
    ['mismatch', { 'a.weight': { ...W, shape: [4, 63] } }, 1024, /"a\.weight": byte length 1024 does not match dtype F32 × shape \[4, 63\] = 1008 bytes/],
    ['dtype', { 'a.weight': { ...W, dtype: 'F12' } }, 1024, /"a\.weight": unknown dtype "F12"/],
    ['json', {}, 0, /header is not valid JSON/],
  ];
  for (const [name, header, bytes, pattern] of cases) {
    const sub = join(dir, name);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub);
    const m = join(sub, 'model.safetensors');
    if (name === 'json') {
      const body = Buffer.from('{"a.weight": {"dtype": "F32",');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(body.length));
      writeFileSync(m, Buffer.concat([len, body]));
    } else {
      writeFileSync(m, raw(header, Buffer.alloc(bytes)));
    }
    await mustFail(m, join(sub, 'o.parquet'), 1, pattern);
  }
});

test('a missing shard names the index and the shard', async () => {
  const dir = tempDir('shard');
  await synth('dream', 'sharded', join(dir, 'm'));
  const shard = readdirSync(join(dir, 'm')).find((f) => f.endsWith('.safetensors') && f.includes('00002'))!;
  rmSync(join(dir, 'm', shard));
  await mustFail(join(dir, 'm'), join(dir, 'o.parquet'), 1, new RegExp(`model\\.safetensors\\.index\\.json: shard ${shard} is missing`));
});

test('NaN and Inf weights name the tensor and the element', async () => {
  const dir = tempDir('nan');
  for (const [value, label] of [
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ] as const) {
    const m = join(dir, `${label}.safetensors`);
    await writeSafetensors(m, [
      {
        name: 'blocks.3.attn.to_v.weight',
        dtype: 'BF16',
        shape: [64, 96],
        fill: (r0, n, out) => {
          for (let i = 0; i < out.length; i++) out[i] = Math.cos(i + r0);
          if (r0 <= 17 && 17 < r0 + n) out[(17 - r0) * 96 + 5] = value;
        },
      },
    ]);
    await mustFail(m, join(dir, `${label}.parquet`), 1, new RegExp(`tensor "blocks\\.3\\.attn\\.to_v\\.weight": non-finite weight ${label} at row 17, column 5`));
  }
});

test('a NaN in the first chunk of a many-chunk tensor is a clean error in both modes', async () => {
  const dir = tempDir('nan-chunks');
  const m = join(dir, 'model.safetensors');
  // 4000 × 256 f32 = 4 MiB: four chunks at chunk_mib 1, the NaN in chunk 0 while later chunks are read.
  await writeSafetensors(m, [
    {
      name: 'blocks.0.ff.net.0.proj.weight',
      dtype: 'F32',
      shape: [4000, 256],
      fill: (r0, _n, out) => {
        for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.1 + r0);
        if (r0 === 0) out[3 * 256 + 7] = Number.NaN;
      },
    },
  ]);
  const cfg = join(dir, 'small.yaml');
  writeFileSync(cfg, 'chunk_mib: 1\n');
  for (const mode of ['threaded', 'streaming']) {
    const r = await mustFail(m, join(dir, `${mode}.parquet`), 1, /tensor "blocks\.0\.ff\.net\.0\.proj\.weight": non-finite weight NaN at row 3, column 7/, ['--config', cfg, '--mode', mode]);
    assert.doesNotMatch(r.stderr, /Unhandled|triggerUncaughtException/);
  }
});

test('a shard that does not hold what weight_map says, and a name in two shards', async () => {
  const dir = tempDir('weightmap');
  await synth('dream', 'sharded', join(dir, 'm'));
  const indexPath = join(dir, 'm', 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  // Claim lm_head lives in the first shard (a stale index).
  const stale = { ...index, weight_map: { ...index.weight_map, 'lm_head.weight': shards[0]! } };
  writeFileSync(indexPath, JSON.stringify(stale));
  await mustFail(join(dir, 'm'), join(dir, 'o.parquet'), 1, new RegExp(`model\\.safetensors\\.index\\.json: tensor "lm_head\\.weight": weight_map puts it in ${shards[0]!.replace(/\./g, '\\.')}, which does not hold it`));

  // weight_map can name only one shard per tensor, but a stale shard can still hold it too.
  const d2 = join(dir, 'dup');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(d2);
  const w = (r0: number, _n: number, out: Float32Array) => out.forEach((_, i) => (out[i] = i + r0));
  await writeSafetensors(join(d2, 'model-00001-of-00002.safetensors'), [{ name: 'dup.weight', dtype: 'F32', shape: [64, 64], fill: w }]);
  await writeSafetensors(join(d2, 'model-00002-of-00002.safetensors'), [
    { name: 'b.weight', dtype: 'F32', shape: [64, 64], fill: w },
    { name: 'dup.weight', dtype: 'F32', shape: [64, 64], fill: w },
  ]);
  writeFileSync(join(d2, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'dup.weight': 'model-00001-of-00002.safetensors', 'other.weight': 'model-00002-of-00002.safetensors' } }));
  await mustFail(d2, join(dir, 'o2.parquet'), 1, /tensor "other\.weight": weight_map puts it in model-00002-of-00002\.safetensors, which does not hold it/);
  writeFileSync(join(d2, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'dup.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' } }));
  await mustFail(d2, join(dir, 'o3.parquet'), 1, /model-00002-of-00002\.safetensors: tensor "dup\.weight": also in model-00001-of-00002\.safetensors/);
});

test('configuration errors exit 2 and say where the bad value came from', async () => {
  const dir = tempDir('cfg');
  await synth('dit', 'single', join(dir, 'm'));
  const out = join(dir, 'o.parquet');
  const yaml = join(dir, 'bad.yaml');
  writeFileSync(yaml, 'bit_width: 4\ngroup_size: 100\n');
  await mustFail(join(dir, 'm'), out, 2, /InvalidGroupSize: group_size = 100 \(.*bad\.yaml line 2\)/, ['--config', yaml]);
  writeFileSync(yaml, 'bit_width: 4\n  group_size: [\n');
  await mustFail(join(dir, 'm'), out, 2, /InvalidYaml: .*bad\.yaml line \d+, column \d+/, ['--config', yaml]);
  writeFileSync(yaml, 'bitwidth: 4\n');
  await mustFail(join(dir, 'm'), out, 2, /UnknownConfigKey: "bitwidth" .*did you mean "bit_width"/, ['--config', yaml]);
  await mustFail(join(dir, 'm'), out, 2, /InvalidBitWidth: bit_width = 3 \(command-line flag --bits\): must be 2, 4 or 8/, ['--bits', '3']);
  await mustFail(join(dir, 'm'), out, 2, /InvalidTimeGroups: num_time_groups = 0 \(environment variable ARROW_QUANT_NUM_TIME_GROUPS\)/, [], { ARROW_QUANT_NUM_TIME_GROUPS: '0' });
  await mustFail(join(dir, 'm'), out, 2, /InvalidAccuracy: min_accuracy = 1\.5/, ['--min-accuracy', '1.5']);
  await mustFail(join(dir, 'm'), out, 2, /error: option '--mode <mode>' argument 'fast' is invalid/, ['--mode', 'fast']);
});

test('unwritable output path and output equal to an input file', async () => {
  const dir = tempDir('out');
  await synth('dit', 'single', join(dir, 'm'));
  await mustFail(join(dir, 'm'), join(dir, 'no', 'such', 'dir', 'o.parquet'), 1, /no\/such\/dir: cannot open the output directory/);
  // Works as root too: the "directory" is a regular file.
  writeFileSync(join(dir, 'plain-file'), 'x');
  await mustFail(join(dir, 'm'), join(dir, 'plain-file', 'o.parquet'), 1, /plain-file: cannot open the output directory/);
  const input = join(dir, 'm', 'diffusion_pytorch_model.safetensors');
  const copy = readFileSync(input);
  await mustFail(join(dir, 'm'), input, 1, /diffusion_pytorch_model\.safetensors: is one of the model's input files/);
  assert.ok(readFileSync(input).equals(copy));
});

test('an existing output file is untouched when the job fails', async () => {
  const dir = tempDir('keep-old');
  const m = join(dir, 'model.safetensors');
  writeFileSync(m, raw({ 'a.weight': { ...W, shape: [4, 63] } }, Buffer.alloc(1024)));
  const out = join(dir, 'o.parquet');
  writeFileSync(out, 'previous result');
  copyFileSync(out, join(dir, 'expected'));
  const r = await runCli(['quantize', m, '-o', out]);
  assert.equal(r.code, 1);
  assert.equal(readFileSync(out, 'utf8'), 'previous result');
  assert.deepEqual(readdirSync(dir).sort(), ['expected', 'model.safetensors', 'o.parquet']);
});
