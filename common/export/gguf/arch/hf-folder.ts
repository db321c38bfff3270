/**
 * A Hugging Face model folder as llama.cpp's convert_hf_to_gguf.py reads it for a text model:
 * config.json (the hyper-parameters), tokenizer.json and tokenizer_config.json (the vocabulary),
 * and the optional files that add metadata (special_tokens_map.json, generation_config.json,
 * chat_template.jinja/.json, README.md's front matter). Errors name the file, and the key where one
 * is missing or of the wrong kind.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { ExportError } from '../../errors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface HfFolder {
  dir: string;
  config: JsonObject;
  tokenizer: JsonObject;
  tokenizerConfig: JsonObject;
  /** Files that may be absent (undefined then). */
  specialTokensMap?: JsonObject;
  generationConfig?: JsonObject;
  chatTemplateJinja?: string;
  chatTemplateJson?: JsonObject;
  /** README.md's text (its YAML front matter is the model card). */
  readme?: string;
}

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Python's `isinstance(v, int)` for a JSON value (JSON has no int/float distinction; integral numbers count). */
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

function readJson(dir: string, file: string, required: boolean, why: string): JsonObject | undefined {
  const path = join(dir, file);
  if (!isFile(path)) {
    if (required) throw new ExportError(`${path}: missing (${why})`);
    return undefined;
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ExportError(`${path}: not valid JSON (${(err as Error).message})`, [], { cause: err });
  }
  if (!isObject(data)) throw new ExportError(`${path}: expected a JSON object`);
  return data;
}

/** generation_config.json that does not parse is ignored, as the converter does. */
function readLenientJson(dir: string, file: string): JsonObject | undefined {
  try {
    return readJson(dir, file, false, '');
  } catch {
    return undefined;
  }
}

export function readHfFolder(dir: string): HfFolder {
  const config = readJson(dir, 'config.json', true, "the model's hyper-parameters")!;
  const tokenizer = readJson(dir, 'tokenizer.json', true, "the model's BPE vocabulary and merges, which llama.cpp's gpt2 tokenizer needs")!;
  const tokenizerConfig = readJson(dir, 'tokenizer_config.json', true, 'the special tokens and the chat template; llama.cpp\'s converter loads the tokenizer with transformers, which needs it')!;
  const folder: HfFolder = { dir, config, tokenizer, tokenizerConfig };
  const stm = readJson(dir, 'special_tokens_map.json', false, '');
  if (stm) folder.specialTokensMap = stm;
  const gen = readLenientJson(dir, 'generation_config.json');
  if (gen) folder.generationConfig = gen;
  if (isFile(join(dir, 'chat_template.jinja'))) folder.chatTemplateJinja = readFileSync(join(dir, 'chat_template.jinja'), 'utf8');
  const ctj = readJson(dir, 'chat_template.json', false, '');
  if (ctj) folder.chatTemplateJson = ctj;
  if (isFile(join(dir, 'README.md'))) folder.readme = readFileSync(join(dir, 'README.md'), 'utf8');
  return folder;
}

/** `file`'s integer `key`, required. */
export function requireInt(folder: HfFolder, file: 'config.json', obj: JsonObject, keys: readonly string[]): number {
  const v = findHparam(obj, keys);
  if (v === undefined) throw new ExportError(`${join(folder.dir, file)}: no ${keys.map((k) => `"${k}"`).join(' or ')} (llama.cpp needs it)`);
  if (!isInt(v) || v < 0) throw new ExportError(`${join(folder.dir, file)}: "${keyOf(obj, keys)}" is ${JSON.stringify(v)}, expected a non-negative integer`);
  return v;
}

/** The converter's `find_hparam(keys, optional=True)`: the value of the first key present (even null). */
export function findHparam(obj: JsonObject, keys: readonly string[]): Json | undefined {
  const k = keyOf(obj, keys);
  return k === undefined ? undefined : obj[k];
}

export const keyOf = (obj: JsonObject, keys: readonly string[]): string | undefined => keys.find((k) => Object.prototype.hasOwnProperty.call(obj, k));

/** Python's `dict.get(key, default)`: the value when the key is present, even null. */
export function get(obj: JsonObject, key: string): Json | undefined {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** Python's `pathlib.Path(dir).name` (`.` components dropped; "" for "."). */
export function pathName(dir: string): string {
  const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
  return parts[parts.length - 1] ?? '';
}
