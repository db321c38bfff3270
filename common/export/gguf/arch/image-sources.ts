/**
 * Where an image model's parts are in an ArrowQuant file, for the image layouts: a diffusers
 * pipeline's components (unet/transformer, vae, text_encoder, text_encoder_2, text_encoder_3), or
 * one plain file holding an original single-file checkpoint (`model.diffusion_model.`,
 * `first_stage_model.`, `cond_stage_model.`, `conditioner.embedders.N.` prefixes) or a diffusion
 * model alone (diffusers or original names). And the groups every layout writes the same way: a
 * VAE in original names, text encoders in Hugging Face names (stable-diffusion.cpp's own).
 */
import type { QuantizedFile, TensorInfo } from '../../../format/reader.js';
import { ExportError } from '../../errors.js';
import { componentsOf, selectTensors } from '../../select.js';
import { identity, renamed, type TensorGroup } from './image.js';
import { isHfClipName, isHfT5Name, isLdmVaeName, isUnused, vaeToLdm } from './sd-names.js';

export const DIFFUSION_COMPONENTS = ['unet', 'transformer'] as const;

/** The tensors an image layout reads: the whole file (it decides per component), or the one asked for. */
export function selectImageTensors(f: QuantizedFile, component: string | undefined): TensorInfo[] {
  return component === undefined ? f.tensors : selectTensors(f, component);
}

export const isPipeline = (f: QuantizedFile): boolean => componentsOf(f).length > 0;

export function componentTensors(f: QuantizedFile, component: string): TensorInfo[] {
  return f.tensors.filter((t) => t.component === component);
}

/** Tensors of a plain file under `prefix`, renamed without it. */
export function underPrefix(tensors: readonly TensorInfo[], prefix: string): TensorInfo[] {
  return tensors.filter((t) => t.name.startsWith(prefix)).map((t) => ({ ...t, name: t.name.slice(prefix.length) }));
}

/** A diffusers AutoencoderKL or an original VAE (bare `encoder.`/`decoder.` names), in original names. */
export function vaeGroup(label: string, tensors: TensorInfo[], prefix: string): TensorGroup {
  const names = tensors.map((t) => t.name);
  const diffusers = names.some((n) => /(down|up)_blocks\./.test(n));
  return {
    label,
    tensors,
    targets: diffusers ? renamed(vaeToLdm(names)) : identity(names, isLdmVaeName),
    prefix,
    order: diffusers ? 'source' : 'output',
    unused: isUnused,
  };
}

/**
 * A Hugging Face text encoder (CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel), names
 * kept; `rename` adjusts them for a prefix (SDXL's CLIP-G projection).
 */
export function textEncoderGroup(label: string, tensors: TensorInfo[], prefix: string, rename?: (n: string) => string): TensorGroup {
  const names = tensors.map((t) => t.name);
  const known = (n: string) => isHfClipName(n) || isHfT5Name(n);
  return { label, tensors, targets: identity(names, known, rename), prefix, order: 'source', unused: isUnused };
}

/** The error for a pipeline exported whole where the runtime takes one component per file. */
export function chooseComponent(f: QuantizedFile, arch: string, diffusion: string): ExportError {
  const comps = componentsOf(f);
  return new ExportError(
    `${f.path} is a pipeline (${comps.join(', ')}): --arch ${arch} writes one component per file, as stable-diffusion.cpp takes them (--diffusion-model, --vae, --clip_l, …) — choose one with --component (${diffusion} for the diffusion model ComfyUI-GGUF loads)`,
  );
}
