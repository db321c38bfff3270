/**
 * `--arch dream`: Dream (Dream-org/Dream-v0-*-7B, `DreamModel`), a diffusion LLM with Qwen2's
 * layout, as llama.cpp's conversion/dream.py writes it: Qwen2 tensor names (q/k/v biases, no
 * permutation: llama.cpp runs it with NEOX rope), `dream.attention.causal` false, the mask token
 * id from config.json. No `diffusion.shift_logits` key (llama-diffusion-cli then shifts, as Dream
 * needs). Its tokenizer is Qwen2's (tokenizer.ggml.pre "qwen2").
 */
import { ExportError } from '../../errors.js';
import { kv } from '../writer.js';
import { get, isInt } from './hf-folder.js';
import { llamaTextArchitecture, type KvList, type Hparams } from './llama-text.js';

const L = 'model\\.layers\\.(\\d+)\\.';

export const dream = llamaTextArchitecture({
  name: 'dream',
  summary: "llama.cpp's Dream layout (llama-diffusion-cli), from the model folder (--model)",
  hfArchitectures: ['DreamModel'],
  sentencePieceFirst: true,
  names: [
    [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
    [/^lm_head\.(weight|bias)$/, 'output.$1'],
    [/^model\.norm\.weight$/, 'output_norm.weight'],
    [new RegExp(`^${L}input_layernorm\\.weight$`), 'blk.$1.attn_norm.weight'],
    [new RegExp(`^${L}self_attn\\.([qkv])_proj\\.(weight|bias)$`), 'blk.$1.attn_$2.$3'],
    [new RegExp(`^${L}self_attn\\.o_proj\\.(weight|bias)$`), 'blk.$1.attn_output.$2'],
    [new RegExp(`^${L}post_attention_layernorm\\.weight$`), 'blk.$1.ffn_norm.weight'],
    [new RegExp(`^${L}mlp\\.(gate|up|down)_proj\\.(weight|bias)$`), 'blk.$1.ffn_$2.$3'],
  ],
  // src/models/dream.cpp load_arch_tensors (separate q/k/v, as the converter writes them).
  required: ['token_embd.weight', 'output_norm.weight', ...['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_down', 'ffn_up'].map((t) => `blk.{N}.${t}.weight`)],
  optional: ['output.weight', 'output.bias', 'blk.{N}.attn_q.bias', 'blk.{N}.attn_k.bias', 'blk.{N}.attn_v.bias'],
  parameters(kvs: KvList, h: Hparams) {
    kvs.add(kv.bool('dream.attention.causal', false));
    const mask = get(h.hp, 'mask_token_id');
    if (mask != null) {
      if (!isInt(mask) || mask < 0) throw new ExportError(`${h.folder.dir}/config.json: "mask_token_id" is ${JSON.stringify(mask)}, expected a token id`);
      kvs.add(kv.u32('tokenizer.ggml.mask_token_id', mask));
    }
  },
});
