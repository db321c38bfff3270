/** The planner: 2-D view, keep rules and their precedence against preserve and overrides. */
import assert from 'node:assert/strict';
import { test } from 'vitest';

import { profileConfig, type ResolvedConfig } from '../../common/config/index.js';
import { fakeModel } from './model.js';
import { planModel, view2d } from '../../coordinator/plan/plan.js';

function plan(tensors: [string, string, number[]][], config: Partial<ResolvedConfig> = {}) {
  const { file, header } = fakeModel(tensors);
  const p = planModel([{ file, header }], { ...profileConfig('local'), ...config });
  return Object.fromEntries(p.tensors.map((t) => [t.name, t]));
}

const action = (t: { action: { kind: string; rule: string } } | undefined) => (t ? `${t.action.kind}:${t.action.rule}` : 'missing');

test('the 2-D view is [first dim, the rest]: conv kernels are whole rows', () => {
  assert.deepEqual(view2d([128, 64, 3, 3]), { rows: 128, cols: 576 });
  assert.deepEqual(view2d([4096, 4096]), { rows: 4096, cols: 4096 });
  assert.deepEqual(view2d([7]), { rows: 7, cols: 1 });
  assert.deepEqual(view2d([]), { rows: 1, cols: 1 });
  assert.deepEqual(view2d([0, 16]), { rows: 0, cols: 16 });
});

test('default keep rules: dtype, 1-D, tiny, embedders, adaLN, top-level output layers', () => {
  const p = plan([
    ['position_ids', 'I64', [1, 4096]],
    ['blocks.0.norm.weight', 'F32', [1152]],
    ['tiny.weight', 'BF16', [32, 32]],
    ['x_embedder.proj.weight', 'BF16', [1152, 64]],
    ['transformer_blocks.3.norm1.linear.weight', 'BF16', [6912, 1152]],
    ['scale_shift_table', 'BF16', [2, 1152]],
    ['proj_out.weight', 'BF16', [64, 1152]],
    ['decoder.conv_out.weight', 'F32', [3, 128, 3, 3]],
    ['down_blocks.1.attentions.0.proj_out.weight', 'F32', [640, 640]],
    ['encoder.layer.3.output.dense.weight', 'F16', [768, 3072]],
    ['transformer_blocks.3.attn.to_q.weight', 'BF16', [1152, 1152]],
    ['add_embedding.linear_2.weight', 'F16', [1280, 1280]],
    // FLUX.1's and Stable Diffusion's original (single-file) names for the same tensors
    ['img_in.weight', 'BF16', [3072, 64]],
    ['model.diffusion_model.guidance_in.in_layer.weight', 'BF16', [3072, 256]],
    ['double_blocks.0.txt_mod.lin.weight', 'BF16', [18432, 3072]],
    ['single_blocks.0.modulation.lin.weight', 'BF16', [9216, 3072]],
    ['model.diffusion_model.final_layer.linear.weight', 'BF16', [64, 3072]],
    ['model.diffusion_model.out.2.weight', 'F16', [4, 320, 3, 3]],
    ['model.diffusion_model.output_blocks.2.1.conv.weight', 'F16', [1280, 1280, 3, 3]],
    ['double_blocks.0.img_attn.qkv.weight', 'BF16', [9216, 3072]],
  ]);
  assert.equal(action(p['position_ids']), 'keep:dtype');
  assert.equal(action(p['blocks.0.norm.weight']), 'keep:1-d');
  assert.equal(action(p['tiny.weight']), 'keep:tiny');
  assert.equal(action(p['x_embedder.proj.weight']), 'keep:embedder');
  assert.equal(action(p['add_embedding.linear_2.weight']), 'keep:embedder'); // SDXL's label embedder (LDM label_emb)
  assert.equal(action(p['transformer_blocks.3.norm1.linear.weight']), 'keep:adaln');
  assert.equal(action(p['scale_shift_table']), 'keep:adaln');
  assert.equal(action(p['proj_out.weight']), 'keep:output');
  assert.equal(action(p['decoder.conv_out.weight']), 'keep:output');
  // Nested layers that only share a name with output layers are ordinary layers.
  assert.equal(action(p['down_blocks.1.attentions.0.proj_out.weight']), 'quantize:default');
  assert.equal(action(p['encoder.layer.3.output.dense.weight']), 'quantize:default');
  assert.equal(action(p['transformer_blocks.3.attn.to_q.weight']), 'quantize:default');
  assert.equal(action(p['img_in.weight']), 'keep:embedder');
  assert.equal(action(p['model.diffusion_model.guidance_in.in_layer.weight']), 'keep:embedder');
  assert.equal(action(p['double_blocks.0.txt_mod.lin.weight']), 'keep:adaln');
  assert.equal(action(p['single_blocks.0.modulation.lin.weight']), 'keep:adaln');
  assert.equal(action(p['model.diffusion_model.final_layer.linear.weight']), 'keep:output');
  assert.equal(action(p['model.diffusion_model.out.2.weight']), 'keep:output');
  assert.equal(action(p['model.diffusion_model.output_blocks.2.1.conv.weight']), 'quantize:default');
  assert.equal(action(p['double_blocks.0.img_attn.qkv.weight']), 'quantize:default');
});

test('overrides change how tensors are quantized; only quantize: true overrides a keep rule', () => {
  const p = plan(
    [
      ['x_embedder.proj.weight', 'BF16', [1152, 64]],
      ['context_embedder.weight', 'BF16', [1152, 4096]],
      ['blocks.0.attn.to_v.weight', 'BF16', [1152, 1152]],
      ['blocks.0.attn.to_k.weight', 'BF16', [1152, 1152]],
    ],
    {
      method: 'rtn',
      // First match wins: the specific entry comes first.
      overrides: [
        { pattern: 'context_embedder', quantize: true, bit_width: 8 },
        { pattern: '\\.weight$', bit_width: 2 },
      ],
    },
  );
  assert.equal(action(p['x_embedder.proj.weight']), 'keep:embedder');
  const ctx = p['context_embedder.weight']!.action;
  assert.equal(ctx.kind, 'quantize');
  assert.equal(ctx.kind === 'quantize' && ctx.requestedBits, 8);
  const v = p['blocks.0.attn.to_v.weight']!.action;
  assert.equal(v.kind === 'quantize' && v.ladder.map((s) => s.scheme).join(' '), 'rtn_int2_g128_asym rtn_int4_g128_asym rtn_int8_g128_asym');
});

test('preserve wins over the size rules (a 1-D norm can be stored as float32) and over overrides', () => {
  const p = plan(
    [
      ['blocks.0.norm.weight', 'BF16', [1152]],
      ['blocks.0.attn.to_q.weight', 'BF16', [1152, 1152]],
    ],
    { preserve: { 'norm\\.weight$': 'float32', 'to_q': 'source' }, overrides: [{ pattern: 'to_q', quantize: true }] },
  );
  const norm = p['blocks.0.norm.weight']!.action;
  assert.equal(norm.kind === 'keep' && norm.storeDtype, 'float32');
  assert.equal(action(p['blocks.0.attn.to_q.weight']), 'keep:preserve');
});

test('chunks are whole rows of at most chunk_mib, the last one holding the rest', () => {
  const p = plan([['w', 'BF16', [3000, 200, 3]]], { chunk_mib: 1 });
  const t = p['w']!;
  assert.equal(t.cols, 600);
  const perChunk = Math.floor((1 << 20) / (600 * 2));
  assert.deepEqual(t.chunks.map((c) => c.rowCount), [perChunk, perChunk, perChunk, 3000 - 3 * perChunk]);
  assert.equal(t.chunks[1]!.offset, t.offset + perChunk * 1200);
});
