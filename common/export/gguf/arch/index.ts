/**
 * The GGUF architectures `export --to gguf --arch` knows, by name. Any other name gets the generic
 * layout with that `general.architecture`.
 */
import type { GgufArchitecture } from './architecture.js';
import { fluxArchitecture, sd3Architecture } from './dit.js';
import { dream } from './dream.js';
import { genericArchitecture } from './generic.js';
import { llada } from './llada.js';
import { sd1Architecture, sdxlArchitecture } from './sd-unet.js';

const ARCHITECTURES: readonly GgufArchitecture[] = [dream, llada, sd1Architecture, sdxlArchitecture, fluxArchitecture, sd3Architecture];

export function architecture(name: string | undefined): GgufArchitecture {
  return ARCHITECTURES.find((a) => a.name === name) ?? genericArchitecture(name ?? 'arrowquant');
}

/** The runtime layouts, for --help and errors. */
export function knownArchitectures(): readonly GgufArchitecture[] {
  return ARCHITECTURES;
}
