/**
 * The `general.*` keys llama.cpp's converter writes for a model folder (gguf-py/gguf/metadata.py,
 * `Metadata.load` + `set_gguf_meta_model`, and `size_label` from gguf-py/gguf/utility.py), ported
 * so that an exported file carries the same name, size label and model-card keys:
 *
 * - README.md's YAML front matter (the model card): name/author/version/…, base models, datasets,
 *   license, tags (+ pipeline_tag), languages;
 * - config.json's `_name_or_path` when it looks like a Hub id (at most one '/');
 * - the folder's name (`tiny-dream` → name "Tiny Dream"; `Dream-v0-Instruct-7B` → basename Dream,
 *   version v0, finetune Instruct, size label 7B);
 * - generation_config.json → `general.sampling.*`;
 * - a size label from the parameter count when none was found (`1.4M`, `7.6B`).
 *
 * The converter's `--model-name` and `--metadata` overrides have no counterpart here: the folder
 * is the only input. Python's semantics are kept where they show in the output: `str.title()`,
 * `round()` (half to even) and `'%.*f'` formatting (half to even on the exact binary value).
 */
import { parse as parseYaml } from 'yaml';

import { ExportError } from '../../errors.js';
import { kv, type GgufKv } from '../writer.js';
import { get, isInt, isObject, pathName, type HfFolder, type Json } from './hf-folder.js';

// ---- Python string helpers --------------------------------------------------------------------

const isCased = (c: string) => c.toLowerCase() !== c.toUpperCase();
/** `str.islower()`: at least one cased character, none upper-case. */
const isLower = (s: string) => [...s].some(isCased) && s === s.toLowerCase();
/** `str.title()`: each run of cased characters capitalised at its start. */
function title(s: string): string {
  let out = '';
  let prevCased = false;
  for (const c of s) {
    out += isCased(c) ? (prevCased ? c.toLowerCase() : c.toUpperCase()) : c;
    prevCased = isCased(c);
  }
  return out;
}
const isDecimal = (c: string | undefined) => c !== undefined && /^\p{Nd}$/u.test(c);
const isAlpha = (s: string) => s.length > 0 && /^\p{L}+$/u.test(s);

/** `Metadata.id_to_title`. */
export function idToTitle(s: string): string {
  return s
    .trim()
    .replace(/-/g, ' ')
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => (isLower(w) && !/^(v\d+(?:\.\d+)*|\d.*)$/.test(w) ? title(w) : w))
    .join(' ');
}

/** Python's `round(x)` (half to even). */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d === 0.5) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

/** Python's `f"{x:.{digits}f}"`: the exact binary value rounded half to even. */
export function pyFixed(x: number, digits: number): string {
  const exact = x.toFixed(100); // exact: every double ≥ 1e-3 has far fewer fraction digits
  const [int, frac = ''] = exact.split('.');
  const kept = frac.slice(0, digits);
  const rest = frac.slice(digits);
  const half = rest.length > 0 && rest[0] === '5' && /^0*$/.test(rest.slice(1));
  const up = rest.length > 0 && (rest[0]! > '5' || (rest[0] === '5' && !half) || (half && Number((digits > 0 ? kept : int)!.slice(-1)) % 2 === 1));
  let n = BigInt(int! + kept);
  if (up) n += 1n;
  const s = n.toString().padStart(digits + 1, '0');
  return digits > 0 ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s;
}

/** gguf-py's `model_weight_count_rounded_notation(n, min_digits=2)`. */
export function sizeLabel(params: number): string {
  const [scaled, suffix] = params > 1e12 ? [params * 1e-12, 'T'] : params > 1e9 ? [params * 1e-9, 'B'] : params > 1e6 ? [params * 1e-6, 'M'] : [params * 1e-3, 'K'];
  const digits = String(pyRound(scaled)).replace(/^0+/, '').length;
  return `${pyFixed(scaled, Math.max(2 - digits, 0))}${suffix}`;
}

// ---- Metadata.get_model_id_components -----------------------------------------------------------

type PartType = 'basename' | 'size_label' | 'finetune' | 'version' | 'type';
export interface IdComponents {
  name?: string;
  org?: string;
  basename?: string;
  finetune?: string;
  version?: string;
  sizeLabel?: string;
}

function annotate(parts: string[], totalParams: number): Set<PartType>[] {
  const types = parts.map(() => new Set<PartType>());
  parts.forEach((part, i) => {
    const t = types[i]!;
    if (/^(v|iter)?\d+([.]\d+)*$/i.test(part)) t.add('version');
    else if (/^(i?q\d(_\w)*|b?fp?(16|32))$/i.test(part)) {
      t.add('type');
      parts[i] = part.toUpperCase();
    } else if (i > 0 && /^((([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?)|small|mini|medium|large|x?xl)$/i.test(part)) {
      let p = part.replace(/_/g, '.');
      if (isDecimal(p[p.length - 1])) p = `${p.slice(0, -2)}.${p[p.length - 1]}${p[p.length - 2]}`;
      if (p.length > 1 && isDecimal(p[p.length - 2]) && 'kmbt'.includes(p[p.length - 1]!)) p = p.slice(0, -1) + p[p.length - 1]!.toUpperCase();
      if (totalParams !== 0) {
        const num = p.slice(0, -1);
        // Python's float() of the number part; not a number (8x7, A3, smal, ...): used anyway.
        if (/^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(num)) {
          const label = Number(num) * 1000 ** ' KMBT'.indexOf(p[p.length - 1]!);
          const floorDiv = (a: number, b: number) => Math.floor(a / b);
          if ((totalParams < 0 && label < floorDiv(Math.abs(totalParams), 8)) || (totalParams > 0 && Math.abs(label - totalParams) > floorDiv(7 * totalParams, 8))) {
            t.add('finetune');
            p = p.slice(0, -1) + p[p.length - 1]!.toLowerCase();
          }
        }
      }
      if (t.size === 0) t.add('size_label');
      parts[i] = p;
    } else if (i > 0 && /^(chat|instruct|vision|lora)$/i.test(part)) {
      t.add(totalParams < 0 && part.toLowerCase() === 'lora' ? 'type' : 'finetune');
    }
  });
  return types;
}

export function modelIdComponents(id: string | undefined, totalParams: number): IdComponents {
  if (id === undefined) return {};
  if (id.includes(' ')) return { name: id };
  let org: string | undefined;
  let name = id;
  if (id.includes('/')) [org, name] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
  if (org !== undefined && org.length > 0 && org[0] === '.') org = undefined;
  const parts = name.split('-').filter((p) => p.length > 0);
  const types = annotate(parts, totalParams);
  if (parts.some((p, i) => types[i]!.has('size_label') && [...p].some((c) => isDecimal(c)))) {
    parts.forEach((p, i) => {
      if (types[i]!.has('size_label') && isAlpha(p)) types[i]!.delete('size_label');
    });
  }
  let atStart = true;
  parts.forEach((p, i) => {
    const t = types[i]!;
    if (atStart && ((t.size === 0 && isAlpha(p[0] ?? '')) || t.has('version'))) t.add('basename');
    else {
      atStart = false;
      if (t.size === 0) t.add('finetune');
    }
  });
  for (let i = parts.length - 1; i >= 0; i--) {
    if (types[i]!.has('basename') && types[i]!.size > 1) types[i]!.delete('basename');
    else break;
  }
  const join = (pick: (t: Set<PartType>) => boolean, unique = false) => {
    const chosen = parts.filter((_, i) => pick(types[i]!));
    return (unique ? [...new Set(chosen)] : chosen).join('-') || undefined;
  };
  let basename = join((t) => t.has('basename'));
  const sizeLabel = join((t) => t.has('size_label'), true);
  const finetune = join((t) => t.has('finetune'));
  const version = join((t) => t.has('version') && !t.has('basename'));
  if (sizeLabel === undefined && finetune === undefined && version === undefined) basename = undefined;
  const out: IdComponents = { name };
  for (const [k, v] of Object.entries({ org, basename, finetune, version, sizeLabel })) if (v !== undefined) (out as Record<string, string>)[k] = v;
  return out;
}

// ---- Metadata.load -------------------------------------------------------------------------------

type Entry = Record<string, Json>;
interface Meta {
  [field: string]: Json | Entry[] | undefined;
  base_models?: Entry[];
  datasets?: Entry[];
}

/** README.md's front matter, as `Metadata.load_model_card` reads it (YAML 1.1, like PyYAML). */
function modelCard(folder: HfFolder): Record<string, Json> {
  const lines = (folder.readme ?? '').split(/\r\n|\r|\n/);
  if (folder.readme === undefined || lines[0] !== '---') return {};
  const yamlLines: string[] = [];
  for (const line of lines.slice(1)) {
    if (line === '---') break;
    yamlLines.push(line);
  }
  const text = `${yamlLines.join('\n')}\n`.replace(/- no\n/g, '- "no"\n').replace(/\t/g, '  ');
  let data: unknown;
  try {
    data = parseYaml(text, { version: '1.1' });
  } catch (err) {
    throw new ExportError(`${folder.dir}/README.md: its YAML front matter does not parse (${(err as Error).message})`, [], { cause: err });
  }
  return isObject(data) ? data : {};
}

function fromIds(values: Json, totalParams: number): Entry[] {
  const ids = typeof values === 'string' ? [values] : Array.isArray(values) ? values : [];
  return ids.map((id) => {
    if (isObject(id)) return id;
    // The converter logs "not in a known format" and still counts the entry, with no fields.
    if (typeof id !== 'string') return {};
    const e: Entry = {};
    let components: IdComponents | undefined;
    let hubUrl = false;
    if (/^(https?|ssh):\/\//.test(id)) {
      e.repo_url = id;
      const m = id.includes('huggingface.co') ? /^https?:\/\/huggingface.co\/([^/]+\/[^/]+)$/.exec(id) : null;
      if (m) components = modelIdComponents(m[1], totalParams);
    } else {
      components = modelIdComponents(id, totalParams);
      hubUrl = true;
    }
    if (components?.name !== undefined) e.name = idToTitle(components.name);
    if (components?.org !== undefined) e.organization = idToTitle(components.org);
    if (components?.version !== undefined) e.version = components.version;
    if (hubUrl && components?.org !== undefined && components.name !== undefined) e.repo_url = `https://huggingface.co/${components.org}/${components.name}`;
    return e;
  });
}

function applyModelCard(m: Meta, card: Record<string, Json>, totalParams: number): void {
  const use = (field: string, key: string) => {
    if (Object.prototype.hasOwnProperty.call(card, key) && m[field] == null) m[field] = card[key];
  };
  const append = (field: string, key: string) => {
    const v = card[key];
    if (v == null) return;
    const cur = (m[field] as Json[] | undefined) ?? [];
    if (typeof v === 'string') cur.push(v);
    else if (Array.isArray(v)) cur.push(...v);
    m[field] = cur;
  };
  for (const f of ['name', 'author', 'version', 'organization', 'description', 'finetune', 'basename', 'size_label']) use(f, f);
  for (const [f, k] of [['source_url', 'url'], ['source_doi', 'doi'], ['source_uuid', 'uuid'], ['source_repo_url', 'repo_url']] as const) use(f, k);
  for (const f of ['name', 'author', 'version', 'organization', 'description', 'finetune', 'basename', 'size_label']) use(f, `model_${f}`);
  for (const [f, k] of [['source_url', 'model_url'], ['source_doi', 'model_doi'], ['source_uuid', 'model_uuid'], ['source_repo_url', 'model_repo_url']] as const) use(f, k);
  use('name', 'model_name');
  use('author', 'model_creator');
  use('basename', 'model_type');
  const first = (keys: string[]) => keys.map((k) => get(card, k)).find((v) => v !== undefined) ?? null;
  if (['base_model', 'base_models', 'base_model_sources'].some((k) => k in card)) {
    m.base_models = [...(m.base_models ?? []), ...fromIds(first(['base_model', 'base_models', 'base_model_sources']), totalParams)];
  }
  if (['datasets', 'dataset', 'dataset_sources'].some((k) => k in card)) {
    m.datasets = [...(m.datasets ?? []), ...fromIds(first(['datasets', 'dataset', 'dataset_sources']), totalParams)];
  }
  for (const f of ['license', 'license_name', 'license_link']) use(f, f);
  append('tags', 'tags');
  append('tags', 'pipeline_tag');
  append('languages', 'languages');
  append('languages', 'language');
}

function applyId(m: Meta, c: IdComponents): void {
  if (m.name == null && c.name !== undefined) m.name = idToTitle(c.name);
  if (m.organization == null && c.org !== undefined) m.organization = idToTitle(c.org);
  const fields: [string, string | undefined][] = [['basename', c.basename], ['finetune', c.finetune], ['version', c.version], ['size_label', c.sizeLabel]];
  for (const [f, v] of fields) if (m[f] == null && v !== undefined) m[f] = v;
}

const SAMPLING: readonly [string, string[], 'str' | 'i32' | 'f32'][] = [
  ['sequence', ['sequence'], 'str'],
  ['top_k', ['top_k'], 'i32'],
  ['top_p', ['top_p'], 'f32'],
  ['min_p', ['min_p'], 'f32'],
  ['xtc_probability', ['xtc_probability'], 'f32'],
  ['xtc_threshold', ['xtc_threshold'], 'f32'],
  ['temp', ['temperature'], 'f32'],
  ['penalty_last_n', ['penalty_last_n'], 'i32'],
  ['penalty_repeat', ['penalty_repeat', 'repetition_penalty'], 'f32'],
  ['mirostat', ['mirostat'], 'i32'],
  ['mirostat_tau', ['mirostat_tau'], 'f32'],
  ['mirostat_eta', ['mirostat_eta'], 'f32'],
];

const ENTRY_FIELDS = ['name', 'author', 'version', 'organization', 'description', 'url', 'doi', 'uuid', 'repo_url'];

/**
 * The converter's `general.*` keys after general.architecture and general.type, in its order:
 * sampling, name … size_label, license …, base models, datasets, tags, languages.
 * `totalParams`: the elements of every tensor written.
 */
export function generalMetadata(folder: HfFolder, totalParams: number): GgufKv[] {
  const m: Meta = {};
  applyModelCard(m, modelCard(folder), totalParams);
  const nameOrPath = get(folder.config, '_name_or_path');
  if (typeof nameOrPath === 'string' && (nameOrPath.match(/\//g) ?? []).length <= 1) applyId(m, modelIdComponents(nameOrPath, totalParams));
  applyId(m, modelIdComponents(pathName(folder.dir), totalParams));
  if (m.name == null) m.name = pathName(folder.dir);
  if (m.size_label == null && totalParams > 0) m.size_label = sizeLabel(totalParams);

  const out: GgufKv[] = [];
  const str = (key: string, v: Json | undefined, what: string) => {
    if (v == null || v === '') return;
    if (typeof v !== 'string') throw new ExportError(`${folder.dir}: ${what} is ${JSON.stringify(v)}, not a string (llama.cpp's converter cannot write it either)`);
    out.push(kv.str(key, v));
  };
  const gen = folder.generationConfig ?? {};
  for (const [name, keys, type] of SAMPLING) {
    const v = keys.map((k) => get(gen, k)).find((x) => x !== undefined);
    if (v == null) continue;
    const key = `general.sampling.${name}`;
    if (type === 'str') str(key, v, `generation_config.json "${keys[0]}"`);
    else if (typeof v !== 'number' || (type === 'i32' && !isInt(v))) throw new ExportError(`${folder.dir}/generation_config.json: "${keys.find((k) => gen[k] !== undefined)}" is ${JSON.stringify(v)}, expected a number`);
    else out.push(type === 'i32' ? kv.i32(key, v) : kv.f32(key, v));
  }
  for (const f of ['name', 'author', 'version', 'organization', 'finetune', 'basename', 'description', 'quantized_by', 'size_label']) str(`general.${f}`, m[f] as Json, `the model's ${f}`);
  const license = Array.isArray(m.license) ? m.license.join(',') : m.license;
  str('general.license', license as Json, 'the license');
  str('general.license.name', m.license_name as Json, 'license_name');
  str('general.license.link', m.license_link as Json, 'license_link');
  for (const f of ['url', 'doi', 'uuid', 'repo_url']) str(`general.${f}`, m[f] as Json, f);
  for (const f of ['url', 'doi', 'uuid', 'repo_url']) str(`general.source.${f}`, m[`source_${f}`] as Json, `the model card's ${f}`);
  for (const [key, list] of [['base_model', m.base_models], ['dataset', m.datasets]] as const) {
    if (list === undefined) continue;
    out.push(kv.u32(`general.${key}.count`, list.length));
    list.forEach((e, i) => {
      for (const f of ENTRY_FIELDS) if (f in e) str(`general.${key}.${i}.${f}`, e[f], `${key} ${i}'s ${f}`);
    });
  }
  for (const [key, list] of [['general.tags', m.tags], ['general.languages', m.languages]] as const) {
    if (!Array.isArray(list) || list.length === 0) continue;
    if (!list.every((x) => typeof x === 'string')) throw new ExportError(`${folder.dir}/README.md: ${key.slice(8)} must be strings (llama.cpp's converter cannot write ${JSON.stringify(list)} either)`);
    out.push(kv.strs(key, list as string[]));
  }
  return out;
}
