/** A tiny synthetic model for the stage tests, generated once per test file in-process. */
import { join } from 'node:path';

import { resolveConfig, type ApiValues, type ResolvedConfig } from '../../common/config/index.js';
import { generateModel } from '../../tools/synth/generate.js';
import { tempDir } from '../helpers/cli.js';

export async function tinyModel(preset: 'dit' | 'dream' = 'dit'): Promise<{ dir: string; model: string }> {
  const dir = tempDir(`stages-${preset}`);
  const model = join(dir, preset);
  await generateModel({ preset, scale: 'tiny', layout: preset === 'dit' ? 'diffusers' : 'single', outDir: model, seed: 3 });
  return { dir, model };
}

/** The defaults with `values` over them (no environment read). */
export function config(values: ApiValues = {}): ResolvedConfig {
  return resolveConfig({ api: values, env: {} }).config;
}
