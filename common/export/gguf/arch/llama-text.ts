/**
 * llama.cpp's layout of a Hugging Face text model, shared by the diffusion LLMs (dream.ts,
 * llada.ts): what `convert_hf_to_gguf.py` (conversion/base.py `TextModel`) followed by
 * `llama-quantize` write for the same folder, from tensors ArrowQuant quantized.
 *
 * Metadata, in the converter's order: general.architecture, general.type, the model-card/folder
 * keys (hf-metadata.ts), the hyper-parameters `TextModel.set_gguf_parameters` reads from
 * config.json (then the architecture's own), general.quantization_version, the vocabulary
 * (hf-vocab.ts). A key written twice keeps its first place with the last value, as gguf-py's
 * writer does. Then what llama-quantize changes: general.quantization_version and
 * general.file_type move to the end (gguf_set_val_u32 removes and re-appends them).
 *
 * Tensors: renamed as the converter's tensor map does; each tensor is checked against the ones
 * llama.cpp's loader for the architecture creates (a name it has no place for, or a required one
 * missing, is an error naming it: the file would not load). Norms, biases and other 1-D tensors are
 * F32 (a kept F16/BF16 one is widened, exactly), quantized tensors are written byte for byte, rows
 * permuted where the architecture says (LLaDA's q/k). Order: llama-quantize's, by block number and
 * then by name (its `weight_name_comparer`); data aligned to 32.
 *
 * With those, a file ArrowQuant quantized with the settings llama-quantize would choose
 * (docs/RUN-LLAMA-CPP.md) is the same bytes as convert_hf_to_gguf.py --outtype f32 +
 * llama-quantize of the same folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { TensorInfo } from '../../../format/reader.js';
import { ExportError } from '../../errors.js';
import { formBytes, permuteRows, qualified, rowsOf, widenedToF32, type TensorForm } from '../tensors.js';
import { PLAIN } from '../types.js';
import { kv, type GgufKv, type GgufTensor } from '../writer.js';
import type { GgufArchInput, GgufArchitecture, GgufPlan } from './architecture.js';
import { mixFileType } from './generic.js';
import { findHparam, get, isInt, isObject, keyOf, readHfFolder, type HfFolder, type Json, type JsonObject } from './hf-folder.js';
import { generalMetadata } from './hf-metadata.js';
import { gpt2Vocab, tokenizerPre } from './hf-vocab.js';

/** gguf-py's writer: empty strings and arrays are not written; a key written again keeps its place. */
export class KvList {
  private readonly list: GgufKv[] = [];
  add(...entries: GgufKv[]): this {
    for (const e of entries) {
      if ((e.value.type === 'STRING' && e.value.value === '') || (e.value.type === 'ARRAY' && e.value.values.length === 0)) continue;
      const i = this.list.findIndex((k) => k.key === e.key);
      if (i >= 0) this.list[i] = e;
      else this.list.push(e);
    }
    return this;
  }
  /** Remove `key` and append it again (gguf's `gguf_set_val_*` on an existing key). */
  moveToEnd(key: string): this {
    const i = this.list.findIndex((k) => k.key === key);
    if (i >= 0) this.list.push(...this.list.splice(i, 1));
    return this;
  }
  entries(): GgufKv[] {
    return [...this.list];
  }
}

/** The hyper-parameters as the converter sees them (text_config's keys over the top level's). */
export interface Hparams {
  folder: HfFolder;
  hp: JsonObject;
  nLayer: number;
}

const where = (h: Hparams, keys: readonly string[]) => `${h.folder.dir}/config.json: "${keyOf(h.hp, keys) ?? keys[0]}"`;

/** An optional integer hyper-parameter (the first of `keys` present), checked. */
export function intParam(h: Hparams, keys: readonly string[]): number | undefined {
  const v = findHparam(h.hp, keys);
  if (v == null) return undefined;
  if (!isInt(v) || v < 0) throw new ExportError(`${where(h, keys)} is ${JSON.stringify(v)}, expected a non-negative integer`);
  return v;
}

/** An optional float hyper-parameter, checked. */
export function floatParam(h: Hparams, keys: readonly string[]): number | undefined {
  const v = findHparam(h.hp, keys);
  if (v == null) return undefined;
  if (typeof v !== 'number') throw new ExportError(`${where(h, keys)} is ${JSON.stringify(v)}, expected a number`);
  return v;
}

/** A required integer hyper-parameter (the converter raises KeyError without it). */
export function requiredInt(h: Hparams, keys: readonly string[], why: string): number {
  const v = intParam(h, keys);
  if (v === undefined) throw new ExportError(`${h.folder.dir}/config.json: no ${keys.map((k) => `"${k}"`).join(' or ')} (${why})`);
  return v;
}

function readHparams(folder: HfFolder, archs: readonly string[], name: string): Hparams {
  const a = folder.config.architectures;
  const hfArch = Array.isArray(a) && typeof a[0] === 'string' ? a[0] : undefined;
  if (hfArch === undefined || !archs.includes(hfArch)) {
    throw new ExportError(`${folder.dir}/config.json: "architectures" is ${JSON.stringify(a ?? null)}; --arch ${name} is for ${archs.join(' / ')} checkpoints (llama.cpp's converter picks its model class by architectures[0])`);
  }
  const text = folder.config.text_config;
  const hp = isObject(text) ? { ...folder.config, ...text } : folder.config;
  const h: Hparams = { folder, hp, nLayer: 0 };
  h.nLayer = requiredInt(h, ['n_layers', 'num_hidden_layers', 'n_layer', 'num_layers'], 'the number of layers');
  return h;
}

/** `TextModel.rope_parameters` as `TextModel.__init__` completes it. */
function ropeParameters(h: Hparams): JsonObject {
  const raw = Object.prototype.hasOwnProperty.call(h.hp, 'rope_parameters') ? h.hp.rope_parameters : get(h.hp, 'rope_scaling');
  const rp: JsonObject = isObject(raw) ? { ...raw } : {};
  if (!('full_attention' in rp) && !('sliding_attention' in rp)) {
    const theta = findHparam(h.hp, ['global_rope_theta', 'rope_global_theta', 'rope_theta_global', 'rope_theta', 'rotary_emb_base']);
    const local = findHparam(h.hp, ['local_rope_theta', 'rope_local_theta', 'rope_theta_local', 'swa_rope_theta', 'rope_local_base_freq']);
    const partial = findHparam(h.hp, ['partial_rotary_factor', 'rope_pct', 'rope_percent']);
    const origCtx = findHparam(h.hp, ['original_max_position_embeddings']);
    if (local != null) rp.sliding_attention = { rope_theta: local };
    if (!('rope_theta' in rp) && theta != null) rp.rope_theta = theta;
    if (!('rope_type' in rp) && rp.type != null) rp.rope_type = rp.type;
    if (!('partial_rotary_factor' in rp) && partial != null) rp.partial_rotary_factor = partial;
    if (!('original_max_position_embeddings' in rp) && origCtx != null) rp.original_max_position_embeddings = origCtx;
  }
  return rp;
}

function num(h: Hparams, v: Json | undefined, what: string): number {
  if (typeof v !== 'number') throw new ExportError(`${h.folder.dir}/config.json: ${what} is ${JSON.stringify(v ?? null)}, expected a number`);
  return v;
}

function ropeScaling(h: Hparams, arch: string, rp: JsonObject): GgufKv[] {
  const p = isObject(rp.full_attention) ? rp.full_attention : rp;
  const type = p.rope_type;
  if (type == null) return [];
  const factor = p.factor;
  const out: GgufKv[] = [];
  const f32 = (key: string, v: Json | undefined) => {
    if (v != null) out.push(kv.f32(`${arch}.rope.scaling.${key}`, num(h, v, `rope ${key}`)));
  };
  if (type === 'linear' && factor != null) {
    out.push(kv.str(`${arch}.rope.scaling.type`, 'linear'));
    f32('factor', factor);
  } else if (type === 'yarn' && factor != null) {
    out.push(kv.str(`${arch}.rope.scaling.type`, 'yarn'));
    f32('factor', factor);
    const orig = p.original_max_position_embeddings;
    if (!isInt(orig)) throw new ExportError(`${h.folder.dir}/config.json: yarn rope scaling without an integer "original_max_position_embeddings"`);
    out.push(kv.u32(`${arch}.rope.scaling.original_context_length`, orig));
    f32('yarn_ext_factor', p.extrapolation_factor);
    f32('yarn_attn_factor', p.attention_factor ?? p.attn_factor);
    f32('yarn_beta_fast', p.beta_fast);
    f32('yarn_beta_slow', p.beta_slow);
  } else if (type === 'su' || type === 'longrope') {
    out.push(kv.str(`${arch}.rope.scaling.type`, 'longrope'));
  }
  // dynamic, llama3 and unknown types: the converter writes nothing here either.
  return out;
}

const MOE_KEYS = ['num_local_experts', 'num_experts', 'n_routed_experts', 'num_experts_per_tok', 'num_experts_per_token', 'top_k_experts', 'n_group', 'topk_group'];

/** `TextModel.set_gguf_parameters`, with `general.file_type` last. */
export function textModelParameters(h: Hparams, arch: string, fileType: number): GgufKv[] {
  const out: GgufKv[] = [kv.u32(`${arch}.block_count`, h.nLayer)];
  const u32 = (key: string, keys: readonly string[]) => {
    const v = intParam(h, keys);
    if (v !== undefined) out.push(kv.u32(`${arch}.${key}`, v));
  };
  u32('context_length', ['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length', 'max_sequence_length', 'model_max_length']);
  u32('embedding_length', ['hidden_size', 'n_embd', 'dim']);
  u32('feed_forward_length', ['prefix_dense_intermediate_size', 'dense_intermediate_size', 'intermediate_size', 'n_inner', 'hidden_dim']);
  u32('attention.head_count', ['num_attention_heads', 'n_head', 'n_heads']);
  u32('attention.head_count_kv', ['num_key_value_heads', 'n_kv_heads']);
  if (get(h.hp, 'is_causal') === false) out.push(kv.bool(`${arch}.attention.causal`, false));
  const rp = ropeParameters(h);
  out.push(...ropeScaling(h, arch, rp));
  if (Array.isArray(rp.mrope_section)) {
    const s = [...rp.mrope_section, 0, 0, 0, 0].slice(0, 4);
    out.push(kv.i32s(`${arch}.rope.dimension_sections`, s.map((x) => num(h, x, 'mrope_section'))));
  }
  const p = isObject(rp.full_attention) ? rp.full_attention : rp;
  if (p.rope_theta != null) out.push(kv.f32(`${arch}.rope.freq_base`, num(h, p.rope_theta, 'rope_theta')));
  const swa = isObject(rp.sliding_attention) ? rp.sliding_attention.rope_theta : undefined;
  if (swa != null) out.push(kv.f32(`${arch}.rope.freq_base_swa`, num(h, swa, 'the sliding-window rope_theta')));
  const rms = floatParam(h, ['rms_norm_eps', 'norm_eps']);
  if (rms !== undefined) out.push(kv.f32(`${arch}.attention.layer_norm_rms_epsilon`, rms));
  const ln = floatParam(h, ['layer_norm_eps', 'layer_norm_epsilon', 'norm_epsilon']);
  if (ln !== undefined) out.push(kv.f32(`${arch}.attention.layer_norm_epsilon`, ln));
  const moe = MOE_KEYS.find((k) => get(h.hp, k) != null);
  if (moe !== undefined) throw new ExportError(`${h.folder.dir}/config.json: "${moe}": a mixture-of-experts model; --arch ${arch} is llama.cpp's dense ${arch} layout`);
  const headDim = intParam(h, ['head_dim']);
  if (headDim !== undefined) out.push(kv.u32(`${arch}.attention.key_length`, headDim), kv.u32(`${arch}.attention.value_length`, headDim));
  out.push(kv.u32('general.file_type', fileType));
  return out;
}

// ---- tensors -------------------------------------------------------------------------------------

/** A tensor rule: HF name pattern → GGUF name (with $1 … from the pattern). */
export type NameRule = readonly [RegExp, string];

export interface TextArchSpec {
  name: string;
  summary: string;
  /** config.json `architectures[0]` values the converter handles with this class. */
  hfArchitectures: readonly string[];
  /** HF → GGUF names (the converter's tensor map for the architecture). */
  names: readonly NameRule[];
  /** GGUF tensors llama.cpp's loader creates: required and optional ({N}: every layer). */
  required: readonly string[];
  optional: readonly string[];
  /** The architecture's own keys after TextModel's (`set_gguf_parameters` of its class). */
  parameters(kvs: KvList, h: Hparams): void;
  /** What the class does after `set_vocab`'s keys. */
  afterVocab?(kvs: KvList, h: Hparams): void;
  /** The class tries the SentencePiece vocabulary first (Dream): a tokenizer.model is refused. */
  sentencePieceFirst?: boolean;
  /** A row permutation for a GGUF tensor (of `rows` rows), as the class's `modify_tensors` does. */
  rowOrder?(gguf: string, rows: number, h: Hparams): number[] | undefined;
}

/** The converter drops these before mapping (conversion/base.py prepare_tensors). */
const DROPPED = /\.(attention\.masked_bias|attention\.bias|rotary_emb\.inv_freq)$/;

interface Planned {
  name: string;
  form: TensorForm;
  order?: number[];
}

const layerOf = (gguf: string): number => {
  const m = /^blk\.(-?\d+)\./.exec(gguf);
  return m ? Number(m[1]) : -1;
};

/** llama-quantize's tensor order (llama-model-loader.h `weight_name_comparer`). */
export function llamaQuantizeOrder(a: string, b: string): number {
  const la = layerOf(a);
  const lb = layerOf(b);
  if (la !== lb) return la - lb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function mapNames(spec: TextArchSpec, tensors: readonly TensorInfo[], notes: string[]): { t: TensorInfo; name: string }[] {
  const out: { t: TensorInfo; name: string }[] = [];
  const unmapped: string[] = [];
  for (const t of tensors) {
    if (DROPPED.test(t.name)) {
      notes.push(`${qualified(t)} dropped (llama.cpp's converter drops it too)`);
      continue;
    }
    const rule = spec.names.find(([re]) => re.test(t.name));
    if (rule === undefined) unmapped.push(qualified(t));
    else out.push({ t, name: t.name.replace(rule[0], rule[1]) });
  }
  if (unmapped.length > 0) {
    throw new ExportError(`${unmapped.length} tensor(s) have no name in llama.cpp's ${spec.name} layout:\n  ${unmapped.slice(0, 8).join('\n  ')}${unmapped.length > 8 ? `\n  … and ${unmapped.length - 8} more` : ''}`, unmapped);
  }
  return out;
}

function checkAgainstLoader(spec: TextArchSpec, mapped: { t: TensorInfo; name: string }[], h: Hparams): void {
  const expand = (names: readonly string[]) => names.flatMap((n) => (n.includes('{N}') ? Array.from({ length: h.nLayer }, (_, i) => n.replace('{N}', String(i))) : [n]));
  const required = expand(spec.required);
  const known = new Set([...required, ...expand(spec.optional)]);
  const have = new Map(mapped.map((m) => [m.name, m.t]));
  const missing = required.filter((n) => !have.has(n));
  if (missing.length > 0) {
    throw new ExportError(`the file lacks tensor(s) llama.cpp's ${spec.name} loader requires (config.json: ${h.nLayer} layers): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` … (${missing.length} in all)` : ''}`, missing);
  }
  const extra = mapped.filter((m) => !known.has(m.name));
  if (extra.length > 0) {
    throw new ExportError(
      `llama.cpp's ${spec.name} loader has no place for: ${extra.map((m) => `${m.name} (${qualified(m.t)})`).join(', ')}; llama.cpp refuses a file with tensors it does not load ("wrong number of tensors")`,
      extra.map((m) => qualified(m.t)),
    );
  }
}

/** Norms, biases and 1-D tensors as F32, as the converter writes them. */
function f32Where(name: string, form: TensorForm): TensorForm {
  const wantF32 = form.t.shape.length <= 1 || name.endsWith('_norm.weight') || !name.endsWith('.weight');
  if (!wantF32 || form.type === PLAIN.F32) return form;
  const w = widenedToF32(form);
  if (w === undefined) throw new ExportError(`${qualified(form.t)} (${form.t.scheme}): llama.cpp's converter writes ${name} as F32, and only a kept F16/BF16/F32 tensor can be widened to it; keep it in float when quantizing`, [qualified(form.t)]);
  return w;
}

/** general.file_type: the mix's llama_ftype, else that of the most common quantized type, else of the 2-D floats. */
function fileTypeOf(input: GgufArchInput, forms: readonly TensorForm[]): number {
  const mix = mixFileType(input.file);
  if (mix !== undefined) return mix;
  const counts = new Map<number, number>();
  const quantized = forms.filter((p) => p.t.method !== 'keep');
  for (const p of quantized.length > 0 ? quantized : forms.filter((p) => p.t.shape.length >= 2)) {
    if (p.type.fileType !== undefined) counts.set(p.type.fileType, (counts.get(p.type.fileType) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
}

function checkShapes(spec: TextArchSpec, planned: Planned[], nVocab: number): void {
  for (const n of ['token_embd.weight', 'output.weight']) {
    const p = planned.find((x) => x.name === n);
    if (p && p.form.t.shape[0] !== nVocab) {
      throw new ExportError(`${qualified(p.form.t)} (${n}) has ${p.form.t.shape[0]} rows but the vocabulary has ${nVocab} tokens (config.json vocab_size); llama.cpp's ${spec.name} loader would refuse the file`, [qualified(p.form.t)]);
    }
  }
}

export function llamaTextArchitecture(spec: TextArchSpec): GgufArchitecture {
  return {
    name: spec.name,
    summary: spec.summary,
    needsModelDir: true,
    async plan(input: GgufArchInput): Promise<GgufPlan> {
      const folder = readHfFolder(input.modelDir!);
      const h = readHparams(folder, spec.hfArchitectures, spec.name);
      if (spec.sentencePieceFirst && existsSync(join(folder.dir, 'tokenizer.model'))) {
        throw new ExportError(`${folder.dir}/tokenizer.model: a SentencePiece vocabulary, which llama.cpp's converter would write for ${spec.name} instead of tokenizer.json's BPE; ArrowQuant writes the GPT-2 BPE vocabulary only`);
      }
      if (existsSync(join(folder.dir, 'modules.json'))) throw new ExportError(`${folder.dir}/modules.json: a sentence-transformers folder (pooling); not a ${spec.name} checkpoint ArrowQuant can lay out for llama.cpp`);
      const pre = tokenizerPre(folder, input.tokenizerPre);
      const notes: string[] = [];
      const mapped = mapNames(spec, input.tensors, notes);
      checkAgainstLoader(spec, mapped, h);
      const forms = await input.forms(mapped.map((m) => m.t));
      const planned: Planned[] = mapped.map((m, i) => {
        const form = f32Where(m.name, forms[i]!);
        const order = spec.rowOrder?.(m.name, rowsOf(form.t), h);
        return { name: m.name, form, ...(order ? { order } : {}) };
      });
      planned.sort((a, b) => llamaQuantizeOrder(a.name, b.name));

      const kvs = new KvList();
      kvs.add(kv.str('general.architecture', spec.name), kv.str('general.type', 'model'));
      const totalParams = planned.reduce((n, p) => n + p.form.t.elements, 0);
      kvs.add(...generalMetadata(folder, totalParams));
      kvs.add(...textModelParameters(h, spec.name, fileTypeOf(input, planned.map((p) => p.form))));
      spec.parameters(kvs, h);
      kvs.add(kv.u32('general.quantization_version', 2));
      const vocab = gpt2Vocab(folder, pre);
      kvs.add(...vocab);
      spec.afterVocab?.(kvs, h);
      kvs.moveToEnd('general.quantization_version').moveToEnd('general.file_type');
      const tokens = vocab.find((e) => e.key === 'tokenizer.ggml.tokens')!.value;
      checkShapes(spec, planned, tokens.type === 'ARRAY' ? tokens.values.length : 0);

      const f = input.file;
      const tensors: GgufTensor[] = planned.map((p) => ({
        name: p.name,
        shape: p.form.t.shape,
        type: p.form.type,
        bytes: p.form.bytes,
        data: async () => {
          const bytes = await formBytes(f, p.form);
          return p.order ? permuteRows(bytes, p.order.length, p.order) : bytes;
        },
      }));
      if (planned.some((p) => p.order)) notes.push(`q/k rows permuted for llama.cpp's rope layout (${planned.filter((p) => p.order).length} tensors), as its converter does`);
      return {
        kvs: kvs.entries(),
        tensors,
        reencoded: planned.filter((p) => p.form.reencoded !== undefined).map((p) => ({ tensor: qualified(p.form.t), from: p.form.t.scheme, to: p.form.type.name, why: p.form.reencoded! })),
        notes,
      };
    },
  };
}
