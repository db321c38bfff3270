/**
 * Stable Diffusion 3 / 3.5 transformer names: diffusers' SD3Transformer2DModel → Stability AI's
 * original MMDiT (`joint_blocks.*`), the inverse of diffusers' scripts/convert_sd3_to_diffusers.py
 * and `convert_sd3_transformer_checkpoint_to_diffusers` (the tests run the latter on our output):
 * merged qkv per attention (SD3.5's second attention `attn2` included), adaLN halves swapped in
 * `final_layer` and in the last block's context adaLN (diffusers' `context_pre_only` block, the
 * only one without `ff_context`), `pos_embed` as its 3-D `[1, positions, hidden]`.
 */
import type { Target } from './image.js';

const P = '(weight|bias)';

type Rule = [RegExp, (m: RegExpExecArray, lastBlock: (i: string) => boolean) => Target];
const to = (name: string, part = 0, of = 1, swap = false): Target => ({ name, part, of, ...(swap ? { swap } : {}) });
const ln = (x: string) => (x === 'q' ? 'ln_q' : 'ln_k');

const RULES: readonly Rule[] = [
  [/^pos_embed\.pos_embed$/, () => to('pos_embed')],
  [new RegExp(`^pos_embed\\.proj\\.${P}$`), (m) => to(`x_embedder.proj.${m[1]}`)],
  [new RegExp(`^time_text_embed\\.timestep_embedder\\.linear_([12])\\.${P}$`), (m) => to(`t_embedder.mlp.${m[1] === '1' ? 0 : 2}.${m[2]}`)],
  [new RegExp(`^time_text_embed\\.text_embedder\\.linear_([12])\\.${P}$`), (m) => to(`y_embedder.mlp.${m[1] === '1' ? 0 : 2}.${m[2]}`)],
  [new RegExp(`^context_embedder\\.${P}$`), (m) => to(`context_embedder.${m[1]}`)],
  [new RegExp(`^proj_out\\.${P}$`), (m) => to(`final_layer.linear.${m[1]}`)],
  [new RegExp(`^norm_out\\.linear\\.${P}$`), (m) => to(`final_layer.adaLN_modulation.1.${m[1]}`, 0, 1, true)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.to_([qkv])\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.x_block.attn.qkv.${m[3]}`, 'qkv'.indexOf(m[2]!), 3)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.add_([qkv])_proj\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.context_block.attn.qkv.${m[3]}`, 'qkv'.indexOf(m[2]!), 3)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn2\\.to_([qkv])\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.x_block.attn2.qkv.${m[3]}`, 'qkv'.indexOf(m[2]!), 3)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.to_out\\.0\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.x_block.attn.proj.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.to_add_out\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.context_block.attn.proj.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn2\\.to_out\\.0\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.x_block.attn2.proj.${m[2]}`)],
  [/^transformer_blocks\.(\d+)\.attn\.norm_([qk])\.weight$/, (m) => to(`joint_blocks.${m[1]}.x_block.attn.${ln(m[2]!)}.weight`)],
  [/^transformer_blocks\.(\d+)\.attn\.norm_added_([qk])\.weight$/, (m) => to(`joint_blocks.${m[1]}.context_block.attn.${ln(m[2]!)}.weight`)],
  [/^transformer_blocks\.(\d+)\.attn2\.norm_([qk])\.weight$/, (m) => to(`joint_blocks.${m[1]}.x_block.attn2.${ln(m[2]!)}.weight`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.norm1\\.linear\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.x_block.adaLN_modulation.1.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.norm1_context\\.linear\\.${P}$`), (m, last) => to(`joint_blocks.${m[1]}.context_block.adaLN_modulation.1.${m[2]}`, 0, 1, last(m[1]!))],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.ff\\.net\\.(0\\.proj|2)\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.x_block.mlp.fc${m[2] === '2' ? 2 : 1}.${m[3]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.ff_context\\.net\\.(0\\.proj|2)\\.${P}$`), (m) => to(`joint_blocks.${m[1]}.context_block.mlp.fc${m[2] === '2' ? 2 : 1}.${m[3]}`)],
];

/** diffusers SD3 names → their MMDiT targets (unknown names are absent). */
export function sd3ToOriginal(names: readonly string[]): Map<string, Target> {
  // The context-pre-only block (the last) has no context feed-forward.
  const preOnly = (i: string) => !names.some((n) => n.startsWith(`transformer_blocks.${i}.ff_context.`));
  const out = new Map<string, Target>();
  for (const name of names) {
    for (const [re, target] of RULES) {
      const m = re.exec(name);
      if (m) {
        out.set(name, target(m, preOnly));
        break;
      }
    }
  }
  return out;
}

const ORIGINAL: readonly RegExp[] = [
  /^pos_embed$/,
  new RegExp(`^(x_embedder\\.proj|t_embedder\\.mlp\\.[02]|y_embedder\\.mlp\\.[02]|context_embedder|final_layer\\.(linear|adaLN_modulation\\.1))\\.${P}$`),
  new RegExp(`^joint_blocks\\.\\d+\\.(x_block|context_block)\\.(attn2?\\.(qkv|proj)|adaLN_modulation\\.1|mlp\\.fc[12])\\.${P}$`),
  /^joint_blocks\.\d+\.(x_block|context_block)\.attn2?\.ln_[qk]\.weight$/,
];

/** Stability AI's MMDiT names (without `model.diffusion_model.`). */
export const isSd3OriginalName = (name: string): boolean => ORIGINAL.some((re) => re.test(name));

export const looksLikeDiffusersSd3 = (names: readonly string[]): boolean => names.some((n) => n.startsWith('transformer_blocks.'));
