/**
 * FLUX.1 transformer names: diffusers' FluxTransformer2DModel → Black Forest Labs' original
 * (`double_blocks.*`, `single_blocks.*`), the inverse of diffusers'
 * scripts/convert_flux_to_diffusers.py and of `convert_flux_transformer_checkpoint_to_diffusers`
 * (the tests run the latter on our output). stable-diffusion.cpp and ComfyUI-GGUF load only the
 * original layout: their Flux has one `qkv` per attention and one `linear1` per single block, and
 * the final adaLN in shift-then-scale order.
 */
import type { Target } from './image.js';

const P = '(weight|bias)';

type Rule = [RegExp, (m: RegExpExecArray) => Target];
const to = (name: string, part = 0, of = 1, swap = false): Target => ({ name, part, of, ...(swap ? { swap } : {}) });
const io = (n: string) => (n === '1' ? 'in_layer' : 'out_layer');

const RULES: readonly Rule[] = [
  [new RegExp(`^x_embedder\\.${P}$`), (m) => to(`img_in.${m[1]}`)],
  [new RegExp(`^context_embedder\\.${P}$`), (m) => to(`txt_in.${m[1]}`)],
  [new RegExp(`^time_text_embed\\.timestep_embedder\\.linear_([12])\\.${P}$`), (m) => to(`time_in.${io(m[1]!)}.${m[2]}`)],
  [new RegExp(`^time_text_embed\\.text_embedder\\.linear_([12])\\.${P}$`), (m) => to(`vector_in.${io(m[1]!)}.${m[2]}`)],
  [new RegExp(`^time_text_embed\\.guidance_embedder\\.linear_([12])\\.${P}$`), (m) => to(`guidance_in.${io(m[1]!)}.${m[2]}`)],
  [new RegExp(`^proj_out\\.${P}$`), (m) => to(`final_layer.linear.${m[1]}`)],
  [new RegExp(`^norm_out\\.linear\\.${P}$`), (m) => to(`final_layer.adaLN_modulation.1.${m[1]}`, 0, 1, true)],
  // double blocks
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.norm1\\.linear\\.${P}$`), (m) => to(`double_blocks.${m[1]}.img_mod.lin.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.norm1_context\\.linear\\.${P}$`), (m) => to(`double_blocks.${m[1]}.txt_mod.lin.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.to_([qkv])\\.${P}$`), (m) => to(`double_blocks.${m[1]}.img_attn.qkv.${m[3]}`, 'qkv'.indexOf(m[2]!), 3)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.add_([qkv])_proj\\.${P}$`), (m) => to(`double_blocks.${m[1]}.txt_attn.qkv.${m[3]}`, 'qkv'.indexOf(m[2]!), 3)],
  [/^transformer_blocks\.(\d+)\.attn\.norm_([qk])\.weight$/, (m) => to(`double_blocks.${m[1]}.img_attn.norm.${m[2] === 'q' ? 'query' : 'key'}_norm.scale`)],
  [/^transformer_blocks\.(\d+)\.attn\.norm_added_([qk])\.weight$/, (m) => to(`double_blocks.${m[1]}.txt_attn.norm.${m[2] === 'q' ? 'query' : 'key'}_norm.scale`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.to_out\\.0\\.${P}$`), (m) => to(`double_blocks.${m[1]}.img_attn.proj.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.attn\\.to_add_out\\.${P}$`), (m) => to(`double_blocks.${m[1]}.txt_attn.proj.${m[2]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.ff\\.net\\.(0\\.proj|2)\\.${P}$`), (m) => to(`double_blocks.${m[1]}.img_mlp.${m[2]![0]}.${m[3]}`)],
  [new RegExp(`^transformer_blocks\\.(\\d+)\\.ff_context\\.net\\.(0\\.proj|2)\\.${P}$`), (m) => to(`double_blocks.${m[1]}.txt_mlp.${m[2]![0]}.${m[3]}`)],
  // single blocks: linear1 = [q; k; v; proj_mlp]
  [new RegExp(`^single_transformer_blocks\\.(\\d+)\\.norm\\.linear\\.${P}$`), (m) => to(`single_blocks.${m[1]}.modulation.lin.${m[2]}`)],
  [new RegExp(`^single_transformer_blocks\\.(\\d+)\\.attn\\.to_([qkv])\\.${P}$`), (m) => to(`single_blocks.${m[1]}.linear1.${m[3]}`, 'qkv'.indexOf(m[2]!), 4)],
  [new RegExp(`^single_transformer_blocks\\.(\\d+)\\.proj_mlp\\.${P}$`), (m) => to(`single_blocks.${m[1]}.linear1.${m[2]}`, 3, 4)],
  [new RegExp(`^single_transformer_blocks\\.(\\d+)\\.proj_out\\.${P}$`), (m) => to(`single_blocks.${m[1]}.linear2.${m[2]}`)],
  [/^single_transformer_blocks\.(\d+)\.attn\.norm_([qk])\.weight$/, (m) => to(`single_blocks.${m[1]}.norm.${m[2] === 'q' ? 'query' : 'key'}_norm.scale`)],
];

/** diffusers Flux names → their BFL targets (unknown names are absent). */
export function fluxToOriginal(names: readonly string[]): Map<string, Target> {
  const out = new Map<string, Target>();
  for (const name of names) {
    for (const [re, target] of RULES) {
      const m = re.exec(name);
      if (m) {
        out.set(name, target(m));
        break;
      }
    }
  }
  return out;
}

const ORIGINAL: readonly RegExp[] = [
  new RegExp(`^(img_in|txt_in|(time_in|vector_in|guidance_in)\\.(in|out)_layer|final_layer\\.(linear|adaLN_modulation\\.1))\\.${P}$`),
  new RegExp(`^double_blocks\\.\\d+\\.(img|txt)_(mod\\.lin|attn\\.(qkv|proj)|mlp\\.[02])\\.${P}$`),
  /^double_blocks\.\d+\.(img|txt)_attn\.norm\.(query|key)_norm\.scale$/,
  new RegExp(`^single_blocks\\.\\d+\\.(linear[12]|modulation\\.lin)\\.${P}$`),
  /^single_blocks\.\d+\.norm\.(query|key)_norm\.scale$/,
];

/** Black Forest Labs' FLUX.1 names (without `model.diffusion_model.`). */
export const isFluxOriginalName = (name: string): boolean => ORIGINAL.some((re) => re.test(name));

/** Whether a file's names are diffusers' Flux (else they may be the original's). */
export const looksLikeDiffusersFlux = (names: readonly string[]): boolean => names.some((n) => n.startsWith('single_transformer_blocks.') || n.startsWith('transformer_blocks.'));
