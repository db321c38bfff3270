/**
 * The built-in rules that keep tensors unquantized, following what diffusion tools keep in float
 * (city96's GGUF conversion tools, ViDiT-Q, diffusers' quantizers): tensors too small or too
 * sensitive to be worth quantizing. Structural rules (dtype, 1-D, tiny) always apply; name rules
 * apply while `keep_default_rules` is on, and an `overrides` entry with `quantize: true` opts a
 * tensor back in. Documented in README.md ("What happens to each tensor").
 */
import { isQuantizable } from '../../common/format/dtypes.js';

export interface KeepDecision {
  rule: string;
  reason: string;
}

export const TINY_ELEMENTS = 1024;

/** Always kept: quantizing these is impossible or pointless. */
export function structuralKeep(dtype: string, shape: readonly number[]): KeepDecision | undefined {
  if (!isQuantizable(dtype)) return { rule: 'dtype', reason: `dtype ${dtype} is carried through unchanged` };
  if (shape.length <= 1) return { rule: '1-d', reason: '1-D tensor (norm weight, bias or scale)' };
  const n = shape.reduce((a, b) => a * b, 1);
  if (n <= TINY_ELEMENTS) return { rule: 'tiny', reason: `${n} elements (≤ ${TINY_ELEMENTS})` };
  return undefined;
}

/** Name rules, in order; the first match decides. Patterns match dotted tensor names. */
export const NAME_KEEP_RULES: readonly { rule: string; pattern: RegExp; reason: string }[] = [
  {
    rule: 'embedder',
    pattern:
      /(^|\.)(x_embedder|t_embedder|y_embedder|patch_embed|pos_embed|time_embed|time_embedding|timestep_embedder|time_text_embed|time_proj|context_embedder|guidance_embedder|text_embedder|label_emb|add_embedding|class_embedding|embed_tokens|wte|wpe|position_embedding|token_embedding|position_embeddings|word_embeddings|caption_projection|img_in|txt_in|time_in|vector_in|guidance_in)(\.|$)/,
    // img_in … guidance_in: FLUX.1's original (BFL) names for x_embedder, context_embedder and time_text_embed.
    reason: 'token/patch/time/label/positional embedder',
  },
  {
    rule: 'adaln',
    // (img|txt)_mod: FLUX.1's original names for a double block's norm1(_context).linear.
    pattern: /(adaLN_modulation|(^|\.)modulation(\.|$)|scale_shift_table|(^|\.)norm1(_context)?\.linear(\.|$)|(^|\.)norm_out\.linear(\.|$)|(^|\.)norm\.linear(\.|$)|(^|\.)(img|txt)_mod\.lin(\.|$))/,
    reason: 'adaLN modulation (scale/shift/gate of every block)',
  },
  {
    rule: 'output',
    // Top-level only (optionally under model./encoder./decoder., or an original single-file
    // checkpoint's model.diffusion_model./first_stage_model.decoder., where a UNet's conv_out is
    // out.2): a UNet's nested `attentions.N.proj_out` or BERT's `layer.N.output.dense` are ordinary layers.
    pattern: /^(((model\.diffusion_model|first_stage_model\.decoder|model|encoder|decoder)\.)?(final_layer|proj_out|lm_head|conv_out|output|head|final_proj)|model\.diffusion_model\.out\.2)(\.|$)/,
    reason: 'final/output layer or head',
  },
];

export function nameKeep(name: string): KeepDecision | undefined {
  for (const r of NAME_KEEP_RULES) if (r.pattern.test(name)) return { rule: r.rule, reason: r.reason };
  return undefined;
}
