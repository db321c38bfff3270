/**
 * `--arch llada`: LLaDA (GSAI-ML/LLaDA-8B-*, `LLaDAModelLM`), a diffusion LLM with OLMo-style
 * names, as llama.cpp's conversion/llada.py writes it:
 *
 * - q and k projections (weights and biases) permuted from Hugging Face's rotate-half layout to
 *   the interleaved pairs of llama.cpp's NORM rope (`LLaDAModel.permute`); here on the stored
 *   rows, which stay byte for byte (a GGUF row is self-contained);
 * - llada.vocab_size, llada.rope.dimension_count (head_dim, or d_model / n_heads), and
 *   context_length / embedding_length / feed_forward_length from max_sequence_length / d_model /
 *   mlp_hidden_size, with the converter's defaults (4096 / 4096 / 12288) when absent;
 * - attention.causal false, diffusion.shift_logits false, tokenizer.ggml.add_bos_token forced true;
 * - the mask token id only as SpecialVocab finds it (config.json mask_token_id).
 *
 * At the pinned llama.cpp commit the converter knows no hash for LLaDA-8B's tokenizer (it stops
 * with "BPE pre-tokenizer was not recognized"), so there is no reference file for the real model;
 * ArrowQuant matches its pre_tokenizer against llama.cpp's (llama-bpe for Llama-3's regex) or
 * takes --tokenizer-pre.
 */
import { ExportError } from '../../errors.js';
import { kv } from '../writer.js';
import { get, isInt, type Json } from './hf-folder.js';
import { llamaTextArchitecture, requiredInt, type Hparams, type KvList } from './llama-text.js';

const B = 'model\\.transformer\\.blocks\\.(\\d+)\\.';

/** `hparams.get(a, hparams.get(b))` as an integer, or undefined. */
function either(h: Hparams, a: string, b: string): number | undefined {
  const v: Json | undefined = Object.prototype.hasOwnProperty.call(h.hp, a) ? h.hp[a] : get(h.hp, b);
  if (v == null) return undefined;
  if (!isInt(v) || v <= 0) throw new ExportError(`${h.folder.dir}/config.json: "${a}"/"${b}" is ${JSON.stringify(v)}, expected a positive integer`);
  return v;
}

/** Rows of `LLaDAModel.permute(W, n_head, n_head_kv)`: per head, the two halves interleaved. */
export function ropePermutation(rows: number, nHead: number, what: string): number[] {
  if (rows % (2 * nHead) !== 0) throw new ExportError(`${what}: ${rows} rows do not split into ${nHead} heads of pairs (the converter's permute needs it)`);
  const half = rows / nHead / 2;
  const order: number[] = [];
  for (let hd = 0; hd < nHead; hd++) for (let j = 0; j < half; j++) for (let k = 0; k < 2; k++) order.push(hd * 2 * half + k * half + j);
  return order;
}

function intOr(h: Hparams, key: string, dflt: number): number {
  const v = get(h.hp, key) ?? dflt;
  if (!isInt(v) || v < 0) throw new ExportError(`${h.folder.dir}/config.json: "${key}" is ${JSON.stringify(v)}, expected a non-negative integer`);
  return v;
}

export const llada = llamaTextArchitecture({
  name: 'llada',
  summary: "llama.cpp's LLaDA layout (llama-diffusion-cli; q/k permuted), from the model folder (--model)",
  hfArchitectures: ['LLaDAModelLM'],
  names: [
    [/^model\.transformer\.wte\.weight$/, 'token_embd.weight'],
    [/^model\.transformer\.ff_out\.weight$/, 'output.weight'],
    [/^model\.transformer\.ln_f\.weight$/, 'output_norm.weight'],
    [new RegExp(`^${B}attn_norm\\.weight$`), 'blk.$1.attn_norm.weight'],
    [new RegExp(`^${B}([qkv])_proj\\.(weight|bias)$`), 'blk.$1.attn_$2.$3'],
    [new RegExp(`^${B}attn_out\\.(weight|bias)$`), 'blk.$1.attn_output.$2'],
    [new RegExp(`^${B}ff_norm\\.weight$`), 'blk.$1.ffn_norm.weight'],
    [new RegExp(`^${B}ff_proj\\.(weight|bias)$`), 'blk.$1.ffn_gate.$2'],
    [new RegExp(`^${B}up_proj\\.(weight|bias)$`), 'blk.$1.ffn_up.$2'],
    [new RegExp(`^${B}ff_out\\.(weight|bias)$`), 'blk.$1.ffn_down.$2'],
  ],
  // src/models/llada.cpp load_arch_tensors (the converter writes no rope_freqs).
  required: ['token_embd.weight', 'output_norm.weight', ...['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_down', 'ffn_up'].map((t) => `blk.{N}.${t}.weight`)],
  optional: ['output.weight', ...['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_down', 'ffn_up'].map((t) => `blk.{N}.${t}.bias`)],
  parameters(kvs: KvList, h: Hparams) {
    kvs.add(kv.u32('llada.vocab_size', requiredInt(h, ['vocab_size'], "LLaDA's converter reads it")));
    const nHead = either(h, 'num_attention_heads', 'n_heads');
    if (nHead === undefined) throw new ExportError(`${h.folder.dir}/config.json: no "num_attention_heads" or "n_heads"`);
    let rope = get(h.hp, 'head_dim');
    if (rope == null) {
      const d = either(h, 'hidden_size', 'd_model');
      if (d === undefined) throw new ExportError(`${h.folder.dir}/config.json: no "head_dim", "hidden_size" or "d_model" for llada.rope.dimension_count`);
      rope = Math.floor(d / nHead);
    }
    if (!isInt(rope)) throw new ExportError(`${h.folder.dir}/config.json: "head_dim" is ${JSON.stringify(rope)}, expected an integer`);
    kvs.add(
      kv.u32('llada.rope.dimension_count', rope),
      kv.u32('llada.context_length', intOr(h, 'max_sequence_length', 4096)),
      kv.u32('llada.embedding_length', intOr(h, 'd_model', 4096)),
      kv.u32('llada.feed_forward_length', intOr(h, 'mlp_hidden_size', 12288)),
      kv.bool('llada.attention.causal', false),
      kv.bool('diffusion.shift_logits', false),
    );
  },
  afterVocab(kvs: KvList) {
    kvs.add(kv.bool('tokenizer.ggml.add_bos_token', true));
  },
  rowOrder(gguf: string, rows: number, h: Hparams) {
    const m = /^blk\.\d+\.attn_([qk])\.(weight|bias)$/.exec(gguf);
    if (!m) return undefined;
    const nHead = either(h, 'num_attention_heads', 'n_heads')!;
    const nKv = either(h, 'num_key_value_heads', 'n_kv_heads');
    return ropePermutation(rows, m[1] === 'k' && nKv !== undefined && nKv !== nHead ? nKv : nHead, gguf);
  },
});
