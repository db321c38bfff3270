/**
 * The vocabulary keys llama.cpp's converter writes for a GPT-2-style BPE tokenizer, as
 * `DreamModel/LLaDAModel.get_vocab_base` + `TextModel._set_vocab_gpt2` + gguf-py's `SpecialVocab`
 * write them from tokenizer.json, tokenizer_config.json and config.json:
 *
 *   tokenizer.ggml.model "gpt2", .pre, .tokens (vocab_size entries, `[PADi]` for ids without a
 *   token), .token_type (1 normal, 3 control = added special, 4 user-defined = added non-special,
 *   5 unused), .merges, the special ids (bos, eos, unknown, seperator, padding, mask; eot/eom where
 *   the post-processor implies them), add_bos/add_eos/add_sep_token, tokenizer.chat_template
 *   (or named templates), tokenizer.ggml.normalizer.lowercase/strip_accents.
 *
 * The converter loads the tokenizer with transformers' AutoTokenizer; what that adds to
 * tokenizer.json's own added tokens (tokenizer_config's added_tokens_decoder, and special tokens
 * named in tokenizer_config/special_tokens_map that are not added tokens yet) is emulated here
 * with transformers' and tokenizers' rules.
 *
 * `tokenizer.ggml.pre`: the converter hashes the token ids of a fixed text, which needs the
 * tokenizer itself; here the name is decided from tokenizer.json's pre_tokenizer, compared with
 * the HF pre-tokenizers of llama.cpp's known ones (their regexes are quoted in llama-vocab.cpp),
 * or taken from `--tokenizer-pre`.
 */
import { ExportError } from '../../errors.js';
import { kv, type GgufKv } from '../writer.js';
import { get, isInt, isObject, type HfFolder, type Json, type JsonObject } from './hf-folder.js';

// ---- tokenizer.ggml.pre --------------------------------------------------------------------------

/** HF Split regexes of llama.cpp's pre-tokenizers ("original regex from tokenizer.json", llama-vocab.cpp). */
const SPLIT_REGEXES: readonly [pre: string, regex: string][] = [
  ['qwen2', "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  ['llama-bpe', "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  ['qwen35', "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
];

/**
 * The `tokenizer.ggml.pre` values llama.cpp accepts at this commit (llama-vocab.cpp,
 * `llama_vocab::impl::load`); anything else fails to load ("unknown pre-tokenizer type").
 */
export const LLAMA_CPP_PRE_TOKENIZERS: readonly string[] = [
  'default', 'llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano',
  'deepseek-llm', 'deepseek-coder', 'deepseek-v3', 'youtu', 'falcon', 'mpt', 'starcoder', 'gpt-2', 'phi-2', 'jina-es',
  'jina-de', 'gigachat', 'jina-v1-en', 'jina-v2-es', 'jina-v2-de', 'a.x-4.0', 'mellum', 'modern-bert', 'jais-2',
  'jina-v2-code', 'refact', 'command-r', 'qwen2', 'deepseek-r1-qwen', 'kormo', 'qwen35', 'stablelm2', 'olmo', 'dbrx',
  'smaug-bpe', 'poro-chat', 'chatglm-bpe', 'glm4', 'viking', 'jais', 'tekken', 'smollm', 'codeshell', 'bloom',
  'gpt3-finnish', 'exaone', 'exaone4', 'exaone-moe', 'chameleon', 'minerva-7b', 'megrez', 'gpt-4o', 'llama4',
  'kanana2', 'superbpe', 'trillion', 'granite-docling', 'bailingmoe', 'bailingmoe2', 'seed-coder', 'hunyuan',
  'hunyuan-dense', 'joyai-llm', 'kimi-k2', 'grok-2', 'afmoe', 'minimax-m2', 'solar-open', 'tiny_aya', 'gemma4',
  'sarvam-moe', 'laguna', 'f2llmv2', 'hy-v4', 'llada-moe', 'granite-embed-multi', 'minicpm5', 'mellum2', 'spark2.5',
  'whitespace', 'ufakzeka',
];

function splitRegex(p: JsonObject): string | undefined {
  const pattern = p.pattern;
  if (p.type !== 'Split' || !isObject(pattern) || typeof pattern.Regex !== 'string' || p.behavior !== 'Isolated' || p.invert === true) return undefined;
  return pattern.Regex;
}

/** The pre-tokenizer tokenizer.json describes, or undefined when it is none llama.cpp has. */
export function detectPre(tokenizer: JsonObject): string | undefined {
  const pre = tokenizer.pre_tokenizer;
  if (!isObject(pre)) return undefined;
  // GPT-2's own: ByteLevel with its built-in regex.
  if (pre.type === 'ByteLevel') return pre.use_regex !== false && pre.add_prefix_space !== true ? 'gpt2' : undefined;
  const seq = pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) ? pre.pretokenizers.filter(isObject) : [];
  if (seq.length !== 2) return undefined;
  const [split, byteLevel] = seq as [JsonObject, JsonObject];
  const regex = splitRegex(split);
  if (regex === undefined || byteLevel.type !== 'ByteLevel' || byteLevel.use_regex !== false || byteLevel.add_prefix_space === true) return undefined;
  return SPLIT_REGEXES.find(([, r]) => r === regex)?.[0];
}

function describePre(tokenizer: JsonObject): string {
  const pre = tokenizer.pre_tokenizer;
  const s = JSON.stringify(pre);
  return s === undefined ? 'none' : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/** `tokenizer.ggml.pre`: `--tokenizer-pre`, else what tokenizer.json's pre_tokenizer is. */
export function tokenizerPre(folder: HfFolder, override: string | undefined): string {
  if (override !== undefined) {
    if (!LLAMA_CPP_PRE_TOKENIZERS.includes(override)) {
      throw new ExportError(`--tokenizer-pre ${override}: llama.cpp has no pre-tokenizer of that name (it knows ${LLAMA_CPP_PRE_TOKENIZERS.join(', ')})`);
    }
    return override;
  }
  const pre = detectPre(folder.tokenizer);
  if (pre === undefined) {
    throw new ExportError(
      `${folder.dir}/tokenizer.json: its pre_tokenizer is none that ArrowQuant can match to one of llama.cpp's (${SPLIT_REGEXES.map(([p]) => p).join(', ')}, gpt2): ${describePre(folder.tokenizer)}\n` +
        "Name llama.cpp's pre-tokenizer for it with --tokenizer-pre NAME (tokenizer.ggml.pre; llama.cpp's convert_hf_to_gguf.py decides it from a hash of the tokenizer's output).",
    );
  }
  return pre;
}

// ---- the token list ------------------------------------------------------------------------------

interface AddedToken {
  content: string;
  special: boolean;
  flags: string;
}

const TOKEN_TYPE = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;
const SPECIAL_ATTRS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

function addedToken(t: JsonObject, defaultSpecial: boolean): AddedToken {
  const special = typeof t.special === 'boolean' ? t.special : defaultSpecial;
  const flag = (k: string, d: boolean) => (typeof t[k] === 'boolean' ? t[k] : d);
  const flags = [flag('single_word', false), flag('lstrip', false), flag('rstrip', false), flag('normalized', !special), special].join();
  return { content: String(t.content), special, flags };
}

const contentOf = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined);

/** transformers' `all_special_tokens`: special_tokens_map.json over tokenizer_config.json. */
function specialTokenStrings(folder: HfFolder): string[] {
  const from = (k: string) => (folder.specialTokensMap && get(folder.specialTokensMap, k) != null ? folder.specialTokensMap[k] : folder.tokenizerConfig[k]);
  const out: string[] = [];
  for (const a of SPECIAL_ATTRS) {
    const c = contentOf(from(a));
    if (c !== undefined && !out.includes(c)) out.push(c);
  }
  const extra = from('additional_special_tokens');
  for (const t of Array.isArray(extra) ? extra : []) {
    const c = contentOf(t);
    if (c !== undefined && !out.includes(c)) out.push(c);
  }
  return out;
}

/**
 * tokenizers' `AddedVocabulary::add_tokens`: a token already there (by content) keeps its id; a new
 * one goes after the model's vocabulary and the added tokens. Loading tokenizer.json adds its
 * added_tokens this way too (tokenizers 0.19, .venv-torch's): the ids written in the file only
 * draw a warning when they differ, so a file whose added ids leave a gap after the vocabulary is
 * renumbered.
 */
function addTokens(added: Map<number, AddedToken>, vocab: Map<string, number>, tokens: readonly AddedToken[]): void {
  for (const tok of tokens) {
    if (tok.content === '') continue;
    const existing = [...added.entries()].find(([, a]) => a.content === tok.content)?.[0] ?? vocab.get(tok.content);
    const ids = [...added.keys()];
    const max = ids.length ? Math.max(...ids) : undefined;
    const id = existing ?? (max === undefined ? vocab.size : max >= vocab.size || vocab.size === 0 ? max + 1 : vocab.size);
    added.set(id, tok);
  }
}

/** The tokenizer's added tokens by id, as AutoTokenizer leaves them (see the module comment). */
function addedTokens(folder: HfFolder, vocab: Map<string, number>): Map<number, AddedToken> {
  const added = new Map<number, AddedToken>();
  const list = folder.tokenizer.added_tokens;
  const fromFile: AddedToken[] = [];
  for (const t of Array.isArray(list) ? list : []) {
    if (!isObject(t) || !isInt(t.id) || typeof t.content !== 'string') throw new ExportError(`${folder.dir}/tokenizer.json: added_tokens entry ${JSON.stringify(t)} has no integer id and string content`);
    fromFile.push(addedToken(t, false));
  }
  addTokens(added, vocab, fromFile);
  const specials = specialTokenStrings(folder);
  const toAdd: AddedToken[] = [];
  const decoder = folder.tokenizerConfig.added_tokens_decoder;
  if (isObject(decoder)) {
    const entries = Object.entries(decoder).filter(([, t]) => isObject(t)).sort(([a], [b]) => Number(a) - Number(b));
    for (const [, t] of entries) {
      const tok = addedToken(t as JsonObject, false);
      if ([...added.values()].some((a) => a.content === tok.content && a.flags === tok.flags)) continue;
      toAdd.push({ ...tok, special: tok.special || specials.includes(tok.content) });
    }
  }
  const present = new Set([...[...added.values()].map((a) => a.content), ...toAdd.map((t) => t.content)]);
  for (const s of specials) if (!present.has(s)) toAdd.push({ content: s, special: true, flags: '' });
  addTokens(added, vocab, toAdd);
  return added;
}

/** tokens and token_type as `get_vocab_base` builds them. */
function tokenList(folder: HfFolder): { tokens: string[]; types: number[] } {
  const model = folder.tokenizer.model;
  if (!isObject(model) || model.type !== 'BPE' || !isObject(model.vocab)) {
    throw new ExportError(`${folder.dir}/tokenizer.json: model.type is ${JSON.stringify(isObject(model) ? model.type : model)}, not a BPE model with a vocab (llama.cpp's converter writes Dream and LLaDA with the GPT-2 BPE vocabulary)`);
  }
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(model.vocab)) {
    if (!isInt(id)) throw new ExportError(`${folder.dir}/tokenizer.json: model.vocab["${tok}"] is ${JSON.stringify(id)}, not a token id`);
    vocab.set(tok, id);
  }
  const added = addedTokens(folder, vocab);
  const full = new Map(vocab);
  for (const [id, t] of added) full.set(t.content, id);
  const cfg = get(folder.config, 'vocab_size');
  if (cfg !== undefined && !isInt(cfg)) throw new ExportError(`${folder.dir}/config.json: "vocab_size" is ${JSON.stringify(cfg)}, expected an integer`);
  const vocabSize = cfg ?? full.size;
  // (a loop, not Math.max(...): a real vocabulary has more ids than a call has arguments)
  let maxId = -1;
  for (const id of full.values()) if (id > maxId) maxId = id;
  if (maxId >= vocabSize) throw new ExportError(`${folder.dir}: the tokenizer has token id ${maxId}, but config.json's vocab_size is ${vocabSize}`);
  const reverse = new Map<number, string>();
  for (const [tok, id] of vocab) reverse.set(id, tok);
  for (const [id, t] of added) reverse.set(id, t.content);
  const addedContents = new Set([...added.values()].map((t) => t.content));
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const tok = reverse.get(i);
    if (tok === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TOKEN_TYPE.UNUSED);
    } else if (addedContents.has(tok)) {
      tokens.push(tok);
      const a = added.get(i);
      types.push(a === undefined || a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED);
    } else {
      tokens.push(tok);
      types.push(TOKEN_TYPE.NORMAL);
    }
  }
  return { tokens, types };
}

// ---- SpecialVocab --------------------------------------------------------------------------------

const ID_KEYS: Readonly<Record<string, string>> = {
  bos: 'tokenizer.ggml.bos_token_id',
  eos: 'tokenizer.ggml.eos_token_id',
  unk: 'tokenizer.ggml.unknown_token_id',
  sep: 'tokenizer.ggml.seperator_token_id',
  pad: 'tokenizer.ggml.padding_token_id',
  mask: 'tokenizer.ggml.mask_token_id',
  eot: 'tokenizer.ggml.eot_token_id',
  eom: 'tokenizer.ggml.eom_token_id',
  // cls: the converter has no writer for it (add_cls_token_id) and skips it.
};
const ADD_KEYS: Readonly<Record<string, string>> = { bos: 'tokenizer.ggml.add_bos_token', eos: 'tokenizer.ggml.add_eos_token', sep: 'tokenizer.ggml.add_sep_token' };

function merges(folder: HfFolder): string[] {
  const m = isObject(folder.tokenizer.model) ? folder.tokenizer.model.merges : undefined;
  if (!Array.isArray(m) || m.length === 0) return [];
  if (typeof m[0] === 'string') return m as string[];
  if (Array.isArray(m[0]) && m[0].length === 2 && typeof m[0][0] === 'string') {
    // The pair form (transformers ≥ 4.45): "a b", spaces inside a part as U+0120.
    return (m as string[][]).map((pair) => pair.map((part) => part.replace(/ /g, String.fromCharCode(32 + 256))).join(' '));
  }
  throw new ExportError(`${folder.dir}/tokenizer.json: model.merges is in no known format`);
}

interface Specials {
  ids: Map<string, number>;
  add: Map<string, boolean>;
  types: string[];
  normalizer: { lowercase?: boolean; stripAccents?: boolean };
}

function parseNormalizer(n: Json, out: Specials['normalizer']): void {
  if (!isObject(n)) return;
  if (n.type === 'Lowercase') out.lowercase = true;
  else if (n.type === 'StripAccents') out.stripAccents = true;
  else if (n.type === 'BertNormalizer') {
    if ('lowercase' in n) out.lowercase = n.lowercase as boolean;
    if ('strip_accents' in n) out.stripAccents = n.strip_accents as boolean;
  } else if (n.type === 'Sequence' && Array.isArray(n.normalizers)) for (const x of n.normalizers) parseNormalizer(x, out);
}

/** `SpecialVocab._try_load_from_tokenizer_json`'s post-processor parsing (add_bos/eos/sep, eot/eom). */
function parsePostProcessor(pp: JsonObject, tc: JsonObject, s: Specials): void {
  let bos = tc.bos_token as Json;
  let cls = tc.cls_token as Json;
  let eos = tc.eos_token as Json;
  let sep = tc.sep_token as Json;
  if (!bos && cls) tc.bos_token = bos = cls;
  if (!eos && sep) tc.eos_token = eos = sep;
  const processors = Array.isArray(pp.processors) ? pp.processors : [pp];
  for (const p of processors) {
    if (!isObject(p)) continue;
    if (p.type === 'ByteLevel') {
      if (!s.add.has('bos')) s.add.set('bos', false);
      if (!s.add.has('eos')) s.add.set('eos', false);
    } else if (p.type === 'RobertaProcessing') {
      s.add.set('bos', true).set('eos', true).set('sep', true);
      if (!cls) tc.cls_token = cls = (Array.isArray(p.cls) ? p.cls[0] : bos) ?? null;
      if (!sep) tc.sep_token = sep = (Array.isArray(p.sep) ? p.sep[0] : eos) ?? null;
    } else if (p.type === 'TemplateProcessing') {
      const special = (x: Json | undefined) => (isObject(x) && isObject(x.SpecialToken) ? (x.SpecialToken.id as Json) : undefined);
      const seqId = (x: Json | undefined) => (isObject(x) && isObject(x.Sequence) ? x.Sequence.id : undefined);
      const single = Array.isArray(p.single) ? p.single : [];
      let pair = Array.isArray(p.pair) ? p.pair : [];
      let first: Json | undefined;
      let last: Json | undefined;
      if (single.length > 1) {
        first = special(single[0]);
        if (first) {
          if (first !== bos && first !== cls) {
            if (!bos) tc.bos_token = bos = first;
            if (!cls) tc.cls_token = cls = first;
          }
          s.add.set('bos', first === bos || first === cls);
        }
        last = special(single[single.length - 1]);
        if (last) {
          if (last !== eos) {
            if (!s.types.includes('eot')) {
              s.types.push('eot');
              tc.eot_token = eos;
            } else if (!s.types.includes('eom')) {
              s.types.push('eom');
              tc.eom_token = eos;
            }
            tc.eos_token = eos = last;
          }
          s.add.set('eos', last === eos);
        }
      }
      if (pair.length > 0) {
        const start = first && special(pair[0]) === first ? 1 : 0;
        const stop = last && special(pair[pair.length - 1]) === last ? pair.length - 1 : pair.length;
        pair = pair.slice(start, stop);
        if (pair.length > 0 && seqId(pair[0]) === 'A' && seqId(pair[pair.length - 1]) === 'B' && (pair = pair.slice(1, -1)).length > 0) {
          let addSep = false;
          const e0 = special(pair[0]);
          if (e0 && (e0 === sep || e0 === eos) && !last) addSep = true;
          if (pair.length === 2) {
            const e1 = special(pair[1]);
            if (e1 && (e1 === sep || e1 === eos)) addSep = true;
          }
          s.add.set('sep', addSep);
          if (addSep && !sep) tc.sep_token = eos;
        }
      }
    }
  }
}

/** Special ids and add_* flags, in the order SpecialVocab discovers them. */
function specials(folder: HfFolder): Specials {
  const s: Specials = { ids: new Map(), add: new Map(), types: ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'], normalizer: {} };
  // SpecialVocab edits its copy of tokenizer_config as it reads the post-processor.
  const tc = structuredClone(folder.tokenizerConfig) as JsonObject;
  parseNormalizer(folder.tokenizer.normalizer ?? null, s.normalizer);
  if (isObject(folder.tokenizer.post_processor)) parsePostProcessor(folder.tokenizer.post_processor, tc, s);
  const added = Array.isArray(folder.tokenizer.added_tokens) ? folder.tokenizer.added_tokens.filter(isObject) : [];
  const setId = (typ: string, id: Json | undefined, where: string) => {
    if (!isInt(id) || typeof id === 'boolean') return;
    if (id < 0) throw new ExportError(`${folder.dir}/${where}: invalid value for special token type ${typ}: ${id}`);
    if (!s.ids.has(typ)) s.ids.set(typ, id);
  };
  // An empty tokenizer_config.json: the converter stops after the post-processor.
  if (Object.keys(folder.tokenizerConfig).length === 0) return s;
  for (const typ of s.types) {
    const addEntry = tc[`add_${typ}_token`];
    if (typeof addEntry === 'boolean' && !s.add.has(typ)) s.add.set(typ, addEntry);
    const content = contentOf(tc[`${typ}_token`]);
    if (content === undefined) continue;
    setId(typ, added.find((a) => a.content === content)?.id, 'tokenizer_config.json');
  }
  return s;
}

/** SpecialVocab._try_load_from_config_json: ids config.json names, where not found already. */
function configIds(folder: HfFolder, s: Specials): void {
  for (const typ of s.types) {
    let id = get(folder.config, `${typ}_token_id`);
    const text = folder.config.text_config;
    if (id == null && isObject(text)) id = get(text, `${typ}_token_id`);
    if (isInt(id) && id < 0) throw new ExportError(`${folder.dir}/config.json: invalid value for special token type ${typ}: ${id}`);
    if (isInt(id) && !s.ids.has(typ)) s.ids.set(typ, id);
  }
}

function chatTemplate(folder: HfFolder): GgufKv[] {
  let alt: Json | undefined;
  if (folder.chatTemplateJinja !== undefined) alt = folder.chatTemplateJinja;
  else if (folder.chatTemplateJson) alt = get(folder.chatTemplateJson, 'chat_template') ?? null;
  const t = Object.prototype.hasOwnProperty.call(folder.tokenizerConfig, 'chat_template') ? folder.tokenizerConfig.chat_template : alt;
  if (t == null || t === '') return [];
  if (typeof t === 'string') return [kv.str('tokenizer.chat_template', t)];
  if (!Array.isArray(t)) return [];
  // Named templates: tokenizer.chat_template.NAME for each, their names, the default one.
  const out: GgufKv[] = [];
  const names: string[] = [];
  let dflt: string | undefined;
  for (const c of t.filter(isObject)) {
    const name = String(c.name ?? '').replace(/[^A-Za-z0-9]/g, '_');
    if (!name || typeof c.template !== 'string') continue;
    if (name === 'default') dflt = c.template;
    else {
      if (!names.includes(name)) names.push(name);
      out.push(kv.str(`tokenizer.chat_template.${name}`, c.template));
    }
  }
  // The converter collects the names in a Python set, so its order varies from run to run
  // (string hashing is randomised): here they are in the order the templates are listed.
  if (names.length > 0) out.push(kv.strs('tokenizer.chat_templates', names));
  return dflt ? [...out, kv.str('tokenizer.chat_template', dflt)] : out;
}

/**
 * The vocabulary keys, in the converter's order (`_set_vocab_gpt2` then `SpecialVocab.add_to_gguf`),
 * with `pre` as tokenizer.ggml.pre.
 */
export function gpt2Vocab(folder: HfFolder, pre: string): GgufKv[] {
  const { tokens, types } = tokenList(folder);
  const out: GgufKv[] = [kv.str('tokenizer.ggml.model', 'gpt2'), kv.str('tokenizer.ggml.pre', pre), kv.strs('tokenizer.ggml.tokens', tokens), kv.i32s('tokenizer.ggml.token_type', types)];
  const m = merges(folder);
  if (m.length === 0) throw new ExportError(`${folder.dir}/tokenizer.json: no model.merges (llama.cpp's gpt2 tokenizer cannot load without them)`);
  out.push(kv.strs('tokenizer.ggml.merges', m));
  const s = specials(folder);
  configIds(folder, s);
  for (const [typ, id] of s.ids) if (ID_KEYS[typ]) out.push(kv.u32(ID_KEYS[typ]!, id));
  for (const [typ, v] of s.add) if (ADD_KEYS[typ]) out.push(kv.bool(ADD_KEYS[typ]!, v));
  if (Object.keys(folder.tokenizerConfig).length > 0) out.push(...chatTemplate(folder));
  if (s.normalizer.lowercase !== undefined) out.push(kv.bool('tokenizer.ggml.normalizer.lowercase', s.normalizer.lowercase));
  if (s.normalizer.stripAccents !== undefined) out.push(kv.bool('tokenizer.ggml.normalizer.strip_accents', s.normalizer.stripAccents));
  return out;
}
