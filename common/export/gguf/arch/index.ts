/**
 * The GGUF architectures `export --to gguf --arch` knows, by name. Any other name gets the generic
 * layout with that `general.architecture`.
 */
import type { GgufArchitecture } from './architecture.js';
import { dream } from './dream.js';
import { genericArchitecture } from './generic.js';
import { llada } from './llada.js';

const ARCHITECTURES: readonly GgufArchitecture[] = [dream, llada];

export function architecture(name: string | undefined): GgufArchitecture {
  return ARCHITECTURES.find((a) => a.name === name) ?? genericArchitecture(name ?? 'arrowquant');
}

/** The runtime layouts, for --help and errors. */
export function knownArchitectures(): readonly GgufArchitecture[] {
  return ARCHITECTURES;
}
