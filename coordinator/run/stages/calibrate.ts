/**
 * Stage 2, calibration: the file the configuration names, or, when GPTQ is asked for without one,
 * synthetic statistics (generated once and cached; a warning says so). Absent for a job without
 * calibrated methods. And the llama.cpp importance matrix `imatrix` names, if any.
 */
import { resolve } from 'node:path';

import type { ResolvedConfig } from '../../../common/config/index.js';
import { openCalibration, type CalibrationFile } from '../../calibration/file.js';
import { readImatrix, type ImportanceMatrix } from '../../calibration/imatrix.js';
import { syntheticCalibration } from '../../calibration/synthetic.js';
import type { ModelHeader } from './inspect.js';

export interface JobCalibration {
  file?: CalibrationFile;
  /** Set when the file is synthetic: where it is cached, and whether it was there already. */
  synthetic?: { path: string; cached: boolean };
  /** A llama.cpp importance matrix (`imatrix`). */
  imatrix?: ImportanceMatrix;
}

function wantsGptq(config: ResolvedConfig): boolean {
  return config.method === 'gptq' || config.overrides.some((o) => o.method === 'gptq');
}

export async function openJobCalibration(modelPath: string, headers: ModelHeader[], config: ResolvedConfig): Promise<JobCalibration> {
  const imatrix = config.imatrix !== null ? { imatrix: await readImatrix(resolve(config.imatrix)) } : {};
  if (config.calibration !== null) return { file: await openCalibration(resolve(config.calibration)), ...imatrix };
  if (!wantsGptq(config)) return imatrix;
  const synthetic = await syntheticCalibration(modelPath, headers, config);
  return { file: await openCalibration(synthetic.path), synthetic, ...imatrix };
}
