/**
 * The `flux` preset: FLUX.1's diffusers FluxTransformer2DModel (double and single blocks, every
 * head 128 wide, guidance embedder as in FLUX.1-dev, bf16 throughout like the released
 * checkpoint), and with `--layout diffusers` a FluxPipeline folder whose VAE and text encoder
 * stable-diffusion.cpp loads as well: a Flux AutoencoderKL (16 latent channels, no quant convs;
 * narrow at tiny/small: stable-diffusion.cpp reads the decoder's width from its first conv) and a
 * CLIP-L text encoder at its real size (123 M parameters, 246 MB in f16: stable-diffusion.cpp's
 * CLIP is hard-coded, and its Flux will not run without one). stable-diffusion.cpp builds its Flux
 * from the file's shapes (depth, width, heads), so the tiny transformer (width 256 = 2 heads,
 * 1 double + 1 single block, 5 M parameters) generates an image in seconds:
 * docs/RUN-SD-CPP.md runs it.
 */
import type { Component, Scale } from './presets.js';
import type { TensorDef } from './weights.js';
import { clipTextComponent } from './clip.js';

interface FluxDims { hidden: number; double: number; single: number; vaeCh: number }
/** Transformer: tiny ≈ 10 MB, small ≈ 75 MB, 1.5gb ≈ 1.5 GB, 7b ≈ 14 GB (FLUX.1's width, 10 + 24 of its 19 + 38 blocks). */
export const FLUX_DIMS: Record<Scale, FluxDims> = {
  tiny: { hidden: 256, double: 1, single: 1, vaeCh: 32 },
  small: { hidden: 512, double: 2, single: 4, vaeCh: 32 },
  '1.5gb': { hidden: 1536, double: 4, single: 11, vaeCh: 128 },
  '7b': { hidden: 3072, double: 10, single: 24, vaeCh: 128 },
};
const HEAD_DIM = 128; // FLUX.1's; stable-diffusion.cpp's rope axes (16, 56, 56) add up to it
const IN_CHANNELS = 64; // 16 latent channels packed 2×2
const T5_DIM = 4096; // joint_attention_dim: T5-XXL's width (stable-diffusion.cpp's zero context without one)
const POOLED_DIM = 768; // CLIP-L's pooled output
const TIME_DIM = 256;
const DIFFUSERS_VERSION = '0.30.0';

export function fluxTensors(scale: Scale): TensorDef[] {
  const { hidden: h, double, single } = FLUX_DIMS[scale];
  const t: TensorDef[] = [];
  const linear = (name: string, out: number, inn: number, kind: 'linear' | 'adaln' = 'linear', chunks?: number) => {
    t.push({ name: `${name}.weight`, dtype: 'BF16', shape: [out, inn], kind, ...(chunks ? { chunks } : {}) });
    t.push({ name: `${name}.bias`, dtype: 'BF16', shape: [out], kind: 'bias' });
  };
  const norm = (name: string) => t.push({ name: `${name}.weight`, dtype: 'BF16', shape: [HEAD_DIM], kind: 'norm' });
  linear('x_embedder', h, IN_CHANNELS);
  linear('context_embedder', h, T5_DIM);
  linear('time_text_embed.timestep_embedder.linear_1', h, TIME_DIM);
  linear('time_text_embed.timestep_embedder.linear_2', h, h);
  linear('time_text_embed.guidance_embedder.linear_1', h, TIME_DIM);
  linear('time_text_embed.guidance_embedder.linear_2', h, h);
  linear('time_text_embed.text_embedder.linear_1', h, POOLED_DIM);
  linear('time_text_embed.text_embedder.linear_2', h, h);
  for (let i = 0; i < double; i++) {
    const b = `transformer_blocks.${i}`;
    linear(`${b}.norm1.linear`, 6 * h, h, 'adaln', 6);
    linear(`${b}.norm1_context.linear`, 6 * h, h, 'adaln', 6);
    for (const p of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj']) linear(`${b}.attn.${p}`, h, h);
    for (const p of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) norm(`${b}.attn.${p}`);
    linear(`${b}.attn.to_out.0`, h, h);
    linear(`${b}.attn.to_add_out`, h, h);
    for (const ff of ['ff', 'ff_context']) {
      linear(`${b}.${ff}.net.0.proj`, 4 * h, h);
      linear(`${b}.${ff}.net.2`, h, 4 * h);
    }
  }
  for (let i = 0; i < single; i++) {
    const b = `single_transformer_blocks.${i}`;
    linear(`${b}.norm.linear`, 3 * h, h, 'adaln', 3);
    for (const p of ['to_q', 'to_k', 'to_v']) linear(`${b}.attn.${p}`, h, h);
    norm(`${b}.attn.norm_q`);
    norm(`${b}.attn.norm_k`);
    linear(`${b}.proj_mlp`, 4 * h, h);
    linear(`${b}.proj_out`, h, 5 * h);
  }
  linear('norm_out.linear', 2 * h, h, 'adaln', 2);
  linear('proj_out', IN_CHANNELS, h);
  return t;
}

export function fluxConfig(scale: Scale): Record<string, unknown> {
  const d = FLUX_DIMS[scale];
  return {
    _class_name: 'FluxTransformer2DModel',
    _diffusers_version: DIFFUSERS_VERSION,
    attention_head_dim: HEAD_DIM,
    axes_dims_rope: [16, 56, 56],
    guidance_embeds: true,
    in_channels: IN_CHANNELS,
    joint_attention_dim: T5_DIM,
    num_attention_heads: d.hidden / HEAD_DIM,
    num_layers: d.double,
    num_single_layers: d.single,
    patch_size: 1,
    pooled_projection_dim: POOLED_DIM,
  };
}

export function fluxTransformerComponent(scale: Scale): Component {
  return { folder: 'transformer', weightsBase: 'diffusion_pytorch_model', config: fluxConfig(scale), tensors: fluxTensors(scale), stream: 'transformer' };
}

/** FLUX.1's AutoencoderKL (diffusers names, 2-D mid-block attention weights), f32, base width `ch`. */
export function fluxVaeComponent(scale: Scale): Component {
  const ch = FLUX_DIMS[scale].vaeCh;
  const mult = [1, 2, 4, 4];
  const latent = 16;
  const widths = mult.map((m) => ch * m);
  const top = widths[widths.length - 1]!;
  const t: TensorDef[] = [];
  const conv = (name: string, out: number, inn: number, k: number) => {
    t.push({ name: `${name}.weight`, dtype: 'F32', shape: [out, inn, k, k], kind: 'conv' });
    t.push({ name: `${name}.bias`, dtype: 'F32', shape: [out], kind: 'bias' });
  };
  const gn = (name: string, c: number) => {
    t.push({ name: `${name}.weight`, dtype: 'F32', shape: [c], kind: 'norm' });
    t.push({ name: `${name}.bias`, dtype: 'F32', shape: [c], kind: 'bias' });
  };
  const linear = (name: string, c: number) => {
    t.push({ name: `${name}.weight`, dtype: 'F32', shape: [c, c], kind: 'linear' });
    t.push({ name: `${name}.bias`, dtype: 'F32', shape: [c], kind: 'bias' });
  };
  const resnet = (p: string, inn: number, out: number) => {
    gn(`${p}.norm1`, inn);
    conv(`${p}.conv1`, out, inn, 3);
    gn(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out, 3);
    if (inn !== out) conv(`${p}.conv_shortcut`, out, inn, 1);
  };
  const mid = (p: string) => {
    resnet(`${p}.mid_block.resnets.0`, top, top);
    gn(`${p}.mid_block.attentions.0.group_norm`, top);
    for (const x of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(`${p}.mid_block.attentions.0.${x}`, top);
    resnet(`${p}.mid_block.resnets.1`, top, top);
  };
  conv('encoder.conv_in', widths[0]!, 3, 3);
  let c = widths[0]!;
  widths.forEach((w, i) => {
    for (let j = 0; j < 2; j++) {
      resnet(`encoder.down_blocks.${i}.resnets.${j}`, c, w);
      c = w;
    }
    if (i < widths.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, w, w, 3);
  });
  mid('encoder');
  gn('encoder.conv_norm_out', top);
  conv('encoder.conv_out', 2 * latent, top, 3);
  conv('decoder.conv_in', top, latent, 3);
  mid('decoder');
  c = top;
  [...widths].reverse().forEach((w, i) => {
    for (let j = 0; j < 3; j++) {
      resnet(`decoder.up_blocks.${i}.resnets.${j}`, c, w);
      c = w;
    }
    if (i < widths.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, w, w, 3);
  });
  gn('decoder.conv_norm_out', widths[0]!);
  conv('decoder.conv_out', 3, widths[0]!, 3);
  const config = {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: 'silu',
    block_out_channels: widths,
    down_block_types: mult.map(() => 'DownEncoderBlock2D'),
    up_block_types: mult.map(() => 'UpDecoderBlock2D'),
    in_channels: 3,
    out_channels: 3,
    latent_channels: latent,
    layers_per_block: 2,
    mid_block_add_attention: true,
    norm_num_groups: 32,
    sample_size: 1024,
    scaling_factor: 0.3611,
    shift_factor: 0.1159,
    use_quant_conv: false,
    use_post_quant_conv: false,
  };
  return { folder: 'vae', weightsBase: 'diffusion_pytorch_model', config, tensors: t, stream: 'vae' };
}

/** openai/clip-vit-large-patch14's text tower (CLIPTextModel), f16, with its int64 position_ids buffer. */
export function clipLComponent(): Component {
  return clipTextComponent({
    width: 768, ff: 3072, layers: 12, heads: 12, vocab: 49408,
    attention: ['k_proj', 'v_proj', 'q_proj', 'out_proj'],
    extraConfig: { bos_token_id: 0, eos_token_id: 2, pad_token_id: 1 },
  });
}
