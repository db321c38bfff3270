/**
 * Synthetic architectures: tensor lists with the naming conventions and shapes of real
 * checkpoints, and the config.json beside them. They are shaped like the real thing for a
 * quantizer's sake (names it must recognise, dtypes, odd row lengths, tiny tensors); they are
 * not loadable by diffusers/transformers.
 *
 *  dit    DiT/Flux-style diffusers transformer with adaLN-Zero blocks. Mixed dtypes: bf16
 *         weights, f32 qk-norms and sin-cos pos_embed, an f16 scale_shift_table, an int64
 *         position_ids buffer. Row lengths not divisible by 128: x_embedder (64 = 16 ch · 2 · 2,
 *         Flux's packed latent), and at tiny/small every block (hidden 144/576; DiT-XL's head
 *         dim 72). 1152 (1.5gb) is 9·128: a multiple of 128 but not of 256.
 *  dream  Dream 7B, a diffusion LM with Qwen2 naming: q/k/v biases, GQA, untied lm_head, bf16.
 *  llada  LLaDA 8B (scale 7b), a diffusion LM with OLMo-style naming, bf16 (llm.ts).
 *  flux   FLUX.1's FluxTransformer2DModel as diffusers names it (double and single blocks, heads of
 *         128, guidance embedder), bf16; in the diffusers layout with a Flux VAE and a real-size
 *         CLIP-L: a pipeline stable-diffusion.cpp runs once exported (flux.ts).
 * The LLM presets also write a small BPE tokenizer (tokenizer.json, tokenizer_config.json).
 */
import type { TensorDef } from './weights.js';
import { numel, DTYPE_SIZE } from '../../common/safetensors/writer.js';
import { clipTextComponent } from './clip.js';
import { clipLComponent, fluxTransformerComponent, fluxVaeComponent } from './flux.js';
import { dreamTokenizerFiles, lladaConfig, lladaTensors, lladaTokenizerFiles, LLADA_DIMS } from './llm.js';

export const PRESETS = ['dit', 'dream', 'llada', 'flux'] as const;
export type PresetName = (typeof PRESETS)[number];
export const SCALES = ['tiny', 'small', '1.5gb', '7b'] as const;
export type Scale = (typeof SCALES)[number];

/** One model folder: its weights, their file base name and its config. */
export interface Component {
  /** Sub-folder in a diffusers pipeline ('' for the main model in single/sharded layouts). */
  folder: string;
  /** 'model' (transformers) or 'diffusion_pytorch_model' (diffusers). */
  weightsBase: string;
  config: Record<string, unknown>;
  /** Other JSON files beside config.json (the LLM presets' tokenizer), by file name. */
  files?: Record<string, unknown>;
  tensors: TensorDef[];
  /** Seed stream name, so same-named tensors in different components differ. */
  stream: string;
}

const DIFFUSERS_VERSION = '0.30.0';

// ---- dit -----------------------------------------------------------------------------------

interface DitDims { hidden: number; layers: number; heads: number; captionDim: number; grid: number }
/** tiny ≈ 1.8 MB, small ≈ 75 MB, 1.5gb ≈ 1.36 GB (DiT-XL/PixArt: 1152 × 28), 7b ≈ 14.3 GB (Flux width, 42 blocks). */
export const DIT_DIMS: Record<Scale, DitDims> = {
  tiny: { hidden: 144, layers: 2, heads: 2, captionDim: 200, grid: 8 },
  small: { hidden: 576, layers: 6, heads: 8, captionDim: 1472, grid: 16 },
  '1.5gb': { hidden: 1152, layers: 28, heads: 16, captionDim: 4096, grid: 32 },
  '7b': { hidden: 3072, layers: 42, heads: 24, captionDim: 4096, grid: 64 },
};
const DIT_IN_CHANNELS = 64; // 16 latent channels packed 2×2, patch_size 1 (Flux)
const DIT_FREQ_DIM = 256;

/** A scale's dimensions with its layer count replaced (`--layers`), e.g. a deeper model of the same widths. */
export function withLayers<D extends { layers: number }>(dims: D, layers: number | undefined): D {
  if (layers === undefined) return dims;
  if (!Number.isSafeInteger(layers) || layers < 1) throw new RangeError(`layers must be a positive integer, got ${layers}`);
  return { ...dims, layers };
}

export function ditTensors(scale: Scale, layerCount?: number): TensorDef[] {
  const { hidden: h, layers, heads, captionDim, grid } = withLayers(DIT_DIMS[scale], layerCount);
  const t: TensorDef[] = [];
  const linear = (name: string, out: number, inn: number, kind: 'linear' | 'adaln' = 'linear', chunks?: number) => {
    t.push({ name: `${name}.weight`, dtype: 'BF16', shape: [out, inn], kind, ...(chunks ? { chunks } : {}) });
    t.push({ name: `${name}.bias`, dtype: 'BF16', shape: [out], kind: 'bias' });
  };
  linear('x_embedder.proj', h, DIT_IN_CHANNELS);
  linear('t_embedder.mlp.0', h, DIT_FREQ_DIM);
  linear('t_embedder.mlp.2', h, h);
  linear('context_embedder', h, captionDim);
  t.push({ name: 'pos_embed', dtype: 'F32', shape: [1, grid * grid, h], kind: 'pos_embed' });
  t.push({ name: 'position_ids', dtype: 'I64', shape: [1, grid * grid], kind: 'ids' });
  for (let i = 0; i < layers; i++) {
    const b = `transformer_blocks.${i}`;
    linear(`${b}.norm1.linear`, 6 * h, h, 'adaln', 6);
    for (const p of ['to_q', 'to_k', 'to_v']) linear(`${b}.attn.${p}`, h, h);
    t.push({ name: `${b}.attn.norm_q.weight`, dtype: 'F32', shape: [h / heads], kind: 'norm' });
    t.push({ name: `${b}.attn.norm_k.weight`, dtype: 'F32', shape: [h / heads], kind: 'norm' });
    linear(`${b}.attn.to_out.0`, h, h);
    linear(`${b}.ff.net.0.proj`, 4 * h, h);
    linear(`${b}.ff.net.2`, h, 4 * h);
  }
  linear('norm_out.linear', 2 * h, h, 'adaln', 2);
  t.push({ name: 'scale_shift_table', dtype: 'F16', shape: [2, h], kind: 'scale_shift' });
  linear('proj_out', DIT_IN_CHANNELS, h);
  return t;
}

export function ditConfig(scale: Scale, layers?: number): Record<string, unknown> {
  const d = withLayers(DIT_DIMS[scale], layers);
  return {
    _class_name: 'FluxTransformer2DModel',
    _diffusers_version: DIFFUSERS_VERSION,
    attention_head_dim: d.hidden / d.heads,
    num_attention_heads: d.heads,
    num_layers: d.layers,
    num_single_layers: 0,
    in_channels: DIT_IN_CHANNELS,
    out_channels: DIT_IN_CHANNELS,
    patch_size: 1,
    joint_attention_dim: d.captionDim,
    pooled_projection_dim: 768,
    guidance_embeds: false,
    sample_size: d.grid * 16,
    torch_dtype: 'bfloat16',
  };
}

// ---- dream ---------------------------------------------------------------------------------

interface DreamDims { hidden: number; layers: number; heads: number; kvHeads: number; intermediate: number; vocab: number }
/** tiny ≈ 1 MB, small ≈ 67 MB, 1.5gb ≈ 1.44 GB (Qwen2.5-0.5B widths, 30 layers, untied), 7b = Dream-v0-7B ≈ 15.2 GB. */
export const DREAM_DIMS: Record<Scale, DreamDims> = {
  tiny: { hidden: 128, layers: 2, heads: 4, kvHeads: 2, intermediate: 352, vocab: 512 },
  small: { hidden: 512, layers: 6, heads: 8, kvHeads: 2, intermediate: 1408, vocab: 16384 },
  '1.5gb': { hidden: 896, layers: 30, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 152064 },
  '7b': { hidden: 3584, layers: 28, heads: 28, kvHeads: 4, intermediate: 18944, vocab: 152064 },
};

export function dreamTensors(scale: Scale, layerCount?: number): TensorDef[] {
  const { hidden: h, layers, heads, kvHeads, intermediate: f, vocab } = withLayers(DREAM_DIMS[scale], layerCount);
  const kv = kvHeads * (h / heads);
  const t: TensorDef[] = [{ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [vocab, h], kind: 'embedding' }];
  const w = (name: string, shape: number[], kind: TensorDef['kind'] = 'linear') => t.push({ name, dtype: 'BF16', shape, kind });
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    w(`${p}.self_attn.q_proj.weight`, [h, h]);
    w(`${p}.self_attn.q_proj.bias`, [h], 'bias');
    w(`${p}.self_attn.k_proj.weight`, [kv, h]);
    w(`${p}.self_attn.k_proj.bias`, [kv], 'bias');
    w(`${p}.self_attn.v_proj.weight`, [kv, h]);
    w(`${p}.self_attn.v_proj.bias`, [kv], 'bias');
    w(`${p}.self_attn.o_proj.weight`, [h, h]);
    w(`${p}.mlp.gate_proj.weight`, [f, h]);
    w(`${p}.mlp.up_proj.weight`, [f, h]);
    w(`${p}.mlp.down_proj.weight`, [h, f]);
    w(`${p}.input_layernorm.weight`, [h], 'norm');
    w(`${p}.post_attention_layernorm.weight`, [h], 'norm');
  }
  w('model.norm.weight', [h], 'norm');
  w('lm_head.weight', [vocab, h]);
  return t;
}

export function dreamConfig(scale: Scale, layers?: number): Record<string, unknown> {
  const d = withLayers(DREAM_DIMS[scale], layers);
  const special = d.vocab >= 152064 ? { bos: 151643, mask: 151666 } : { bos: d.vocab - 2, mask: d.vocab - 1 };
  return {
    architectures: ['DreamModel'],
    auto_map: { AutoConfig: 'configuration_dream.DreamConfig', AutoModel: 'modeling_dream.DreamModel' },
    model_type: 'Dream',
    hidden_act: 'silu',
    hidden_size: d.hidden,
    intermediate_size: d.intermediate,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    num_key_value_heads: d.kvHeads,
    vocab_size: d.vocab,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    rope_scaling: null,
    tie_word_embeddings: false,
    bos_token_id: special.bos,
    eos_token_id: special.bos,
    pad_token_id: special.bos,
    mask_token_id: special.mask,
    attention_dropout: 0.0,
    use_cache: false,
    use_sliding_window: false,
    sliding_window: null,
    torch_dtype: 'bfloat16',
    transformers_version: '4.46.2',
  };
}

// ---- the rest of a diffusers pipeline (fixed small sizes at every scale) --------------------

/** A CLIP-like text encoder: 2 layers, width 128, f16, with CLIP's int64 position_ids buffer. */
export function textEncoderComponent(): Component {
  return clipTextComponent({ width: 128, ff: 512, layers: 2, heads: 2, vocab: 1000, attention: ['q_proj', 'k_proj', 'v_proj', 'out_proj'] });
}

/** A one-level AutoencoderKL (128 channels, 16 latent channels), f32 conv weights. */
export function vaeComponent(): Component {
  const ch = 128, latent = 16;
  const t: TensorDef[] = [];
  const conv = (name: string, out: number, inn: number, k: number) => {
    t.push({ name: `${name}.weight`, dtype: 'F32', shape: [out, inn, k, k], kind: 'conv' });
    t.push({ name: `${name}.bias`, dtype: 'F32', shape: [out], kind: 'bias' });
  };
  const gn = (name: string) => {
    t.push({ name: `${name}.weight`, dtype: 'F32', shape: [ch], kind: 'norm' });
    t.push({ name: `${name}.bias`, dtype: 'F32', shape: [ch], kind: 'bias' });
  };
  const resnet = (p: string) => {
    gn(`${p}.norm1`);
    conv(`${p}.conv1`, ch, ch, 3);
    gn(`${p}.norm2`);
    conv(`${p}.conv2`, ch, ch, 3);
  };
  conv('encoder.conv_in', ch, 3, 3);
  resnet('encoder.down_blocks.0.resnets.0');
  gn('encoder.conv_norm_out');
  conv('encoder.conv_out', 2 * latent, ch, 3);
  conv('quant_conv', 2 * latent, 2 * latent, 1);
  conv('post_quant_conv', latent, latent, 1);
  conv('decoder.conv_in', ch, latent, 3);
  resnet('decoder.up_blocks.0.resnets.0');
  gn('decoder.conv_norm_out');
  conv('decoder.conv_out', 3, ch, 3);
  const config = {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: 'silu',
    block_out_channels: [ch],
    down_block_types: ['DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D'],
    in_channels: 3,
    out_channels: 3,
    latent_channels: latent,
    layers_per_block: 1,
    norm_num_groups: 32,
    sample_size: 1024,
    scaling_factor: 0.3611,
    shift_factor: 0.1159,
    use_quant_conv: true,
    use_post_quant_conv: true,
  };
  return { folder: 'vae', weightsBase: 'diffusion_pytorch_model', config, tensors: t, stream: 'vae' };
}

export const SCHEDULER_CONFIG = {
  _class_name: 'FlowMatchEulerDiscreteScheduler',
  _diffusers_version: DIFFUSERS_VERSION,
  base_image_seq_len: 256,
  base_shift: 0.5,
  max_image_seq_len: 4096,
  max_shift: 1.15,
  num_train_timesteps: 1000,
  shift: 3.0,
  use_dynamic_shifting: true,
};

export const MODEL_INDEX = {
  _class_name: 'FluxPipeline',
  _diffusers_version: DIFFUSERS_VERSION,
  scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
  text_encoder: ['transformers', 'CLIPTextModel'],
  transformer: ['diffusers', 'FluxTransformer2DModel'],
  vae: ['diffusers', 'AutoencoderKL'],
};

/**
 * The main model of a preset as a component (folder 'transformer' inside a pipeline). `layers`
 * replaces the scale's layer count (dit, dream, llada: a model with more tensors at the same
 * widths; flux has two block kinds and keeps its own).
 */
export function modelComponent(preset: PresetName, scale: Scale, layers?: number): Component {
  if (layers !== undefined && preset === 'flux') throw new RangeError('layers applies to the dit, dream and llada presets (flux has double and single blocks)');
  if (preset === 'dit') return { folder: 'transformer', weightsBase: 'diffusion_pytorch_model', config: ditConfig(scale, layers), tensors: ditTensors(scale, layers), stream: 'transformer' };
  if (preset === 'flux') return fluxTransformerComponent(scale);
  if (preset === 'llada') return { folder: '', weightsBase: 'model', config: lladaConfig(scale, layers), files: lladaTokenizerFiles(LLADA_DIMS[scale].vocab), tensors: lladaTensors(scale, layers), stream: 'model' };
  return { folder: '', weightsBase: 'model', config: dreamConfig(scale, layers), files: dreamTokenizerFiles(DREAM_DIMS[scale].vocab), tensors: dreamTensors(scale, layers), stream: 'model' };
}

/** The other components of a preset's diffusers pipeline (dit: small stand-ins; flux: ones stable-diffusion.cpp loads). */
export function pipelineComponents(preset: PresetName, scale: Scale): Component[] {
  return preset === 'flux' ? [clipLComponent(), fluxVaeComponent(scale)] : [textEncoderComponent(), vaeComponent()];
}

/** Data bytes of a tensor list (what an index's total_size counts). */
export const dataBytesOf = (tensors: readonly TensorDef[]): number => tensors.reduce((a, t) => a + numel(t.shape) * DTYPE_SIZE[t.dtype], 0);
