/**
 * A GGUF architecture: how one runtime wants a model laid out (tensor names, merged or permuted
 * tensors, types of kept tensors, the metadata it reads). `arrowquant export --to gguf --arch A`
 * plans the file with A's `plan`; the writer (../writer.ts) writes what the plan lists, in its
 * order. One file per architecture under arch/, registered in arch/index.ts.
 */
import type { QuantizedFile, TensorInfo } from '../../../format/reader.js';
import type { Reencoding, TensorForm } from '../tensors.js';
import type { GgufKv, GgufTensor } from '../writer.js';

export interface GgufArchInput {
  file: QuantizedFile;
  /** The tensors of the chosen component (or of the whole file when it has none). */
  tensors: TensorInfo[];
  component?: string;
  /** The model folder the file was quantized from (`--model`), for config and tokenizer files. */
  modelDir?: string;
  reencode?: Reencoding;
  /** llama.cpp's pre-tokenizer name, when the tokenizer's cannot be told (`--tokenizer-pre`). */
  tokenizerPre?: string;
  /** Each tensor's GGUF form (byte for byte, or re-encoded); refuses what has none, naming it. */
  forms(tensors: readonly TensorInfo[]): Promise<TensorForm[]>;
}

export interface GgufPlan {
  kvs: GgufKv[];
  tensors: GgufTensor[];
  /** Tensors written re-encoded (listed to the user as warnings). */
  reencoded: { tensor: string; from: string; to: string; why: string }[];
  /** Lines for the user about what the architecture did (dropped or merged tensors, ...). */
  notes: string[];
}

export interface GgufArchitecture {
  /** `--arch` value. */
  name: string;
  /** One line for --help. */
  summary: string;
  /** Whether `--model` (config.json, tokenizer files) is required. */
  needsModelDir: boolean;
  /**
   * The tensors `plan` gets, where the layout chooses them itself (an image checkpoint is a whole
   * pipeline); absent: the chosen component's, and a pipeline needs `--component`.
   */
  select?(file: QuantizedFile, component: string | undefined): TensorInfo[];
  plan(input: GgufArchInput): Promise<GgufPlan>;
}
