/**
 * A CLIPTextModel (transformers' CLIP text tower) as a pipeline component: f16 weights, CLIP's
 * int64 position_ids buffer, and its config.json. The dit pipeline's small stand-in and flux's
 * CLIP-L (what stable-diffusion.cpp loads) are the same architecture at other sizes.
 */
import type { Component } from './presets.js';
import type { TensorDef } from './weights.js';

export interface ClipTextSpec {
  width: number;
  ff: number;
  layers: number;
  heads: number;
  vocab: number;
  /** The attention projections in the order they are written (file order differs between sources). */
  attention: readonly ('q_proj' | 'k_proj' | 'v_proj' | 'out_proj')[];
  /** Config keys beyond the architecture's (special token ids, ...). */
  extraConfig?: Record<string, unknown>;
}

const CONTEXT = 77;

export function clipTextComponent(s: ClipTextSpec): Component {
  const { width: d, ff, layers, vocab } = s;
  const t: TensorDef[] = [
    { name: 'text_model.embeddings.token_embedding.weight', dtype: 'F16', shape: [vocab, d], kind: 'embedding' },
    { name: 'text_model.embeddings.position_embedding.weight', dtype: 'F16', shape: [CONTEXT, d], kind: 'embedding' },
    { name: 'text_model.embeddings.position_ids', dtype: 'I64', shape: [1, CONTEXT], kind: 'ids' },
  ];
  const lin = (name: string, out: number, inn: number) => {
    t.push({ name: `${name}.weight`, dtype: 'F16', shape: [out, inn], kind: 'linear' });
    t.push({ name: `${name}.bias`, dtype: 'F16', shape: [out], kind: 'bias' });
  };
  const ln = (name: string) => {
    t.push({ name: `${name}.weight`, dtype: 'F16', shape: [d], kind: 'norm' });
    t.push({ name: `${name}.bias`, dtype: 'F16', shape: [d], kind: 'bias' });
  };
  for (let i = 0; i < layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const x of s.attention) lin(`${p}.self_attn.${x}`, d, d);
    ln(`${p}.layer_norm1`);
    lin(`${p}.mlp.fc1`, ff, d);
    lin(`${p}.mlp.fc2`, d, ff);
    ln(`${p}.layer_norm2`);
  }
  ln('text_model.final_layer_norm');
  const config = {
    architectures: ['CLIPTextModel'],
    model_type: 'clip_text_model',
    hidden_size: d,
    intermediate_size: ff,
    num_attention_heads: s.heads,
    num_hidden_layers: layers,
    max_position_embeddings: CONTEXT,
    vocab_size: vocab,
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
    projection_dim: d,
    ...s.extraConfig,
    torch_dtype: 'float16',
    transformers_version: '4.46.2',
  };
  return { folder: 'text_encoder', weightsBase: 'model', config, tensors: t, stream: 'text_encoder' };
}
