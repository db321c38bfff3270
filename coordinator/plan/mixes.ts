/**
 * The mixes users name (`q4_k_m`, `q3_k_s`, `q4_0`, ...): llama.cpp's `llama_tensor_get_type`
 * rules (src/llama-quant.cpp) for the tensor roles it recognises, applied by role and by the
 * tensor's position among the tensors of that role, as llama.cpp counts them (for dense models;
 * its MoE, Falcon and 70B special cases are not applied):
 *
 * | mix     | base | attn_v (and fused qkv)          | ffn_down                          | attn_output |
 * |---------|------|---------------------------------|-----------------------------------|-------------|
 * | q2_k    | q2_k | q4_k if GQA ≥ 4, else q3_k      | q3_k                              | q3_k        |
 * | q3_k_s  | q3_k | —                               | —                                 | —           |
 * | q3_k_m  | q3_k | q5_k for the first 2, else q4_k | q5_k in the first 1/16, else q4_k | q4_k        |
 * | q3_k_l  | q3_k | q5_k                            | q5_k                              | q5_k        |
 * | q4_k_s  | q4_k | q5_k for the first 4            | q5_k in the first 1/8             | —           |
 * | q4_k_m  | q4_k | q6_k where "more bits"          | q6_k where "more bits"            | —           |
 * | q5_k_s  | q5_k | —                               | —                                 | —           |
 * | q5_k_m  | q5_k | q6_k where "more bits"          | q6_k where "more bits"            | —           |
 * | q6_k    | q6_k | —                               | —                                 | —           |
 * | q4_0    | q4_0 | —                               | q4_1 in the first 1/8 with an imatrix | —       |
 * | q5_0    | q5_0 | —                               | q5_1 in the first 1/8 with an imatrix | —       |
 * | q4_1, q5_1, q8_0 | (the format) | —              | —                                 | —           |
 *
 * (This llama.cpp version counts a fused qkv projection as attn_v — `category_is_attn_v` — so its
 * later qkv rule is unreachable; ArrowQuant does as llama.cpp does.)
 *
 * "More bits" is llama.cpp's `use_more_bits(i, n)`: the first and last eighth of the tensors of
 * that role, and every third one between. llama.cpp counts them in its file order, which sorts
 * tensors by block number (`blk.N.`): where every tensor of a role has its own layer number (an
 * LLM's layer stack) the planner counts in layer order too, else in model order. The output head
 * is q6_k (q8_0 in the q8_0 mix, and q8_0 when its rows do not split into 256); token embeddings
 * take the base type, or the head's when the model has no output head (tied embeddings:
 * llama.cpp's `has_tied_embeddings`). A tensor whose rows do not fit its format falls back as the
 * format registry says (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, Q2_K/Q3_K → Q4_0; kept when not even
 * 32 divides the row).
 *
 * With `keep_default_rules: false` (the embeddings and the head quantized too, as llama-quantize
 * does) a mix gives each tensor of a Hugging Face LLM the type llama-quantize gives it
 * (docs/RUN-LLAMA-CPP.md: Dream and LLaDA, compared byte for byte).
 *
 * DiT and UNet tensors follow the same roles (diffusers' `attn.to_v` is attn_v, `attn.to_out.0`
 * attn_output, `ff.net.2` ffn_down; the original Flux `img_attn.qkv` attn_qkv), as the community
 * GGUF releases of Flux/SD3 do; what those releases keep in float (embedders, modulation, final
 * layers, 1-D and tiny tensors) the planner's keep rules keep before a mix is consulted.
 */
import { mixBase, type Mix } from '../../common/config/index.js';
import type { TensorRole } from './roles.js';

/** llama.cpp's `use_more_bits`. */
export function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.trunc(n / 8);
  return i < eighth || i >= Math.trunc((7 * n) / 8) || (i - eighth) % 3 === 2;
}

export interface MixContext {
  /** Attention heads per KV head (GQA factor; 1 when unknown or not an LLM). */
  nGqa: number;
  /** The model (component) has no output head: its token embeddings are the head too. */
  tiedEmbeddings?: boolean;
  /** An importance matrix is given (llama-quantize's `has_imatrix`). */
  imatrix?: boolean;
}

/** The role a mix counts a tensor under: llama.cpp counts a fused qkv as attn_v. */
export function mixRole(role: TensorRole): TensorRole {
  return role === 'attn_qkv' ? 'attn_v' : role;
}

/**
 * The format of a tensor of `role`, the `i`-th of the `n` tensors of that role (model order,
 * per pipeline component; roles as {@link mixRole} counts them), under `mix`.
 */
export function mixFormat(mix: Mix, role: TensorRole, i: number, n: number, ctx: MixContext): string {
  const base = mixBase(mix);
  const head = mix === 'q8_0' ? 'q8_0' : 'q6_k';
  switch (mixRole(role)) {
    case 'output':
      return head;
    case 'token_embd':
      return ctx.tiedEmbeddings ? head : base;
    case 'attn_v':
      switch (mix) {
        case 'q2_k':
          return ctx.nGqa >= 4 ? 'q4_k' : 'q3_k';
        case 'q3_k_m':
          return i < 2 ? 'q5_k' : 'q4_k';
        case 'q3_k_l':
          return 'q5_k';
        case 'q4_k_m':
        case 'q5_k_m':
          return useMoreBits(i, n) ? 'q6_k' : base;
        case 'q4_k_s':
          return i < 4 ? 'q5_k' : base;
        default:
          return base;
      }
    case 'ffn_down':
      switch (mix) {
        case 'q2_k':
          return 'q3_k';
        case 'q3_k_m':
          return i < Math.trunc(n / 16) ? 'q5_k' : 'q4_k';
        case 'q3_k_l':
          return 'q5_k';
        case 'q4_k_m':
        case 'q5_k_m':
          return useMoreBits(i, n) ? 'q6_k' : base;
        case 'q4_k_s':
          return i < Math.trunc(n / 8) ? 'q5_k' : base;
        case 'q4_0':
          return ctx.imatrix && i < Math.trunc(n / 8) ? 'q4_1' : base;
        case 'q5_0':
          return ctx.imatrix && i < Math.trunc(n / 8) ? 'q5_1' : base;
        default:
          return base;
      }
    case 'attn_output':
      return mix === 'q2_k' ? 'q3_k' : mix === 'q3_k_m' ? 'q4_k' : mix === 'q3_k_l' ? 'q5_k' : base;
    default:
      return base;
  }
}
