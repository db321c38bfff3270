/**
 * The names of llama.cpp's quantization mixes (`--mix q4_k_m`, llama-quantize's file types): the
 * K-quant mixes and the legacy ones (q4_0, q4_1, q5_0, q5_1, q8_0: one format, with llama.cpp's
 * q6_k output head), and what a GGUF says of them; the per-tensor rules are the planner's
 * (coordinator/plan/mixes.ts).
 */
export const MIXES = ['q2_k', 'q3_k_s', 'q3_k_m', 'q3_k_l', 'q4_k_s', 'q4_k_m', 'q5_k_s', 'q5_k_m', 'q6_k', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0'] as const;
export type Mix = (typeof MIXES)[number];

/** The format most tensors of a mix get. */
export function mixBase(mix: Mix): string {
  return mix.slice(0, 4);
}

/** llama.cpp's `llama_ftype` for the mix (`general.file_type` of an exported GGUF). */
export const MIX_FILE_TYPE: Readonly<Record<Mix, number>> = Object.freeze({
  q2_k: 10,
  q3_k_s: 11,
  q3_k_m: 12,
  q3_k_l: 13,
  q4_k_s: 14,
  q4_k_m: 15,
  q5_k_s: 16,
  q5_k_m: 17,
  q6_k: 18,
  q4_0: 2,
  q4_1: 3,
  q5_0: 8,
  q5_1: 9,
  q8_0: 7,
});

