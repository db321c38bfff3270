/**
 * `--arch sd1` / `--arch sdxl`: Stable Diffusion 1.x/2.x and SDXL UNet models for
 * stable-diffusion.cpp and ComfyUI-GGUF (docs/RUN-SD-CPP.md).
 *
 * - No `--component`, from a diffusers pipeline or an original single-file checkpoint: the one
 *   file `sd-cli -m` loads — UNet under `model.diffusion_model.` (original LDM names), VAE under
 *   `first_stage_model.`, CLIP-L under `cond_stage_model.transformer.`, SDXL's CLIP-G under
 *   `cond_stage_model.1.transformer.` (Hugging Face names, stable-diffusion.cpp's own; an original
 *   checkpoint's text encoders pass through as they are). ComfyUI-GGUF loads its UNet part.
 * - `--component unet`: the UNet alone, bare original names (ComfyUI-GGUF's "Unet Loader (GGUF)").
 *   stable-diffusion.cpp (the pinned 90e87bc) does not run it as `--diffusion-model`: it decides
 *   whether the model is a UNet before it reads `--clip_l`, from names that for a UNet include the
 *   text encoder's token embedding, so SD1/SDXL load there only as the whole checkpoint.
 * - `--component vae`: original VAE names, what `sd-cli --vae` takes (it replaces a checkpoint's
 *   VAE); `text_encoder` / `text_encoder_2`: Hugging Face names (what `--clip_l` / `--clip_g`
 *   take for Flux and SD3; ComfyUI-GGUF's CLIP loaders read only llama.cpp-named T5/LLM files).
 * `general.architecture` is `sd1` or `sdxl` on files with the UNet (ComfyUI-GGUF requires one of
 * its names); stable-diffusion.cpp reads no metadata and tells the version from the names.
 */
import type { TensorInfo } from '../../../format/reader.js';
import { ExportError } from '../../errors.js';
import type { GgufArchInput, GgufArchitecture, GgufPlan } from './architecture.js';
import { identity, imagePlan, renamed, type ImageLayout, type TensorGroup } from './image.js';
import { componentTensors, isPipeline, selectImageTensors, textEncoderGroup, underPrefix, vaeGroup } from './image-sources.js';
import { isHfClipName, isLdmUnetName, isLdmVaeName, isOpenClipName, isUnused, unetToLdm } from './sd-names.js';

const UNET = 'model.diffusion_model.';
const VAE = 'first_stage_model.';
const CLIP_L = 'cond_stage_model.transformer.';
const CLIP_G = 'cond_stage_model.1.transformer.';

/** SDXL's CLIP-G projection under stable-diffusion.cpp's name (its name_conversion.cpp does the same). */
const clipG = (n: string) => (n === 'text_projection.weight' ? 'text_model.text_projection' : n);

function unetGroup(label: string, tensors: TensorInfo[], prefix: string): TensorGroup {
  const names = tensors.map((t) => t.name);
  const diffusers = names.some((n) => n.startsWith('down_blocks.') || n.startsWith('mid_block.'));
  return {
    label,
    tensors,
    targets: diffusers ? renamed(unetToLdm(names)) : identity(names, isLdmUnetName),
    prefix,
    order: diffusers ? 'source' : 'output',
    unused: isUnused,
  };
}

/** An original single-file checkpoint: every known prefix kept, names checked per part. */
function originalCheckpoint(tensors: TensorInfo[]): TensorGroup {
  const known = (n: string): boolean => {
    if (n.startsWith(UNET)) return isLdmUnetName(n.slice(UNET.length));
    if (n.startsWith(VAE)) return isLdmVaeName(n.slice(VAE.length));
    for (const p of [CLIP_L, CLIP_G, 'conditioner.embedders.0.transformer.', 'conditioner.embedders.1.transformer.']) if (n.startsWith(p)) return isHfClipName(n.slice(p.length));
    for (const p of ['cond_stage_model.model.', 'conditioner.embedders.0.model.', 'conditioner.embedders.1.model.']) if (n.startsWith(p)) return isOpenClipName(n.slice(p.length));
    return false;
  };
  return { label: 'the checkpoint', tensors, targets: identity(tensors.map((t) => t.name), known), prefix: '', order: 'output', unused: isUnused };
}

function layoutOf(input: GgufArchInput, arch: 'sd1' | 'sdxl'): ImageLayout {
  const f = input.file;
  const notes: string[] = [];
  const c = input.component;
  if (c !== undefined) {
    if (c === 'unet') return { architecture: arch, groups: [unetGroup('unet', input.tensors, '')], notes };
    if (c === 'vae') return { groups: [vaeGroup('vae', input.tensors, '')], notes };
    if (c === 'text_encoder' || c === 'text_encoder_2') return { groups: [textEncoderGroup(c, input.tensors, '')], notes };
    throw new ExportError(`--arch ${arch} --component ${c}: the ${arch} layout writes unet, vae, text_encoder${arch === 'sdxl' ? ', text_encoder_2' : ''}, or (no --component) the whole checkpoint`);
  }
  if (!isPipeline(f)) {
    const original = input.tensors.some((t) => t.name.startsWith(UNET));
    return { architecture: arch, groups: [original ? originalCheckpoint(input.tensors) : unetGroup('the file', input.tensors, '')], notes };
  }
  const comps = [...new Set(input.tensors.map((t) => t.component!))];
  if (!comps.includes('unet')) throw new ExportError(`${f.path} has no unet component (it has ${comps.join(', ')}): --arch ${arch} exports a UNet model`);
  const groups = [unetGroup('unet', componentTensors(f, 'unet'), UNET)];
  if (comps.includes('vae')) groups.push(vaeGroup('vae', componentTensors(f, 'vae'), VAE));
  if (comps.includes('text_encoder')) groups.push(textEncoderGroup('text_encoder', componentTensors(f, 'text_encoder'), CLIP_L));
  if (arch === 'sdxl' && comps.includes('text_encoder_2')) groups.push(textEncoderGroup('text_encoder_2', componentTensors(f, 'text_encoder_2'), CLIP_G, clipG));
  const used = new Set(groups.map((g) => g.label));
  const missing = ['vae', 'text_encoder', ...(arch === 'sdxl' ? ['text_encoder_2'] : [])].filter((x) => !used.has(x));
  if (missing.includes('vae')) notes.push('the pipeline has no vae: give stable-diffusion.cpp one with --vae beside -m');
  const noText = missing.filter((m) => m !== 'vae');
  if (noText.length > 0) notes.push(`the pipeline has no ${noText.join(', ')}: stable-diffusion.cpp tells a UNet checkpoint's version from its text encoder(s) in the same file, so it will not load this one (ComfyUI-GGUF loads its UNet)`);
  const left = comps.filter((x) => !used.has(x));
  if (left.length > 0) notes.push(`left out component(s) ${left.join(', ')} (not part of a ${arch} checkpoint)`);
  return { architecture: arch, groups, notes };
}

function sdArchitecture(arch: 'sd1' | 'sdxl'): GgufArchitecture {
  return {
    name: arch,
    summary: `${arch === 'sd1' ? 'SD1.x/SD2.x' : 'SDXL'} UNet for stable-diffusion.cpp and ComfyUI-GGUF (original names; the whole checkpoint, or --component unet|vae|text_encoder${arch === 'sdxl' ? '|text_encoder_2' : ''})`,
    needsModelDir: false,
    select: selectImageTensors,
    plan: (input: GgufArchInput): Promise<GgufPlan> => imagePlan(input, arch, layoutOf(input, arch)),
  };
}

export const sd1Architecture = sdArchitecture('sd1');
export const sdxlArchitecture = sdArchitecture('sdxl');
