/**
 * Stable Diffusion's original (CompVis/LDM, "single file") tensor names, and the diffusers →
 * original mapping for the UNet (SD1/SD2/SDXL) and the VAE (every AutoencoderKL: SD, SDXL, Flux,
 * SD3), as diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py and
 * convert_diffusers_to_original_sdxl.py and stable-diffusion.cpp's name_conversion.cpp map them.
 *
 * The UNet map is derived from the names present rather than hard-coded for SD1's 4×2 blocks:
 * input block k counts conv_in, then per down block its resnets and its downsampler; output
 * blocks count the up blocks' resnets; an upsampler sits after the resnet (and attention, where
 * the block has one) of its level's last output block. That gives SD1's and SDXL's tables alike
 * (SDXL's `output_blocks.2.2.conv` included). Each function returns undefined for a name it does
 * not know, which the export then names in its error.
 *
 * Text encoders: Hugging Face CLIP names are what stable-diffusion.cpp uses internally, under
 * `cond_stage_model.transformer.` (CLIP-L) and `cond_stage_model.1.transformer.` (SDXL's CLIP-G,
 * whose `text_projection.weight` it calls `text_model.text_projection`).
 */

const PARAM = '(weight|bias)';

const RESNET_DIFFUSERS_TO_LDM: Readonly<Record<string, string>> = {
  norm1: 'in_layers.0',
  conv1: 'in_layers.2',
  norm2: 'out_layers.0',
  conv2: 'out_layers.3',
  time_emb_proj: 'emb_layers.1',
  conv_shortcut: 'skip_connection',
};

/** Inside a UNet transformer (SpatialTransformer / Transformer2DModel): the same names in both layouts. */
const UNET_ATTENTION_INNER = new RegExp(
  `^((norm|proj_in|proj_out)\\.${PARAM}|transformer_blocks\\.\\d+\\.(attn[12]\\.(to_[qkv]|to_out\\.0)|ff\\.net\\.(0\\.proj|2)|norm[123])\\.${PARAM})$`,
);

const UNET_TOP_LEVEL: Readonly<Record<string, string>> = {
  'time_embedding.linear_1': 'time_embed.0',
  'time_embedding.linear_2': 'time_embed.2',
  conv_in: 'input_blocks.0.0',
  conv_norm_out: 'out.0',
  conv_out: 'out.2',
  'add_embedding.linear_1': 'label_emb.0.0',
  'add_embedding.linear_2': 'label_emb.0.2',
};

/** The original names of a UNet (without `model.diffusion_model.`). */
const LDM_UNET: readonly RegExp[] = [
  new RegExp(`^(time_embed\\.[02]|label_emb\\.0\\.[02]|input_blocks\\.0\\.0|out\\.[02])\\.${PARAM}$`),
  new RegExp(`^(input_blocks\\.\\d+|middle_block|output_blocks\\.\\d+)\\.\\d+\\.(in_layers\\.[02]|out_layers\\.[03]|emb_layers\\.1|skip_connection|op|conv)\\.${PARAM}$`),
];

export function isLdmUnetName(name: string): boolean {
  if (LDM_UNET.some((re) => re.test(name))) return true;
  const m = /^(input_blocks\.\d+|middle_block|output_blocks\.\d+)\.\d+\.(.*)$/.exec(name);
  return m !== null && UNET_ATTENTION_INNER.test(m[2]!);
}

/**
 * diffusers UNet2DConditionModel names → original names, for all of `names` (one model's). Names
 * it does not know are absent from the result.
 */
export function unetToLdm(names: readonly string[]): Map<string, string> {
  const count = (re: RegExp) => 1 + Math.max(-1, ...names.map((n) => Number(re.exec(n)?.[1] ?? -1)));
  const perDown = count(/^down_blocks\.\d+\.resnets\.(\d+)\./);
  const perUp = count(/^up_blocks\.\d+\.resnets\.(\d+)\./);
  const upHasAttention = (i: number) => names.some((n) => n.startsWith(`up_blocks.${i}.attentions.`));
  const out = new Map<string, string>();
  for (const name of names) {
    const mapped = unetName(name, perDown, perUp, upHasAttention);
    if (mapped !== undefined) out.set(name, mapped);
  }
  return out;
}

function unetName(name: string, perDown: number, perUp: number, upHasAttention: (i: number) => boolean): string | undefined {
  const top = /^(.*)\.(weight|bias)$/.exec(name);
  if (top && UNET_TOP_LEVEL[top[1]!] !== undefined) return `${UNET_TOP_LEVEL[top[1]!]}.${top[2]}`;
  const resnet = (prefix: string, rest: string) => {
    const m = new RegExp(`^(${Object.keys(RESNET_DIFFUSERS_TO_LDM).join('|')})\\.${PARAM}$`).exec(rest);
    return m ? `${prefix}.${RESNET_DIFFUSERS_TO_LDM[m[1]!]}.${m[2]}` : undefined;
  };
  const attention = (prefix: string, rest: string) => (UNET_ATTENTION_INNER.test(rest) ? `${prefix}.${rest}` : undefined);
  let m: RegExpExecArray | null;
  if ((m = /^down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(name))) return resnet(`input_blocks.${+m[1]! * (perDown + 1) + +m[2]! + 1}.0`, m[3]!);
  if ((m = /^down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$/.exec(name))) return attention(`input_blocks.${+m[1]! * (perDown + 1) + +m[2]! + 1}.1`, m[3]!);
  if ((m = new RegExp(`^down_blocks\\.(\\d+)\\.downsamplers\\.0\\.conv\\.${PARAM}$`).exec(name))) return `input_blocks.${(+m[1]! + 1) * (perDown + 1)}.0.op.${m[2]}`;
  if ((m = /^mid_block\.resnets\.(\d+)\.(.*)$/.exec(name))) return resnet(`middle_block.${2 * +m[1]!}`, m[2]!);
  if ((m = /^mid_block\.attentions\.0\.(.*)$/.exec(name))) return attention('middle_block.1', m[1]!);
  if ((m = /^up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(name))) return resnet(`output_blocks.${+m[1]! * perUp + +m[2]!}.0`, m[3]!);
  if ((m = /^up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$/.exec(name))) return attention(`output_blocks.${+m[1]! * perUp + +m[2]!}.1`, m[3]!);
  if ((m = new RegExp(`^up_blocks\\.(\\d+)\\.upsamplers\\.0\\.conv\\.${PARAM}$`).exec(name))) {
    const i = +m[1]!;
    return `output_blocks.${i * perUp + perUp - 1}.${upHasAttention(i) ? 2 : 1}.conv.${m[2]}`;
  }
  return undefined;
}

// --- VAE ---------------------------------------------------------------------------------------

const VAE_RESNET = `(norm1|conv1|norm2|conv2|nin_shortcut)\\.${PARAM}`;
const LDM_VAE: readonly RegExp[] = [
  new RegExp(`^(encoder|decoder)\\.(conv_in|conv_out|norm_out)\\.${PARAM}$`),
  new RegExp(`^(encoder\\.down|decoder\\.up)\\.\\d+\\.block\\.\\d+\\.${VAE_RESNET}$`),
  new RegExp(`^(encoder\\.down\\.\\d+\\.downsample|decoder\\.up\\.\\d+\\.upsample)\\.conv\\.${PARAM}$`),
  new RegExp(`^(encoder|decoder)\\.mid\\.block_[12]\\.${VAE_RESNET}$`),
  new RegExp(`^(encoder|decoder)\\.mid\\.attn_1\\.(norm|q|k|v|proj_out)\\.${PARAM}$`),
  new RegExp(`^(post_)?quant_conv\\.${PARAM}$`),
];

export const isLdmVaeName = (name: string): boolean => LDM_VAE.some((re) => re.test(name));

const VAE_ATTENTION: Readonly<Record<string, string>> = {
  group_norm: 'norm',
  to_q: 'q',
  query: 'q',
  to_k: 'k',
  key: 'k',
  to_v: 'v',
  value: 'v',
  'to_out.0': 'proj_out',
  proj_attn: 'proj_out',
};

/**
 * diffusers AutoencoderKL names → original names, for all of `names`. The mid-block attention's
 * q/k/v/proj_out stay the 2-D Linear weights diffusers stores (stable-diffusion.cpp runs either
 * form, and its own convert keeps them 2-D); an original checkpoint's 1×1 convs pass through.
 */
export function vaeToLdm(names: readonly string[]): Map<string, string> {
  const upBlocks = 1 + Math.max(-1, ...names.map((n) => Number(/^decoder\.up_blocks\.(\d+)\./.exec(n)?.[1] ?? -1)));
  const out = new Map<string, string>();
  for (const name of names) {
    const mapped = vaeName(name, upBlocks);
    if (mapped !== undefined && isLdmVaeName(mapped)) out.set(name, mapped);
  }
  return out;
}

function vaeName(name: string, upBlocks: number): string | undefined {
  const resnet = (rest: string) => rest.replace(/^conv_shortcut\./, 'nin_shortcut.');
  let m: RegExpExecArray | null;
  if ((m = /^(encoder|decoder)\.(conv_in|conv_out)\.(.*)$/.exec(name))) return name;
  if ((m = /^(encoder|decoder)\.conv_norm_out\.(.*)$/.exec(name))) return `${m[1]}.norm_out.${m[2]}`;
  if ((m = /^(post_)?quant_conv\.(.*)$/.exec(name))) return name;
  if ((m = /^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(name))) return `encoder.down.${m[1]}.block.${m[2]}.${resnet(m[3]!)}`;
  if ((m = /^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)$/.exec(name))) return `encoder.down.${m[1]}.downsample.conv.${m[2]}`;
  if ((m = /^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(name))) return `decoder.up.${upBlocks - 1 - +m[1]!}.block.${m[2]}.${resnet(m[3]!)}`;
  if ((m = /^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)$/.exec(name))) return `decoder.up.${upBlocks - 1 - +m[1]!}.upsample.conv.${m[2]}`;
  if ((m = /^(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)$/.exec(name))) return `${m[1]}.mid.block_${+m[2]! + 1}.${resnet(m[3]!)}`;
  if ((m = new RegExp(`^(encoder|decoder)\\.mid_block\\.attentions\\.0\\.(group_norm|to_q|query|to_k|key|to_v|value|to_out\\.0|proj_attn)\\.${PARAM}$`).exec(name))) {
    return `${m[1]}.mid.attn_1.${VAE_ATTENTION[m[2]!]}.${m[3]}`;
  }
  return undefined;
}

// --- text encoders -----------------------------------------------------------------------------

/** Hugging Face CLIPTextModel(WithProjection) names. */
const HF_CLIP = new RegExp(
  '^(text_model\\.(embeddings\\.(token_embedding|position_embedding)\\.weight|encoder\\.layers\\.\\d+\\.(self_attn\\.(q|k|v|out)_proj|layer_norm[12]|mlp\\.fc[12])\\.(weight|bias)|final_layer_norm\\.(weight|bias))|text_projection\\.weight)$',
);
export const isHfClipName = (name: string): boolean => HF_CLIP.test(name);

/** OpenCLIP text-tower names (original SD2/SDXL checkpoints' `cond_stage_model.model.` / `conditioner.embedders.1.model.`). */
const OPEN_CLIP = new RegExp(
  '^(token_embedding\\.weight|positional_embedding|text_projection|logit_scale|ln_final\\.(weight|bias)|transformer\\.resblocks\\.\\d+\\.(ln_[12]\\.(weight|bias)|attn\\.(in_proj_(weight|bias)|out_proj\\.(weight|bias))|mlp\\.c_(fc|proj)\\.(weight|bias)))$',
);
export const isOpenClipName = (name: string): boolean => OPEN_CLIP.test(name);

/** Hugging Face T5EncoderModel names (Flux's and SD3's text_encoder_2/3). */
const HF_T5 = new RegExp(
  '^(shared\\.weight|encoder\\.(embed_tokens\\.weight|final_layer_norm\\.weight|block\\.\\d+\\.layer\\.\\d+\\.(SelfAttention\\.(q|k|v|o|relative_attention_bias)|DenseReluDense\\.(wi|wi_0|wi_1|wo)|layer_norm)\\.weight))$',
);
export const isHfT5Name = (name: string): boolean => HF_T5.test(name);

/**
 * Tensors stable-diffusion.cpp skips when loading (model.cpp's unused list, here by the part of
 * the name after its component prefix): diffusers' position-id buffers, the samplers' schedules of
 * original checkpoints, EMA copies. Dropped from the export, with a note.
 */
const UNUSED: readonly RegExp[] = [
  /(^|\.)position_ids$/,
  /^(betas|alphas_cumprod|alphas_cumprod_prev|sqrt_\w+|posterior_\w+|log_one_minus_\w+|model_ema\..*|embedding_manager\..*|denoiser\.sigmas|ztsnr|edm_vpred\.sigma_min)$/,
  /^(cond_stage_model\.model|conditioner\.embedders\.[01]\.model)\.logit_scale$/,
  /^first_stage_model\.bn\./,
];
export const isUnused = (name: string): boolean => UNUSED.some((re) => re.test(name));
