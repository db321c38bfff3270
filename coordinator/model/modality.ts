/**
 * Modality detection from the model's own JSON: `metadata.json` `modality` wins, then the
 * diffusers pipeline class (`model_index.json` `_class_name`), then `config.json`
 * (`_class_name`, `model_type`, `architectures`). The reason is returned for the log and report.
 */
import { basename } from 'node:path';

import type { Modality } from '../../common/config/index.js';

export interface ModalityChoice {
  modality: Modality;
  reason: string;
}

const MODALITIES: readonly Modality[] = ['text', 'code', 'image', 'audio'];

/** Ordered: the first pattern that matches a class/type name decides. */
const NAME_RULES: [RegExp, Modality][] = [
  [/coder|codegen|starcoder|codellama|codeqwen|codestral|santacoder/i, 'code'],
  [/audio|music|speech|wav|sound|whisper|encodec|dance|riffusion|bark/i, 'audio'],
  [/dream|llada|mdlm|sedd|plaid|diffullama|llama|qwen|mistral|gpt|bert|t5(?!.*image)|phi|gemma|causallm|maskedlm/i, 'text'],
  [/flux|stablediffusion|sd3|pixart|dit|unet|transformer2d|sana|hunyuan|wan|cogvideo|ltx|mochi|kandinsky|image|video|vae|autoencoder|latte/i, 'image'],
];

function namesOf(json: unknown): string[] {
  if (!json || typeof json !== 'object') return [];
  const o = json as Record<string, unknown>;
  const names: string[] = [];
  for (const key of ['_class_name', 'model_type']) if (typeof o[key] === 'string') names.push(o[key] as string);
  if (Array.isArray(o.architectures)) names.push(...o.architectures.filter((a): a is string => typeof a === 'string'));
  return names;
}

export function detectModality(configs: { file: string; json: unknown }[]): ModalityChoice {
  for (const c of configs) {
    const m = (c.json as Record<string, unknown> | null)?.modality;
    if (basename(c.file) === 'metadata.json' && typeof m === 'string' && (MODALITIES as string[]).includes(m)) {
      return { modality: m as Modality, reason: `${c.file} says modality "${m}"` };
    }
  }
  const ordered = [
    ...configs.filter((c) => basename(c.file) === 'model_index.json'),
    ...configs.filter((c) => basename(c.file) === 'config.json'),
  ];
  for (const c of ordered) {
    for (const name of namesOf(c.json)) {
      for (const [re, modality] of NAME_RULES) {
        if (re.test(name)) return { modality, reason: `${c.file}: "${name}" is a ${modality} model` };
      }
    }
  }
  return { modality: 'image', reason: 'no metadata.json modality and no known class in config.json/model_index.json; assuming image (diffusion transformer), override with --modality' };
}
