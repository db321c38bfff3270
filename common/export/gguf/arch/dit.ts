/**
 * `--arch flux` / `--arch sd3`: the FLUX.1 and SD3/SD3.5 transformers for stable-diffusion.cpp
 * (`sd-cli --diffusion-model`) and ComfyUI-GGUF ("Unet Loader (GGUF)"), docs/RUN-SD-CPP.md.
 *
 * Neither runtime converts diffusers' transformer names (stable-diffusion.cpp maps them one to
 * one but never joins the split q/k/v, nor swaps the final adaLN halves), so the diffusion model is
 * written in the original names with merged tensors (flux-names.ts, sd3-names.ts), bare, with
 * `general.architecture` flux or sd3. Both runtimes take these models as separate files, so a
 * pipeline is exported one component at a time: `--component transformer`, and `vae` (original
 * VAE names, for `--vae`) and the text encoders (Hugging Face names, for `--clip_l`, `--clip_g`,
 * `--t5xxl`). A plain file is a transformer: diffusers names, or an original checkpoint's (bare or
 * under `model.diffusion_model.`; other parts of an all-in-one checkpoint are left out, with a note).
 */
import type { TensorInfo } from '../../../format/reader.js';
import { ExportError } from '../../errors.js';
import type { GgufArchInput, GgufArchitecture, GgufPlan } from './architecture.js';
import { identity, imagePlan, type ImageLayout, type Target, type TensorGroup } from './image.js';
import { chooseComponent, isPipeline, selectImageTensors, textEncoderGroup, underPrefix, vaeGroup } from './image-sources.js';
import { fluxToOriginal, isFluxOriginalName, looksLikeDiffusersFlux } from './flux-names.js';
import { isSd3OriginalName, looksLikeDiffusersSd3, sd3ToOriginal } from './sd3-names.js';
import { isUnused } from './sd-names.js';

interface DitNames {
  arch: 'flux' | 'sd3';
  summary: string;
  toOriginal: (names: readonly string[]) => Map<string, Target>;
  isOriginal: (name: string) => boolean;
  looksDiffusers: (names: readonly string[]) => boolean;
  textEncoders: readonly string[];
}

const PREFIX = 'model.diffusion_model.';

function transformerGroup(d: DitNames, label: string, tensors: TensorInfo[]): TensorGroup {
  const names = tensors.map((t) => t.name);
  const diffusers = d.looksDiffusers(names);
  return { label, tensors, targets: diffusers ? d.toOriginal(names) : identity(names, d.isOriginal), prefix: '', order: 'output', unused: isUnused };
}

function layoutOf(d: DitNames, input: GgufArchInput): ImageLayout {
  const c = input.component;
  const notes: string[] = [];
  if (c === 'transformer') return { architecture: d.arch, groups: [transformerGroup(d, 'transformer', input.tensors)], notes };
  if (c === 'vae') return { groups: [vaeGroup('vae', input.tensors, '')], notes };
  if (c !== undefined && d.textEncoders.includes(c)) return { groups: [textEncoderGroup(c, input.tensors, '')], notes };
  if (c !== undefined) throw new ExportError(`--arch ${d.arch} --component ${c}: the ${d.arch} layout writes transformer, vae, ${d.textEncoders.join(', ')}`);
  if (isPipeline(input.file)) throw chooseComponent(input.file, d.arch, 'transformer');
  let tensors = input.tensors;
  if (tensors.some((t) => t.name.startsWith(PREFIX))) {
    const rest = tensors.length - underPrefix(tensors, PREFIX).length;
    tensors = underPrefix(tensors, PREFIX);
    if (rest > 0) notes.push(`left out ${rest} tensor(s) outside model.diffusion_model. (an all-in-one checkpoint's VAE and text encoders: give them to stable-diffusion.cpp as their own files)`);
  }
  return { architecture: d.arch, groups: [transformerGroup(d, 'the file', tensors)], notes };
}

function ditArchitecture(d: DitNames): GgufArchitecture {
  return {
    name: d.arch,
    summary: d.summary,
    needsModelDir: false,
    select: selectImageTensors,
    plan: (input: GgufArchInput): Promise<GgufPlan> => imagePlan(input, d.arch, layoutOf(d, input)),
  };
}

export const fluxArchitecture = ditArchitecture({
  arch: 'flux',
  summary: 'FLUX.1 transformer for stable-diffusion.cpp and ComfyUI-GGUF (original names, merged qkv/linear1; --component transformer|vae|text_encoder|text_encoder_2)',
  toOriginal: fluxToOriginal,
  isOriginal: isFluxOriginalName,
  looksDiffusers: looksLikeDiffusersFlux,
  textEncoders: ['text_encoder', 'text_encoder_2'],
});

export const sd3Architecture = ditArchitecture({
  arch: 'sd3',
  summary: 'SD3/SD3.5 transformer for stable-diffusion.cpp and ComfyUI-GGUF (original MMDiT names, merged qkv; --component transformer|vae|text_encoder|text_encoder_2|text_encoder_3)',
  toOriginal: sd3ToOriginal,
  isOriginal: isSd3OriginalName,
  looksDiffusers: looksLikeDiffusersSd3,
  textEncoders: ['text_encoder', 'text_encoder_2', 'text_encoder_3'],
});
