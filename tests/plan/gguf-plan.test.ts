/**
 * Planning the GGUF formats: tensor roles, llama.cpp's K-quant mixes (checked against the rules
 * of llama.cpp's llama_tensor_get_type, transcribed independently below), the registry's row
 * fallbacks (Q4_K → Q5_0 → kept), GPTQ onto a K grid (`gptq_format`), and importance.
 */
import assert from 'node:assert/strict';
import { test } from 'vitest';

import { profileConfig, type ResolvedConfig } from '../../common/config/index.js';
import { fakeModel } from './model.js';
import { planModel, type PlanContext } from '../../coordinator/plan/plan.js';
import { mixFormat, useMoreBits } from '../../coordinator/plan/mixes.js';
import { tensorRole } from '../../coordinator/plan/roles.js';
import type { ImportanceMatrix } from '../../coordinator/calibration/imatrix.js';

function plan(tensors: [string, string, number[]][], config: Partial<ResolvedConfig> = {}, ctx: Partial<PlanContext> = {}) {
  const { file, header } = fakeModel(tensors);
  const p = planModel([{ file, header }], { ...profileConfig('local'), ...config }, { modality: 'text', ...ctx });
  lastWarnings = p.calibrationWarnings;
  return Object.fromEntries(p.tensors.map((t) => [t.name, t]));
}
let lastWarnings: { tensor: string; message: string }[] = [];

type Planned = ReturnType<typeof plan>[string];
const scheme = (t: Planned | undefined) => (t?.action.kind === 'quantize' ? t.action.ladder[0]!.scheme : `keep:${t?.action.rule}`);
const ladder = (t: Planned | undefined) => (t?.action.kind === 'quantize' ? t.action.ladder.map((c) => c.scheme) : []);

/** A Dream/Qwen2-shaped LLM of `layers` layers (hidden 512: rows of whole super-blocks). */
function dream(layers: number, h = 512, f = 1536): [string, string, number[]][] {
  const t: [string, string, number[]][] = [['model.embed_tokens.weight', 'BF16', [4096, h]]];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    for (const x of ['q', 'k', 'v', 'o']) t.push([`${p}.self_attn.${x}_proj.weight`, 'BF16', [h, h]]);
    t.push([`${p}.mlp.gate_proj.weight`, 'BF16', [f, h]], [`${p}.mlp.up_proj.weight`, 'BF16', [f, h]], [`${p}.mlp.down_proj.weight`, 'BF16', [h, f]]);
    t.push([`${p}.input_layernorm.weight`, 'BF16', [h]]);
  }
  t.push(['lm_head.weight', 'BF16', [4096, h]]);
  return t;
}

test('tensor roles in the spellings of LLMs, LLaDA, diffusers DiTs, original Flux and GGUF', () => {
  const cases: [string, string, number | undefined][] = [
    ['model.layers.3.self_attn.v_proj.weight', 'attn_v', 3],
    ['model.layers.3.self_attn.o_proj.weight', 'attn_output', 3],
    ['model.layers.3.mlp.down_proj.weight', 'ffn_down', 3],
    ['model.layers.3.mlp.gate_proj.weight', 'ffn_gate', 3],
    ['model.transformer.blocks.7.attn_out.weight', 'attn_output', 7],
    ['model.transformer.blocks.7.ff_out.weight', 'ffn_down', 7],
    ['model.transformer.ff_out.weight', 'output', undefined],
    ['model.transformer.wte.weight', 'token_embd', undefined],
    ['transformer_blocks.12.attn.to_v.weight', 'attn_v', 12],
    ['transformer_blocks.12.attn.add_v_proj.weight', 'attn_v', 12],
    ['transformer_blocks.12.attn.to_out.0.weight', 'attn_output', 12],
    ['transformer_blocks.12.ff.net.2.weight', 'ffn_down', 12],
    ['transformer_blocks.12.ff.net.0.proj.weight', 'ffn_up', 12],
    ['double_blocks.4.img_attn.qkv.weight', 'attn_qkv', 4],
    ['double_blocks.4.img_mlp.2.weight', 'ffn_down', 4],
    ['text_model.encoder.layers.0.self_attn.out_proj.weight', 'attn_output', 0],
    ['text_model.encoder.layers.0.mlp.fc2.weight', 'ffn_down', 0],
    ['blk.9.attn_v.weight', 'attn_v', 9],
    ['lm_head.weight', 'output', undefined],
    ['model.embed_tokens.weight', 'token_embd', undefined],
    ['transformer_blocks.12.norm1.linear.weight', 'other', 12],
  ];
  for (const [name, role, layer] of cases) assert.deepEqual(tensorRole(name), layer === undefined ? { role } : { role, layer }, name);
});

test("use_more_bits and the mixes' choices are llama.cpp's", () => {
  // llama.cpp: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, in C integer arithmetic.
  const more = Array.from({ length: 28 }, (_, i) => i).filter((i) => useMoreBits(i, 28));
  assert.deepEqual(more, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27]);
  const ctx = { nGqa: 7 };
  assert.equal(mixFormat('q2_k', 'attn_v', 0, 28, ctx), 'q4_k');
  assert.equal(mixFormat('q2_k', 'attn_v', 0, 28, { nGqa: 1 }), 'q3_k');
  assert.equal(mixFormat('q2_k', 'ffn_down', 9, 28, ctx), 'q3_k');
  assert.equal(mixFormat('q2_k', 'attn_output', 9, 28, ctx), 'q3_k');
  assert.equal(mixFormat('q2_k', 'attn_q', 9, 28, ctx), 'q2_k');
  assert.deepEqual([0, 1, 2, 3].map((i) => mixFormat('q3_k_m', 'attn_v', i, 28, ctx)), ['q5_k', 'q5_k', 'q4_k', 'q4_k']);
  assert.deepEqual([0, 1, 2].map((i) => mixFormat('q3_k_m', 'ffn_down', i, 32, ctx)), ['q5_k', 'q5_k', 'q4_k']);
  assert.deepEqual([3, 4].map((i) => mixFormat('q4_k_s', 'attn_v', i, 28, ctx)), ['q5_k', 'q4_k']);
  assert.deepEqual([2, 3].map((i) => mixFormat('q4_k_s', 'ffn_down', i, 28, ctx)), ['q5_k', 'q4_k']);
  assert.deepEqual([4, 5].map((i) => mixFormat('q5_k_m', 'ffn_down', i, 28, ctx)), ['q5_k', 'q6_k']);
  assert.equal(mixFormat('q4_k_m', 'output', 0, 1, ctx), 'q6_k');
  // A fused qkv is counted and chosen as attn_v (this llama.cpp's category_is_attn_v).
  assert.equal(mixFormat('q4_k_m', 'attn_qkv', 0, 28, ctx), 'q6_k');
  assert.equal(mixFormat('q3_k_l', 'attn_qkv', 9, 28, ctx), 'q5_k');
});

test('--mix q4_k_m plans a Dream-shaped model as llama-quantize does', () => {
  const p = plan(dream(16), { mix: 'q4_k_m', keep_default_rules: false }, { mix: { nGqa: 4 } });
  for (let i = 0; i < 16; i++) {
    const more = useMoreBits(i, 16);
    assert.equal(scheme(p[`model.layers.${i}.self_attn.v_proj.weight`]), more ? 'q6_k' : 'q4_k', `layer ${i} v`);
    assert.equal(scheme(p[`model.layers.${i}.mlp.down_proj.weight`]), more ? 'q6_k' : 'q4_k', `layer ${i} down`);
    for (const x of ['q_proj', 'k_proj', 'o_proj']) assert.equal(scheme(p[`model.layers.${i}.self_attn.${x}.weight`]), 'q4_k');
    assert.equal(scheme(p[`model.layers.${i}.mlp.gate_proj.weight`]), 'q4_k');
  }
  assert.equal(scheme(p['lm_head.weight']), 'q6_k');
  assert.equal(scheme(p['model.embed_tokens.weight']), 'q4_k');
  assert.equal(p['model.layers.0.self_attn.v_proj.weight']!.action.rule, 'mix');
  // With the default keep rules, the embeddings and the head stay as they are.
  const kept = plan(dream(4), { mix: 'q4_k_m' });
  assert.equal(scheme(kept['lm_head.weight']), 'keep:output');
  assert.equal(scheme(kept['model.embed_tokens.weight']), 'keep:embedder');
  // An override's method wins over the mix for its tensors.
  const o = plan(dream(4), { mix: 'q4_k_m', overrides: [{ pattern: 'down_proj', method: 'q8_0' }] });
  assert.equal(scheme(o['model.layers.0.mlp.down_proj.weight']), 'q8_0');
});

test("the legacy mixes are llama-quantize's Q4_0/Q4_1/Q5_0/Q5_1/Q8_0: the format, a q6_k head (q8_0 in q8_0)", () => {
  for (const mix of ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0'] as const) {
    const p = plan(dream(4), { mix, keep_default_rules: false });
    const head = mix === 'q8_0' ? 'q8_0' : 'q6_k';
    assert.equal(scheme(p['lm_head.weight']), head, mix);
    assert.equal(scheme(p['model.embed_tokens.weight']), mix, mix);
    for (let i = 0; i < 4; i++) for (const x of ['self_attn.v_proj', 'self_attn.q_proj', 'mlp.down_proj']) assert.equal(scheme(p[`model.layers.${i}.${x}.weight`]), mix, `${mix} ${i} ${x}`);
  }
  // llama.cpp: Q4_0/Q5_0 with an imatrix give the first eighth of ffn_down Q4_1/Q5_1.
  const imatrix: ImportanceMatrix = { path: 'x.imatrix', format: 'gguf', datasets: [], entries: new Map() };
  const q = plan(dream(16), { mix: 'q4_0', keep_default_rules: false }, { imatrix });
  assert.deepEqual([0, 1, 2].map((i) => scheme(q[`model.layers.${i}.mlp.down_proj.weight`])), ['q4_1', 'q4_1', 'q4_0']);
  const q5 = plan(dream(16), { mix: 'q5_0', keep_default_rules: false }, { imatrix });
  assert.equal(scheme(q5['model.layers.1.mlp.down_proj.weight']), 'q5_1');
  assert.equal(scheme(plan(dream(16), { mix: 'q4_0', keep_default_rules: false })['model.layers.0.mlp.down_proj.weight']), 'q4_0');
});

test('tied embeddings (no output head) take the head\'s type, as llama-quantize gives them', () => {
  const tied = dream(2).filter(([n]) => n !== 'lm_head.weight');
  assert.equal(scheme(plan(tied, { mix: 'q4_k_m', keep_default_rules: false })['model.embed_tokens.weight']), 'q6_k');
  assert.equal(scheme(plan(tied, { mix: 'q4_0', keep_default_rules: false })['model.embed_tokens.weight']), 'q6_k');
  assert.equal(scheme(plan(tied, { mix: 'q8_0', keep_default_rules: false })['model.embed_tokens.weight']), 'q8_0');
  assert.equal(scheme(plan(dream(2), { mix: 'q4_k_m', keep_default_rules: false })['model.embed_tokens.weight']), 'q4_k');
});

test("a mix counts a layer stack's tensors in layer order, as llama.cpp's file order does, not in the checkpoint's name order", () => {
  // safetensors files store tensors sorted by name: layers.10 … layers.15 come before layers.2.
  const sorted = [...dream(16)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const p = plan(sorted, { mix: 'q4_k_m', keep_default_rules: false });
  for (let i = 0; i < 16; i++) {
    const want = useMoreBits(i, 16) ? 'q6_k' : 'q4_k';
    assert.equal(scheme(p[`model.layers.${i}.self_attn.v_proj.weight`]), want, `layer ${i} v`);
    assert.equal(scheme(p[`model.layers.${i}.mlp.down_proj.weight`]), want, `layer ${i} down`);
  }
});

test('rows that do not split into blocks take the registry row fallback, else are kept', () => {
  const p = plan(
    [
      ['a.weight', 'BF16', [64, 96]],
      ['b.weight', 'BF16', [64, 200]],
      ['c.weight', 'BF16', [48, 1000]],
      ['d.weight', 'BF16', [64, 320]],
    ],
    { method: 'q4_k' },
  );
  assert.equal(scheme(p['a.weight']), 'q5_0'); // Q4_K → Q5_0 (llama.cpp's)
  assert.equal(scheme(p['b.weight']), 'keep:row-length'); // 200 is not a multiple of 32 either
  assert.match(p['b.weight']!.action.reason, /q5_0 needs rows divisible by 32 \(row length 200\): kept/);
  assert.equal(scheme(p['d.weight']), 'q5_0');
  const q8 = plan([['c.weight', 'BF16', [48, 1000]]], { method: 'q8_0' });
  assert.equal(scheme(q8['c.weight']), 'keep:row-length');
  for (const [method, fb] of [['q2_k', 'q4_0'], ['q3_k', 'q4_0'], ['q5_k', 'q5_1'], ['q6_k', 'q8_0']] as const) {
    assert.equal(scheme(plan([['a.weight', 'BF16', [64, 96]]], { method })['a.weight']), fb, method);
  }
});

test("a GGUF format's blocks are ggml rows: conv kernels (last axis 3 or 1) are kept, 3-D tensors with whole blocks on their last axis are not", () => {
  const tensors: [string, string, number[]][] = [
    ['conv.weight', 'F16', [320, 320, 3, 3]], // 2-D view [320, 2880]: whole 32s, but ggml rows of 3
    ['proj_in.weight', 'F16', [320, 320, 1, 1]],
    ['lin.weight', 'F16', [320, 320]],
    ['pos.weight', 'F16', [1, 64, 512]],
  ];
  for (const method of ['q8_0', 'q4_0', 'q4_k']) {
    const p = plan(tensors, { method, keep_default_rules: false });
    assert.equal(scheme(p['conv.weight']), 'keep:row-length', method);
    assert.match(p['conv.weight']!.action.reason, /needs rows divisible by 32 \(ggml row: the last axis, 3\): kept/, method);
    assert.equal(scheme(p['proj_in.weight']), 'keep:row-length', method);
    assert.equal(scheme(p['lin.weight']), method === 'q4_k' ? 'q5_0' : method);
    assert.equal(scheme(p['pos.weight']), method);
  }
  // Formats that are not GGUF's keep the flattened rows (GPTQ and HQQ quantize whole kernels),
  // and auto takes its row's first format that fits both.
  assert.equal(scheme(plan(tensors, { method: 'rtn', bit_width: 4, group_size: 32 })['conv.weight']), 'rtn_int4_g32_asym');
  const auto = plan(tensors, { method: 'auto', bit_width: 4, keep_default_rules: false }, { modality: 'image' });
  assert.equal(scheme(auto['conv.weight']), 'hqq_int4_g128');
  assert.equal(scheme(auto['lin.weight']), 'q4_0');
});

test("uniform_importance: 1 per column where neither an imatrix nor a Hessian gives importance (stable-diffusion.cpp's convert)", () => {
  const values = new Float32Array(512).fill(2);
  const imatrix: ImportanceMatrix = { path: 'x.imatrix', format: 'gguf', datasets: [], entries: new Map([['blk.0.attn_q.weight', values]]) };
  for (const method of ['q4_k', 'q4_0', 'q5_0', 'q3_k']) {
    const a = plan(dream(1), { method, keep_default_rules: false, uniform_importance: true })['model.layers.0.self_attn.k_proj.weight']!.action;
    assert.ok(a.kind === 'quantize' && a.importance?.source === 'uniform', method);
    assert.match(a.reason, /importance from uniform/);
  }
  const q8 = plan(dream(1), { method: 'q8_0', uniform_importance: true })['model.layers.0.self_attn.k_proj.weight']!.action;
  assert.ok(q8.kind === 'quantize' && q8.importance === undefined, 'q8_0 weighs nothing');
  const p = plan(dream(1), { method: 'q4_k', keep_default_rules: false, uniform_importance: true }, { imatrix });
  const q = p['model.layers.0.self_attn.q_proj.weight']!.action;
  assert.ok(q.kind === 'quantize' && q.importance?.source === 'imatrix', 'an imatrix entry wins');
  const k = p['model.layers.0.self_attn.k_proj.weight']!.action;
  assert.ok(k.kind === 'quantize' && k.importance?.source === 'uniform', 'uniform where the imatrix has no entry');
  const off = plan(dream(1), { method: 'q4_k', keep_default_rules: false })['model.layers.0.self_attn.k_proj.weight']!.action;
  assert.ok(off.kind === 'quantize' && off.importance === undefined, 'off by default');
});

test('the quality-gate ladders stay in the GGUF family', () => {
  const p = plan([['a.weight', 'BF16', [64, 512]]], { method: 'q2_k' });
  assert.deepEqual(ladder(p['a.weight']), ['q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'q8_0']);
  assert.deepEqual(ladder(plan([['a.weight', 'BF16', [64, 512]]], { method: 'q4_1' })['a.weight']), ['q4_1', 'q5_1', 'q8_0']);
  assert.deepEqual(ladder(plan([['a.weight', 'BF16', [64, 96]]], { method: 'q4_k' })['a.weight']), ['q5_0', 'q8_0']);
});

test('gptq_format q4_k targets the K grid; without a Hessian the layer gets plain q4_k', () => {
  const p = plan([['a.weight', 'BF16', [64, 512]]], { method: 'gptq', gptq_format: 'q4_k' });
  assert.equal(scheme(p['a.weight']), 'q4_k');
  assert.equal(p['a.weight']!.action.kind === 'quantize' && p['a.weight']!.action.ladder[0]!.method, 'q4_k');
  assert.match(p['a.weight']!.action.reason, /no calibration Hessian for this layer: q4_k/);
  // The warning names the format the tensor really gets, after the row fallback.
  plan([['b.weight', 'BF16', [64, 96]]], { method: 'gptq', gptq_format: 'q4_k' });
  assert.deepEqual(lastWarnings, [{ tensor: 'b.weight', message: 'no calibration Hessian for this layer; quantized with q5_0 instead of gptq' }]);
});

test('an imatrix entry gives a K-quant tensor its importance; others get none', () => {
  const values = new Float32Array(512).fill(2);
  const imatrix: ImportanceMatrix = { path: 'x.imatrix', format: 'gguf', datasets: [], entries: new Map([['blk.0.attn_q.weight', values]]) };
  const p = plan(dream(1), { method: 'q4_k', keep_default_rules: false }, { imatrix });
  const q = p['model.layers.0.self_attn.q_proj.weight']!.action;
  assert.ok(q.kind === 'quantize' && q.importance?.source === 'imatrix' && q.importance.values === values);
  const k = p['model.layers.0.self_attn.k_proj.weight']!.action;
  assert.ok(k.kind === 'quantize' && k.importance === undefined);
  const r = plan(dream(1), { method: 'rtn' }, { imatrix })['model.layers.0.self_attn.q_proj.weight']!.action;
  assert.ok(r.kind === 'quantize' && r.importance === undefined, 'rtn does not use importance');
});
