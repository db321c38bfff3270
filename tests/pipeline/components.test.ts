/**
 * Component-wise settings for diffusers pipelines (`components:` in YAML, like diffusers'
 * PipelineQuantizationConfig): each component gets its own method/bits or is kept whole, the
 * file records each tensor's component, and bad component settings are named errors.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';

import { openQuantized } from '../../common/format/reader.js';
import { runCli, synth, tempDir } from '../helpers/cli.js';

test('components: per-component method and bits, vae kept, components recorded', async () => {
  const dir = tempDir('components');
  await synth('dit', 'diffusers', join(dir, 'dit'));
  const cfg = join(dir, 'cfg.yaml');
  writeFileSync(cfg, 'method: rtn\ncomponents:\n  transformer:\n    bit_width: 8\n    group_size: 64\n  text_encoder:\n    method: q8_0\n  vae: keep\noverrides:\n  - pattern: "attn\\\\.to_v\\\\.weight$"\n    bit_width: 2\n');
  const out = join(dir, 'out.parquet');
  const r = await runCli(['quantize', join(dir, 'dit'), '-o', out, '--config', cfg, '--min-accuracy', '0']);
  assert.equal(r.code, 0, r.stderr);
  const f = await openQuantized(out);
  const of = (c: string) => f.tensors.filter((t) => t.component === c);
  assert.ok(of('vae').length > 0 && of('vae').every((t) => t.method === 'keep' && t.scheme === `keep_${t.sourceDtype}`));
  const tq = of('transformer').filter((t) => t.method !== 'keep');
  assert.ok(tq.length > 0);
  for (const t of tq) {
    // overrides still win inside a component
    const want = /attn\.to_v\.weight$/.test(t.name) ? 'rtn_int2_g64_asym' : 'rtn_int8_g64_asym';
    assert.equal(t.scheme, want, t.name);
  }
  const te = of('text_encoder').filter((t) => t.method !== 'keep');
  assert.ok(te.length > 0 && te.every((t) => t.scheme === 'q8_0' || t.scheme.startsWith('rtn_int8')), JSON.stringify(te.map((t) => t.scheme)));
  assert.ok(te.some((t) => t.scheme === 'q8_0'));
  assert.ok(f.tensors.every((t) => ['transformer', 'text_encoder', 'vae'].includes(t.component ?? '')));
});

test('bad component settings are configuration errors (exit 2) that name the place', async () => {
  const dir = tempDir('components-bad');
  await synth('dit', 'diffusers', join(dir, 'dit'));
  for (const [yaml, message] of [
    ['components:\n  transformr:\n    bit_width: 8\n', /components\.transformr: the model has no component "transformr" \(it has text_encoder, transformer, vae\)/],
    ['components:\n  vae: kept\n', /components\.vae = "kept" \(.*cfg\.yaml line 2\): must be keep or a mapping of bit_width, method and group_size/],
    ['components:\n  transformer:\n    bit_width: 3\n', /InvalidBitWidth: components\.transformer\.bit_width = 3 \(.*cfg\.yaml line 3\)/],
  ] as const) {
    const cfg = join(dir, 'cfg.yaml');
    writeFileSync(cfg, yaml);
    const r = await runCli(['quantize', join(dir, 'dit'), '-o', join(dir, 'x.parquet'), '--config', cfg]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
  const plain = tempDir('components-plain');
  await synth('dit', 'single', join(plain, 'dit'));
  writeFileSync(join(plain, 'cfg.yaml'), 'components:\n  vae: keep\n');
  const r = await runCli(['quantize', join(plain, 'dit'), '-o', join(plain, 'x.parquet'), '--config', join(plain, 'cfg.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /it is not a diffusers pipeline/);
});
