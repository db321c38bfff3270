/**
 * ArrowQuant's TypeScript API (the package's entry point, `import … from 'arrowquant'`):
 * quantize a model, build and validate configurations, read quantized files, export them.
 */
export { quantizeModel, type QuantizeModelOptions, type QuantizeModelResult } from './quantize.js';
export { DiffusionQuantConfig, type ConfigValues } from './config.js';
export { openQuantized, QuantizedFile, type TensorInfo, type TensorValues } from '../common/format/reader.js';
export { exportGguf, type GgufExportOptions, type GgufExportResult, type Reencoding } from '../common/export/gguf/index.js';
export { exportSafetensors, type SafetensorsExportResult } from '../common/export/safetensors.js';
export { ArrowQuantError, QuantizationError, ValidationError, KernelError, NonFiniteError, FileFormatError } from '../common/errors.js';
export {
  ConfigurationError,
  InvalidAccuracy,
  InvalidBitWidth,
  InvalidConfigValue,
  InvalidGroupSize,
  InvalidTimeGroups,
  InvalidYaml,
  UnknownConfigKey,
  DEPLOYMENT_PROFILES,
  METHODS,
  MODALITIES,
  PROFILES,
  type BitWidth,
  type DeploymentProfile,
  type GroupSize,
  type Method,
  type Modality,
  type ResolvedConfig,
} from '../common/config/index.js';
export { ModelFormatError } from '../coordinator/model/errors.js';
export { CalibrationError } from '../coordinator/calibration/errors.js';
export { ExportError } from '../common/export/errors.js';
export { ChunkError } from '../common/chunk/errors.js';
export { QualityThresholdError, OutputPathError, JobAbortedError } from '../coordinator/run/errors.js';
export type { JobEvent } from '../coordinator/run/job.js';
