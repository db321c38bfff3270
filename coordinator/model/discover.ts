/**
 * Which safetensors files make up a model, in model order:
 * - a `.safetensors` file;
 * - a directory with `model.safetensors` / `diffusion_pytorch_model.safetensors`, or the sharded
 *   form with `*.safetensors.index.json` (shards in first-appearance order of the weight map);
 * - a diffusers pipeline folder (`model_index.json`): components in `model_index.json` order, each
 *   a folder with one of the above (components without weights, like `scheduler/`, are skipped).
 */
import { readFile, stat, readdir } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';

import { ModelFormatError } from './errors.js';

export interface ModelFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the model root (what the output file records). */
  rel: string;
  /** Diffusers component, if any. */
  component?: string;
}

export interface ModelLayout {
  root: string;
  kind: 'file' | 'directory' | 'sharded' | 'diffusers';
  files: ModelFile[];
  /** Parsed JSON of config.json / model_index.json / metadata.json found at the root (and per component). */
  configs: { file: string; json: unknown }[];
  /** The `*.safetensors.index.json` files: tensor name → absolute shard path. */
  weightMaps: WeightMap[];
}

export interface WeightMap {
  index: string;
  component?: string;
  map: Map<string, string>;
}

const WEIGHT_NAMES = ['model.safetensors', 'diffusion_pytorch_model.safetensors'];

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ModelFormatError(path, `cannot read: ${(cause as Error).message}`, undefined, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ModelFormatError(path, `not valid JSON: ${(cause as Error).message}`, undefined, { cause });
  }
}

/** The weight files of one directory (a plain model or one diffusers component). */
async function weightFiles(dir: string): Promise<{ files: string[]; sharded: boolean; weightMap?: WeightMap } | undefined> {
  for (const base of WEIGHT_NAMES) {
    const index = join(dir, `${base}.index.json`);
    if (await exists(index)) {
      const json = (await readJson(index)) as { weight_map?: unknown };
      if (!json || typeof json.weight_map !== 'object' || json.weight_map === null) {
        throw new ModelFormatError(index, 'has no "weight_map" object');
      }
      const shards: string[] = [];
      for (const [tensor, shard] of Object.entries(json.weight_map as Record<string, unknown>)) {
        if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
          throw new ModelFormatError(index, `weight_map entry ${JSON.stringify(shard)} is not a shard file name`, tensor);
        }
        if (!shards.includes(shard)) shards.push(shard);
      }
      shards.sort();
      for (const shard of shards) {
        if (!(await exists(join(dir, shard)))) {
          throw new ModelFormatError(index, `shard ${shard} is missing (looked for ${join(dir, shard)})`);
        }
      }
      const map = new Map(Object.entries(json.weight_map as Record<string, string>).map(([t, f]) => [t, join(dir, f)]));
      return { files: shards.map((s) => join(dir, s)), sharded: true, weightMap: { index, map } };
    }
    if (await exists(join(dir, base))) return { files: [join(dir, base)], sharded: false };
  }
  // Some exports use other single-file names; accept exactly one .safetensors file.
  const all = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  if (all.length === 1) return { files: [join(dir, all[0]!)], sharded: false };
  if (all.length > 1) {
    throw new ModelFormatError(dir, `several .safetensors files (${all.join(', ')}) and no index.json saying how they fit together`);
  }
  return undefined;
}

async function configsIn(dir: string): Promise<{ file: string; json: unknown }[]> {
  const out = [];
  for (const name of ['model_index.json', 'config.json', 'metadata.json']) {
    const p = join(dir, name);
    if (await exists(p)) out.push({ file: p, json: await readJson(p) });
  }
  return out;
}

export async function discoverModel(input: string): Promise<ModelLayout> {
  const path = resolve(input);
  const st = await stat(path).catch((cause: Error) => {
    throw new ModelFormatError(path, `cannot open the model: ${cause.message}`, undefined, { cause });
  });
  if (st.isFile()) {
    if (!path.endsWith('.safetensors')) throw new ModelFormatError(path, 'is not a .safetensors file or a model directory');
    const root = dirname(path);
    return { root, kind: 'file', files: [{ path, rel: basename(path) }], configs: await configsIn(root), weightMaps: [] };
  }
  const configs = await configsIn(path);
  const modelIndex = configs.find((c) => basename(c.file) === 'model_index.json');
  if (modelIndex) {
    const files: ModelFile[] = [];
    const weightMaps: WeightMap[] = [];
    const index = modelIndex.json as Record<string, unknown>;
    for (const [component, spec] of Object.entries(index)) {
      if (component.startsWith('_') || !Array.isArray(spec)) continue;
      const dir = join(path, component);
      if (!(await exists(dir))) continue;
      const found = await weightFiles(dir);
      if (!found) continue;
      configs.push(...(await configsIn(dir)).map((c) => ({ ...c })));
      if (found.weightMap) weightMaps.push({ ...found.weightMap, component });
      for (const f of found.files) files.push({ path: f, rel: relative(path, f), component });
    }
    if (files.length === 0) throw new ModelFormatError(modelIndex.file, 'no component folder holds .safetensors weights');
    return { root: path, kind: 'diffusers', files, configs, weightMaps };
  }
  const found = await weightFiles(path);
  if (!found) throw new ModelFormatError(path, 'no model.safetensors, diffusion_pytorch_model.safetensors or *.safetensors.index.json here');
  return {
    root: path,
    kind: found.sharded ? 'sharded' : 'directory',
    files: found.files.map((f) => ({ path: f, rel: relative(path, f) })),
    configs,
    weightMaps: found.weightMap ? [found.weightMap] : [],
  };
}

/**
 * Cross-file checks once every header is read: each `weight_map` entry is in the shard it names
 * (a stale shard would otherwise drop tensors silently), and no tensor name appears twice within
 * one component (two rows with one name could not be told apart).
 */
export function checkTensorNames(layout: ModelLayout, headers: { file: ModelFile; names: Set<string> }[]): void {
  for (const wm of layout.weightMaps) {
    for (const [tensor, shard] of wm.map) {
      const h = headers.find((x) => x.file.path === shard);
      if (!h?.names.has(tensor)) throw new ModelFormatError(wm.index, `weight_map puts it in ${basename(shard)}, which does not hold it`, tensor);
    }
  }
  const seen = new Map<string, string>();
  for (const h of headers) {
    for (const name of h.names) {
      const key = `${h.file.component ?? ''}\u0000${name}`;
      const other = seen.get(key);
      if (other !== undefined) throw new ModelFormatError(h.file.path, `also in ${other}; tensor names must be unique within a model${h.file.component ? ' component' : ''}`, name);
      seen.set(key, h.file.rel);
    }
  }
}
