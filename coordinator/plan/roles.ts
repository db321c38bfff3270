/**
 * What a tensor is, as llama.cpp's quantization mixes ask (llama-quant.cpp's tensor categories):
 * attention q/k/v/output, fused qkv, FFN up/gate/down, token embeddings, output head. Names are
 * matched in the spellings the models ArrowQuant reads use: Hugging Face LLMs (Llama/Qwen2/Dream:
 * `self_attn.v_proj`, `mlp.down_proj`), LLaDA (`attn_out`, `ff_out`), GPT/BERT/CLIP
 * (`c_attn`, `fc2`, `out_proj`), diffusers DiTs and UNets (`attn.to_v`, `attn.to_out.0`,
 * `ff.net.2`) and the original Flux/SD3 checkpoints (`img_attn.qkv`, `img_mlp.2`, `attn.proj`);
 * GGUF names too (`blk.N.attn_v`). A name matching none is `other` and gets the mix's base type.
 */

export type TensorRole =
  | 'attn_q'
  | 'attn_k'
  | 'attn_v'
  | 'attn_qkv'
  | 'attn_output'
  | 'ffn_up'
  | 'ffn_gate'
  | 'ffn_down'
  | 'token_embd'
  | 'output'
  | 'other';

/** The layer-stack segment of a name (`model.layers.3.`, `transformer_blocks.12.`, `blk.0.`). */
const LAYER = /(?:^|\.)(?:layers|layer|blocks|block|h|blk|transformer_blocks|single_transformer_blocks|double_blocks|single_blocks|resblocks)\.(\d+)\./;

/** Role patterns, matched against the name without its trailing `.weight`; first match wins. */
const ROLE_PATTERNS: readonly [TensorRole, RegExp][] = [
  ['attn_qkv', /(^|\.)(qkv|qkv_proj|to_qkv|Wqkv|c_attn|query_key_value|attn_qkv|in_proj)$/],
  ['attn_v', /(^|\.)(v_proj|to_v|add_v_proj|value|attn_v|wv)$/],
  ['attn_k', /(^|\.)(k_proj|to_k|add_k_proj|key|attn_k|wk)$/],
  ['attn_q', /(^|\.)(q_proj|to_q|add_q_proj|query|attn_q|wq)$/],
  ['attn_output', /(^|\.)(o_proj|out_proj|to_out\.0|to_add_out|attn_out|attn_output|wo|c_proj_attn|attention\.output\.dense|attn\.proj|img_attn\.proj|txt_attn\.proj|self_attn\.proj)$/],
  ['ffn_down', /(^|\.)(down_proj|fc2|ff_out|ffn_down|w2|dense_4h_to_h|linear2|ff\.net\.2|ff_context\.net\.2|img_mlp\.2|txt_mlp\.2|mlp\.2|ffn\.2|mlp\.c_proj|output\.dense)$/],
  ['ffn_gate', /(^|\.)(gate_proj|ffn_gate|w1)$/],
  ['ffn_up', /(^|\.)(up_proj|fc1|ff_proj|ffn_up|w3|dense_h_to_4h|linear1|ff\.net\.0\.proj|ff_context\.net\.0\.proj|img_mlp\.0|txt_mlp\.0|mlp\.0|ffn\.0|mlp\.c_fc|intermediate\.dense)$/],
];

/** Names of the token embedding table and the output head (outside the layer stack). */
const TOKEN_EMBD = /(^|\.)(embed_tokens|wte|word_embeddings|tok_embeddings|token_embedding|token_embd)$/;
const OUTPUT_HEAD = /(^|\.)(lm_head|embed_out|output|ff_out)$/;

export interface RoleOf {
  role: TensorRole;
  /** Index in the layer stack, when the name has one. */
  layer?: number;
}

export function tensorRole(name: string): RoleOf {
  const base = name.replace(/\.(weight|bias)$/, '');
  const m = LAYER.exec(name);
  const layer = m ? Number(m[1]) : undefined;
  if (layer === undefined) {
    if (TOKEN_EMBD.test(base)) return { role: 'token_embd' };
    // Outside the layers, `ff_out`/`output` are the head (LLaDA's `model.transformer.ff_out`).
    if (OUTPUT_HEAD.test(base)) return { role: 'output' };
  }
  for (const [role, re] of ROLE_PATTERNS) if (re.test(base)) return layer !== undefined ? { role, layer } : { role };
  return layer !== undefined ? { role: 'other', layer } : { role: 'other' };
}
