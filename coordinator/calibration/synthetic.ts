/**
 * Synthetic calibration, the last resort when `gptq` runs without a calibration file: statistics
 * of made-up activations (`calibration_samples` rows per layer, `num_time_groups` timestep
 * groups; synthetic-stats.ts says how they are drawn), cached on disk. They depend only
 * on the model's layer names and shapes and on those two settings, so the cache key is a hash of
 * the model's safetensors headers (names, dtypes, shapes, offsets; not the weights) and of the
 * settings. GPTQ with them fits made-up inputs: expect about RTN's quality, not better
 * (docs/CALIBRATION.md). Captured statistics (tools/capture_calibration.py) are what help.
 *
 * Cache: `$ARROW_QUANT_CACHE_DIR`, else `$XDG_CACHE_HOME/arrowquant`, else `~/.cache/arrowquant`;
 * files `calibration/<key>.safetensors`, written atomically.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import type { ResolvedConfig } from '../../common/config/index.js';
import type { ModelFile } from '../model/discover.js';
import type { SafetensorsHeader } from '../model/safetensors.js';
import { writeSyntheticCalibration } from './synthetic-stats.js';

/** Bumped whenever the generator's output changes, so old cache entries are not reused. */
const GENERATOR_VERSION = 1;

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ARROW_QUANT_CACHE_DIR) return env.ARROW_QUANT_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'arrowquant');
}

export function syntheticKey(headers: { file: ModelFile; header: SafetensorsHeader }[], config: ResolvedConfig): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: GENERATOR_VERSION, samples: config.calibration_samples, groups: config.num_time_groups }));
  for (const { file, header } of headers) {
    h.update(JSON.stringify([file.rel, file.component ?? null, header.tensors.map((t) => [t.name, t.dtype, t.shape, t.begin, t.end])]));
  }
  return h.digest('hex').slice(0, 32);
}

/** The cached synthetic calibration for this model and config, generated on first use. */
export async function syntheticCalibration(
  modelPath: string,
  headers: { file: ModelFile; header: SafetensorsHeader }[],
  config: ResolvedConfig,
): Promise<{ path: string; cached: boolean }> {
  const dir = join(cacheDir(), 'calibration');
  const path = join(dir, `${syntheticKey(headers, config)}.safetensors`);
  if (existsSync(path)) return { path, cached: true };
  mkdirSync(dir, { recursive: true });
  await writeSyntheticCalibration({ modelPath, outPath: path, samples: config.calibration_samples, groups: config.num_time_groups, seed: 0 });
  return { path, cached: false };
}
