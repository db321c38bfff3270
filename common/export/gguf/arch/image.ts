/**
 * What the image-model layouts (sd-unet.ts: sd1/sdxl, flux.ts, sd3.ts) share: a model's tensors
 * renamed to the names stable-diffusion.cpp and ComfyUI-GGUF load, some joined along their first
 * axis (merged q/k/v) or with the two halves of their first axis swapped (diffusers stores
 * adaLN's scale before its shift, the originals shift first), written in the types they have in
 * the ArrowQuant file.
 *
 * - Renames come from a name table (sd-names.ts, flux-names.ts, sd3-names.ts) as one `Target` per
 *   source tensor: its output name and, for a merged tensor, its place among the parts. A name
 *   the table does not know is an error that lists every such tensor; tensors the runtimes skip
 *   (position-id buffers, samplers' schedules) are left out with a note.
 * - Joining quantized rows is exact (a GGUF row is self-contained), but only for parts in one
 *   format: parts in different formats (a quality-gate fallback gave one more bits) are refused,
 *   naming every part and its format, unless `--reencode` says what to write them as. Kept float
 *   parts of different dtypes are widened to F32 (exact).
 * - Order: per component in stable-diffusion.cpp's file order, by source name (what its convert
 *   of a diffusers folder writes) or by output name (its convert of an original checkpoint).
 * - Metadata: stable-diffusion.cpp reads none; ComfyUI-GGUF reads `general.architecture`, which
 *   must be one of its image architectures (sd1, sdxl, flux, sd3, …) when present.
 */
import { basename } from 'node:path';

import type { QuantizedFile, TensorInfo } from '../../../format/reader.js';
import { ExportError } from '../../errors.js';
import { floatValues } from '../../select.js';
import { encodeFloats, formBytes, lastDim, qualified, type TensorForm } from '../tensors.js';
import { PLAIN, quantizedType, sizeOf, type GgufType } from '../types.js';
import { GGUF_ALIGNMENT, kv, type GgufKv, type GgufTensor } from '../writer.js';
import type { GgufArchInput, GgufPlan } from './architecture.js';
import { fileType } from './generic.js';

/** Where one source tensor goes. */
export interface Target {
  /** Output name (without the group's prefix). */
  name: string;
  /** Its place among the parts joined into `name` (0 of 1: a plain rename). */
  part: number;
  of: number;
  /** Swap the two halves of the first axis (scale/shift ↔ shift/scale). */
  swap?: boolean;
}

/** One component's tensors and their targets. */
export interface TensorGroup {
  /** What the user calls it in messages (a component name, or "the file"). */
  label: string;
  tensors: TensorInfo[];
  /** Source name → target; a tensor without one is unknown (unless `unused` says it is skipped). */
  targets: Map<string, Target>;
  /** Prefixed to every output name ("" for bare names). */
  prefix: string;
  /** Sort by source name (sd.cpp's convert of a diffusers folder) or by output name. */
  order: 'source' | 'output';
  /** Tensors the runtimes skip: left out. */
  unused?: (name: string) => boolean;
}

export interface ImageLayout {
  /** `general.architecture`, or undefined for a file ComfyUI-GGUF does not load (a VAE, a text encoder). */
  architecture?: string;
  groups: TensorGroup[];
  notes: string[];
}

const MAX_LISTED = 12;

function listed(items: readonly string[]): string {
  const more = items.length > MAX_LISTED ? `\n  … and ${items.length - MAX_LISTED} more` : '';
  return `\n  ${items.slice(0, MAX_LISTED).join('\n  ')}${more}`;
}

interface Output {
  name: string;
  parts: (TensorInfo | undefined)[];
  swap: boolean;
  sortKey: string;
  group: number;
}

/** Every output tensor with its parts; unknown and incomplete names are refused together. */
function outputsOf(layout: ImageLayout, archName: string, notes: string[]): Output[] {
  const unknown: string[] = [];
  const byName = new Map<string, Output>();
  layout.groups.forEach((g, gi) => {
    const skipped: string[] = [];
    for (const t of g.tensors) {
      const target = g.targets.get(t.name);
      if (target === undefined) {
        if (g.unused?.(t.name)) skipped.push(t.name);
        else unknown.push(`${qualified(t)} (${t.shape.join('×') || 'scalar'})`);
        continue;
      }
      const name = g.prefix + target.name;
      let o = byName.get(name);
      if (o === undefined) {
        o = { name, parts: new Array<TensorInfo | undefined>(target.of).fill(undefined), swap: target.swap === true, sortKey: '', group: gi };
        byName.set(name, o);
      }
      if (o.parts.length !== target.of || o.parts[target.part] !== undefined) throw new ExportError(`internal: ${name} is mapped twice (${qualified(t)})`);
      o.parts[target.part] = t;
      if (target.part === 0) o.sortKey = g.order === 'source' ? t.name : target.name;
    }
    if (skipped.length > 0) notes.push(`left out ${skipped.length} tensor(s) of ${g.label} that stable-diffusion.cpp and ComfyUI skip (${skipped.slice(0, 3).join(', ')}${skipped.length > 3 ? ', …' : ''})`);
  });
  if (unknown.length > 0) {
    throw new ExportError(`${unknown.length} tensor(s) the ${archName} layout does not know (no stable-diffusion.cpp / ComfyUI-GGUF name for them):${listed(unknown)}`, unknown);
  }
  const incomplete = [...byName.values()].filter((o) => o.parts.some((p) => p === undefined));
  if (incomplete.length > 0) {
    const lines = incomplete.map((o) => `${o.name}: has ${o.parts.filter((p) => p).map((p) => qualified(p!)).join(', ')}; ${o.parts.filter((p) => !p).length} of its ${o.parts.length} parts are missing`);
    throw new ExportError(`${incomplete.length} merged tensor(s) lack parts:${listed(lines)}`, incomplete.map((o) => o.name));
  }
  return [...byName.values()].sort((a, b) => a.group - b.group || (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
}

const KEPT_FLOATS = ['keep_F16', 'keep_BF16', 'keep_F32'];

interface Resolved {
  type: GgufType;
  data: (f: QuantizedFile) => Promise<Uint8Array>;
  reencoded: { tensor: string; from: string; to: string; why: string }[];
}

/** One output's type and bytes from its parts' forms, or why its parts cannot be joined. */
function resolve(o: Output, forms: TensorForm[], reencode: GgufArchInput['reencode']): Resolved | string {
  const plainReencoded = forms.filter((p) => p.reencoded !== undefined).map((p) => ({ tensor: qualified(p.t), from: p.t.scheme, to: p.type.name, why: p.reencoded! }));
  if (forms.every((p) => p.type === forms[0]!.type)) {
    return { type: forms[0]!.type, data: async (f) => join(await Promise.all(forms.map((p) => formBytes(f, p)))), reencoded: plainReencoded };
  }
  if (forms.every((p) => p.t.method === 'keep' && KEPT_FLOATS.includes(p.t.scheme))) {
    // Exact: every kept float widens to F32.
    return { type: PLAIN.F32!, data: async (f) => join(await Promise.all(forms.map(async (p) => encodeFloats(await floatValues(f, p.t), PLAIN.F32!, lastDim(p.t))))), reencoded: plainReencoded };
  }
  const parts = forms.map((p) => `${qualified(p.t)} (${p.t.method === 'keep' ? p.t.scheme.replace(/^keep_/, '') : p.t.scheme} → ${p.type.name})`).join(', ');
  if (reencode === undefined) return `${o.name} joins ${parts}`;
  const q8 = quantizedType('q8_0')!;
  const type = reencode === 'q8_0' && forms.every((p) => lastDim(p.t) % q8.blockElements === 0) ? q8 : reencode === 'f32' ? PLAIN.F32! : PLAIN.F16!;
  const why = `merged into ${o.name} with parts in other formats`;
  return {
    type,
    data: async (f) => join(await Promise.all(forms.map(async (p) => encodeFloats(await floatValues(f, p.t), type, lastDim(p.t))))),
    reencoded: forms.map((p) => ({ tensor: qualified(p.t), from: p.t.scheme, to: type.name, why })),
  };
}

function join(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

/** The two halves of the first axis swapped (shape[0] even; for 1-D block types, halves of whole blocks). */
function swapHalves(bytes: Uint8Array, shape: readonly number[], type: GgufType, name: string): Uint8Array {
  const first = shape[0] ?? 1;
  const elements = shape.reduce((a, b) => a * b, 1);
  if (first % 2 !== 0 || (shape.length === 1 && (elements / 2) % type.blockElements !== 0)) {
    throw new ExportError(`${name}: cannot swap the halves of a first axis of ${first} in ${type.name}`, [name]);
  }
  const half = bytes.length / 2;
  return Buffer.concat([bytes.subarray(half), bytes.subarray(0, half)]);
}

function shapeOf(o: Output): number[] {
  const parts = o.parts as TensorInfo[];
  const rest = (t: TensorInfo) => t.shape.slice(1).join('×');
  if (parts.some((p) => p.shape.length === 0 || rest(p) !== rest(parts[0]!))) {
    throw new ExportError(`${o.name}: its parts have shapes ${parts.map((p) => `[${p.shape.join(', ')}]`).join(', ')}, which do not join along the first axis`, parts.map(qualified));
  }
  return [parts.reduce((a, p) => a + p.shape[0]!, 0), ...parts[0]!.shape.slice(1)];
}

/** The plan of an image layout: names, joined and swapped tensors, types, metadata. */
export async function imagePlan(input: GgufArchInput, archName: string, layout: ImageLayout): Promise<GgufPlan> {
  const f = input.file;
  const notes = [...layout.notes];
  const outputs = outputsOf(layout, archName, notes);
  const formList = await input.forms(outputs.flatMap((o) => o.parts as TensorInfo[]));
  const forms = new Map(formList.map((p) => [p.t, p]));
  const refused: string[] = [];
  const tensors: GgufTensor[] = [];
  const reencoded: GgufPlan['reencoded'] = [];
  for (const o of outputs) {
    const r = resolve(o, (o.parts as TensorInfo[]).map((t) => forms.get(t)!), input.reencode);
    if (typeof r === 'string') {
      refused.push(r);
      continue;
    }
    const shape = shapeOf(o);
    const elements = shape.reduce((a, b) => a * b, 1);
    reencoded.push(...r.reencoded);
    tensors.push({
      name: o.name,
      shape,
      type: r.type,
      bytes: sizeOf(r.type, elements),
      data: async () => {
        const bytes = await r.data(f);
        return o.swap ? swapHalves(bytes, shape, r.type, o.name) : bytes;
      },
    });
  }
  if (refused.length > 0) {
    throw new ExportError(
      `${refused.length} merged tensor(s) have parts in different formats (a merged tensor is one GGUF type):${listed(refused)}\nRe-encode them with --reencode f16|f32|q8_0, or quantize the parts alike (an overrides entry for them).`,
      refused,
    );
  }
  const merged = outputs.filter((o) => o.parts.length > 1).length;
  const swapped = outputs.filter((o) => o.swap).length;
  if (merged > 0) notes.push(`joined ${merged} merged tensor(s) from their parts (q/k/v${archName === 'flux' ? ', single blocks\' linear1 = q, k, v, proj_mlp' : ''}), row for row`);
  if (swapped > 0) notes.push(`swapped the shift/scale halves of ${swapped} adaLN tensor(s) (diffusers stores scale first)`);
  return { kvs: metadata(input, layout, formList), tensors, reencoded, notes };
}

function metadata(input: GgufArchInput, layout: ImageLayout, forms: TensorForm[]): GgufKv[] {
  const f = input.file;
  return [
    ...(layout.architecture !== undefined ? [kv.str('general.architecture', layout.architecture)] : []),
    kv.str('general.name', `${basename(f.path).replace(/\.parquet$/, '')}${input.component ? `/${input.component}` : ''}`),
    kv.u32('general.quantization_version', 2),
    kv.u32('general.file_type', fileType(f, forms.map((p) => ({ quantized: p.t.method !== 'keep', type: p.type })))),
    kv.u32('general.alignment', GGUF_ALIGNMENT),
    kv.str('arrowquant.format_version', f.metadata['arrowquant.format_version'] ?? ''),
    kv.str('arrowquant.modality', f.metadata['arrowquant.modality'] ?? ''),
    kv.str('arrowquant.layout', layout.groups.map((g) => g.label).join(', ')),
  ];
}

/** Targets for names that keep their name (a table of valid names decides which are known). */
export function identity(names: readonly string[], known: (name: string) => boolean, rename: (name: string) => string = (n) => n): Map<string, Target> {
  const out = new Map<string, Target>();
  for (const n of names) if (known(n)) out.set(n, { name: rename(n), part: 0, of: 1 });
  return out;
}

/** Targets from a plain rename map. */
export function renamed(map: ReadonlyMap<string, string>): Map<string, Target> {
  return new Map([...map].map(([from, to]) => [from, { name: to, part: 0, of: 1 }]));
}
