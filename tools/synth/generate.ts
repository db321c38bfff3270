/**
 * Write a synthetic model directory: one preset at one scale in one layout.
 *
 *   single     outDir/{model|diffusion_pytorch_model}.safetensors + config.json (+ the LLM
 *              presets' tokenizer.json and tokenizer_config.json, in every layout)
 *   sharded    outDir/<base>-00001-of-0000N.safetensors … + <base>.safetensors.index.json
 *              ({"metadata": {"total_size"}, "weight_map": {name: file}}) + config.json
 *   diffusers  (dit, flux) a FluxPipeline folder: model_index.json, transformer/ (sharded if
 *              shardBytes is given and exceeded), text_encoder/, vae/, scheduler/
 *
 * Same arguments → byte-identical files (values depend only on seed and tensor name; JSON is
 * written in a fixed key order). Existing files in outDir are overwritten, others left alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { dataBytesOf, MODEL_INDEX, modelComponent, pipelineComponents, SCHEDULER_CONFIG, type Component, type PresetName, type Scale } from './presets.js';
import { encodeHeader, planHeader, tensorBytes, writeSafetensors, type WriteResult } from '../../common/safetensors/writer.js';
import { tensorSpec, type TensorDef } from './weights.js';

export const LAYOUTS = ['single', 'sharded', 'diffusers'] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface GenerateOptions {
  preset: PresetName;
  scale: Scale;
  outDir: string;
  layout: Layout;
  /** Non-negative safe integer (default 0). */
  seed?: number;
  /** Replaces the scale's layer count (dit, dream, llada): more tensors at the same widths. */
  layers?: number;
  /**
   * Maximum data bytes per shard. `sharded` default: a third of the model, at most 5 GB (so
   * every scale gets several shards). `diffusers`: the transformer is sharded only if given.
   */
  shardBytes?: number;
  /** Values per generated block (memory knob, see common/safetensors/writer.ts). */
  blockValues?: number;
  /** Called after every block: bytes written so far over all files, and the expected total. */
  onProgress?: (done: number, total: number) => void;
}

export interface WrittenFile {
  /** Absolute (as joined onto outDir). */
  path: string;
  /** Relative to outDir, with '/' separators. */
  rel: string;
  bytes: number;
}

export interface GenerateResult {
  files: WrittenFile[];
  totalBytes: number;
  tensors: number;
  /** Float values generated, and the time inside the fill generators / the whole run. */
  values: number;
  fillSeconds: number;
  seconds: number;
}

const META = { format: 'pt' };
const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** Greedy shard split in tensor order, as transformers does: a new shard when the next tensor would overflow. */
export function splitShards(tensors: readonly TensorDef[], maxBytes: number): TensorDef[][] {
  const shards: TensorDef[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const b = tensorBytes(t);
    if (size > 0 && size + b > maxBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += b;
  }
  return shards;
}

export async function generateModel(options: GenerateOptions): Promise<GenerateResult> {
  const { preset, scale, outDir, layout } = options;
  const seed = options.seed ?? 0;
  if (layout === 'diffusers' && preset !== 'dit' && preset !== 'flux') throw new RangeError(`layout 'diffusers' is a diffusion pipeline; preset ${preset} has none`);
  if (options.shardBytes !== undefined && !(options.shardBytes > 0)) throw new RangeError('shardBytes must be positive');
  const started = performance.now();
  const model = modelComponent(preset, scale, options.layers);

  // Plan every file first, so progress knows the total.
  type Plan = { rel: string; kind: 'json'; body: string } | { rel: string; kind: 'st'; component: Component; tensors: TensorDef[] };
  const plans: Plan[] = [];
  const weights = (c: Component, dir: string, shardBytes: number | undefined) => {
    const prefix = dir === '' ? '' : `${dir}/`;
    const shards = shardBytes === undefined ? [c.tensors] : splitShards(c.tensors, shardBytes);
    if (shards.length === 1 && shardBytes === undefined) {
      plans.push({ rel: `${prefix}${c.weightsBase}.safetensors`, kind: 'st', component: c, tensors: c.tensors });
    } else {
      const n = String(shards.length).padStart(5, '0');
      const weightMap: Record<string, string> = {};
      shards.forEach((tensors, i) => {
        const file = `${c.weightsBase}-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`;
        for (const t of tensors) weightMap[t.name] = file;
        plans.push({ rel: `${prefix}${file}`, kind: 'st', component: c, tensors });
      });
      const index = { metadata: { total_size: dataBytesOf(c.tensors) }, weight_map: weightMap };
      plans.push({ rel: `${prefix}${c.weightsBase}.safetensors.index.json`, kind: 'json', body: json(index) });
    }
    plans.push({ rel: `${prefix}config.json`, kind: 'json', body: json(c.config) });
    for (const [name, body] of Object.entries(c.files ?? {})) plans.push({ rel: `${prefix}${name}`, kind: 'json', body: json(body) });
  };
  if (layout === 'single') weights(model, '', undefined);
  else if (layout === 'sharded') weights(model, '', options.shardBytes ?? Math.min(5e9, Math.ceil(dataBytesOf(model.tensors) / 3)));
  else {
    const sb = options.shardBytes !== undefined && dataBytesOf(model.tensors) > options.shardBytes ? options.shardBytes : undefined;
    plans.push({ rel: 'model_index.json', kind: 'json', body: json(MODEL_INDEX) });
    weights(model, model.folder, sb);
    for (const c of pipelineComponents(preset, scale)) weights(c, c.folder, undefined);
    plans.push({ rel: 'scheduler/scheduler_config.json', kind: 'json', body: json(SCHEDULER_CONFIG) });
  }

  const fileBytes = (p: Plan) =>
    p.kind === 'json' ? Buffer.byteLength(p.body) : encodeHeader(planHeader(p.tensors, META).entries).length + dataBytesOf(p.tensors);
  const total = plans.reduce((a, p) => a + fileBytes(p), 0);
  const result: GenerateResult = { files: [], totalBytes: 0, tensors: 0, values: 0, fillSeconds: 0, seconds: 0 };
  const made = new Set<string>();
  for (const p of plans) {
    const path = join(outDir, ...p.rel.split('/'));
    const dir = dirname(path);
    if (!made.has(dir)) {
      await mkdir(dir, { recursive: true });
      made.add(dir);
    }
    let bytes: number;
    if (p.kind === 'json') {
      await writeFile(path, p.body);
      bytes = Buffer.byteLength(p.body);
    } else {
      const before = result.totalBytes;
      const w: WriteResult = await writeSafetensors(path, p.tensors.map((t) => tensorSpec(t, seed, p.component.stream)), META, {
        ...(options.blockValues !== undefined ? { blockValues: options.blockValues } : {}),
        onProgress: (n) => options.onProgress?.(before + n, total),
      });
      bytes = w.bytes;
      result.tensors += p.tensors.length;
      result.values += w.values;
      result.fillSeconds += w.fillMs / 1000;
    }
    result.files.push({ path, rel: p.rel, bytes });
    result.totalBytes += bytes;
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
