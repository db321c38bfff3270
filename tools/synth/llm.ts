/**
 * The diffusion-LLM presets' other files: LLaDA's tensors and config (LLaDA-8B's OLMo-style
 * names, bf16, untied head, no biases), and for Dream and LLaDA a tokenizer (tokenizer.ts) with
 * the real model's special tokens at its ids (scale 7b) or at the top of the vocabulary, and a
 * tokenizer_config.json with a chat template: folders `arrowquant export --arch dream|llada`
 * and llama.cpp's convert_hf_to_gguf.py both read (docs/RUN-LLAMA-CPP.md).
 */
import type { TensorDef } from './weights.js';
import { tokenizerJson } from './tokenizer.js';
import { withLayers, type Scale } from './presets.js';

interface LladaDims { hidden: number; layers: number; heads: number; intermediate: number; vocab: number }
/** tiny ≈ 1 MB, small ≈ 60 MB, 1.5gb ≈ 1.5 GB, 7b = LLaDA-8B (4096 × 32, vocab 126464) ≈ 16 GB. */
export const LLADA_DIMS: Record<Scale, LladaDims> = {
  tiny: { hidden: 128, layers: 2, heads: 4, intermediate: 352, vocab: 512 },
  small: { hidden: 512, layers: 6, heads: 8, intermediate: 1408, vocab: 16384 },
  '1.5gb': { hidden: 1024, layers: 24, heads: 16, intermediate: 2816, vocab: 32768 },
  '7b': { hidden: 4096, layers: 32, heads: 32, intermediate: 12288, vocab: 126464 },
};

export function lladaTensors(scale: Scale, layerCount?: number): TensorDef[] {
  const { hidden: h, layers, intermediate: f, vocab } = withLayers(LLADA_DIMS[scale], layerCount);
  const t: TensorDef[] = [{ name: 'model.transformer.wte.weight', dtype: 'BF16', shape: [vocab, h], kind: 'embedding' }];
  const w = (name: string, shape: number[], kind: TensorDef['kind'] = 'linear') => t.push({ name, dtype: 'BF16', shape, kind });
  for (let i = 0; i < layers; i++) {
    const p = `model.transformer.blocks.${i}`;
    w(`${p}.attn_norm.weight`, [h], 'norm');
    for (const x of ['q_proj', 'k_proj', 'v_proj', 'attn_out']) w(`${p}.${x}.weight`, [h, h]);
    w(`${p}.ff_norm.weight`, [h], 'norm');
    w(`${p}.ff_proj.weight`, [f, h]);
    w(`${p}.up_proj.weight`, [f, h]);
    w(`${p}.ff_out.weight`, [h, f]);
  }
  w('model.transformer.ln_f.weight', [h], 'norm');
  w('model.transformer.ff_out.weight', [vocab, h]);
  return t;
}

const LLADA_SPECIALS = ['<|startoftext|>', '<|endoftext|>', '<|mdm_mask|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
const LLADA_8B_IDS = [126080, 126081, 126336, 126346, 126347, 126348];
const lladaSpecials = (vocab: number): [string, number][] =>
  LLADA_SPECIALS.map((s, i) => [s, vocab >= 126464 ? LLADA_8B_IDS[i]! : vocab - LLADA_SPECIALS.length + i]);

export function lladaConfig(scale: Scale, layers?: number): Record<string, unknown> {
  const d = withLayers(LLADA_DIMS[scale], layers);
  const id = Object.fromEntries(lladaSpecials(d.vocab));
  return {
    activation_type: 'silu',
    alibi: false,
    architectures: ['LLaDAModelLM'],
    auto_map: { AutoConfig: 'configuration_llada.LLaDAConfig', AutoModel: 'modeling_llada.LLaDAModelLM' },
    block_type: 'llama',
    d_model: d.hidden,
    embedding_size: d.vocab,
    eos_token_id: id['<|endoftext|>'],
    include_bias: false,
    include_qkv_bias: false,
    layer_norm_type: 'rms',
    mask_token_id: id['<|mdm_mask|>'],
    max_sequence_length: 4096,
    mlp_hidden_size: d.intermediate,
    model_type: 'llada',
    n_heads: d.heads,
    n_kv_heads: d.heads,
    n_layers: d.layers,
    pad_token_id: id['<|endoftext|>'],
    rms_norm_eps: 1e-5,
    rope: true,
    rope_theta: 500000.0,
    scale_logits: false,
    torch_dtype: 'bfloat16',
    use_cache: false,
    vocab_size: d.vocab,
    weight_tying: false,
  };
}

const DREAM_SPECIALS = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|mask|>'];
const QWEN_IDS = [151644, 151645, 151643, 151666];

/** tokenizer.json and tokenizer_config.json beside a Dream config (its bos/mask ids). */
export function dreamTokenizerFiles(vocab: number): Record<string, unknown> {
  const specials = DREAM_SPECIALS.map((s, i): [string, number] => [s, vocab >= 152064 ? QWEN_IDS[i]! : vocab - DREAM_SPECIALS.length + i]);
  return {
    'tokenizer.json': tokenizerJson({ family: 'qwen2', specials }),
    'tokenizer_config.json': {
      add_bos_token: false,
      add_eos_token: false,
      bos_token: null,
      eos_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
      mask_token: '<|mask|>',
      model_max_length: 131072,
      tokenizer_class: 'PreTrainedTokenizerFast',
      chat_template:
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    },
  };
}

export function lladaTokenizerFiles(vocab: number): Record<string, unknown> {
  return {
    'tokenizer.json': tokenizerJson({ family: 'llama3', specials: lladaSpecials(vocab), prependBos: '<|startoftext|>' }),
    'tokenizer_config.json': {
      bos_token: '<|startoftext|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
      model_max_length: 4096,
      tokenizer_class: 'PreTrainedTokenizerFast',
      chat_template:
        "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
    },
  };
}
